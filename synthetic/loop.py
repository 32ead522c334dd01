"""The closed loop's recipe, shared by ``manage.py run_loop`` and ``benchmarks/loop.py`` (no Django, no torch).

One round: the current checkpoint describes fresh training scenes, the
simulated annotator corrects the answers, and the records train the next
checkpoint with ``training.ddpo`` from the current one (reference = current).

Plain DPO/DDPO at high learning rates collapses a tiny model to empty
answers within two rounds; an SFT term on the chosen side (``sft_weight``)
holds it (issue 7). ``ddpo`` weighs changed tokens gamma = 5, ``dpo`` is the
same objective with gamma = 1.

The recipe was picked on benchmarks/loop.py (1000 tasks a round, 500 held-out
scenes, checkpoint 0 trained 12,000 steps, so that it misreads in only 4% of
descriptions and its hallucinations are its habits; the reference reset
every round, as the benchmark then did). Response-level hallucination after
rounds 1 / 2 / 3, one training seed each, from 50.2%:

    lr 1e-3, 2 epochs, beta 0.03   DDPO 22.4 / 0.4 / 0.6   DPO 23.2 / 0.8 / 0.6
    lr 1e-3, 2 epochs, beta 0.1    DDPO 11.6 / 1.6 / 0.2   DPO 22.6 / 1.0 / 1.2
    lr 1e-3, 2 epochs, beta 0.5    DDPO  7.4 / 3.0 / 3.4   DPO 11.6 / 7.0 / 4.0
    lr 3e-4, 1 epoch,  beta 0.03   DDPO 33.0 / 5.8 / 1.2   DPO 29.6 / 3.4 / 1.8
    lr 3e-4, 1 epoch,  beta 0.5    DDPO 45.0 / 8.6 / 2.4   DPO 39.4 / 7.0 / 6.4
    SFT term alone: lr 1e-3, 2 epochs 23.4 / 1.6 / 0.4; lr 3e-4, 1 epoch 29.0 / 2.6 / 1.4

The paper's beta 0.5 removes the habits fastest in round 1, then
over-corrects: each round retrains on every record so far with the new
checkpoint as reference, so pairs already learned are pushed apart again,
and by round 3 DDPO misreads colours ("red" for blue) it read right before
(one seed). beta 0.1 keeps most of round 1's gain without that. Ten seeds
per arm confirm that beta 0.1 ends lower (after rounds 1/2/3, on a
checkpoint 0 at 49.2%): beta 0.1 DDPO 16.4/6.4/3.9, DPO 17.4/7.3/4.9; beta
0.5 DDPO 13.3/8.3/5.9, DPO 22.0/11.6/10.0; SFT 17.7/3.1/2.1.
benchmarks/loop.py, whose answers all come from checkpoint 0, takes
checkpoint 0 as the reference instead, and there beta 0.5 does not
over-correct (DDPO 13.3/6.5/3.2, DPO 22.0/8.0/5.3); the README has the
table. With three seeds on the checkpoint 0 of another machine (50.2%) the
arms ended within a few scenes of each other: every one has unlearned the
habits by round 3, and round 1 moves by up to 15 points from one data order
to the next. Training each round on its new records only, as iterative DPO
does (measured with a copy of the benchmark whose arms drop the earlier
rounds' records), gives the same picture: DDPO 1.9%, DPO 3.2%, SFT 1.6%
after round 3 (three seeds). Nor do 200 tasks a round, where round 3 is not
yet at the floor: DDPO 4.0%, DPO 3.7%, SFT 4.7% (sd up to 2.7).

Before checkpoint 0 saw well (6,000 steps: 24% of descriptions misread
something outside the habits) the order was the reverse, SFT 20.4% < DPO
21.6% < DDPO 22.9% after round 3 (three seeds, beta 0.03). What remained
after round 3 was misreading, and the preference term made it worse: the
corrections only go one way (a triangle is corrected from "large" to
"small", never back), so the more a loss leaned on them the more it
over-corrected. DDPO named a wrong colour or size in 43 of 400 validation
scenes, SFT in 22; with summed log-probs (beta 0.1) DDPO invented a triangle
in 102 scenes (SFT: 15); pure DDPO without the SFT term called most objects
"small" after one round; an SFT term weighted like Eq. 5 ended at 35%
instead of 25%; with only the habits corrected the arms tied (SFT 29.8%,
DDPO 30.1%, DPO 31.2%). SFT stayed first with a frozen vision tower (SFT
21.8%, DPO 25.5%, DDPO 28.2%), an annotator error rate of 0.3 (SFT 24.2%,
DDPO 25.2%, DPO 26.0%), sampled rejected answers (SFT 22.4%, DPO 23.4%,
DDPO 23.6%) and 200 tasks a round (DPO 40.4%, SFT 41.0%, DDPO 45.6%).
"""

LOSSES = ("ddpo", "dpo")
# Loop scenes: past the bootstrap's training seeds, below the held-out ones.
LOOP_FIRST_SEED = 1_000_000

# training.ddpo config overrides of one round (model, output and reference paths are the caller's).
RECIPE = {
    "beta": 0.1,
    "learning_rate": 1e-3,
    "epochs": 2,
    "batch_size": 16,
    "sft_weight": 1.0,
    "warmup_ratio": 0.1,
    "seed": 0,
}
GAMMA = {"ddpo": 5.0, "dpo": 1.0}


def round_config(loss: str = "ddpo", **overrides) -> dict:
    """The ``training.ddpo`` overrides of one loop round for ``loss`` (ddpo or dpo)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return {**RECIPE, "gamma": GAMMA[loss], **overrides}


def scene_seeds(round_number: int, count: int) -> range:
    """Seeds of round ``round_number``'s (1-based) fresh scenes; rounds never share a scene."""
    first = LOOP_FIRST_SEED + (round_number - 1) * count
    return range(first, first + count)


COLUMNS = (
    ("round", "{:>5}"),
    ("response_hallucination_rate", "{:>13.1%}"),
    ("mention_hallucination_rate", "{:>12.1%}"),
    ("coverage", "{:>8.1%}"),
    ("empty_rate", "{:>6.1%}"),
    ("unparsed_rate", "{:>8.1%}"),
    ("records", "{:>7}"),
    ("seconds", "{:>7.0f}"),
)
HEADERS = ("round", "resp. halluc.", "ment. halluc.", "coverage", "empty", "unparsed", "records", "seconds")


def table_header(prefix: str = "") -> str:
    widths = [len(fmt.format(0 if "%" not in fmt else 0.0)) for _, fmt in COLUMNS]
    return prefix + "  ".join(h.rjust(w) for h, w in zip(HEADERS, widths))


def table_row(row: dict, prefix: str = "") -> str:
    """One round's metrics as a fixed-width line (missing values print as '-')."""
    cells = []
    for key, fmt in COLUMNS:
        value = row.get(key)
        width = len(fmt.format(0 if "%" not in fmt else 0.0))
        cells.append("-".rjust(width) if value is None else fmt.format(value))
    return prefix + "  ".join(cells)


def relative_reduction(before: float, after: float) -> float:
    """(before - after) / before; 0 when nothing was hallucinated to begin with."""
    return (before - after) / before if before else 0.0

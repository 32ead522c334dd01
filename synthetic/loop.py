"""The closed loop's recipe, shared by ``manage.py run_loop`` and ``benchmarks/loop.py`` (no Django, no torch).

One round: the current checkpoint describes fresh training scenes, the
simulated annotator corrects the answers, and the records train the next
checkpoint with ``training.ddpo`` from the current one (reference = current).

Plain DPO/DDPO at high learning rates collapses a tiny model to empty
answers within two rounds; an SFT term on the chosen side (``sft_weight``)
holds it (issue 7). ``ddpo`` weighs changed tokens gamma = 5, ``dpo`` is the
same objective with gamma = 1.

How the recipe was picked, measurement by measurement: docs/experiments.md.
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

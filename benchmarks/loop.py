"""Does annotate -> DDPO lower hallucination? Three rounds from the bootstrap, four arms, same data.

Every round the bootstrap (checkpoint 0) describes fresh training scenes
and the simulated annotator corrects the answers (``synthetic.annotator``),
so all arms see identical generated answers and corrections. Each trained
arm starts a round from its own current checkpoint and trains on all
records so far, with the loop's recipe (``synthetic.loop.RECIPE``) except
for two settings. The reference is checkpoint 0, which wrote every answer
here: DPO's reference is the policy that sampled the pairs (``run_loop``,
whose newest answers come from the current checkpoint, uses that one). And
beta is the paper's 0.5: with a reference reset every round it
over-corrects, with this one it does not. ``run_loop``'s settings are
``--config '{"reference": null, "beta": 0.1}'``. The arms:

- ddpo:    Dense DPO, gamma = 5, plus the SFT term on the chosen side;
- dpo:     the same with gamma = 1 (plain DPO);
- sft:     the SFT term alone: the corrected answers, no rejected side;
- control: no training.

Compute is matched: same steps, batch, learning rate and schedule, and the
same forward (both sides scored) in every trained arm. Each trained arm
runs with ``--seeds`` training seeds (data order; the answers and
corrections stay the same) and counts their mean: after round 1 one arm's
result spans 8 to 12 points over 10 seeds, after round 3 1.4 to 2.4 points
(sd 0.5 to 0.9), as much as the arms differ, so the arms are also compared
seed by seed (DDPO minus DPO and minus SFT, with the standard error of the
mean difference). Each checkpoint is evaluated on the held-out scenes
(greedy detailed descriptions); empty and unparseable answers count as
hallucinated and cover nothing. The last line is DDPO's relative reduction
of response-level hallucination after the last round. About 30 minutes on 2
cores, 7 of them training checkpoint 0 (kept in ``--bootstrap`` for the
next run).

With ``--on-policy`` the loop runs as the platform runs it: every round
each arm's own current checkpoint answers the round's fresh scenes (greedy,
batched, as checkpoint 0 does above), the annotator corrects them, and the
arm trains on its own records so far. Each record's reference is the
checkpoint that wrote its answer (``PreferencePair.reference``; its
per-token log-probs are cached once per arm and seed, in its folder). Round
1's answers are checkpoint 0's in every arm. Compute stays matched although
the arms now keep different record counts (an arm that hallucinates less
gets fewer corrections): every trained arm takes the same optimizer steps
in round r, the recipe's epochs over r times round 1's records, repeating
its own records as needed. ``--tasks`` takes several budgets (tasks per
round, e.g. ``200,1000``), run one after the other, so the table also says
how many corrections each arm needs for a given rate. Seeds run in the
outer loop (seed 0 of every arm, then seed 1, ...) and ``--report`` is
rewritten after each, so an interrupted run leaves paired seeds.

The levers against likelihood displacement on minimal-edit pairs (issue
#16): ``--config '{"dpop_lambda": 50}'`` adds DPOP's chosen-likelihood
penalty to the DDPO and DPO arms (``training.ddpo.loss.ddpo_loss``; the SFT
term on the chosen side is ``sft_weight``, 1 in the recipe);
``--gamma-schedule 5,3,1`` and ``--beta-schedule 0.5,0.3,0.1`` set gamma
(DDPO arm only: DPO stays at 1) and beta (DDPO and DPO arms) round by round,
one value per round; ``--filter-similar 0.3`` drops, each round, the 30% of
the new pairs whose two sides are most alike (``pair_similarity``: the share
of both answers' characters the correction left unchanged) before any arm
trains on them. Steps stay matched (counted from round 1's unfiltered
records), so the filter changes the data, not the compute.

    python benchmarks/loop.py [--bootstrap DIR] [--rounds 3] [--tasks 1000] [--held-out 500] [--seeds 10] [--threads 2]
    python benchmarks/loop.py --on-policy --tasks 200,1000 --held-out 1000 --seeds 5 [--report r.json]
"""
import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

from training.ddpo.alignment import alignment_spans, apply_segments  # noqa: E402
from synthetic.annotator import SimulatedAnnotator  # noqa: E402
from synthetic.bootstrap import CONFIG_FILE, BootstrapConfig, bootstrap  # noqa: E402
from synthetic.describe import DESCRIBE  # noqa: E402
from synthetic.evaluate import evaluate, generate_answers, load_checkpoint  # noqa: E402
from synthetic.loop import RECIPE, relative_reduction, round_config, scene_seeds, table_header, table_row  # noqa: E402
from synthetic.render import render  # noqa: E402
from synthetic.scenes import held_out_scenes, make_scene  # noqa: E402
from training.ddpo.config import DDPOConfig  # noqa: E402
from training.ddpo.trainer import train  # noqa: E402

ARMS = ("ddpo", "dpo", "sft", "control")
PAPER_BETA = 0.5  # RLHF-V's


def round_records(model, processor, round_number: int, tasks: int, error_rate: float,
                  reference: str | None = None) -> list[dict]:
    """The round's dense pairs: ``model``'s answers to fresh scenes and their corrections. ``reference``
    (on-policy: the path of the checkpoint that wrote the answers) goes into every record."""
    scenes = [make_scene(seed) for seed in scene_seeds(round_number, tasks)]
    images = [render(scene) for scene in scenes]
    answers = generate_answers(model, processor, images, [DESCRIBE] * len(scenes))
    annotator = SimulatedAnnotator(error_rate=error_rate, seed=round_number)
    records = []
    for scene, image, answer in zip(scenes, images, answers):
        chosen, alignment = apply_segments(answer, annotator.annotate(scene, answer))
        if chosen == answer:  # "no hallucination": no pair
            continue
        rejected_spans, chosen_spans = alignment_spans(alignment)
        records.append({"id": f"{round_number}-{scene.scene_id}", "version": 1, "image": image,
                        "question": DESCRIBE, "chosen": chosen, "rejected": answer,
                        "chosen_spans": chosen_spans, "rejected_spans": rejected_spans,
                        **({"reference": reference} if reference else {})})
    return records


def pair_similarity(record: dict) -> float:
    """Share of the pair's characters (chosen and rejected together) outside the changed spans: 1 = the
    correction changed nothing, near 1 = a minimal edit, 0 = everything rewritten."""
    total = len(record["chosen"]) + len(record["rejected"])
    changed = sum(end - start for start, end in record["chosen_spans"] + record["rejected_spans"])
    return 1.0 - changed / total if total else 1.0


def filter_similar(records: list[dict], fraction: float) -> list[dict]:
    """``records`` without the ``fraction`` (rounded down) most similar pairs (``pair_similarity``; ties
    broken by position, later first), in their order."""
    drop = int(fraction * len(records))
    if not drop:
        return list(records)
    ranked = sorted(range(len(records)), key=lambda i: (pair_similarity(records[i]), i), reverse=True)
    dropped = set(ranked[:drop])
    return [record for i, record in enumerate(records) if i not in dropped]


def parse_schedule(text: str | None, rounds: int, name: str) -> list[float] | None:
    """``"5,3,1"`` -> [5.0, 3.0, 1.0]: one value per round (None when not given)."""
    if text is None:
        return None
    try:
        values = [float(value) for value in text.split(",")]
    except ValueError:
        raise ValueError(f"{name}: comma-separated numbers, got {text!r}") from None
    if len(values) != rounds:
        raise ValueError(f"{name}: one value per round ({rounds}), got {len(values)}")
    return values


def round_overrides(arm: str, number: int, gammas: list[float] | None, betas: list[float] | None) -> dict:
    """The schedules' settings of round ``number`` (1-based) for ``arm``: gamma for DDPO only (DPO is
    gamma 1 by definition, SFT has none), beta for DDPO and DPO."""
    settings = {}
    if gammas and arm == "ddpo":
        settings["gamma"] = gammas[number - 1]
    if betas and arm in ("ddpo", "dpo"):
        settings["beta"] = betas[number - 1]
    return settings


def sft_train(config: DDPOConfig, records) -> Path:
    """The SFT term of the DDPO trainer alone (mean NLL of the chosen answer), same steps and forward."""
    from training.ddpo.data import PairCollator, PreferenceDataset
    from training.ddpo.forward import PairScorer, choose_path
    from training.ddpo.loss import weighted_logps
    from training.ddpo.model import load_model, load_processor, pad_token_id
    from training.ddpo.trainer import cosine_lr, epoch_batches, save_checkpoint

    torch.manual_seed(config.seed)
    processor = load_processor(config.model)
    dataset = PreferenceDataset(records, processor, gamma=1.0)
    collate = PairCollator(pad_token_id(processor))
    model = load_model(config.model).train()
    scorer = PairScorer(model, choose_path(model, shared_prefix=config.shared_prefix, gradient_checkpointing=False))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    openings = dataset.shared_openings()
    per_epoch = len(epoch_batches(len(dataset), 0, config, 0, 1, openings))
    total = config.max_steps or config.epochs * per_epoch       # max_steps: the data repeats, as in train()
    warmup = math.ceil(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_lr(s, total, warmup))
    for step in range(total):
        epoch, first = divmod(step, per_epoch)
        if first == 0:
            batches = epoch_batches(len(dataset), epoch, config, 0, 1, openings)
        indices = batches[first]
        batch = collate([dataset[i] for i in indices])
        logps = scorer(batch)                                       # (2B, C)
        chosen = slice(0, len(indices))
        loss = -weighted_logps(logps[chosen], batch["completion_attention_mask"][chosen].float()).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    return save_checkpoint(Path(config.output_dir) / "final", model, processor, config, None)


def run_arm(arm, bootstrap_path, new_records, rounds, baseline, scenes, out_dir, overrides,
            steps=None, scheduled=None, keep=None) -> tuple[list[dict], float]:
    """Rounds of one arm with one training seed: (rows with round 0 = the bootstrap, seconds spent).

    ``new_records(number, checkpoint)`` gives round ``number``'s records, ``checkpoint`` being the arm's
    current one; ``steps(number)``, when given, the round's optimizer steps (else the recipe's epochs);
    ``scheduled(number)`` the round's own settings (schedules); ``keep(records)`` the new records kept."""
    started = time.perf_counter()
    rows = [{"round": 0, **baseline, "records": 0}]
    seed = overrides.get("seed", 0)
    print(f"\n== {arm}, seed {seed}\n{table_header()}\n{table_row(rows[0])}", flush=True)
    checkpoint, records = str(bootstrap_path), []
    for number in range(1, rounds + 1):
        round_started = time.perf_counter()
        fresh = new_records(number, checkpoint)
        records += keep(fresh) if keep else fresh
        if arm == "control":
            metrics = baseline
        else:
            loss = "dpo" if arm == "dpo" else "ddpo"
            settings = round_config(loss, **{**overrides, **(scheduled(number) if scheduled else {})},
                                    **({"max_steps": steps(number)} if steps else {}))
            config = DDPOConfig(model=checkpoint, output_dir=str(out_dir / arm / f"seed-{seed}" / f"round-{number}"),
                                resume=False, **settings)
            checkpoint = str(sft_train(config, records) if arm == "sft" else train(config, records))
            metrics = evaluate(checkpoint, scenes)
        rows.append({"round": number, **metrics, "records": len(records),
                     "seconds": time.perf_counter() - round_started})
        print(table_row(rows[-1]), flush=True)
    return rows, time.perf_counter() - started


def mean_rows(runs: list[list[dict]]) -> list[dict]:
    """Round by round, the mean of every number over the seeds' rows (nested categories left out;
    numbers every seed shares, such as the round and the record count, stay as they are)."""
    def mean(key, value, rounds):
        same = all(row[key] == value for row in rounds)
        return value if same else sum(row[key] for row in rounds) / len(rounds)
    return [{key: mean(key, value, rounds) for key, value in rounds[0].items() if isinstance(value, (int, float))}
            for rounds in zip(*runs)]


def spread(values: list[float]) -> float:
    """Sample standard deviation (0 for one value)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def paired_difference(ours: list[list[dict]], theirs: list[list[dict]], round_number: int) -> dict:
    """DDPO minus another arm at one round, paired by training seed (same data order): the mean
    difference in response-level hallucination, its standard error, and the seeds where ours is lower
    and where the two tie."""
    differences = [a[round_number]["response_hallucination_rate"] - b[round_number]["response_hallucination_rate"]
                   for a, b in zip(ours, theirs)]
    count = len(differences)
    return {"mean": sum(differences) / count, "error": spread(differences) / math.sqrt(count),
            "lower": sum(d < 0 for d in differences), "tied": sum(d == 0 for d in differences)}


def bootstrap_checkpoint(path: Path, steps: int, threads: int) -> Path:
    """Checkpoint 0 in ``path``: trained there when the folder holds no model, or a bootstrap of another
    step count (a model without a bootstrap config, such as a trained checkpoint, is used as it is).

    It trains into a sibling folder and moves it into place when done, so an interrupted run never leaves
    untrained weights that a later run would take for checkpoint 0."""
    config = path / CONFIG_FILE
    trained = None
    if config.exists():
        try:
            trained = json.loads(config.read_text()).get("steps")
        except (ValueError, AttributeError):
            trained = "unreadable"
    if (path / "model.safetensors").exists() and trained in (None, steps):
        return path
    print(f"Training the bootstrap into {path} ({steps} steps; found {trained or 'none'})", flush=True)
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    bootstrap(partial, seed=0, steps=steps, threads=threads)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return path


def on_policy_rounds(path: Path, model, processor, tasks: int, error_rate: float):
    """(new_records(number, checkpoint), steps(number), round 1's record count) of the on-policy loop.

    The checkpoint given writes the round's answers and is every record's reference. Checkpoint 0's answers
    (every arm's in round 1, the control's in every round) are generated once. Every trained arm takes the
    recipe's epochs over ``number`` times round 1's records in round ``number``: matched compute, although
    each arm keeps its own record count."""
    written = {1: round_records(model, processor, 1, tasks, error_rate, reference=str(path))}
    batches = math.ceil(len(written[1]) / RECIPE["batch_size"])

    def new_records(number: int, checkpoint: str) -> list[dict]:
        if checkpoint == str(path) and number in written:
            return written[number]
        answerer, its_processor = load_checkpoint(checkpoint)
        records = round_records(answerer, its_processor, number, tasks, error_rate, reference=checkpoint)
        if checkpoint == str(path):
            written[number] = records
        return records

    def steps(number: int) -> int:
        return RECIPE["epochs"] * number * batches

    return new_records, steps, len(written[1])


def summarize(results: dict, baseline: dict, rounds: int, label: str) -> None:
    """Print the arms' mean rows, the last round's per-seed rates, the rates by round and DDPO's paired
    differences from DPO and SFT; the last line is DDPO's relative reduction after the last round."""
    results = {arm: r for arm, r in results.items() if r["seeds"]}
    for arm, r in results.items():
        print(f"\n== {label}{arm}, mean of {len(r['seeds'])} seed(s)\n{table_header()}", flush=True)
        for row in r["rows"]:
            print(table_row(row), flush=True)
        print(f"{arm}: {sum(r['seconds']) / len(r['seconds']) / 60:.1f} min per seed", flush=True)
    final = {arm: r["rows"][-1] for arm, r in results.items()}
    print(f"\n== {label}after round {rounds}, mean over seeds (load average now {os.getloadavg()[0]:.1f})")
    print(table_header("arm      ") + "  resp. halluc. per seed")
    for arm, row in final.items():
        per_seed = [rows[-1]["response_hallucination_rate"] for rows in results[arm]["seeds"]]
        print(table_row(row, f"{arm:<9}") + "  " + " ".join(f"{rate:.1%}" for rate in per_seed)
              + f" (sd {spread(per_seed):.1%})")
    print(f"\n== {label}response-level hallucination by round, mean over seeds "
          "(round 1 shows how fast each arm learns)")
    for arm, r in results.items():
        print(f"{arm:<9}" + " -> ".join(f"{row['response_hallucination_rate']:.1%}" for row in r["rows"]))
    if "ddpo" in results:
        ours = results["ddpo"]["seeds"]
        for other in [arm for arm in ("dpo", "sft") if arm in results]:
            theirs = results[other]["seeds"]
            print(f"\n== {label}DDPO minus {other}, paired by training seed: mean difference (standard error), "
                  f"seeds where DDPO is lower or ties")
            for number in range(1, rounds + 1):
                pair = paired_difference(ours, theirs, number)
                print(f"round {number}: {pair['mean'] * 100:+.1f} points ({pair['error'] * 100:.2f}), "
                      f"lower in {pair['lower']}, tied in {pair['tied']} of {min(len(ours), len(theirs))}")
    if "ddpo" in final:
        before, after = baseline["response_hallucination_rate"], final["ddpo"]["response_hallucination_rate"]
        coverage = final["ddpo"]["coverage"] / baseline["coverage"] if baseline["coverage"] else 0.0
        print(f"{label}DDPO after round {rounds}: response-level hallucination {before:.1%} -> {after:.1%}, "
              f"coverage {coverage:.0%} of the bootstrap's; relative reduction "
              f"{relative_reduction(before, after):.1%}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=Path, default=ROOT / "var" / "bench" / "loop-bootstrap",
                        help="checkpoint 0 (trained here when the folder has no model, "
                             "or a bootstrap of other --bootstrap-steps)")
    parser.add_argument("--bootstrap-steps", type=int, default=BootstrapConfig.steps)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=lambda text: [int(t) for t in text.split(",")], default=[1000],
                        help="fresh scenes described and corrected per round; several budgets run in turn (200,1000)")
    parser.add_argument("--held-out", type=int, default=500)
    parser.add_argument("--on-policy", action="store_true",
                        help="each arm's current checkpoint answers the round's scenes (reference: the writer)")
    parser.add_argument("--error-rate", type=float, default=0.0, help="the simulated annotator's mistakes")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", type=int, default=10,
                        help="training seeds per trained arm; tables and targets use their mean")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="training seeds run are first-seed .. first-seed + seeds - 1 (split a run over processes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "loop")
    parser.add_argument("--report", type=Path, help="write every arm's rows as JSON, by budget")
    parser.add_argument("--config", type=json.loads, default={},
                        help="training.ddpo overrides of the recipe, reference and beta included (JSON)")
    parser.add_argument("--gamma-schedule", metavar="G1,G2,..",
                        help="the DDPO arm's gamma round by round, one value per round (e.g. 5,3,1)")
    parser.add_argument("--beta-schedule", metavar="B1,B2,..",
                        help="the DDPO and DPO arms' beta round by round, one value per round (e.g. 0.5,0.3,0.1)")
    parser.add_argument("--filter-similar", type=float, default=0.0, metavar="F",
                        help="drop the fraction F of each round's new pairs whose sides are most alike (0 = none)")
    args = parser.parse_args()
    try:
        gammas = parse_schedule(args.gamma_schedule, args.rounds, "--gamma-schedule")
        betas = parse_schedule(args.beta_schedule, args.rounds, "--beta-schedule")
    except ValueError as error:
        parser.error(str(error))
    if not 0 <= args.filter_similar < 1:
        parser.error(f"--filter-similar must be in [0, 1), got {args.filter_similar}")
    torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    arms = [arm for arm in args.arms.split(",") if arm]
    unknown = set(arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)}; choose from {ARMS}")

    load = os.getloadavg()[0]
    path = bootstrap_checkpoint(args.bootstrap, args.bootstrap_steps, args.threads)
    scenes = held_out_scenes(args.held_out)
    baseline = evaluate(path, scenes)
    model, processor = load_checkpoint(path)
    report = {}
    for tasks in args.tasks:
        label = f"{tasks} tasks a round, " if len(args.tasks) > 1 else ""
        out = args.out / f"tasks-{tasks}" if len(args.tasks) > 1 else args.out
        if args.on_policy:
            overrides = {"reference": None, "beta": PAPER_BETA, **args.config}
            new_records, steps, first = on_policy_rounds(path, model, processor, tasks, args.error_rate)
            described = (f"round 1 records {first}, then each arm's own; "
                         f"steps per round {[steps(n) for n in range(1, args.rounds + 1)]}")
        else:
            overrides = {"reference": str(path), "beta": PAPER_BETA, **args.config}
            data = [round_records(model, processor, number, tasks, args.error_rate)
                    for number in range(1, args.rounds + 1)]
            new_records, steps = (lambda number, checkpoint, data=data: data[number - 1]), None
            described = f"records per round: {[len(d) for d in data]}"
        print(f"bootstrap {path}: {args.held_out} held-out scenes; {tasks} tasks a round"
              f"{', on-policy' if args.on_policy else ''}; {described}; {args.threads} threads, "
              f"load average {load:.1f}; recipe {round_config('ddpo', **overrides)}"
              f"{f'; gamma schedule {gammas}' if gammas else ''}{f'; beta schedule {betas}' if betas else ''}"
              f"{f'; dropping the {args.filter_similar:.0%} most similar pairs' if args.filter_similar else ''}",
              flush=True)

        results = {arm: {"rows": [], "seeds": [], "seconds": []} for arm in arms}
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        for seed in seeds:                  # seed outer: an interrupted run leaves paired seeds
            for arm in [arm for arm in arms if arm != "control" or seed == seeds[0]]:
                settings = {**overrides, "seed": seed}
                if args.on_policy:
                    settings["reference_cache_dir"] = str(out / arm / f"seed-{seed}" / "reference_cache")
                rows, seconds = run_arm(
                    arm, path, new_records, args.rounds, baseline, scenes, out, settings, steps,
                    scheduled=lambda number, arm=arm: round_overrides(arm, number, gammas, betas),
                    keep=(lambda records: filter_similar(records, args.filter_similar)) if args.filter_similar else None)
                results[arm]["seeds"].append(rows)
                results[arm]["seconds"].append(seconds)
                results[arm]["rows"] = mean_rows(results[arm]["seeds"])
            report[str(tasks)] = {"baseline": baseline, "on_policy": args.on_policy,
                                  "levers": {"config": args.config, "gamma_schedule": gammas,
                                             "beta_schedule": betas, "filter_similar": args.filter_similar},
                                  **results}
            if args.report:
                args.report.write_text(json.dumps(report, indent=2, default=float))
        summarize(results, baseline, args.rounds, label)


if __name__ == "__main__":
    main()

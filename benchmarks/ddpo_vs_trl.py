"""Our DDPO trainer vs TRL's DPOTrainer: pairs/s, peak memory, fraction of the physical limit.

Same small LLaVA (~4.5M parameters, 64x64 images -> 64 image tokens), the
same 256 pairs (answers of ~65 words, 3 changed words each), batch 8, one
epoch, same learning rate, fp32, no gradient checkpointing, nothing
truncated. Each measure runs in its own process (clean peak RSS):

  limit   forward + backward of the policy alone on the same batches
          (TRL's layout: 2B rows of prompt + answer), no optimizer, no reference
  trl     DPOTrainer.train() (reference forward every step)
  cold    our train(), first epoch, computing the reference cache first
  warm    our train() again, reference cache on disk
  plain   warm, with batches not grouped by shared answer opening

Cold and warm batch pairs by shared answer opening (`group_by_shared_prefix`,
off by default: it makes batches less mixed); plain shows the default.

Timed parts start once the model is loaded and the records tokenized (TRL:
DPOTrainer() loads policy + reference and tokenizes and processes every
image up front, the timed part is train(); ours: from train()'s "reference"
phase, so the reference cache fill or load and processing each image are
timed). Peak memory is ru_maxrss above the process's RSS before that
(TRL: after DPOTrainer(); ours: before train() loads anything, so our
figure also holds our model). The four measures run in turn --repeats times
(default 2) and each counts its best run: on a shared machine a load spike
only ever slows a run down. Run:
    python benchmarks/ddpo_vs_trl.py [--pairs 256] [--threads 1] [--repeats 2]
The last line is the ratio ours/TRL with the reference cache warm.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white"]
SHAPES = ["circle", "square", "triangle", "star", "cross", "ring"]
PLACES = ["top left", "top right", "bottom left", "bottom right", "center", "left edge", "right edge"]
QUESTIONS = ["Describe the image in detail.", "What shapes are in the picture?", "List every object you see."]
BATCH = 8
PARTS = ("limit", "trl", "cold", "warm", "plain")
LR = 1e-5
BETA = 0.1


def sentence(rng) -> list[str]:
    return ["There", "is", "a", rng.choice(COLORS), rng.choice(SHAPES), "at", "the", *rng.choice(PLACES).split(), "."]


def make_records(n: int, image_dir: Path, seed: int = 0) -> list[dict]:
    """n pairs; rejected = chosen with 3 color/shape words swapped; spans in code points."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    records = []
    for i in range(n):
        words = [w for _ in range(8) for w in sentence(rng)]                       # ~65 words
        wrong = list(words)
        for j in rng.sample([k for k, w in enumerate(words) if w in COLORS or w in SHAPES], 3):
            pool = COLORS if words[j] in COLORS else SHAPES
            wrong[j] = rng.choice([w for w in pool if w != words[j]])

        def render(ws):
            text, starts = "", []
            for w in ws:
                text += "" if not text or w == "." else " "
                starts.append(len(text))
                text += w
            return text, starts
        chosen, c_starts = render(words)
        rejected, r_starts = render(wrong)
        changed = [j for j in range(len(words)) if words[j] != wrong[j]]
        image = Image.new("RGB", (64, 64), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = rng.randrange(48), rng.randrange(48)
            draw.rectangle([x, y, x + 16, y + 16], fill=tuple(rng.randrange(256) for _ in range(3)))
        path = image_dir / f"{i}.png"
        image.save(path)
        records.append(dict(
            id=str(i), version=1, image=str(path), question=QUESTIONS[i % 3], chosen=chosen, rejected=rejected,
            chosen_spans=[[c_starts[j], c_starts[j] + len(words[j])] for j in changed],
            rejected_spans=[[r_starts[j], r_starts[j] + len(wrong[j])] for j in changed]))
    return records


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_records(work: Path) -> list[dict]:
    from PIL import Image

    records = json.loads((work / "records.json").read_text())
    for r in records:
        r["image"] = Image.open(r["image"]).convert("RGB")
    return records


def part_limit(work: Path, records) -> dict:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from training.ddpo.data import PairCollator, PreferenceDataset
    from training.ddpo.forward import concat_token_logps

    processor = AutoProcessor.from_pretrained(work / "model")
    model = AutoModelForImageTextToText.from_pretrained(work / "model")
    ds = PreferenceDataset(records, processor, gamma=1.0)
    collate = PairCollator(processor.tokenizer.pad_token_id)
    batches = [collate([ds[i] for i in range(s, min(s + BATCH, len(ds)))]) for s in range(0, len(ds), BATCH)]
    base, start, cpu = rss_mb(), time.perf_counter(), time.process_time()
    for batch in batches:                                   # forward + backward only
        model.zero_grad(set_to_none=True)
        concat_token_logps(model, batch).sum().backward()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = sum(int(b["prompt_attention_mask"].sum() * 2 + b["completion_attention_mask"].sum()) for b in batches)
    return dict(pairs_per_s=len(ds) / seconds, seconds=seconds, cpu=cpu, peak_mb=peak_mb() - base,
                tokens_per_pair=tokens / len(ds), params=sum(p.numel() for p in model.parameters()))


def part_trl(work: Path, records) -> dict:
    import torch  # noqa: F401
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import DPOConfig, DPOTrainer

    processor = AutoProcessor.from_pretrained(work / "model")
    rows = [{"images": [r["image"]],
             "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r["question"]}]}],
             "chosen": [{"role": "assistant", "content": r["chosen"]}],
             "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in records]
    args = DPOConfig(output_dir=str(work / "trl"), per_device_train_batch_size=BATCH, learning_rate=LR, beta=BETA,
                     num_train_epochs=1, use_cpu=True, bf16=False, gradient_checkpointing=False, max_length=None,
                     report_to=[], save_strategy="no", logging_steps=10_000, lr_scheduler_type="cosine",
                     warmup_steps=math.ceil(0.05 * math.ceil(len(records) / BATCH)), disable_tqdm=True, dataloader_num_workers=0)
    trainer = DPOTrainer(model=AutoModelForImageTextToText.from_pretrained(work / "model"), args=args,
                         train_dataset=Dataset.from_list(rows), processing_class=processor)
    base, start, cpu = rss_mb(), time.perf_counter(), time.process_time()
    trainer.train()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return dict(pairs_per_s=len(records) / seconds, seconds=seconds, cpu=cpu, peak_mb=peak_mb() - base)


def part_ours(work: Path, records, name: str, repeat: int) -> dict:
    from training.ddpo.config import DDPOConfig
    from training.ddpo.trainer import train

    config = DDPOConfig(model=str(work / "model"), output_dir=str(work / f"{name}-{repeat}"), batch_size=BATCH,
                        learning_rate=LR, beta=BETA, gamma=5.0, epochs=1, warmup_ratio=0.05,
                        reference_cache_dir=str(work / f"reference_cache-{repeat}"),
                        group_by_shared_prefix=name != "plain")
    marks = {}

    def mark(name):
        marks[name] = (time.perf_counter(), time.process_time())
    base = rss_mb()
    train(config, records, on_phase=mark, on_metrics=lambda step, m: mark("last step"))
    (start, cpu), (end, cpu_end) = marks["reference"], marks["last step"]   # final save excluded
    seconds, cpu = end - start, cpu_end - cpu
    return dict(pairs_per_s=len(records) / seconds, seconds=seconds, cpu=cpu, peak_mb=peak_mb() - base)


def run_part(part: str, work: Path, threads: int, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--part", part, "--work", str(work), "--threads", str(threads),
                          "--repeat", str(repeat)],
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads),
                                  TOKENIZERS_PARALLELISM="false"))
    if out.returncode != 0:
        sys.exit(f"part {part} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per measure")
    parser.add_argument("--repeats", type=int, default=2, help="runs of every measure; the best counts")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        import torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        records = load_records(args.work)
        result = (part_limit(args.work, records) if args.part == "limit" else
                  part_trl(args.work, records) if args.part == "trl" else
                  part_ours(args.work, records, args.part, args.repeat))
        print(json.dumps(result))
        return

    from synthetic.tiny_vlm import build_tiny_vlm

    work = Path(tempfile.mkdtemp(prefix="ddpo_bench_"))
    (work / "images").mkdir()
    records = make_records(args.pairs, work / "images")
    (work / "records.json").write_text(json.dumps(records))
    corpus = [r["chosen"] for r in records] + [r["rejected"] for r in records] + QUESTIONS
    build_tiny_vlm(work / "model", corpus, image_size=64, patch_size=8, vision_hidden=64, vision_layers=2,
                   text_hidden=256, text_layers=4, heads=4, vocab_size=384)
    load_start = os.getloadavg()[0]
    runs = [{part: run_part(part, work, args.threads, repeat) for part in PARTS} for repeat in range(args.repeats)]
    load_end = os.getloadavg()[0]
    for run in runs:
        for r in run.values():
            r["pairs_per_cpu_s"] = args.pairs / r["cpu"]
    results = {part: max((run[part] for run in runs), key=lambda r: r["pairs_per_cpu_s"]) for part in PARTS}
    limit = results["limit"]["pairs_per_cpu_s"]
    print(f"machine: {os.cpu_count()} CPUs shared with other work, {args.threads} torch thread(s) per measure, "
          f"best of {args.repeats} runs each, "
          f"load average {load_start:.1f} at start, {load_end:.1f} at end")
    print(f"model: {results['limit']['params'] / 1e6:.1f}M parameters, 64x64 images (64 image tokens), "
          f"{args.pairs} pairs, batch {BATCH}, {results['limit']['tokens_per_pair']:.0f} tokens/pair in TRL's layout")
    print("throughput = pairs per second of the measure's own CPU time (wall-clock pairs/s in brackets: "
          "on a shared machine they depend on the load of the moment)")
    print(f"physical limit (policy forward+backward alone, same batches): {limit:.2f} pairs/s "
          f"[{results['limit']['pairs_per_s']:.2f} wall]")
    names = {"trl": "TRL DPOTrainer", "cold": "ours, first epoch incl. reference cache",
             "warm": "ours, reference cache warm", "plain": "ours, cache warm, batches not grouped (the default)"}
    for part, name in names.items():
        r = results[part]
        print(f"{name}: {r['pairs_per_cpu_s']:.2f} pairs/s ({r['pairs_per_cpu_s'] / limit:.2f} of the limit) "
              f"[{r['pairs_per_s']:.2f} wall, {r['seconds']:.0f} s], peak memory +{r['peak_mb']:.0f} MB")
    per_run = ", ".join(f"{run['warm']['pairs_per_cpu_s'] / run['trl']['pairs_per_cpu_s']:.2f}" for run in runs)
    print(f"ratio ours/TRL with the reference cache warm, run by run: {per_run}")
    trl = results["trl"]["pairs_per_cpu_s"]
    print(f"ratio ours/TRL, cache warm, batches not grouped: {results['plain']['pairs_per_cpu_s'] / trl:.2f}")
    print(f"ratio ours/TRL, first epoch incl. reference cache: {results['cold']['pairs_per_cpu_s'] / trl:.2f}")
    print(f"ratio ours/TRL, reference cache warm: {results['warm']['pairs_per_cpu_s'] / trl:.2f}")

if __name__ == "__main__":
    main()

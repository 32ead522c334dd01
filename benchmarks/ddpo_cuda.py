"""The CUDA path of the DDPO trainer: bf16 autocast, gradient checkpointing, LoRA; and generation.

Builds a ~140M-parameter LLaVA-style model from a config (nothing is
downloaded), 256 synthetic pairs (64x64 images, ~65-word answers), and runs
one epoch each of:

  lora+ckpt     LoRA, bf16 autocast, gradient checkpointing (concatenated path)
  lora          LoRA, bf16 autocast, shared prefix
  full          full fine-tune, bf16 autocast, shared prefix

then greedy generation with the first run's merged checkpoint. Prints pairs/s,
tokens/s and peak GPU memory for each. Without CUDA it prints one
"skipped: no CUDA" line and exits 0. Runs in well under 3 minutes on an H100:
    python benchmarks/ddpo_cuda.py [--pairs 256] [--batch 16] [--hidden 1024] [--layers 8] [--new-tokens 96]
(--pairs at least two batches: the steady rate is timed from the end of step 1.)
The last line is the ratio shared-prefix/concatenated (LoRA, steady).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def train_once(name: str, work: Path, records, batch: int, **overrides) -> dict:
    import torch

    from training.ddpo.config import DDPOConfig
    from training.ddpo.trainer import train

    config = DDPOConfig(model=str(work / "model"), output_dir=str(work / name), batch_size=batch, epochs=1,
                        learning_rate=1e-5, beta=0.1, gamma=5.0, lora_r=16, bf16=True,
                        reference_cache_dir=str(work / "reference_cache"), **overrides)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    seen, start = [], time.perf_counter()
    path = train(config, records, on_metrics=lambda step, m: seen.append((time.perf_counter(), m)))
    torch.cuda.synchronize()
    # Steady state: from the end of step 1 to the end of the last step (reference pass excluded).
    steady = (seen[-1][0] - seen[0][0]) / (len(seen) - 1)
    return dict(name=name, path=path, first_epoch_pairs_s=len(records) / (seen[-1][0] - start),
                steady_pairs_s=batch / steady, tokens_s=sum(m["tokens/s"] for _, m in seen[1:]) / (len(seen) - 1),
                loss=seen[-1][1]["loss"], acc=seen[-1][1]["rewards/accuracies"],
                peak_gb=torch.cuda.max_memory_allocated() / 2**30)


def parity(work: Path, records) -> float:
    """Max |shared - concatenated| per-token log-prob on one batch, fp32 on the GPU."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from training.ddpo.data import PairCollator, PreferenceDataset
    from training.ddpo.forward import concat_token_logps, shared_token_logps
    from training.ddpo.reference import to_device

    processor = AutoProcessor.from_pretrained(work / "model")
    model = AutoModelForImageTextToText.from_pretrained(work / "model").cuda()
    ds = PreferenceDataset(records[:8], processor, gamma=5.0)
    batch = to_device(PairCollator(processor.tokenizer.pad_token_id)([ds[i] for i in range(len(ds))]), "cuda")
    with torch.no_grad():
        return (shared_token_logps(model, batch) - concat_token_logps(model, batch)).abs().max().item()


def generate(path: Path, records, new_tokens: int) -> dict:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.bfloat16).cuda().eval()
    batch = records[:64]
    prompts = [processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r["question"]}]}],
        add_generation_prompt=True, tokenize=False) for r in batch]
    images = [Image.open(r["image"]).convert("RGB") for r in batch]
    inputs = processor(text=prompts, images=images, return_tensors="pt", padding=True,
                       add_special_tokens=False).to("cuda")
    torch.cuda.reset_peak_memory_stats()
    model.generate(**inputs, max_new_tokens=8, do_sample=False)             # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
    torch.cuda.synchronize()
    new = out.shape[1] - inputs["input_ids"].shape[1]
    return dict(tokens_s=new * len(batch) / (time.perf_counter() - start), new_tokens=new, prompts=len(batch),
                peak_gb=torch.cuda.max_memory_allocated() / 2**30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=1024, help="decoder width (heads of 64)")
    parser.add_argument("--layers", type=int, default=8, help="decoder layers")
    parser.add_argument("--new-tokens", type=int, default=96, help="tokens generated per prompt")
    args = parser.parse_args()
    if args.pairs < 2 * args.batch:
        parser.error("--pairs must be at least two batches")
    import torch

    if not torch.cuda.is_available():
        print("skipped: no CUDA device (this script measures the GPU path only)")
        return 0
    from benchmarks.ddpo_vs_trl import QUESTIONS, make_records
    from synthetic.tiny_vlm import build_tiny_vlm

    work = Path(tempfile.mkdtemp(prefix="ddpo_cuda_"))
    (work / "images").mkdir()
    records = make_records(args.pairs, work / "images")
    corpus = [r["chosen"] for r in records] + [r["rejected"] for r in records] + QUESTIONS
    build_tiny_vlm(work / "model", corpus, image_size=64, patch_size=8, vision_hidden=256, vision_layers=4,
                   text_hidden=args.hidden, text_layers=args.layers, heads=max(1, args.hidden // 64), vocab_size=384)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    print(f"parity: max |shared-prefix - concatenated| token log-prob, fp32: {parity(work, records):.2e}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = True
    runs = [train_once("lora+ckpt", work, records, args.batch, lora=True, gradient_checkpointing=True),
            train_once("lora", work, records, args.batch, lora=True),
            train_once("full", work, records, args.batch)]
    for r in runs:
        print(f"{r['name']:>10}: {r['steady_pairs_s']:.1f} pairs/s steady ({r['tokens_s']:.0f} tokens/s), "
              f"{r['first_epoch_pairs_s']:.1f} pairs/s over the epoch, peak GPU memory {r['peak_gb']:.2f} GiB, "
              f"last loss {r['loss']:.4f} acc {r['acc']:.2f}", flush=True)
    gen = generate(runs[0]["path"], records, args.new_tokens)
    print(f"generation: {gen['tokens_s']:.0f} new tokens/s ({gen['prompts']} prompts x {gen['new_tokens']} tokens, "
          f"bf16, greedy), peak GPU memory {gen['peak_gb']:.2f} GiB")
    print(f"ratio shared-prefix/concatenated (LoRA, steady): {runs[1]['steady_pairs_s'] / runs[0]['steady_pairs_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Answers/s of ``training.generation`` for 64 prompts: batched vs one prompt at a time, same run.

A tiny LLaVA-style model (synthetic.tiny_vlm: CLIP vision tower, Llama
decoder; by default 32x32 images -> 16 image tokens) answers 64 image + question
prompts greedily, first in left-padded batches that share one ``generate``
call (KV cache), then one prompt per call. Both arms must give the same
answers; the last line is the speed-up.

    python benchmarks/generation.py [--prompts 64] [--batch-size 64] [--max-new-tokens 32] [--threads 2]
                                    [--image-size 32] [--hidden 64] [--layers 2]

Measured on 2 busy shared CPU cores, same greedy answers in both arms:
defaults (0.22M parameters, 32 new tokens): 4.6 s vs 189.6 s, 41.7x;
--image-size 64 --hidden 128 --layers 4 --max-new-tokens 64 (1.28M): 35.8 s vs 544.9 s, 15.2x.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from synthetic.tiny_vlm import build_tiny_vlm  # noqa: E402
from training.generation import SamplingParams, generate, load_generator  # noqa: E402

COLORS = ["red", "blue", "green", "yellow"]
SHAPES = ["circle", "square", "triangle"]
QUESTIONS = ["Describe the image in detail.", "What colour is the circle?", "How many shapes are there?",
             "Where is the square?"]
CORPUS = [f"At the top left there is a {c} {s}." for c in COLORS for s in SHAPES] + QUESTIONS


def prompts(count, size):
    return [{"question": QUESTIONS[i % len(QUESTIONS)],
             "image": Image.new("RGB", (size, size), (37 * i % 256, 91 * i % 256, 53 * i % 256))}
            for i in range(count)]


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64, help="Decoder width (the vision tower gets half).")
    parser.add_argument("--layers", type=int, default=2, help="Decoder layers.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        path = build_tiny_vlm(folder, CORPUS * 20, image_size=args.image_size, text_hidden=args.hidden,
                              text_layers=args.layers, vision_hidden=args.hidden // 2)
        generator = load_generator(path, device="cpu")
    items = prompts(args.prompts, args.image_size)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    parameters = sum(p.numel() for p in generator.model.parameters())
    print(f"model: {parameters / 1e6:.2f}M parameters, {args.prompts} prompts, {args.max_new_tokens} new tokens, "
          f"{args.threads} threads")
    generate(generator, items[:2], params)  # warm-up
    batched, batched_s = timed(lambda: generate(generator, items, SamplingParams(
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)))
    alone, alone_s = timed(lambda: [generate(generator, [item], params)[0] for item in items])
    print(f"batched (batch {args.batch_size}): {batched_s:.2f} s, {args.prompts / batched_s:.1f} prompts/s")
    print(f"one at a time:       {alone_s:.2f} s, {args.prompts / alone_s:.1f} prompts/s")
    print(f"same greedy answers: {batched == alone}")
    print(f"speed-up batched / one at a time: {alone_s / batched_s:.1f}x")


if __name__ == "__main__":
    main()

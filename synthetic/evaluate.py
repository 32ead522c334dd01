"""Greedy answers from a checkpoint, in batches, and their judged metrics."""

import time
from pathlib import Path

from PIL import Image

from synthetic.describe import DESCRIBE
from synthetic.judge import judge, summarize
from synthetic.render import render
from synthetic.scenes import HELD_OUT_SIZE, Scene, held_out_scenes
from training.ddpo.model import load_model, load_processor
from training.generation import Generator, SamplingParams, generate

MAX_NEW_TOKENS = 64  # the longest habitual description is 57 tokens


def load_checkpoint(path: str | Path):
    """(model in eval mode, processor) from a saved checkpoint folder, offline."""
    return load_model(path, dtype="auto").eval(), load_processor(path)


def generate_answers(
    model,
    processor,
    images: list[Image.Image],
    questions: list[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> list[str]:
    """Greedy answers, one per (image, question), from a model already in memory
    (``training.generation.generate``: left-padded batches on the KV cache)."""
    processor.tokenizer.padding_side = "left"
    prompts = [{"question": question, "image": image} for image, question in zip(images, questions)]
    params = SamplingParams(max_new_tokens=max_new_tokens, batch_size=batch_size)
    answers = generate(Generator(model=model, processor=processor, is_vision=True), prompts, params)
    return [samples[0] for samples in answers]


def evaluate(checkpoint_path: str | Path, scenes: list[Scene], *, batch_size: int = 64) -> dict:
    """The judge's metrics (see ``judge.summarize``) for greedy detailed
    descriptions of ``scenes``, plus ``seconds`` spent."""
    started = time.perf_counter()
    model, processor = load_checkpoint(checkpoint_path)
    images = [render(scene, model.config.vision_config.image_size) for scene in scenes]
    answers = generate_answers(model, processor, images, [DESCRIBE] * len(scenes), batch_size=batch_size)
    metrics = summarize([judge(scene, answer) for scene, answer in zip(scenes, answers)])
    metrics["seconds"] = time.perf_counter() - started
    return metrics


def evaluate_held_out(checkpoint_path: str | Path, count: int = HELD_OUT_SIZE, *, batch_size: int = 64) -> dict:
    """``evaluate`` on the first ``count`` held-out scenes (never trained on), with ``held_out``: count."""
    return {**evaluate(checkpoint_path, held_out_scenes(count), batch_size=batch_size), "held_out": count}

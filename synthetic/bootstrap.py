"""Checkpoint 0: a tiny VLM that sees the shapes well but has learned bad habits.

Builds the model with ``tiny_vlm`` (word-level tokenizer trained on the
corpus), then fine-tunes it with a plain SFT loop (AdamW, warm-up + cosine)
on habitual answers (``habits``) to the world's questions, half of them
detailed descriptions. Every ``validate_every`` steps it judges greedy
descriptions of validation scenes and keeps the weights that read the most
objects right (coverage minus the mention-level hallucination rate).

Three choices make it see well within minutes (measured, 500 held-out
scenes; before them, runs sat for thousands of steps at chance on colour and
shape, and coverage swung by tens of points between runs):
- one CLIP layer: with two, the attention mixes the nine cell tokens into one
  scene summary, from which the decoder reads where objects are but not which
  is which (a linear probe still finds colour and shape in the features);
- a curriculum: the first ``single_object_steps`` see one-object scenes,
  where attending to the one non-empty cell is enough to learn to read
  colour, size and shape; the decoder then learns to pick the cell it names;
- a decoder of width 64: at width 32 the colour of one object in three was
  still misread after 12,000 steps (3.9% at width 64 after 6,000).

It trains 12,000 steps because the issue's bootstrap must see well, so that
what it gets wrong is its habits. Seed 0 on the 500 held-out scenes: after
6,000 steps 24.2% of descriptions misread something outside the habits
(coverage 96.1%), after 8,000 (keeping step 6,250) 23.0%, after 12,000
(keeping step 10,000) 4.0%, with 47.2% carrying a habit and coverage 99.4%.
The last bits depend on the CPU's kernels: on another machine the same seed
kept step 9,250 (49.2% hallucinated, coverage 99.1%). With the misreading
bootstrap the loop's corrections were mostly about eyesight, which no arm
learned from them, and the arms ended in the reverse order (synthetic/loop.py).
"""

import argparse
import copy
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from training.ddpo.data import prompt_text
from synthetic.describe import DESCRIBE, questions
from synthetic.evaluate import evaluate, generate_answers, load_checkpoint
from synthetic.habits import habitual_answer
from synthetic.judge import judge, summarize
from synthetic.render import MODEL_SIZE, render
from synthetic.scenes import HELD_OUT_SIZE, held_out_scenes, training_scenes
from synthetic.tiny_vlm import build_tiny_vlm

CONFIG_FILE = "bootstrap_config.json"
VALIDATION_FIRST_SEED = 900_000  # past the training seeds, below the loop's
REPORT_EVERY = 10


@dataclass(frozen=True)
class BootstrapConfig:
    seed: int = 0
    steps: int = 12000
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    scenes: int = 4000  # training scenes; every one gets a description and one other question
    image_size: int = MODEL_SIZE
    patch_size: int = 16  # one patch per grid cell: 9 image tokens
    vision_hidden: int = 64
    vision_layers: int = 1
    text_hidden: int = 64  # with 32, colours stay misread on a third of the objects
    text_layers: int = 2
    heads: int = 4
    threads: int = 2
    colour_share: float = 0.0
    single_object_steps: int = 1000  # curriculum: the first steps see one-object scenes only
    validate_every: int = 250
    validation_scenes: int = 128


def bootstrap(out_dir: str | Path, *, seed: int = 0, steps: int = BootstrapConfig.steps, log=print, on_step=None,
              **options) -> Path:
    """Build, train and save checkpoint 0 in ``out_dir``; ``options`` are
    other ``BootstrapConfig`` fields. ``on_step(step, values)`` gets the loss
    every ``REPORT_EVERY`` steps and the validation figures when they are
    measured; an exception it raises stops the training. Returns ``out_dir``."""
    config = BootstrapConfig(seed=seed, steps=steps, **options)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    examples = _examples(config, rng)
    corpus = [question for _, question, _ in examples] + [answer for _, _, answer in examples]
    out_dir = build_tiny_vlm(
        out_dir, corpus, image_size=config.image_size, patch_size=config.patch_size,
        vision_hidden=config.vision_hidden, vision_layers=config.vision_layers, text_hidden=config.text_hidden,
        text_layers=config.text_layers, heads=config.heads, word_level=True, seed=config.seed,
    )
    model, processor = load_checkpoint(out_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    kept = _train(model, processor, examples, config, rng, log, on_step or (lambda step, values: None))
    model.save_pretrained(out_dir)
    record = {**asdict(config), "training_seconds": round(time.perf_counter() - started, 1),
              "training_cpu_seconds": round(time.process_time() - cpu_started, 1), "kept": kept}
    (out_dir / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    return out_dir


def _examples(config: BootstrapConfig, rng: random.Random) -> list[tuple]:
    """(scene, question, habitual answer): each scene's description and one
    other question, a colour question with probability ``colour_share``."""
    examples = []
    for scene in training_scenes(config.scenes):
        asked = questions(scene)[1:]
        colour = [q for q in asked if q.kind == "colour"]
        other = rng.choice(colour if rng.random() < config.colour_share else asked).text
        examples += [(scene, q, habitual_answer(scene, q)) for q in (DESCRIBE, other)]
    return examples


def _train(model, processor, examples, config: BootstrapConfig, rng: random.Random, log, on_step) -> dict:
    """SFT steps; every ``validate_every`` steps the greedy descriptions of the
    validation scenes are judged, and the model ends with the weights that
    scored best (coverage minus mention-level hallucination). Returns the
    kept step and its validation metrics ({} when nothing was validated)."""
    encoded = _encode(processor, examples, config.image_size)
    single = [item for item, (scene, _, _) in zip(encoded, examples) if len(scene.objects) == 1]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    validation = training_scenes(config.validation_scenes, first_seed=VALIDATION_FIRST_SEED)
    images = [render(scene, config.image_size) for scene in validation]
    best, best_state = {}, None
    model.train()
    for step in range(1, config.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step - 1, config)
        pool = _pool(step, encoded, single, config)
        batch = _collate(rng.sample(pool, config.batch_size), processor.tokenizer.pad_token_id)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step in (1, config.steps):
            log(f"bootstrap step {step}/{config.steps} loss {loss.item():.4f}")
        values = {"loss": loss.item()} if step % REPORT_EVERY == 0 or step in (1, config.steps) else {}
        if step % config.validate_every == 0 or step == config.steps >= config.validate_every:
            metrics = _validate(model, processor, validation, images)
            log(f"bootstrap validation at step {step}: coverage {metrics['coverage']:.3f}, "
                f"{metrics['response_hallucination_rate']:.1%} of descriptions hallucinated")
            metrics["score"] = metrics["coverage"] - metrics["mention_hallucination_rate"]
            if metrics["score"] > best.get("score", -2.0):
                best, best_state = {"step": step, **metrics}, copy.deepcopy(model.state_dict())
            values.update({"loss": loss.item(), "validation/coverage": metrics["coverage"],
                           "validation/hallucination": metrics["response_hallucination_rate"]})
        if values:
            on_step(step, values)
    if best_state is not None:
        model.load_state_dict(best_state)
        log(f"bootstrap keeps step {best['step']} (validation coverage {best['coverage']:.3f}, "
            f"{best['mention_hallucination_rate']:.1%} of mentions false)")
    model.eval()
    return best


def _pool(step: int, encoded: list, single: list, config: BootstrapConfig) -> list:
    """What step ``step`` (1-based) samples from: the one-object examples during
    the curriculum (while there are enough of them for a batch), then all."""
    if step <= config.single_object_steps and len(single) >= config.batch_size:
        return single
    return encoded


def _validate(model, processor, scenes, images) -> dict:
    model.eval()
    answers = generate_answers(model, processor, images, [DESCRIBE] * len(scenes))
    model.train()
    metrics = summarize([judge(scene, answer) for scene, answer in zip(scenes, answers)])
    return {key: metrics[key] for key in ("coverage", "response_hallucination_rate", "mention_hallucination_rate")}


def _learning_rate(step: int, config: BootstrapConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def _encode(processor, examples, image_size: int) -> list[tuple[torch.Tensor, list[int], list[int]]]:
    """(pixel values, prompt ids with the image tokens expanded, answer ids + eos)."""
    tokenizer = processor.tokenizer
    prompt_ids = {}
    pixels = {}
    for scene, question, _ in examples:
        image = render(scene, image_size)
        if scene.seed not in pixels:
            pixels[scene.seed] = processor.image_processor(image, return_tensors="pt")["pixel_values"][0]
        if question not in prompt_ids:
            prompt = processor(text=prompt_text(processor, question, has_image=True), images=image)
            prompt_ids[question] = list(prompt["input_ids"][0])
    return [
        (pixels[scene.seed], prompt_ids[question],
         tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
        for scene, question, answer in examples
    ]


def _collate(encoded, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch; labels score only the answer tokens and the eos."""
    length = max(len(prompt) + len(answer) for _, prompt, answer in encoded)
    input_ids = torch.full((len(encoded), length), pad_id)
    labels = torch.full((len(encoded), length), -100)
    attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for row, (_, prompt, answer) in enumerate(encoded):
        ids = torch.tensor(prompt + answer)
        input_ids[row, : len(ids)] = ids
        labels[row, len(prompt) : len(ids)] = ids[len(prompt) :]
        attention_mask[row, : len(ids)] = 1
    pixel_values = torch.stack([pixels for pixels, _, _ in encoded])
    return {"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values, "labels": labels}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build checkpoint 0 and print its held-out metrics.")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=BootstrapConfig.steps)
    parser.add_argument("--held-out", type=int, default=HELD_OUT_SIZE, help="scenes to evaluate on")
    args = parser.parse_args(argv)
    path = bootstrap(args.out_dir, seed=args.seed, steps=args.steps)
    print(json.dumps(evaluate(path, held_out_scenes(args.held_out)), indent=2))


if __name__ == "__main__":
    main()

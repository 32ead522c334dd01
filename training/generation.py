"""Answers from a checkpoint for many prompts at once (no Django here).

    generator = load_generator("/data/checkpoints/run-7/final")   # or a hub id
    answers = generate(generator, [{"question": "Describe the image.", "image": img}],
                       SamplingParams(max_new_tokens=64, samples_per_prompt=2))
    # -> [["A red circle ...", "A red circle ..."]]: one list of samples per prompt

Prompts are grouped (with / without image), sorted by length and batched;
each batch is left-padded so every row's answer starts in the same column and
``generate`` decodes all rows together with the KV cache. Greedy batched
answers equal one-prompt-at-a-time answers (tests/training/test_generation.py).
torch and transformers are imported inside the functions: the web process
imports this module without loading them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from training.ddpo.config import check_json_types


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; ``temperature == 0`` is greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    samples_per_prompt: int = 1
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self):
        checks = {
            "temperature": self.temperature >= 0,
            "top_p": 0 < self.top_p <= 1,
            "max_new_tokens": self.max_new_tokens >= 1,
            "samples_per_prompt": self.samples_per_prompt >= 1,
            "batch_size": self.batch_size >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")
        greedy = self.temperature == 0
        if greedy and self.samples_per_prompt > 1:
            raise ValueError("samples_per_prompt: more than 1 needs temperature > 0 (greedy decoding gives one answer)")
        if greedy and self.top_p < 1:
            raise ValueError("top_p: below 1 needs temperature > 0 (greedy decoding does not sample)")

    @classmethod
    def from_dict(cls, data: dict) -> SamplingParams:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown sampling keys: {sorted(unknown)}")
        check_json_types(cls, data)
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Generator:
    model: object
    processor: object  # an AutoProcessor (vision) or a tokenizer (text only)
    is_vision: bool

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)


def load_generator(name_or_path: str | Path, *, device: str | None = None) -> Generator:
    """Load a checkpoint folder or hub id: image-text-to-text model + processor, or a causal LM + tokenizer."""
    import torch

    from training.ddpo.model import is_vision_model, load_model, load_processor

    model, processor = load_model(name_or_path, dtype="auto"), load_processor(name_or_path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    generator = Generator(model=model.to(device).eval(), processor=processor, is_vision=is_vision_model(name_or_path))
    tokenizer = generator.tokenizer
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return generator


def generate(generator: Generator, prompts: list[dict], params: SamplingParams = SamplingParams(), *,
             progress: bool = False, on_batch=None) -> list[list[str]]:
    """``params.samples_per_prompt`` answers for each ``{"question", "image"}`` prompt, in prompt order.

    ``image`` is a PIL image, a file path or None. ``on_batch(done, total)`` is
    called after each batch (the worker beats with it); ``progress`` shows tqdm.
    """
    import torch
    from tqdm.auto import tqdm

    from training.ddpo.data import prompt_text

    torch.manual_seed(params.seed)
    texts = [prompt_text(generator.processor, p["question"], p.get("image") is not None) for p in prompts]
    # Same-kind prompts of similar length share a batch: less padding, no image/no-image mix.
    order = sorted(range(len(prompts)), key=lambda i: (prompts[i].get("image") is None, len(texts[i])))
    answers: list[list[str]] = [[] for _ in prompts]
    batches = _batches(order, prompts, params.batch_size)
    bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=not progress)
    done = 0
    for indices in batches:
        inputs = _encode(generator, [texts[i] for i in indices], [prompts[i].get("image") for i in indices])
        for i, samples in zip(indices, _decode_batch(generator, inputs, params)):
            answers[i] = samples
        done += len(indices)
        bar.update(len(indices))
        if on_batch:
            on_batch(done, len(prompts))
    bar.close()
    return answers


def _batches(order, prompts, size):
    batches, current = [], []
    for i in order:
        if current and (len(current) == size or (prompts[current[0]].get("image") is None) != (prompts[i].get("image") is None)):
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


def _encode(generator: Generator, texts: list[str], images: list):
    # No special tokens, as in training: a chat template writes its own; a model without one saw none.
    kwargs = dict(padding=True, return_tensors="pt", add_special_tokens=False)
    if any(image is not None for image in images):
        # One list per prompt: processors that count images per prompt (Gemma 3) take no flat list.
        inputs = generator.processor(text=texts, images=[[_rgb(image)] for image in images], **kwargs)
    elif generator.is_vision:
        inputs = generator.processor(text=texts, **kwargs)
    else:
        inputs = generator.tokenizer(texts, **kwargs)
    return inputs.to(generator.model.device)


def _rgb(image):
    """A PIL image or a file path as an RGB image; a file opened here is closed here."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as opened:
        return opened.convert("RGB")


def _decode_batch(generator: Generator, inputs, params: SamplingParams) -> list[list[str]]:
    """(rows, samples) answer texts for one left-padded batch."""
    import torch

    tokenizer = generator.tokenizer
    sampling = dict(do_sample=True, temperature=params.temperature, top_p=params.top_p) if params.temperature > 0 \
        else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        output = generator.model.generate(
            **inputs, **sampling, max_new_tokens=params.max_new_tokens, num_return_sequences=params.samples_per_prompt,
            use_cache=True, pad_token_id=tokenizer.pad_token_id,
        )
    texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    n = params.samples_per_prompt
    return [[text.strip() for text in texts[row * n:(row + 1) * n]] for row in range(len(texts) // n)]

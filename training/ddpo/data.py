"""Preference records -> tokenized pairs -> padded batches.

A record is what the web side stores for an accepted correction (or an
imported row). Spans are half-open code-point ranges of the changed text on
each side; `None` means "unknown" and falls back to `alignment.alignment_from_diff`.

    PreferencePair(id="42", version=3, image="/media/img.png",
                   question="Describe the image.",
                   chosen="A red circle.", rejected="A blue circle.",
                   chosen_spans=[[2, 5]], rejected_spans=[[2, 6]])

Each record is rendered with the processor's chat template: the prompt is
the user turn (for a vision model typed parts, `[{type: image}, {type: text}]`,
the answer `[{type: text}]` too; a plain string for a text-only tokenizer) with
the generation prompt; the completion is what the template adds for the
assistant answer (answer, end-of-turn tokens; the end-of-sequence token when
the template writes none). Only completion tokens are scored, so prompt and
image tokens never reach the labels.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.nn.utils.rnn import pad_sequence

from .alignment import alignment_from_diff, alignment_spans
from .weights import token_weights


@dataclass
class PreferencePair:
    """One stored preference record (``annotate.models.PreferenceRecord``) as the trainer reads it."""

    id: str
    version: int
    question: str
    chosen: str
    rejected: str
    image: object = None          # PIL image, path, or None (text only)
    chosen_spans: list | None = None
    rejected_spans: list | None = None
    # The reference model of this pair (path or hub id), when it is not the run's: in an on-policy loop the
    # checkpoint that wrote the rejected answer. Cached per model like the run's reference.
    reference: str | None = None

    @property
    def key(self) -> str:
        return f"{self.id}:{self.version}"


REQUIRED_TEXT = ("question", "chosen", "rejected")


def as_record(record) -> PreferencePair:
    """Accept a PreferencePair or a dict with the same keys (extra keys ignored); a record that cannot be
    trained on is a ValueError naming it and the field."""
    if isinstance(record, PreferencePair):
        return record
    if not isinstance(record, dict):
        raise ValueError(f"a record must be an object with id, version, question, chosen, rejected; got {record!r:.80}")
    name = f"record {record.get('id', '?')}:{record.get('version', '?')}"
    missing = [key for key in ("id", "version", *REQUIRED_TEXT) if key not in record]
    if missing:
        raise ValueError(f"{name}: missing {', '.join(missing)}")
    for key in REQUIRED_TEXT:
        if not isinstance(record[key], str):
            raise ValueError(f"{name}: {key} must be text, got {type(record[key]).__name__}")
    if not isinstance(record.get("reference") or "", str):
        raise ValueError(f"{name}: reference must be a model path or hub id, got {type(record['reference']).__name__}")
    image = record.get("image")
    if isinstance(image, (str, Path)) and not Path(image).is_file():
        raise ValueError(f"{name}: image {image} is not a file")
    fields = PreferencePair.__dataclass_fields__
    return PreferencePair(**{k: v for k, v in record.items() if k in fields})


def _tokenizer(processor):
    return getattr(processor, "tokenizer", processor)


def _typed(processor) -> bool:
    """Whether messages carry typed parts: a vision processor's template reads `[{type: image}, {type: text}]`
    (some, as llava-hf's, read nothing else); a text-only tokenizer's reads plain strings."""
    return hasattr(processor, "image_processor")


def _content(text: str, processor, has_image: bool = False):
    if not _typed(processor):
        return text
    return [{"type": "image"}] * has_image + [{"type": "text", "text": text}]


def _messages(question: str, has_image: bool, processor) -> list[dict]:
    return [{"role": "user", "content": _content(question, processor, has_image)}]


def _templated(processor) -> bool:
    return bool(getattr(processor, "chat_template", None) or getattr(_tokenizer(processor), "chat_template", None))


def prompt_text(processor, question: str, has_image: bool) -> str:
    """The text the answer follows, tokenised without special tokens: the chat template's generation prompt,
    or ``question + "\\n"`` for a model without one. Training and ``training.generation`` share it, so a
    checkpoint answers the prompt it was trained on."""
    if _templated(processor):
        return processor.apply_chat_template(_messages(question, has_image, processor), add_generation_prompt=True,
                                             tokenize=False)
    return f"{question}\n"


def _render(processor, question: str, answer: str, has_image: bool) -> tuple[str, str, int]:
    """(prompt text, completion text, offset of the answer inside the completion).

    The completion ends with the end-of-sequence token, added when the template writes none (llava-hf's
    LLaVA-1.5 and LLaVA-NeXT templates end an answer with a space): a model trained without it never
    stops. TRL's DPOTrainer adds it the same way."""
    prompt = prompt_text(processor, question, has_image)
    eos = _tokenizer(processor).eos_token or ""
    if _templated(processor):
        full = processor.apply_chat_template(
            _messages(question, has_image, processor) + [{"role": "assistant", "content": _content(answer, processor)}],
            tokenize=False)
        if full.startswith(prompt) and answer in full[len(prompt):]:
            completion = full[len(prompt):]
            return prompt, completion + ("" if eos in completion else eos), completion.index(answer)
    return prompt, answer + eos, 0


# Per prompt token (1, P) in the processor's output: padded like the prompt, not concatenated.
# `mm_token_type_ids` (Qwen2-VL family: 1 on image tokens) lets the model build its M-RoPE positions;
# `token_type_ids` (Gemma 3: 1 on image tokens) gives image tokens their bidirectional attention.
TOKEN_TYPE_KEYS = ("mm_token_type_ids", "token_type_ids")
PROMPT_TOKEN_KEYS = ("input_ids", *TOKEN_TYPE_KEYS)


class PreferenceDataset(torch.utils.data.Dataset):
    """Tokenized pairs. Completions are tokenized up front (cheap, gives the
    cache signature); prompts and images are processed per item."""

    def __init__(self, records, processor, *, gamma: float, max_completion_tokens=None):
        self.records = [as_record(r) for r in records]
        repeated = sorted(key for key, count in Counter(r.key for r in self.records).items() if count > 1)
        if repeated:  # the reference cache and resume key every pair by id:version
            raise ValueError(f"records repeat id:version {', '.join(repeated[:5])}: each pair needs its own")
        with_image = next((r.key for r in self.records if r.image is not None), None)
        if with_image and processor is not None and not hasattr(processor, "image_processor"):
            raise ValueError(f"record {with_image} has an image, but the model is text-only (it would be dropped)")
        self.processor, self.gamma = processor, gamma
        self.max_completion_tokens = max_completion_tokens
        self.reference: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.items = [self._tokenize_completions(r) for r in self.records]

    def shared_openings(self) -> list[int]:
        """Per pair, how many leading answer tokens chosen and rejected share."""
        def opening(a, b):
            return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return [opening(it["chosen_ids"], it["rejected_ids"]) for it in self.items]

    def _side(self, completion: str, offset: int, spans) -> tuple[list[int], list[float]]:
        enc = _tokenizer(self.processor)(
            completion, add_special_tokens=False, return_offsets_mapping=True)
        spans = [(s + offset, e + offset) for s, e in spans]
        ids, weights = enc["input_ids"], token_weights(enc["offset_mapping"], spans, self.gamma)
        n = self.max_completion_tokens or len(ids)
        return ids[:n], weights[:n]

    def _tokenize_completions(self, r: PreferencePair) -> dict:
        rejected_spans, chosen_spans = r.rejected_spans, r.chosen_spans
        if rejected_spans is None or chosen_spans is None:
            rejected_spans, chosen_spans = alignment_spans(alignment_from_diff(r.rejected, r.chosen))
        prompt, chosen, c_off = _render(self.processor, r.question, r.chosen, r.image is not None)
        _, rejected, r_off = _render(self.processor, r.question, r.rejected, r.image is not None)
        chosen_ids, chosen_w = self._side(chosen, c_off, chosen_spans)
        rejected_ids, rejected_w = self._side(rejected, r_off, rejected_spans)
        signature = hashlib.sha1(repr((prompt, chosen_ids, rejected_ids)).encode()).hexdigest()
        return dict(key=r.key, reference=r.reference, prompt=prompt, chosen_ids=chosen_ids, rejected_ids=rejected_ids,
                    chosen_weights=chosen_w, rejected_weights=rejected_w, signature=signature)

    def __len__(self):
        return len(self.items)

    def _prompt_inputs(self, index: int) -> dict:
        record, prompt = self.records[index], self.items[index]["prompt"]
        if record.image is None:
            enc = _tokenizer(self.processor)(prompt, add_special_tokens=False, return_tensors="pt")
            return {"input_ids": enc["input_ids"][0]}
        image = record.image
        if isinstance(image, (str, Path)):
            image = Image.open(image)
        enc = self.processor(text=[prompt], images=[image.convert("RGB")], return_tensors="pt",
                             add_special_tokens=False)
        out = {k: v for k, v in enc.items() if k != "attention_mask"}
        for k in PROMPT_TOKEN_KEYS:
            if k in out:
                out[k] = out[k][0]
        return out

    def __getitem__(self, index: int) -> dict:
        item = dict(self.items[index], index=index, prompt_inputs=self._prompt_inputs(index))
        if index in self.reference:
            item["ref_chosen"], item["ref_rejected"] = self.reference[index]
        return item


def cat_padded(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate on dim 0, zero-padding the other dims to the largest, as processors pad a batch: LLaVA-NeXT
    gives each image (1, tiles, 3, H, W) with its own tile count, the model drops the zero tiles by
    `image_sizes`. Tensors of one shape past dim 0 (Qwen2-VL's (patches, D)) are concatenated as they are."""
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    padded = []
    for t in tensors:
        pad = [p for d in reversed(range(1, t.dim())) for p in (0, shape[d - 1] - t.shape[d])]
        padded.append(torch.nn.functional.pad(t, pad) if any(pad) else t)
    return torch.cat(padded)


@dataclass
class PairCollator:
    """Pads a list of dataset items into one batch of B pairs.

    For two pairs with prompts [5, 6, 7] and [8, 9], chosen [10, 11] / [12],
    rejected [13] / [14, 15, 16], pad id 0, gamma 5 on tokens 11 and 15:

        prompt_input_ids          tensor([[5, 6, 7],        left-padded (B, P)
                                          [0, 8, 9]])
        prompt_attention_mask     tensor([[1, 1, 1],
                                          [0, 1, 1]])
        completion_input_ids      tensor([[10, 11,  0],     (2B, C), right-padded:
                                          [12,  0,  0],     rows 0..B-1 chosen,
                                          [13,  0,  0],     rows B..2B-1 rejected
                                          [14, 15, 16]])
        completion_attention_mask tensor([[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 1, 1]])
        completion_weights        tensor([[1., 5., 0.],     0 on padding
                                          [1., 0., 0.],
                                          [1., 0., 0.],
                                          [1., 5., 1.]])

    plus the processor's image tensors for the B prompts concatenated on dim 0
    (`pixel_values` (B, 3, H, W) for LLaVA; (B, tiles, 3, H, W) zero-padded to
    the most tiles and `image_sizes` (B, 2) for LLaVA-NeXT; `pixel_values`
    (patches, D) and `image_grid_thw` (B, 3) for Qwen2-VL; `pixel_values` (B, tiles, 3, H, W) and
    `pixel_attention_mask` (B, tiles, H, W) zero-padded for Idefics3), token types (Qwen2-VL
    `mm_token_type_ids`, Gemma 3 `token_type_ids`) (B, P) left-padded like the prompt, `ref_logps` (2B, C) per-token
    reference log-probs when every item has them cached, `indices` and `keys`.
    """

    pad_token_id: int

    def __call__(self, items: list[dict]) -> dict:
        prompts = [it["prompt_inputs"]["input_ids"] for it in items]
        completions = [torch.tensor(it[f"{side}_ids"]) for side in ("chosen", "rejected") for it in items]
        weights = [torch.tensor(it[f"{side}_weights"]) for side in ("chosen", "rejected") for it in items]
        batch = {
            "prompt_input_ids": pad_sequence(prompts, True, self.pad_token_id, "left"),
            "prompt_attention_mask": pad_sequence([torch.ones_like(p) for p in prompts], True, 0, "left"),
            "completion_input_ids": pad_sequence(completions, True, self.pad_token_id),
            "completion_attention_mask": pad_sequence([torch.ones_like(c) for c in completions], True, 0),
            "completion_weights": pad_sequence(weights, True, 0.0).float(),
            "indices": torch.tensor([it["index"] for it in items]),
            "keys": [it["key"] for it in items],
        }
        for key in TOKEN_TYPE_KEYS:
            if any(key in it["prompt_inputs"] for it in items):                 # 0 = text (no image)
                types = [it["prompt_inputs"].get(key, torch.zeros_like(p)) for it, p in zip(items, prompts)]
                batch[key] = pad_sequence(types, True, 0, "left")
        image_keys = {k for it in items for k in it["prompt_inputs"] if k not in PROMPT_TOKEN_KEYS}
        for k in sorted(image_keys):
            batch[k] = cat_padded([it["prompt_inputs"][k] for it in items if k in it["prompt_inputs"]])
        if all("ref_chosen" in it for it in items):
            refs = [it[f"ref_{side}"] for side in ("chosen", "rejected") for it in items]
            batch["ref_logps"] = pad_sequence(refs, True, 0.0).float()
        return batch

"""Score the chosen and rejected completions of B pairs: two ways, same numbers.

Both return per-token log-probs (2B, C) aligned with `completion_input_ids`
(rows 0..B-1 chosen, B..2B-1 rejected; 0 on padding).

Concatenated (`path="concat"`): one forward over 2B rows of prompt +
completion, the image and prompt encoded twice. Works for every model.

Shared prefix (`path="shared"`): the image + prompt run once (B rows) with
the KV cache on, keeping the last prompt position's logit (it predicts the
first answer token); the cache is repeated row-wise (p0, p0, p1, p1, ...) and
the interleaved continuations (c0, r0, c1, r1, ...) run on top of it.
Gradients flow through the cached keys and values, so loss and gradients
equal the concatenated forward, with half the vision-tower passes and
prompt tokens. Left-padded prompts of unequal length get explicit
`position_ids` on both passes (positions follow the cache length otherwise).

`choose_path` picks "shared" unless gradient checkpointing is on (it forces
`use_cache` off) or the model uses multimodal rotary positions (Qwen2-VL
family: `rope_deltas` are computed per prompt batch and cannot follow a
repeated cache), or the config says `shared_prefix=False`.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .loss import IGNORE, token_logps

MROPE_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "glm4v", "glm4v_moe")
BATCH_KEYS = ("prompt_input_ids", "prompt_attention_mask", "completion_input_ids",
              "completion_attention_mask", "completion_weights", "ref_logps", "indices", "keys")


def choose_path(model, *, shared_prefix: bool, gradient_checkpointing: bool) -> str:
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", "")
    if not shared_prefix or gradient_checkpointing or model_type in MROPE_MODEL_TYPES:
        return "concat"
    return "shared"


def image_inputs(batch: dict) -> dict:
    """The processor's image tensors (pixel_values, image_grid_thw, image_sizes, ...)."""
    return {k: v for k, v in batch.items() if k not in BATCH_KEYS}


def _cache_kwarg(model) -> str:
    """`cache` in transformers >= 5.2x, `past_key_values` before."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def _completion_labels(batch: dict) -> torch.Tensor:
    ids, mask = batch["completion_input_ids"], batch["completion_attention_mask"]
    return ids.masked_fill(mask == 0, IGNORE)                          # (2B, C)


def concat_token_logps(model, batch: dict) -> torch.Tensor:
    prompt, pmask = batch["prompt_input_ids"], batch["prompt_attention_mask"]   # (B, P)
    comp, cmask = batch["completion_input_ids"], batch["completion_attention_mask"]  # (2B, C)
    input_ids = torch.cat([prompt.repeat(2, 1), comp], dim=1)          # (2B, P+C)
    attention = torch.cat([pmask.repeat(2, 1), cmask], dim=1)          # (2B, P+C)
    images = {k: torch.cat([v, v]) for k, v in image_inputs(batch).items()}
    C = comp.shape[1]
    logits = model(input_ids=input_ids, attention_mask=attention, position_ids=_positions(attention),
                   use_cache=False, logits_to_keep=C + 1, **images).logits  # (2B, C+1, V)
    labels = torch.cat([torch.full_like(comp[:, :1], IGNORE), _completion_labels(batch)], dim=1)
    return token_logps(logits, labels)                                  # (2B, C)


def shared_token_logps(model, batch: dict) -> torch.Tensor:
    prompt, pmask = batch["prompt_input_ids"], batch["prompt_attention_mask"]   # (B, P)
    comp, cmask = batch["completion_input_ids"], batch["completion_attention_mask"]  # (2B, C)
    B, C = prompt.shape[0], comp.shape[1]
    first = model(input_ids=prompt, attention_mask=pmask, position_ids=_positions(pmask),
                  use_cache=True, logits_to_keep=1, **image_inputs(batch))
    cache = first.cache if getattr(first, "cache", None) is not None else first.past_key_values
    cache.batch_repeat_interleave(2)                                    # rows p0, p0, p1, p1, ...
    order = torch.arange(2 * B, device=comp.device).view(2, B).t().reshape(-1)  # c0, r0, c1, r1, ...
    attention = torch.cat([pmask.repeat_interleave(2, 0), cmask[order]], dim=1)  # (2B, P+C)
    start = pmask.sum(-1).repeat_interleave(2)[:, None]                 # (2B, 1)
    positions = start + torch.arange(C, device=comp.device)             # (2B, C)
    second = model(input_ids=comp[order], attention_mask=attention, position_ids=positions,
                   use_cache=True, **{_cache_kwarg(model): cache}).logits  # (2B, C, V)
    logits = torch.cat([first.logits.repeat_interleave(2, 0), second], dim=1)  # (2B, C+1, V)
    logits = logits[torch.argsort(order)]                               # back to chosen | rejected
    labels = torch.cat([torch.full_like(comp[:, :1], IGNORE), _completion_labels(batch)], dim=1)
    return token_logps(logits, labels)                                  # (2B, C)


class PairScorer(nn.Module):
    """One module around the model, so DDP sees both shared-prefix passes as one forward."""

    def __init__(self, model, path: str):
        super().__init__()
        self.model, self.path = model, path

    def forward(self, batch: dict) -> torch.Tensor:
        fn = shared_token_logps if self.path == "shared" else concat_token_logps
        return fn(self.model, batch)

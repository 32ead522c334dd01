"""Score the chosen and rejected completions of B pairs: two ways, same numbers.

Both return per-token log-probs (2B, C) aligned with `completion_input_ids`
(rows 0..B-1 chosen, B..2B-1 rejected; 0 on padding).

Concatenated (`path="concat"`): one forward over 2B rows of prompt +
completion, the image and prompt encoded twice. Works for every model.
Positions are explicit (left padding), except for M-RoPE models given an
image: their position ids are 3D (time, height, width on image tokens; an
image advances text positions by its grid side, not its token count), which
the model computes itself from the attention mask and `mm_token_type_ids`.

Shared prefix (`path="shared"`): the image + prompt run once (B rows) with
the KV cache on, keeping the last prompt position's logit (it predicts the
first answer token); the cache is repeated row-wise (p0, p0, p1, p1, ...) and
the interleaved continuations (c0, r0, c1, r1, ...) run on top of it.
Gradients flow through the cached keys and values, so loss and gradients
equal the concatenated forward, with half the vision-tower passes and
prompt tokens. Pass 1 also takes the first answer tokens that chosen and
rejected share, when that saves tokens over the batch (`common_prefix`):
dense corrections often leave the opening of an answer untouched (with
`group_by_shared_prefix` the trainer batches pairs whose openings are of
similar length, so more of them is shared).
Pass 1 runs in two calls: the image and prompt but its last token, where
only the keys and values are read later, so the last decoder layer skips
its MLP there (`_last_layer_without_mlp`); then the last prompt token and
the shared answer tokens, whose logits are scored.
Left-padded prompts of unequal length get explicit
`position_ids` on every pass (positions follow the cache length otherwise).
Gemma 3's `token_type_ids` (its image tokens attend to each other both ways)
go with the image + prompt call; the answer tokens after it attend causally.

`choose_path` picks "shared" unless gradient checkpointing is on (it forces
`use_cache` off) or the model uses multimodal rotary positions (Qwen2-VL
family: `rope_deltas` are computed per prompt batch and cannot follow a
repeated cache), or the config says `shared_prefix=False`.
"""

from __future__ import annotations

import contextlib
import inspect

import torch
from torch import nn

from .data import TOKEN_TYPE_KEYS
from .loss import IGNORE, label_logps
from .model import base_model

MROPE_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "glm4v", "glm4v_moe")
BATCH_KEYS = ("prompt_input_ids", "prompt_attention_mask", "completion_input_ids",
              "completion_attention_mask", "completion_weights", "ref_logps", "indices", "keys")


def _is_mrope(model) -> bool:
    return getattr(getattr(model, "config", None), "model_type", "") in MROPE_MODEL_TYPES


def choose_path(model, *, shared_prefix: bool, gradient_checkpointing: bool) -> str:
    if not shared_prefix or gradient_checkpointing or _is_mrope(model):
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
    # The last completion token predicts nothing scored: it is not fed.
    input_ids = torch.cat([prompt.repeat(2, 1), comp[:, :-1]], dim=1)  # (2B, P+C-1)
    attention = torch.cat([pmask.repeat(2, 1), cmask[:, :-1]], dim=1)  # (2B, P+C-1)
    images = {k: torch.cat([v, v]) for k, v in image_inputs(batch).items()}
    C = comp.shape[1]
    for key in TOKEN_TYPE_KEYS:                                        # (2B, P) -> (2B, P+C-1): answers are text
        if key in images:
            images[key] = torch.nn.functional.pad(images[key], (0, C - 1))
    positions = _positions(attention)
    if _is_mrope(model) and ("image_grid_thw" in images or "video_grid_thw" in images):
        positions = None            # the model builds its (3, 2B, T) M-RoPE positions from the mask and token types
    logits = model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                   use_cache=False, logits_to_keep=C, **images).logits  # (2B, C, V): last prompt position on
    return label_logps(logits, _completion_labels(batch))               # (2B, C)


def common_prefix(batch: dict) -> torch.Tensor:
    """Leading completion tokens that chosen and rejected share and pass 1 runs once, per pair (B,).

    Capped so each side keeps at least one token of its own after it.
    """
    comp, cmask = batch["completion_input_ids"], batch["completion_attention_mask"]
    B = comp.shape[0] // 2
    same = (comp[:B] == comp[B:]) & cmask[:B].bool() & cmask[B:].bool()    # (B, C)
    shared = same.long().cumprod(-1).sum(-1)                               # (B,)
    cap = torch.minimum(cmask[:B].sum(-1), cmask[B:].sum(-1)) - 1
    shared = torch.minimum(shared, cap.clamp(min=0))
    # Sharing k tokens costs B * k in pass 1 and saves on pass 2 only as far as the
    # row with the least own tokens left: pick the k with the fewest tokens overall.
    lengths = cmask.sum(-1)                                                 # (2B,)
    best, best_cost = 0, None
    for k in sorted(set([0] + shared.tolist())):
        kept = torch.minimum(shared, torch.tensor(k, device=shared.device)).repeat(2)
        cost = B * k + 2 * B * int((lengths - kept).max())
        if best_cost is None or cost < best_cost:
            best, best_cost = k, cost
    return torch.minimum(shared, torch.tensor(best, device=shared.device))


def _cache_of(output):
    return output.cache if getattr(output, "cache", None) is not None else output.past_key_values


class _NoMLP(nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        return torch.zeros_like(hidden_states)


@contextlib.contextmanager
def _last_layer_without_mlp(model):
    """Within: the last decoder layer's MLP returns zeros (a dense MLP only: no router, no experts).

    For positions whose last-layer output is never read (only their keys and
    values are, computed before the MLP), this leaves every scored log-prob
    and gradient unchanged and saves the largest matmuls of a layer (3/4 in
    a Llama layer of intermediate size 4x hidden).
    """
    inner = base_model(model)
    decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    layer = layers[-1] if isinstance(layers, nn.ModuleList) and len(layers) else None
    mlp = getattr(layer, "mlp", None)
    # Dense MLPs only: mixture-of-experts blocks (a router, experts) return tuples, even when named "...MLP".
    routed = mlp is not None and any("expert" in name or "router" in name for name, _ in mlp.named_modules())
    if mlp is None or routed or not type(mlp).__name__.endswith("MLP"):
        yield
        return
    layer.mlp = _NoMLP()
    try:
        yield
    finally:
        layer.mlp = mlp


def shared_token_logps(model, batch: dict) -> torch.Tensor:
    prompt, pmask = batch["prompt_input_ids"], batch["prompt_attention_mask"]   # (B, P)
    comp, cmask = batch["completion_input_ids"], batch["completion_attention_mask"]  # (2B, C)
    B, C, dev = prompt.shape[0], comp.shape[1], comp.device
    L = common_prefix(batch)                                            # (B,)
    K = int(L.max()) if B else 0
    # 1) image + prompt + the answer prefix both sides share, once per pair. Rows
    #    with a shorter shared prefix leave masked columns at the end (b, P + K).
    #    a) image + prompt but its last token: only their keys and values are read
    #       later, so the last layer skips its MLP there;
    #    b) the last prompt token and the shared answer tokens, whose logits score
    #       answer tokens 0..K.
    steps = torch.arange(K, device=dev)
    P = prompt.shape[1]
    first_ids = torch.cat([prompt, comp[:B, :K]], dim=1)
    first_mask = torch.cat([pmask, (steps < L[:, None]).to(pmask.dtype)], dim=1)
    first_positions = _positions(first_mask)
    cache = None
    if P > 1:
        # Token types (Gemma 3's bidirectional image blocks) cover the columns fed; the later
        # calls are text only and attend causally.
        images = {k: v[:, : P - 1] if k in TOKEN_TYPE_KEYS else v for k, v in image_inputs(batch).items()}
        with _last_layer_without_mlp(model):
            head_pass = model(input_ids=first_ids[:, : P - 1], attention_mask=first_mask[:, : P - 1],
                              position_ids=first_positions[:, : P - 1], use_cache=True, logits_to_keep=1,
                              **images)
        cache = _cache_of(head_pass)
    first = model(input_ids=first_ids[:, P - 1:], attention_mask=first_mask, position_ids=first_positions[:, P - 1:],
                  use_cache=True, **({_cache_kwarg(model): cache} if cache is not None else image_inputs(batch)))
    cache = _cache_of(first)
    cache.batch_repeat_interleave(2)                                    # rows p0, p0, p1, p1, ...
    # 2) each side's own tokens from its first difference on, on the repeated cache.
    order = torch.arange(2 * B, device=dev).view(2, B).t().reshape(-1)  # c0, r0, c1, r1, ...
    L2 = L.repeat(2)                                                    # (2B,) chosen | rejected
    own = (cmask.sum(-1) - L2).max()
    idx = (L2[:, None] + torch.arange(own, device=dev)).clamp(max=C - 1)    # (2B, S)
    second_ids, second_mask = comp.gather(1, idx), cmask.gather(1, idx) * (idx < C)
    #    Each row's last own token predicts nothing scored, so S - 1 columns are fed.
    start = (pmask.sum(-1) + L).repeat_interleave(2)[:, None]           # (2B, 1)
    lp_second = comp.new_zeros(2 * B, 1, dtype=torch.float32)
    if own > 1:
        attention = torch.cat([first_mask.repeat_interleave(2, 0), second_mask[order, :-1]], dim=1)
        second = model(input_ids=second_ids[order, :-1], attention_mask=attention,
                       position_ids=start + torch.arange(own - 1, device=dev), use_cache=True,
                       **{_cache_kwarg(model): cache}).logits           # (2B, S-1, V)
        second = second[torch.argsort(order)]                           # chosen | rejected
        own_labels = second_ids[:, 1:].masked_fill(second_mask[:, 1:] == 0, IGNORE)
        lp_second = torch.cat([lp_second, label_logps(second, own_labels)], dim=1)     # (2B, S)
    # 3) token j of a completion: predicted by pass 1 if j <= L, else by pass-2 position j - L - 1.
    labels = _completion_labels(batch)                                  # (2B, C)
    j = torch.arange(C, device=dev)
    head = labels[:, : K + 1] if K + 1 <= C else labels
    lp_first = label_logps(first.logits.repeat(2, 1, 1)[:, : head.shape[1]], head)  # (2B, <=K+1)
    from_second = lp_second.gather(1, (j - L2[:, None]).clamp(0, own - 1))
    from_first = torch.nn.functional.pad(lp_first, (0, C - lp_first.shape[1]))
    logps = torch.where(j <= L2[:, None], from_first, from_second)     # (2B, C)
    return logps * cmask


class PairScorer(nn.Module):
    """One module around the model, so DDP sees both shared-prefix passes as one forward."""

    def __init__(self, model, path: str):
        super().__init__()
        self.model, self.path = model, path

    def forward(self, batch: dict) -> torch.Tensor:
        fn = shared_token_logps if self.path == "shared" else concat_token_logps
        return fn(self.model, batch)

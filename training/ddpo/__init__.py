"""Dense DPO (RLHF-V, Eq. 5) for Hugging Face vision-language and causal LMs; no Django.

    from training.ddpo.config import DDPOConfig
    from training.ddpo.trainer import train        # imports torch + transformers
    path = train(DDPOConfig(model=..., output_dir=...), records,
                 on_metrics=lambda step, m: ..., should_stop=lambda: False)

Modules: weights (per-token gamma), loss (Eq. 5 + DPO), data (records,
dataset, collator), forward (shared-prefix vs concatenated scoring),
reference (on-disk per-token reference log-probs), model (loading, LoRA),
config, trainer, __main__ (CLI, torchrun).

Which forward runs (forward.py): the shared-prefix path (image + prompt
encoded once per pair through the KV cache, then chosen and rejected scored
on top of it) is the default. The concatenated path (2B rows of prompt +
completion, TRL's layout) runs instead when gradient checkpointing is on
(it disables the KV cache), for models with multimodal rotary positions
(Qwen2-VL family: their position ids cannot follow a repeated cache), or
with `shared_prefix=False`. Prompts of unequal length are fine on the shared
path: they are left-padded and both passes get explicit position ids. Both
paths give the same loss and gradients (tests/ddpo/test_forward.py).

This file imports nothing: `training.ddpo.weights` stays cheap to import
for the Django side (no torch, no transformers).
"""


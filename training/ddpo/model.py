"""Load a policy (+ processor) from a local path or hub id; optionally wrap it in LoRA.

Image-text-to-text models (LLaVA, Qwen2-VL, ...) load through
`AutoModelForImageTextToText` / `AutoProcessor`; anything else as a causal
LM with `AutoTokenizer`. Offline use: set `HF_HUB_OFFLINE=1`. Every model of
the project loads here: the trainer, `training.generation.load_generator`
and `synthetic.evaluate.load_checkpoint`.
"""

from __future__ import annotations

from os import PathLike

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def is_vision_model(name_or_path: str | PathLike) -> bool:
    return AutoConfig.from_pretrained(name_or_path).model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_processor(name_or_path: str | PathLike):
    if is_vision_model(name_or_path):
        return AutoProcessor.from_pretrained(name_or_path)
    return AutoTokenizer.from_pretrained(name_or_path)


def load_model(name_or_path: str | PathLike, *, dtype: str = "float32"):
    """The model in train mode; ``dtype="auto"`` keeps the dtype it was saved in."""
    auto = AutoModelForImageTextToText if is_vision_model(name_or_path) else AutoModelForCausalLM
    return auto.from_pretrained(name_or_path, dtype=dtype if dtype == "auto" else getattr(torch, dtype))


def pad_token_id(processor) -> int:
    tok = getattr(processor, "tokenizer", processor)
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def add_lora(model, config):
    """Wrap `model` in a PEFT LoRA adapter (reference = the same model, adapter disabled)."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_target_modules, bias="none")
    return get_peft_model(model, lora)


def base_model(model):
    """The transformers model under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model

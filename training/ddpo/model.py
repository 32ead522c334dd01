"""Load a policy (+ processor) from a local path or hub id; optionally wrap it in LoRA.

Image-text-to-text models (LLaVA, Qwen2-VL, ...) load through
`AutoModelForImageTextToText` / `AutoProcessor` (without torchvision, a
processor's video processor is replaced by `NoVideoProcessor`); anything else
as a causal LM with `AutoTokenizer`. Offline use: set `HF_HUB_OFFLINE=1`. Every model of
the project loads here: the trainer, `training.generation.load_generator`
and `synthetic.evaluate.load_checkpoint`.
"""

from __future__ import annotations

from os import PathLike

import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    processing_utils,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING
from transformers.models.auto.video_processing_auto import get_video_processor_config
from transformers.utils import is_torchvision_available
from transformers.video_processing_utils import VideoProcessorMixin


def is_vision_model(name_or_path: str | PathLike) -> bool:
    return AutoConfig.from_pretrained(name_or_path).model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_processor(name_or_path: str | PathLike):
    if not is_vision_model(name_or_path):
        return AutoTokenizer.from_pretrained(name_or_path)
    try:
        return AutoProcessor.from_pretrained(name_or_path)
    except (ValueError, ImportError) as error:  # transformers 5.x: video processors need torchvision (not required)
        if "torchvision" not in str(error).lower() or is_torchvision_available():
            raise
    return processor_without_videos(name_or_path)


class NoVideoProcessor(VideoProcessorMixin):
    """Stands in for a processor's video processor without torchvision: never called. It saves the settings of
    the one it replaces, so a checkpoint trained here loads its real video processor where torchvision is."""

    model_input_names = ("pixel_values_videos", "video_grid_thw")

    def __init__(self, replaced: dict | None = None):
        super().__init__()
        self.replaced = dict(replaced or {})

    def to_dict(self) -> dict:
        return dict(self.replaced) if self.replaced.get("video_processor_type") else {"video_processor_type": "NoVideoProcessor"}


def no_video_processor(replaced: dict | None = None) -> NoVideoProcessor:
    """A `NoVideoProcessor` a processor accepts: its argument check looks the base class up in the transformers
    namespace, which omits it without torchvision."""
    if not hasattr(processing_utils.transformers_module, "VideoProcessorMixin"):
        processing_utils.transformers_module.VideoProcessorMixin = VideoProcessorMixin
    return NoVideoProcessor(replaced)


def processor_without_videos(name_or_path: str | PathLike):
    """The checkpoint's processor with `NoVideoProcessor` for its video processor (Qwen2-VL family).

    transformers 5.x loads every sub-processor a processor names, and the video ones need torchvision
    (transformers#48558), which does not install beside the pinned torch wheel; images need none."""
    cls = PROCESSOR_MAPPING[type(AutoConfig.from_pretrained(name_or_path))]
    processor_dict, kwargs = cls.get_processor_dict(name_or_path)
    loaders = {"image_processor": AutoImageProcessor.from_pretrained, "tokenizer": AutoTokenizer.from_pretrained,
               "video_processor": lambda path: no_video_processor(get_video_processor_config(path))}
    unknown = [name for name in cls.get_attributes() if name not in loaders]
    if unknown:
        raise ValueError(f"{name_or_path}: {cls.__name__} needs {', '.join(unknown)}, which needs torchvision")
    args = [loaders[name](name_or_path) for name in cls.get_attributes()]
    return cls.from_args_and_dict(args, processor_dict, **kwargs)


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

"""Bring your own model: find it on this machine and check it can answer about an image (no Django).

    folder = resolve_folder("llava-tiny", root=Path("/data/models"))     # a folder under the models root
    folder = resolve_hub("org/name", downloads=False)                     # a hub id from the local HF cache
    facts = inspect_model(folder, adapter_output=Path("/data/checkpoints/registered-3"),
                          resolve_base=lambda name: ...)
    # -> ModelFacts(path, architecture="LlavaForConditionalGeneration", model_type="llava",
    #               parameters=..., dtype="float32", prefix_sharing=True, adapter="", adapter_base="")

Every refusal is a ``ModelRefused`` whose message says why in words, and whose ``field`` names the input it
is about. Resolving is cheap (the web process runs it to answer a bad path with a 400); ``inspect_model``
loads torch and transformers inside it (the gpu worker runs it). A PEFT adapter (a folder with
``adapter_config.json``) is loaded on its base and merged into full weights saved to ``adapter_output``:
everything that loads a checkpoint (generation, training, evaluation) then loads that folder unchanged.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

ADAPTER_CONFIG = "adapter_config.json"
# A hub id: owner/name, letters, digits, '-', '_' and '.', no '..' (huggingface_hub's own rule, in short).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
CHECK_QUESTION = "Describe the image."


class ModelRefused(ValueError):
    """A model that cannot be registered; the message is the reason, ``field`` the input it is about."""

    def __init__(self, message: str, *, field: str = "path"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ModelFacts:
    path: str                 # the folder every later job loads (the merged weights of an adapter)
    architecture: str         # config.architectures[0], e.g. LlavaForConditionalGeneration
    model_type: str           # config.model_type, e.g. llava
    parameters: int           # sum of numel over the loaded model's parameters
    dtype: str                # the dtype its weights load in (dtype="auto"), e.g. float32
    prefix_sharing: bool      # whether training takes the shared-prefix path (forward.choose_path)
    adapter: str = ""         # the PEFT adapter folder, if one was registered
    adapter_base: str = ""    # the folder of the adapter's base model

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_folder(path: str, *, root: Path, field: str = "path") -> Path:
    """``path`` (relative to ``root``, or absolute) as a real folder inside ``root``, symlinks followed.

    ``..``, an absolute path elsewhere and a symlink that leads out of ``root`` are refused: no folder of the
    server outside the models root can be read through this."""
    text = str(path).strip()
    if not text:
        raise ModelRefused("A model folder is needed.", field=field)
    if "\x00" in text:
        raise ModelRefused("A folder name cannot hold a NUL character.", field=field)
    real_root = Path(os.path.realpath(root))
    folder = Path(os.path.realpath(real_root / text))  # an absolute `text` replaces the root here
    if folder != real_root and real_root not in folder.parents:
        raise ModelRefused(f"{text} is not inside the models folder (MODELS_ROOT, {real_root}).", field=field)
    if not folder.is_dir():
        raise ModelRefused(f"No folder {text} in the models folder.", field=field)
    return folder


def check_hub_id(hub_id: str, *, field: str = "hub_id") -> str:
    hub_id = str(hub_id).strip()
    if not HUB_ID.match(hub_id) or ".." in hub_id:
        raise ModelRefused(f"{hub_id!r} is not a hub id (owner/name).", field=field)
    return hub_id


def hub_cached(hub_id: str) -> bool:
    """Whether the local Hugging Face cache holds ``hub_id``'s config (a cheap file lookup, no download)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(check_hub_id(hub_id), "config.json"), str) or \
        isinstance(try_to_load_from_cache(hub_id, ADAPTER_CONFIG), str)


def resolve_hub(hub_id: str, *, downloads: bool, field: str = "hub_id") -> Path:
    """The local snapshot folder of ``hub_id``: from the cache only, unless ``downloads`` allows fetching it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    hub_id = check_hub_id(hub_id, field=field)
    try:
        return Path(snapshot_download(hub_id, local_files_only=not downloads))
    except LocalEntryNotFoundError as exc:
        reason = "downloads are off (MODEL_HUB_DOWNLOADS)" if not downloads else f"it could not be fetched: {exc}"
        raise ModelRefused(f"{hub_id} is not in the local Hugging Face cache, and {reason}.", field=field) from exc
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelRefused(f"{hub_id} could not be fetched: {exc}", field=field) from exc


def resolve_name(name: str, *, root: Path, downloads: bool, field: str) -> Path:
    """A folder under ``root`` (relative or absolute) or, failing that, a hub id from the cache: how an
    adapter's ``base_model_name_or_path`` is found."""
    text = str(name).strip()
    if Path(text).is_absolute() or (Path(root) / text).is_dir() or not HUB_ID.match(text):
        return resolve_folder(text, root=root, field=field)
    return resolve_hub(text, downloads=downloads, field=field)


def adapter_base_name(folder: Path) -> str | None:
    """The base model a PEFT adapter folder names (``base_model_name_or_path``); None for full weights."""
    config_file = Path(folder) / ADAPTER_CONFIG
    if not config_file.is_file():
        return None
    try:
        base = json.loads(config_file.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelRefused(f"{ADAPTER_CONFIG} could not be read: {exc}") from exc
    if not base:
        raise ModelRefused(f"The adapter's {ADAPTER_CONFIG} names no base model (base_model_name_or_path); "
                           "name one.", field="base")
    return str(base)


def inspect_model(folder: Path, *, base: Path | None = None, adapter_output: Path | None = None) -> ModelFacts:
    """Load ``folder`` (full weights; or a PEFT adapter on ``base``, merged into ``adapter_output``), check one
    image and a chat prompt go through its processor and model, and say what it is."""
    folder = Path(folder)
    if (folder / ADAPTER_CONFIG).is_file():
        if base is None or adapter_output is None:
            raise ModelRefused("A PEFT adapter needs its base model.", field="base")
        _check_vision_config(base)
        merged = _merge_adapter(folder, base=base, output=Path(adapter_output))
        facts = _inspect_full(merged)
        return ModelFacts(**{**facts.to_dict(), "adapter": str(folder), "adapter_base": str(base)})
    return _inspect_full(folder)


def _check_vision_config(folder: Path):
    """The model's config, if it is an image-text-to-text model; else the reason it is refused."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if not (folder / "config.json").is_file():
        raise ModelRefused(f"{folder.name} has no config.json: it is not a saved Hugging Face model.")
    try:
        config = AutoConfig.from_pretrained(folder)
    except Exception as exc:  # a corrupt or unknown config: transformers raises many kinds
        raise ModelRefused(f"Its config.json could not be loaded: {type(exc).__name__}: {exc}") from exc
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ModelRefused(f"It is a text-only model ({config.model_type}, "
                           f"{', '.join(config.architectures or []) or 'no architecture'}): it cannot take an image. "
                           "Register an image-text-to-text model (LLaVA, Qwen2-VL, ...).")
    return config


def _load_processor(folder: Path):
    from training.ddpo.model import load_processor

    try:  # the loader training and generation use (a Qwen2-VL video processor needs no torchvision there)
        processor = load_processor(folder)
    except Exception as exc:
        raise ModelRefused(f"Its processor could not be loaded (a processor and tokenizer must be saved beside "
                           f"the weights): {type(exc).__name__}: {exc}") from exc
    if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
        raise ModelRefused("Its processor has no image processor and tokenizer: save the model's AutoProcessor "
                           "beside the weights.")
    if not getattr(processor, "chat_template", None) and not getattr(processor.tokenizer, "chat_template", None):
        raise ModelRefused("Its processor has no chat template: the platform asks every question through one.")
    return processor


def _inspect_full(folder: Path) -> ModelFacts:
    from training.ddpo.forward import choose_path
    from training.ddpo.model import load_model

    config = _check_vision_config(folder)
    processor = _load_processor(folder)
    try:
        model = load_model(folder, dtype="auto").eval()
    except Exception as exc:
        raise ModelRefused(f"Its weights could not be loaded: {type(exc).__name__}: {exc}") from exc
    _check_forward(model, processor)
    return ModelFacts(
        path=str(folder), architecture=(config.architectures or [type(model).__name__])[0],
        model_type=config.model_type, parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        prefix_sharing=choose_path(model, shared_prefix=True, gradient_checkpointing=False) == "shared",
    )


def _check_forward(model, processor) -> None:
    """One image and a chat prompt through the processor and one forward pass: finite logits, one row."""
    import torch
    from PIL import Image

    from training.ddpo.data import prompt_text

    image = Image.new("RGB", (64, 64), (200, 40, 40))
    try:
        text = prompt_text(processor, CHECK_QUESTION, True)
        inputs = processor(text=[text], images=[image], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            logits = model(**inputs.to(model.device)).logits
    except Exception as exc:
        raise ModelRefused(f"It could not answer about an image with a chat prompt: {type(exc).__name__}: {exc}") \
            from exc
    if logits.shape[0] != 1 or not torch.isfinite(logits[0, -1].float()).all():
        raise ModelRefused("Its answer to an image and a chat prompt was not a finite distribution over tokens.")


def _merge_adapter(adapter: Path, *, base: Path, output: Path) -> Path:
    """The adapter merged into its base, saved with the processor (the adapter's, else the base's)."""
    from peft import PeftModel

    from training.ddpo.model import load_model

    try:
        model = PeftModel.from_pretrained(load_model(base, dtype="auto"), adapter).merge_and_unload()
    except Exception as exc:
        raise ModelRefused(f"The adapter could not be loaded on its base: {type(exc).__name__}: {exc}") from exc
    processor_home = adapter if any((adapter / name).is_file() for name in
                                    ("preprocessor_config.json", "processor_config.json")) else base
    processor = _load_processor(processor_home)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    return output

"""The one config of a DDPO run: validated, saved as `ddpo_config.json` in every checkpoint."""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_NAME = "ddpo_config.json"
INT_MAX = 2**31 - 1  # steps and counts end up in 32-bit database columns


def json_value_fits(value, hint) -> bool:
    """Whether a JSON value has the dataclass field type ``hint``: no bool for a number,
    finite floats, ints in [0, INT_MAX], lists of the item type."""
    if isinstance(hint, types.UnionType):
        return any(json_value_fits(value, option) for option in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return isinstance(value, list) and all(json_value_fits(item, typing.get_args(hint)[0]) for item in value)
    if hint is int:
        return type(value) is int and 0 <= value <= INT_MAX
    if hint is float:
        try:
            return type(value) in (int, float) and math.isfinite(value)
        except OverflowError:  # an int past float range
            return False
    return value is None if hint is type(None) else type(value) is hint


def check_json_types(cls, data: dict) -> None:
    """Raise TypeError naming every key of ``data`` whose value lacks its ``cls`` field's type."""
    hints = typing.get_type_hints(cls)
    wrong = [f"{name} must be {getattr(hints[name], '__name__', hints[name])}" for name, value in data.items()
             if name in hints and not json_value_fits(value, hints[name])]
    if wrong:
        raise TypeError("; ".join(wrong))


# The bounds a field's metadata may set: "ge": 1.0 means the value must be >= 1.0.
COMPARISONS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "lt": (operator.lt, "<")}

# Settings a resumed run may change: they do not alter what is trained.
RESUMABLE_CHANGES = frozenset({"resume", "progress", "num_workers", "save_steps"})


@dataclass
class DDPOConfig:
    model: str = field(metadata={"help": "Local path or hub id of the policy to start from."})
    output_dir: str = field(metadata={"help": "Checkpoints go to checkpoint-<step>/, the result to final/."})
    reference: str | None = field(default=None, metadata={
        "help": "Reference model (path or hub id); None = `model`. With LoRA the reference is "
                "the base with the adapter disabled."})
    reference_cache_dir: str | None = field(default=None, metadata={
        "help": "On-disk per-token reference log-probs; None = <output_dir>/reference_cache. "
                "Share it between runs to skip the reference forward."})
    # The method (RLHF-V): paper gamma 5, beta 0.5; later scripts gamma 1.1, beta 0.1.
    gamma: float = field(default=5.0, metadata={
        "help": "Weight of changed tokens (Eq. 5); changed tokens count at least as much as the rest.", "ge": 1.0})
    beta: float = field(default=0.5, metadata={"help": "DPO temperature.", "gt": 0})
    average: bool = field(default=True, metadata={
        "help": "Eq. 5 weighted average of token log-probs; False = weighted sum (TRL's DPO at gamma 1)."})
    sft_weight: float = field(default=0.0, metadata={
        "help": "Weight of an SFT term (mean NLL of the chosen answer).", "ge": 0})
    dpop_lambda: float = field(default=0.0, metadata={
        "help": "DPOP (Smaug, arXiv 2402.13228): lambda * max(0, ref_w - pi_w) off the margin, pi_w the dense "
                "chosen log-prob; 0 = off (paper: 50).", "ge": 0})
    # Optimisation.
    learning_rate: float = field(default=5e-7, metadata={"help": "Peak AdamW learning rate.", "gt": 0})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay.", "ge": 0})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Linear warmup, fraction of steps.", "ge": 0, "lt": 1})
    epochs: int = field(default=1, metadata={"help": "Passes over the records (paper: 7).", "gt": 0})
    max_steps: int | None = field(default=None, metadata={
        "help": "Train exactly this many optimizer steps (replaces epochs; the data repeats as needed).", "gt": 0})
    batch_size: int = field(default=8, metadata={"help": "Pairs per micro-batch per process.", "gt": 0})
    grad_accum: int = field(default=1, metadata={"help": "Micro-batches per optimizer step.", "gt": 0})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping; 0 = off.", "ge": 0})
    seed: int = field(default=0, metadata={"help": "Seeds data order and initialisation."})
    max_completion_tokens: int | None = field(default=None, metadata={
        "help": "Truncate each answer to this many tokens (image tokens are never cut).", "gt": 0})
    # Model.
    lora: bool = field(default=False, metadata={"help": "Train a LoRA adapter instead of all weights."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank.", "gt": 0})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout.", "ge": 0})
    lora_target_modules: list[str] | str = field(default="all-linear", metadata={
        "help": "PEFT target_modules: a list of names, a regex, or 'all-linear'."})
    dtype: str = field(default="float32", metadata={"help": "Weights dtype: float32 or bfloat16."})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast; None = on CUDA only."})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "Recompute activations (forces the concatenated path)."})
    shared_prefix: bool = field(default=True, metadata={
        "help": "Encode image + prompt once per pair when the model allows it (forward.py)."})
    group_by_shared_prefix: bool = field(default=False, metadata={
        "help": "Batch pairs whose answers share openings of similar length (sorted within windows of "
                "50 batches, batches shuffled): the shared-prefix path then runs more of them once. "
                "Faster, but batches are less mixed: in benchmarks/loop.py SFT ended 2.5 points worse with it."})
    # Bookkeeping.
    save_steps: int = field(default=0, metadata={"help": "Checkpoint every N steps; 0 = only at the end.", "ge": 0})
    resume: bool = field(default=True, metadata={"help": "Continue from the last checkpoint in output_dir."})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    progress: bool = field(default=False, metadata={"help": "tqdm progress bar (the CLI turns it on)."})

    def __post_init__(self):
        for name, limits in self.bounds().items():
            value = getattr(self, name)
            if value is None:  # an optional limit (max_steps, max_completion_tokens) left unset
                continue
            for key, bound in limits.items():
                holds, symbol = COMPARISONS[key]
                if not holds(value, bound):  # `not` so that NaN fails too
                    raise ValueError(f"{name} must be {symbol} {bound}, got {value!r}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, got {self.dtype!r}")

    @classmethod
    def bounds(cls) -> dict[str, dict]:
        """``{name: {"ge" | "gt" | "lt": bound}}`` of every bounded setting, as ``__post_init__`` checks
        them (forms show them: the dashboard's launch form)."""
        limits = {f.name: {key: f.metadata[key] for key in COMPARISONS if key in f.metadata}
                  for f in dataclasses.fields(cls)}
        return {name: bound for name, bound in limits.items() if bound}

    @property
    def reference_model(self) -> str:
        return self.reference or self.model

    @property
    def cache_dir(self) -> Path:
        return Path(self.reference_cache_dir or Path(self.output_dir) / "reference_cache")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def changes_from(self, saved: DDPOConfig) -> list[str]:
        """``name: saved -> this`` for each setting that makes a different run (progress and the like may change)."""
        ours, theirs = self.to_dict(), saved.to_dict()
        return [f"{name}: {theirs[name]!r} -> {ours[name]!r}" for name in ours
                if name not in RESUMABLE_CHANGES and ours[name] != theirs[name]]

    @classmethod
    def from_dict(cls, data: dict) -> DDPOConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        check_json_types(cls, data)
        return cls(**data)

    def save(self, directory) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path) -> DDPOConfig:
        path = Path(path)
        return cls.from_dict(json.loads((path / CONFIG_NAME if path.is_dir() else path).read_text()))

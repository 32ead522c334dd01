"""Reference log-probs: computed once per (record version, reference model), kept on disk.

The reference model is the run's (``DDPOConfig.reference``, default the
policy it starts from), or a record's own (``PreferencePair.reference``: in an
on-policy loop the checkpoint that wrote its rejected answer); each model has
its own folder, so records of many references share one cache directory.

Layout: `<cache_dir>/<reference id and precision>/<sha1(record id:version)>.pt`, each file
`{"signature", "chosen": (Lc,), "rejected": (Lr,)}` float32 per-token
log-probs. Per token, so a new gamma (or `average`) needs no recompute; the
signature (hash of the rendered prompt and both completions' token ids)
invalidates an entry when the tokenizer or template changes. Files are
written atomically (tmp + rename), so processes of one DDP run can share the
directory and a killed run leaves no half-written entry. Vision records are
cached the same way as text ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import torch


def reference_id(name_or_path: str, precision: str = "float32") -> str:
    """A directory name for a reference checkpoint run at ``precision``: hub id, or local path + its weight
    files' sizes and mtimes (a checkpoint rewritten in place gets a new cache); bf16 log-probs are not
    float32 ones, so each precision has its own."""
    path = Path(name_or_path)
    ident = repr([name_or_path, precision])
    if path.exists():
        weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
        ident = repr([str(path.resolve()), precision] + [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights])
    slug = "".join(c if c.isalnum() else "-" for c in path.name)[-40:]
    return f"{slug}-{hashlib.sha1(ident.encode()).hexdigest()[:12]}"


class ReferenceCache:
    def __init__(self, cache_dir, reference: str, precision: str = "float32"):
        self.root = Path(cache_dir) / reference_id(reference, precision)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / f"{hashlib.sha1(key.encode()).hexdigest()}.pt"

    def get(self, key: str, signature: str):
        """(chosen (Lc,), rejected (Lr,)) or None when absent or stale."""
        path = self._path(key)
        if not path.exists():
            return None
        entry = torch.load(path, weights_only=True)
        if entry["signature"] != signature:
            return None
        return entry["chosen"], entry["rejected"]

    def put(self, key: str, signature: str, chosen: torch.Tensor, rejected: torch.Tensor) -> None:
        entry = {"signature": signature, "chosen": chosen.float().cpu().clone(),
                 "rejected": rejected.float().cpu().clone()}
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        os.close(fd)
        torch.save(entry, tmp)
        os.replace(tmp, self._path(key))


def reference_context(model):
    """With a PEFT model the reference is the base: the adapter is disabled inside."""
    return model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()


@torch.inference_mode()
def compute_reference_logps(scorer, batches, cache: ReferenceCache, dataset, *, device, autocast):
    """Run the reference over `batches` and store every pair's per-token log-probs.

    `scorer` is a PairScorer around the reference model (eval mode). Returns
    the number of pairs computed.
    """
    done = 0
    for batch in batches:
        batch = to_device(batch, device)
        with autocast():
            logps = scorer(batch)                                        # (2B, C)
        mask = batch["completion_attention_mask"].bool()
        B = len(batch["keys"])
        for i, index in enumerate(batch["indices"].tolist()):
            item = dataset.items[index]
            cache.put(item["key"], item["signature"], logps[i][mask[i]], logps[B + i][mask[B + i]])
        done += B
    return done


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}

"""Two gloo processes under torchrun finish and hold identical weights."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_process_gloo_ddp(tiny_vlm, tmp_path):
    """torchrun --nproc_per_node 2 on CPU: same weights on both ranks, and they moved."""
    config = {"model": str(tiny_vlm), "output_dir": str(tmp_path), "batch_size": 2, "grad_accum": 2,
              "max_steps": 3, "learning_rate": 1e-3, "beta": 0.1}
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(Path(__file__).with_name("ddp_worker.py")), json.dumps(config)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-8000:]
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    start = AutoModelForImageTextToText.from_pretrained(tiny_vlm).state_dict()
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert rank0.keys() == start.keys()
    assert sum(not torch.equal(rank0[n], start[n]) for n in rank0) > len(rank0) // 2
    assert (tmp_path / "final" / "model.safetensors").exists()

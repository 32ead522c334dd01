"""Run under torchrun by test_ddp.py: train, then save this rank's weights."""
import json
import os
import sys

import torch
from safetensors.torch import save_file

from tests.ddpo.conftest import color_records
from training.ddpo.trainer import run

torch.set_num_threads(1)
config = json.loads(sys.argv[1])
path, model = run(config, color_records(16))
state = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file(state, os.path.join(config["output_dir"], f"rank{os.environ['RANK']}.safetensors"))

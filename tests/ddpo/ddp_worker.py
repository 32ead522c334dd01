"""Run under torchrun by test_ddp.py: train, then save this rank's weights."""
import faulthandler
import json
import os
import signal
import sys

import torch
from safetensors.torch import save_file

from tests.ddpo.conftest import color_records
from training.ddpo.trainer import run

# A run takes ~9 s; one full test run in a dozen hung until the test's timeout. Past 150 s, print every
# thread's stack (it reaches the test's failure message) and exit, so a hang shows where it waits; the
# other rank, which torchrun then terminates, prints its stacks too.
faulthandler.dump_traceback_later(150, exit=True)
faulthandler.register(signal.SIGTERM, chain=True)
torch.set_num_threads(1)
config = json.loads(sys.argv[1])
path, model = run(config, color_records(16))
state = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file(state, os.path.join(config["output_dir"], f"rank{os.environ['RANK']}.safetensors"))

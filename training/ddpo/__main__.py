"""CLI: `python -m training.ddpo --config run.json [--records records.jsonl]`.

`run.json` holds DDPOConfig fields (training/ddpo/config.py) and optionally
`"records": "path.jsonl"`, one preference record per line (image as a file
path). Multi-GPU: `torchrun --nproc_per_node N -m training.ddpo --config run.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DDPOConfig
from .trainer import train


def read_records(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ddpo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="run.json with DDPOConfig fields")
    parser.add_argument("--records", type=Path, help="JSONL records (overrides the config's 'records')")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)
    data = json.loads(args.config.read_text())
    records_path = args.records or data.pop("records", None)
    data.pop("records", None)
    if records_path is None:
        parser.error("no records: pass --records or put 'records' in the config")
    data.setdefault("progress", not args.no_progress)
    config = DDPOConfig.from_dict(data)
    path = train(config, read_records(Path(records_path)))
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

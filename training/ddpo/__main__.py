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
from .data import PreferencePair, as_record
from .trainer import train


def read_records(path: Path) -> list[PreferencePair]:
    """The JSONL file's records, checked here once (``as_record``) so that errors name the file and line."""
    records = []
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not the records' fault
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(as_record(json.loads(line)))
            except ValueError as error:  # JSONDecodeError is one
                raise ValueError(f"{path}, line {number}: {error}") from None
    return records


def read_config(path: Path, no_progress: bool) -> tuple[DDPOConfig, str | None]:
    """(config, the records path it names) from run.json."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    if not isinstance(data, dict):
        raise ValueError("the config must be a JSON object of DDPOConfig fields")
    records = data.pop("records", None)
    if no_progress:
        data["progress"] = False
    else:
        data.setdefault("progress", True)
    missing = [name for name in ("model", "output_dir") if name not in data]
    if missing:
        raise ValueError(f"the config needs {' and '.join(missing)}")
    return DDPOConfig.from_dict(data), records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.ddpo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="run.json with DDPOConfig fields")
    parser.add_argument("--records", type=Path, help="JSONL records (overrides the config's 'records')")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar (even if the config asks for one)")
    args = parser.parse_args(argv)
    try:
        config, records_path = read_config(args.config, args.no_progress)
    except (OSError, ValueError, TypeError) as error:  # TypeError: a field of the wrong type
        parser.error(f"{args.config}: {error}")
    records_path = args.records or records_path
    if records_path is None:
        parser.error("no records: pass --records or put 'records' in the config")
    try:
        records = read_records(Path(records_path))
    except (OSError, ValueError) as error:  # both name the file
        parser.error(str(error))
    path = train(config, records)
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

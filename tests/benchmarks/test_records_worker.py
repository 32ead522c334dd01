"""benchmarks/records_worker.py end to end: one worker of the embedded default (SQLite, filesystem transport,
threads x 2) keeps up with 16 annotators' submits."""
import re
import subprocess
import sys

import pytest

from benchmarks.records_worker import SUBMITS_PER_SECOND
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_one_embedded_worker_builds_records_faster_than_16_annotators_submit():
    run = subprocess.run([sys.executable, "benchmarks/records_worker.py", "--annotations", "48", "--idle-seconds", "1",
                          "--only-ours"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    rate = float(re.search(r"([\d.]+) records/s", run.stdout).group(1))
    assert rate > SUBMITS_PER_SECOND, run.stdout

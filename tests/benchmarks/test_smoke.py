"""Every script in benchmarks/ runs end to end at a tiny size and prints its figure on its last line."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

# Per run (the script's name, then a word for a second run of it): its tiny-size arguments ({tmp}: the test's
# folder, {port}: a free port) and what its last line carries.
TINY = {
    "records.py": (["--records", "300", "--batch", "64"],
                   r"speed-up over the token-diff baseline: \d+\.\d+x$"),
    "generation.py": (["--prompts", "4", "--batch-size", "4", "--max-new-tokens", "4", "--threads", "1",
                       "--image-size", "16", "--hidden", "32", "--layers", "1"],
                      r"speed-up batched / one at a time: \d+\.\dx$"),
    "ddpo_cuda.py": (["--pairs", "16", "--batch", "8", "--hidden", "64", "--layers", "1", "--new-tokens", "4"],
                     r"^skipped: no CUDA|ratio shared-prefix/concatenated \(LoRA, steady\): \d+\.\d+$"),
    "ddpo_vs_trl.py": (["--pairs", "8", "--repeats", "1"],
                       r"ratio ours/TRL, reference cache warm: \d+\.\d+$"),
    "loop.py": (["--bootstrap", "{tmp}/bootstrap", "--bootstrap-steps", "5", "--rounds", "1", "--tasks", "4",
                 "--held-out", "4", "--seeds", "1", "--threads", "1", "--out", "{tmp}/loop"],
                r"relative reduction -?\d+\.\d%$"),
    # Two budgets and two rounds: round 2's answers, and their reference, are each arm's round-1 checkpoint.
    "loop.py on-policy": (["--on-policy", "--bootstrap", "{tmp}/bootstrap", "--bootstrap-steps", "5", "--rounds", "2",
                           "--tasks", "2,3", "--held-out", "4", "--seeds", "1", "--threads", "1", "--out", "{tmp}/loop"],
                          r"^3 tasks a round, DDPO after round 2: .* relative reduction -?\d+\.\d%$"),
    # The levers of issue #16: DPOP through --config, gamma and beta schedules, dropping the most similar pairs.
    "loop.py levers": (["--on-policy", "--bootstrap", "{tmp}/bootstrap", "--bootstrap-steps", "5", "--rounds", "2",
                        "--tasks", "3", "--held-out", "4", "--seeds", "1", "--threads", "1", "--arms", "ddpo,dpo",
                        "--config", '{{"dpop_lambda": 5}}', "--gamma-schedule", "5,1", "--beta-schedule", "0.5,0.1",
                        "--filter-similar", "0.5", "--out", "{tmp}/loop"],
                       r"^DDPO after round 2: .* relative reduction -?\d+\.\d%$"),
    "records_worker.py": (["--annotations", "8", "--idle-seconds", "1"],
                          r"records/s ours / baseline: \d+\.\d+x; worker CPU per record baseline / ours: \d+\.\d+x$"),
    "export.py": (["--records", "50", "--images", "5", "--port", "{port}"],
                  r"rows/s ours over the in-memory baseline: \d+\.\d+x$"),
    "api_load.py": (["--slots", "200", "--clients", "4", "--duration", "3", "--rate", "8", "--claim-scale",
                     "100,1000", "--claim-samples", "20"],
                    r"^loops/s: \d+\.\d \(target >= 50\)"
                    r"(; at \d+(\.\d+)? loops/s offered \(\d+\.\d achieved\): p99 claim \d+\.\d ms, draft \d+\.\d ms, "
                    r"submit \d+\.\d ms \(target < 100 ms\))?"
                    r"(; claim p50 at [\d,]+ open slots .*: \d+\.\dx)?$"),
}
# Scripts that start their own PostgreSQL-backed stack: they have tests of their own below.
ON_POSTGRES = {"export.py", "api_load.py"}


def run_tiny(run, tmp_path, extra=(), **env):
    """Run one benchmark at its tiny size (then ``extra`` arguments) in a fresh process: it exits 0 and its last
    line carries its figure."""
    arguments, pattern = TINY[run]
    arguments = [*arguments, *extra]
    script = run.split()[0]
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1", DATA_DIR=str(tmp_path / "data"), TMPDIR=str(tmp_path / "tmp"), **env)
    values = {"tmp": tmp_path, "port": free_port()}
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *(a.format(**values) for a in arguments)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    lines = result.stdout.strip().splitlines()
    assert lines and re.search(pattern, lines[-1]), f"{script}'s last line carries no figure: {lines[-1:]}"
    return lines


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bench_database():
    """A database of its own on the tests' PostgreSQL server, dropped before and after."""
    base, name = os.environ["DATABASE_URL"].rsplit("/", 1)
    url = f"{base}/{name}_bench_smoke"

    def drop():
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_bench_smoke" WITH (FORCE)')
    drop()
    yield url
    drop()


def test_every_benchmark_has_a_smoke_run():
    """A new script in benchmarks/ needs its tiny run here."""
    assert {p.name for p in BENCHMARKS.glob("*.py")} - {"__init__.py"} == {run.split()[0] for run in TINY}


@pytest.mark.slow
@pytest.mark.parametrize("run", [s for s in TINY if s not in ON_POSTGRES])
def test_benchmark_runs_at_tiny_size(run, tmp_path):
    """The script exits 0 and prints its figure last."""
    run_tiny(run, tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
def test_export_benchmark_runs_at_tiny_size(tmp_path, bench_database):
    """The export benchmark seeds a fresh PostgreSQL database, streams it, and prints its ratio last."""
    run_tiny("export.py", tmp_path, DATABASE_URL=bench_database)


@pytest.mark.slow
@pytest.mark.postgres
def test_api_load_benchmark_runs_at_tiny_size(tmp_path):
    """The API load benchmark creates and drops its own database on the tests' PostgreSQL server, starts its
    stack (redis-server, gunicorn, worker, beat), runs its saturation and paced phases, checks integrity over
    both and prints loops/s, then the paced phase's p99 per endpoint, last."""
    lines = run_tiny("api_load.py", tmp_path)
    assert "; at 8 loops/s offered (" in lines[-1], lines[-1]
    assert "claim p50 at 1,000 open slots" in lines[-1], lines[-1]  # beside the pre-#18 claim's
    loops = [int(re.search(r" s: ([\d,]+) loops, ", line)[1].replace(",", "")) for line in lines
             if line.startswith(("phase 1, saturation", "phase 2, paced at 8 loops/s offered"))]
    acked = next(int(re.search(r"^integrity: ([\d,]+) acknowledged submits", line)[1].replace(",", ""))
                 for line in lines if line.startswith("integrity: "))
    assert len(loops) == 2 and loops[1] > 0 and acked == sum(loops), (loops, acked)  # both phases' submits checked


@pytest.mark.slow
@pytest.mark.postgres
def test_api_load_benchmark_survives_terminated_database_connections(tmp_path):
    """With every backend of its database terminated midway, the clients' retries and the records still come
    through, integrity intact (the script exits 1 otherwise). The fault strikes in the saturation phase; the
    paced one is skipped."""
    run_tiny("api_load.py", tmp_path, extra=["--duration", "6", "--claim-scale", "", "--fault", "db-terminate",
                                             "--rate", "0"])

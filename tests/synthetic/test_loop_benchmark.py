"""benchmarks/loop.py compares the arms seed by seed."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "loop.py"


@pytest.fixture(scope="module")
def loop_benchmark():
    spec = importlib.util.spec_from_file_location("loop_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(*rates):
    """One seed's rows: round 0 (the bootstrap) then one rate per round."""
    return [{"round": 0, "response_hallucination_rate": 0.5}] + [
        {"round": n, "response_hallucination_rate": r} for n, r in enumerate(rates, start=1)]


def test_paired_difference_is_ours_minus_theirs_per_seed_with_lower_and_tied_counts(loop_benchmark):
    ours = [rows(0.10, 0.02), rows(0.20, 0.04), rows(0.30, 0.03)]
    theirs = [rows(0.15, 0.02), rows(0.10, 0.01), rows(0.40, 0.01)]
    first = loop_benchmark.paired_difference(ours, theirs, 1)
    assert first["mean"] == pytest.approx((-0.05 + 0.10 - 0.10) / 3)
    assert first["error"] == pytest.approx(0.0601, abs=1e-4)  # sd of (-0.05, 0.10, -0.10) / sqrt(3)
    assert (first["lower"], first["tied"]) == (2, 0)
    last = loop_benchmark.paired_difference(ours, theirs, 2)
    assert last["mean"] == pytest.approx(0.05 / 3)
    assert (last["lower"], last["tied"]) == (0, 1)

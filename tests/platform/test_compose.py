"""docker-compose.yml validates with the Compose v2 binary (no Docker engine needed)."""
import os
import subprocess
from pathlib import Path

import compose
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = Path(compose.__file__).parent / "docker-compose"


def compose_config(path):
    env = dict(os.environ, SECRET_KEY="compose-test-key")
    return subprocess.run([str(COMPOSE), "-f", str(path), "config", "-q"], capture_output=True, text=True, env=env)


def test_compose_file_is_valid():
    """The shipped file validates and declares every role of the scale-out."""
    result = compose_config(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    text = (ROOT / "docker-compose.yml").read_text()
    for service in ("postgres:", "redis:", "web:", "worker:", "gpu-worker:", "beat:"):
        assert f"\n  {service}" in text


@pytest.mark.parametrize(
    "broken",
    ["services:\n  web:\n    image: [oops\n", "services:\n  web:\n    imagee: densepref\n"],
    ids=["yaml-syntax", "unknown-key"],
)
def test_broken_compose_file_fails(tmp_path, broken):
    """A broken file makes the validation exit non-zero."""
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    assert compose_config(path).returncode != 0

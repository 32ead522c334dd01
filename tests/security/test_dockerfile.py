"""The image runs with DEBUG off and finds the static files its build collected (#18, finding 7).

No Docker engine is needed: the Dockerfile's ENV and its collectstatic step are
read from the file and run here, into temporary folders.
"""
import os
import re
import shlex
import subprocess
import sys

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
LINES = [line.strip() for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()]  # continuation lines joined
INSTRUCTIONS = [line for line in LINES if line[:1] not in ("", "#")]
IMAGE_ENV = dict(token.split("=", 1)
                 for line in INSTRUCTIONS if line.startswith("ENV ") for token in shlex.split(line[4:]))


def test_the_image_does_not_turn_debug_on():
    assert "DEBUG" not in IMAGE_ENV
    assert not re.search(r"DEBUG\s*=\s*(1|true|yes|on)", DOCKERFILE, re.IGNORECASE)
    assert not IMAGE_ENV["STATIC_ROOT"].startswith(IMAGE_ENV["DATA_DIR"])  # in the image, not the data volume


def test_the_running_image_finds_the_static_files_its_build_collected(tmp_path):
    """With DEBUG off the pages ask the manifest storage for hashed names: a build that collected with DEBUG on
    wrote no manifest, and every page was a 500."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(IMAGE_ENV, DATA_DIR=str(tmp_path / "data"), STATIC_ROOT=str(tmp_path / "static"),
               PATH=f"{os.path.dirname(sys.executable)}:{env['PATH']}")
    build = next(line[4:] for line in INSTRUCTIONS if line.startswith("RUN ") and "collectstatic" in line)
    built = subprocess.run(["bash", "-c", build], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    run = dict(env, SECRET_KEY="k" * 64, ALLOWED_HOSTS="example.org")
    show = ("import django; django.setup(); from django.templatetags.static import static; "
            "print(static('frontend/dashboard.js'))")
    run["DJANGO_SETTINGS_MODULE"] = "config.settings"
    shown = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=run, capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert re.fullmatch(r"/static/frontend/dashboard\.[0-9a-f]{12}\.js", shown.stdout.strip())

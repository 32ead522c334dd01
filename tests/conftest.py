import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# refuses to run beside one unless told it is safe (it is: one thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


def current_database_url():
    """DATABASE_URL of the database the tests use right now, for processes started by a test."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHECKPOINT_ROOT = tmp_path / "checkpoints"
    settings.MODELS_ROOT = tmp_path / "models"


@pytest.fixture
def process_env(settings):
    """Environment for a subprocess (worker, server) that shares the test database, media and broker."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=current_database_url(),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CHECKPOINT_ROOT=str(settings.CHECKPOINT_ROOT),
        MODELS_ROOT=str(settings.MODELS_ROOT),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def start_celery_worker(env, log, *, name="test"):
    """A real Celery worker (both queues) in another process, once it is ready; its output goes to ``log``."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu", "--pool=solo",
             "--loglevel=INFO", "-n", f"{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_celery_worker(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_celery_beat(env, folder):
    """A real celery beat (the project's database scheduler) in another process, once it is ticking; its output
    goes to ``folder / "beat.log"``. ``TRAINING_AUTO_TRIGGER_SECONDS`` in ``env`` sets the trigger's interval."""
    log = folder / "beat.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
             "--pidfile", str(folder / "beat.pid"), "--schedule", str(folder / "beat-schedule")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while "beat: Starting..." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"celery beat did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


@pytest.fixture
def celery_beat_process(transactional_db, process_env, tmp_path):
    """A real celery beat on the test database whose auto-train trigger ticks every 2 s."""
    proc = start_celery_beat({**process_env, "TRAINING_AUTO_TRIGGER_SECONDS": "2"}, tmp_path)
    yield proc
    stop_celery_worker(proc)


@pytest.fixture
def celery_worker_process(transactional_db, process_env, tmp_path):
    """A real Celery worker (both queues) in another process, on the configured broker and the test database."""
    from config.celery import app

    app.control.purge()
    proc = start_celery_worker(process_env, tmp_path / "worker.log")
    yield proc
    stop_celery_worker(proc)

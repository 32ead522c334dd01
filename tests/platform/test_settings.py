"""Settings come from the environment; the production path passes Django's deploy checks."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import database_from_url

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, env):
    """``manage.py`` on the project's settings (not the test run's, which default to DEBUG=1)."""
    env = dict(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_database_url_postgres():
    """A postgres URL becomes a psycopg connection entry."""
    db = database_from_url("postgres://alice:s%40cret@db.internal:5433/loop")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == ("alice", "s@cret", "db.internal", "5433", "loop")
    assert db["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": 5}


def test_prepared_statements_can_be_turned_off(monkeypatch):
    """For a pooler that cannot carry prepared statements: parameters still bound by the server, nothing prepared."""
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "0")
    assert database_from_url("postgres://alice@db/loop")["OPTIONS"] == {"server_side_binding": True, "prepare_threshold": None}


def test_database_url_sqlite_relative_and_absolute(tmp_path):
    """sqlite:///rel is relative to the working directory, sqlite:////abs absolute; WAL is on."""
    absolute = database_from_url(f"sqlite:///{tmp_path}/x.sqlite3")
    assert absolute["NAME"] == f"{tmp_path}/x.sqlite3"
    assert "journal_mode=WAL" in absolute["OPTIONS"]["init_command"]


def test_database_url_unknown_scheme():
    with pytest.raises(ValueError, match="DATABASE_URL"):
        database_from_url("mysql://x@y/z")


def test_deploy_check_passes_with_documented_variables(tmp_path):
    """DEBUG=0 + SECRET_KEY + ALLOWED_HOSTS passes `check --deploy` with no warning."""
    env = dict(os.environ, DEBUG="0", SECRET_KEY="k" * 64 + "-production-secret-key-of-enough-entropy",
               ALLOWED_HOSTS="loop.example.org", DATA_DIR=str(tmp_path))
    for name in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # the latter is a test-only setting
        env.pop(name, None)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_missing_secret_key(tmp_path):
    """With DEBUG off there is no generated or default key."""
    env = dict(os.environ, DEBUG="0", ALLOWED_HOSTS="x", DATA_DIR=str(tmp_path))
    env.pop("SECRET_KEY", None)
    result = manage("check", env=env)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_debug_is_off_by_default(tmp_path):
    """No DEBUG variable: production settings, so a missing SECRET_KEY stops every command."""
    env = dict(os.environ, DATA_DIR=str(tmp_path), ALLOWED_HOSTS="x")
    for name in ("SECRET_KEY", "DEBUG", "DATABASE_URL"):
        env.pop(name, None)
    result = manage("check", env=env)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
    shown = manage("shell", "-c", "from django.conf import settings as s; print(s.DEBUG, s.SECURE_SSL_REDIRECT)",
                   env=dict(env, SECRET_KEY="k" * 64))
    assert shown.returncode == 0 and shown.stdout.splitlines()[-1] == "False True", shown.stdout + shown.stderr


def test_embedded_default_keeps_generated_secret_key(tmp_path):
    """The embedded default (DEBUG=1, as scripts/start.sh sets it) generates a key once and reuses it."""
    env = dict(os.environ, DATA_DIR=str(tmp_path), DEBUG="1")
    for name in ("SECRET_KEY", "DATABASE_URL"):
        env.pop(name, None)
    assert manage("check", env=env).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert manage("check", env=env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key

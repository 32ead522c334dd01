"""Reading settings from the environment.

The embedded default needs no variable at all: everything lives under the data
folder (``DATA_DIR``, default ``./var``). Setting ``DATABASE_URL`` and
``CELERY_BROKER_URL`` moves the platform onto PostgreSQL and Redis.
"""
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlparse


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_limits(prefix, defaults):
    """``defaults`` (``{name: int}``), each overridden by ``<prefix>_<NAME>`` (``TRAINING_LIMIT_EPOCHS``)."""
    return {name: env_int(f"{prefix}_{name.upper()}", value) for name, value in defaults.items()}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def database_from_url(url):
    """Turn ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///var/x.sqlite3 is relative to the working directory, sqlite:////abs/x.sqlite3 absolute.
        return sqlite_database(Path(unquote(url.removeprefix("sqlite:///"))).resolve())
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            # Parameters bound by the server and statements prepared from their fifth run on a connection
            # (psycopg's default; Django's is never): PostgreSQL then stops planning the hot path's joins on every
            # request, which was half its CPU under load (benchmarks/api_load.py). DATABASE_PREPARED_STATEMENTS=0
            # turns preparing off, for a pooler that cannot carry them (PgBouncer in transaction mode before 1.21).
            "OPTIONS": {"server_side_binding": True,
                        "prepare_threshold": 5 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None},
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use postgres:// or sqlite:///)")


def sqlite_database(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # WAL lets the web server read while a worker writes; IMMEDIATE makes
        # writers queue on the lock instead of failing with "database is locked".
        # A file (not memory) so that worker processes started by tests see the test database.
        "TEST": {"NAME": str(path.with_name(f"test_{path.name}"))},
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }


def secret_key(data_dir, debug):
    """SECRET_KEY from the environment; the embedded default generates one and keeps it."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not debug:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
    key_file = Path(data_dir) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()

#!/usr/bin/env bash
# Set up and run the whole test suite: on PostgreSQL + Redis (started here when
# not running), then the fast subset on the embedded SQLite default.
# Extra arguments go to the PostgreSQL pytest run (e.g. -k export, -m "not slow").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"

apt_install chromium fonts-noto-color-emoji postgresql redis-server
ensure_venv requirements-dev.txt

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "Starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  # A fresh cluster authenticates TCP clients by password: give the role one.
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "Starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export DATA_DIR=${TEST_DATA_DIR:-$(mktemp -d)}

echo "== PostgreSQL + Redis: the whole suite"
DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/densepref} \
CELERY_BROKER_URL=${TEST_BROKER_URL:-redis://127.0.0.1:6379/15} \
  python -m pytest -p no:cacheprovider "$@"

echo "== Embedded default (SQLite + filesystem transport): the fast subset"
env -u DATABASE_URL -u CELERY_BROKER_URL python -m pytest -p no:cacheprovider -m "not slow and not postgres" -q

#!/usr/bin/env bash
# Set up and start the platform on the embedded default (SQLite + Celery's
# filesystem transport; no server to install) with demo data.
#   PORT=8000  DATA_DIR=./var  VENV=.venv
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
ensure_venv requirements.txt

PORT=${PORT:-8000}
export DATA_DIR=${DATA_DIR:-$ROOT/var}
# Plain HTTP on 127.0.0.1 only: development settings (a generated key, no TLS redirect or secure-only
# cookies). DEBUG is off by default everywhere else (README "Configuration").
export DEBUG=${DEBUG:-1}
mkdir -p "$DATA_DIR/logs"

python manage.py migrate --noinput >"$DATA_DIR/logs/migrate.log"
python manage.py seed_demo

pids=()
cleanup() {  # TERM first (a worker finishes its step), KILL what is still running after 10 s
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.5; done
  kill -9 "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

celery -A config worker -Q default,gpu --pool=threads --concurrency=2 -n "embedded@%h" \
  --loglevel=INFO >"$DATA_DIR/logs/worker.log" 2>&1 &
pids+=($!)
celery -A config beat --loglevel=INFO -s "$DATA_DIR/celerybeat-schedule" >"$DATA_DIR/logs/beat.log" 2>&1 &
pids+=($!)
gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --access-logfile "$DATA_DIR/logs/access.log" --error-logfile "$DATA_DIR/logs/web.log" &
pids+=($!)

echo
echo "The platform is running: http://127.0.0.1:$PORT/"
echo "  admin: http://127.0.0.1:$PORT/admin/   API docs: http://127.0.0.1:$PORT/api/docs/"
echo "  logs in $DATA_DIR/logs; Ctrl+C stops everything."
wait -n "${pids[@]}"

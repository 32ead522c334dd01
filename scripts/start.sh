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
# Ctrl+C stops everything within seconds: TERM, then KILL what is left after 5 s. The worker may be inside a
# training step that runs for minutes and would hold its warm shutdown that long; a run it drops is marked
# lost and picked up again by the job sweeps when the platform runs next.
cleanup() {
  trap - EXIT INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 10); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.5; done
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

celery -A config worker -Q default,gpu --pool=threads --concurrency=2 -n "embedded@%h" \
  --loglevel=INFO >"$DATA_DIR/logs/worker.log" 2>&1 &
pids+=($!)
celery -A config beat --loglevel=INFO -s "$DATA_DIR/celerybeat-schedule" >"$DATA_DIR/logs/beat.log" 2>&1 &
pids+=($!)
granian --interface wsgi config.wsgi:application --host 127.0.0.1 --port "$PORT" --workers 2 --blocking-threads 4 \
  --respawn-failed-workers --workers-kill-timeout 3 --access-log >"$DATA_DIR/logs/web.log" 2>&1 &
pids+=($!)

echo
echo "The platform is running: http://127.0.0.1:$PORT/"
echo "  admin: http://127.0.0.1:$PORT/admin/   API docs: http://127.0.0.1:$PORT/api/docs/"
echo "  logs in $DATA_DIR/logs; Ctrl+C stops everything."
wait -n "${pids[@]}"

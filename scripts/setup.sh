#!/usr/bin/env bash
# Shared setup, sourced by start.sh and test.sh: a virtualenv with the pinned
# requirements (reinstalled only when a requirements file changes).
#   VENV=path   use another virtualenv (default: .venv)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON_BIN=${PYTHON_BIN:-python3.11}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PACKAGE... (only those missing)
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing ${missing[*]} with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
}

ensure_venv() {  # ensure_venv REQUIREMENTS_FILE
  local requirements=$1
  if ! command -v "$PYTHON_BIN" >/dev/null; then
    apt_install python3.11 python3.11-venv
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
  local stamp="$VENV/.requirements-$(basename "$requirements").sha256"
  local digest
  digest=$(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "Installing Python packages into $VENV (first time: ~2 minutes)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/$requirements" 2> >(grep -v "is ignored: it is neither" >&2)
    echo "$digest" >"$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

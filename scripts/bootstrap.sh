#!/usr/bin/env bash
# Make the project runnable on a fresh machine: a virtualenv with leadcast and its
# development tools, and the Node packages the conformance tests drive.
# Idempotent: a stamp keyed on the dependency files skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "leadcast needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtualenv in .venv"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.leadcast-deps
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing leadcast and its development tools"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi

# --dashboard: the dashboard's packages; --with-node: every Node package set (tests too).
node_dirs=""
for arg in "$@"; do
  case "$arg" in
    --dashboard) node_dirs="$node_dirs dashboard" ;;
    --with-node) node_dirs="$node_dirs dashboard tests/e2e/node tests/browser" ;;
    *) echo "bootstrap.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ -n "$node_dirs" ]; then
  for dir in $(printf '%s\n' $node_dirs | sort -u); do
    [ -f "$dir/package-lock.json" ] || continue
    if ! command -v npm >/dev/null; then
      echo "npm is needed (dashboard and conformance tests): install Node.js >= 20.19." >&2
      exit 1
    fi
    lock=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ ! -d "$dir/node_modules" ] || [ "$(cat "$dir/node_modules/.leadcast-lock" 2>/dev/null)" != "$lock" ]; then
      echo "==> installing Node packages in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      echo "$lock" > "$dir/node_modules/.leadcast-lock"
    fi
  done
fi

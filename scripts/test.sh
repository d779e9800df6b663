#!/usr/bin/env bash
# The whole test suite: lint, formatting, types, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --with-node
bash scripts/install-chromium.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff check";          ruff check .
echo "==> ruff format --check"; ruff format --check .
echo "==> mypy --strict src/";  mypy
echo "==> dashboard: tsc + vitest"; (cd dashboard && npm test --silent)
echo "==> dashboard: build";    (cd dashboard && npm run build --silent >/dev/null)
echo "==> pytest";              pytest "$@"

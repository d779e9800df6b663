#!/usr/bin/env bash
# Start the whole system with embedded defaults: SQLite, the in-process real-time server
# and relay, demo accounts, the dashboard. Options go to `leadcast up` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --dashboard
echo "==> building the dashboard"
(cd dashboard && npm run build --silent >/dev/null)
exec .venv/bin/leadcast up "$@"

#!/usr/bin/env bash
# Start leadcast with embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PUSHER_APP_ID=${PUSHER_APP_ID:-leadcast}
export PUSHER_APP_KEY=${PUSHER_APP_KEY:-leadcast-key}
export PUSHER_APP_SECRET=${PUSHER_APP_SECRET:-leadcast-secret-change-me}
exec .venv/bin/leadcast realtime "$@"

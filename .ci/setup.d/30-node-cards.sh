#!/usr/bin/env bash
# The official Adaptive Cards packages (templating reference, renderer/validator)
# that tests/cards_reference.rs runs under Node, pinned by tests/cards/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../../tests/cards"
command -v node >/dev/null || { echo "node is required (apt-get install -y nodejs npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error

#!/usr/bin/env bash
# The browser end-to-end suite (tests/e2e): chromium and the Agents Playground.
set -euo pipefail
exec bash "$(dirname "$0")/../../tests/e2e/setup.sh"

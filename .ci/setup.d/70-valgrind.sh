#!/usr/bin/env bash
# valgrind for the instruction-count guard (.ci/instructions), if it is missing.
set -euo pipefail
if ! command -v valgrind >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq valgrind >/dev/null
fi
valgrind --version

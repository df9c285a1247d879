#!/usr/bin/env bash
# cargo-fuzz for .ci/fuzz-smoke (libFuzzer targets in fuzz/), if it is missing.
set -euo pipefail
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

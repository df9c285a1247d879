#!/usr/bin/env bash
# The official Azure Python SDK for the ARM compatibility suite, in .tools/compat-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.tools/compat-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/compat/requirements.txt -r tests/compat/requirements-azure.txt

#!/usr/bin/env bash
# checkov, the IaC scanner tests/infra.rs runs over infra/ (offline, with
# --skip-download), pinned, in its own venv so its many dependencies do not
# meet the compatibility suite's SDKs: .tools/checkov-venv/bin/checkov.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.tools/checkov-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==3.3.30"
"$venv/bin/checkov" --version

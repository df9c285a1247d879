#!/usr/bin/env bash
# What the browser end-to-end suite needs on a fresh machine: Debian's
# chromium and sqlite3 (only if missing), Node.js 20 or newer (playwright-core's
# floor) and the pinned npm packages (the Agents Playground and
# playwright-core, exactly as package-lock.json has them).
set -euo pipefail
cd "$(dirname "$0")"
updated=
apt_install() {
  [ -n "$updated" ] || { apt-get update; updated=1; }
  apt-get install -y "$@"
}
[ -x /usr/bin/chromium ] || apt_install chromium
command -v sqlite3 >/dev/null || apt_install sqlite3   # the history-chart step seeds drbot's store
command -v node >/dev/null || apt_install nodejs npm
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "Node.js $(node --version) is too old for playwright-core: the e2e suite needs 20 or newer" >&2
  exit 1
fi
npm ci --no-audit --no-fund

#!/usr/bin/env bash
# Install what the tests need and run them: `bash scripts/test.sh [pytest args]`.
# Needs Python 3.11 + pip; installs Debian's chromium (real-browser tests), nginx-light (the replicas
# test of deploy/) and postgresql (the class store's tests on PostgreSQL: tests/pg_server.py starts a
# throw-away cluster with initdb/pg_ctl, as the postgres user when run as root) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
missing=""
command -v chromium >/dev/null 2>&1 || missing="chromium fonts-dejavu-core"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
fi
python -m pytest "$@"

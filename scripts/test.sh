#!/usr/bin/env bash
# Install what the tests need and run them: `bash scripts/test.sh [pytest args]`.
# Needs Python 3.11 + pip; installs Debian's chromium for the real-browser tests when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
python -m pytest "$@"

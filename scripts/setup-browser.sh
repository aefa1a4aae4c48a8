#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test (the machine has none until a
# project installs it) and the Playwright driver into .venv-py (it drives that Chromium; it never
# downloads a browser of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium > /dev/null; then
    echo "installing Debian's chromium (once) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium > /dev/null
fi
.venv-py/bin/pip install --quiet --disable-pip-version-check playwright

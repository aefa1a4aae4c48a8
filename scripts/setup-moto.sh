#!/usr/bin/env bash
# Installs moto_server (moto[server] from PyPI) into .venv-moto: the DynamoDB API on loopback
# that the DynamoDB store's tests and benchmark run against. The tests start it themselves on a
# free port and stop it when they end (crates/mneme/tests/common/dynamodb.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION="5.2.5"
VENV=".venv-moto"
if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
"$VENV/bin/python" -c "import moto; print('moto_server', moto.__version__, 'ready')"

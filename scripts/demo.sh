#!/usr/bin/env bash
# Set up a virtual environment with Delivery Watchdog and run `watchdog demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$python" -m venv .venv
fi
echo "== installing delivery-watchdog into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
echo "== running: watchdog demo"
exec .venv/bin/watchdog demo "$@"

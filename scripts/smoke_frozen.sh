#!/usr/bin/env bash
# Smoke-test the frozen program built by scripts/freeze.sh, the way an office PC runs it: a copy
# of dist/watchdog/ in a fresh temporary folder outside the source tree (a path with a space and
# accents, like C:\Users\Zoë Müller\AppData\...), started with no Python on
# PATH (tests/frozen/program.py builds that PATH) and no PYTHON* variables. The test venv's
# Python only drives tests/frozen/ and the test servers (Dovecot, aiosmtpd, Xvfb + trayer).
#
#   scripts/freeze.sh && scripts/smoke_frozen.sh      extra arguments go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

built=dist/watchdog
[ -d "$built" ] || { echo "No frozen program in $built: run scripts/freeze.sh first."; exit 2; }
[ -x .venv/bin/pytest ] || { echo "No test venv: run scripts/test.sh once first."; exit 2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/watchdog-frozen.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Installed as an office PC would have it: under a user name with a space and accents.
folder="$scratch/Zoë Müller/Delivery Watchdog"
mkdir -p "$folder"
cp -a "$built" "$folder/"
program="$folder/watchdog/watchdog"
[ -f "$program.exe" ] && program="$program.exe"

started=$(date +%s)
status=0
WATCHDOG_FROZEN_PROGRAM="$program" .venv/bin/pytest -q -p no:cacheprovider tests/frozen "$@" \
  || status=$?
printf '\nFrozen smoke test: %d s (program %s)\n' "$(($(date +%s) - started))" "$program"
exit $status

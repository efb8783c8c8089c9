#!/usr/bin/env bash
# Build the frozen program (PyInstaller, one folder) into dist/watchdog/, from this source tree.
#
# Its own build environment, .venv-freeze: PyInstaller and the product's run-time dependencies,
# nothing of the test tools, so the test venv stays lean and the frozen folder holds nothing of
# them. The same script works on Linux and macOS; on Windows (Git Bash) the venv's programs are
# in Scripts\ instead of bin/. The installer (Windows) is built from dist/watchdog/ afterwards:
# see packaging/windows/watchdog.iss and docs/windows.md.
#
#   scripts/freeze.sh            build (reuses .venv-freeze; a second build takes ~1/2 the time)
#   FREEZE_PYTHON=python3.12 scripts/freeze.sh    build with another Python
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
venv=.venv-freeze
bin=$venv/bin
[ -d "$venv/Scripts" ] && bin=$venv/Scripts

if [ ! -x "$bin/python" ] && [ ! -x "$bin/python.exe" ]; then
  step "Creating $venv"
  "${FREEZE_PYTHON:-python3}" -m venv "$venv"
  [ -d "$venv/Scripts" ] && bin=$venv/Scripts
  # Keeps the build venv out of git without touching the project's .gitignore (Python 3.13's
  # venv writes the same file itself).
  printf '*\n' >"$venv/.gitignore"
fi
step "Installing PyInstaller and the product's dependencies into $venv"
# `pip install .` brings the dependencies and delivery-watchdog's metadata (the support bundle
# lists the library versions from it). The code itself is taken from this tree by the spec.
# The desktop extra (dbus-python, Linux only: notifications with their icon and timeout) needs
# libdbus-1-dev and libglib2.0-dev, which scripts/test.sh installs; elsewhere it is empty.
"$bin/python" -m pip install --quiet --disable-pip-version-check "pyinstaller>=6.10" ".[desktop]"

step "Freezing (PyInstaller, packaging/watchdog.spec)"
started=$(date +%s)
"$bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/watchdog.spec
elapsed=$(($(date +%s) - started))

program=dist/watchdog/watchdog
[ -f "$program.exe" ] && program=$program.exe
"$program" --version
size=$(du -sh dist/watchdog | cut -f1)
printf '\nBuilt %s in %d s; the folder is %s.\n' "$program" "$elapsed" "$size"

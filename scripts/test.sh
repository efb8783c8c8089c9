#!/usr/bin/env bash
# Everything CI runs, from a fresh Debian machine or a developer's checkout:
# system packages, the virtualenv, lint, format, types, tests. Extra arguments go to pytest,
# e.g. `scripts/test.sh -k smtp -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- Debian packages: Dovecot for the real IMAP/LMTP test server -------------------------------
# Dovecot: the real IMAP/LMTP server; dovecot-sieve for Sieve filing rules in it. Postfix: a
# real MTA in front of it (tests/servers/postfix.py runs its own instance from a temp folder).
# Xvfb + D-Bus + dunst: a notification daemon to capture real desktop notifications headless.
# libdbus/glib/pkg-config: to build dbus-python. Chromium: to render the HTML guides and reports
# in tests. trayer: a system tray for the tray icon under Xvfb; python3-tk: the actions
# window where the tray has no menu.
packages=(dovecot-imapd dovecot-lmtpd dovecot-sieve postfix xvfb dbus dbus-x11 dunst
  libnotify-bin libglib2.0-bin libdbus-1-dev libglib2.0-dev pkg-config chromium trayer
  python3-tk)
command -v python3 >/dev/null || packages+=(python3)
[ -d .venv ] || python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
if command -v dpkg-query >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    step "Installing Debian packages: ${missing[*]}"
    # The tests start their own Dovecot on free ports. A policy-rc.d that answers 101 keeps the
    # package from starting a system Dovecot on 143/993 (only if the machine has none already).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
      as_root chmod +x "$policy"
      trap 'as_root rm -f "$policy"' EXIT
    fi
    # Postfix asks how to set itself up: "No configuration" writes no /etc/postfix/main.cf,
    # so even a later boot starts no system Postfix; the tests run their own instance.
    echo "postfix postfix/main_mailer_type select No configuration" \
      | as_root debconf-set-selections
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Belt and braces: no system Postfix may be left running by the install.
    if [ -x /usr/sbin/postfix ] && as_root /usr/sbin/postfix status >/dev/null 2>&1; then
      as_root /usr/sbin/postfix stop || true
    fi
  fi
else
  echo "No dpkg here: install Dovecot (imapd + lmtpd) yourself, or the server tests are skipped."
fi

# --- Python virtualenv ----------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  step "Creating .venv"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is needed; python3 is $(python3 --version)"; exit 1; }
  python3 -m venv .venv
fi
step "Installing the project with test extras"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# --- Checks: run them all, then fail if any failed -------------------------------------------
dirs=()
for d in watchdog tests benchmarks packaging; do
  if [ -d "$d" ]; then dirs+=("$d"); fi
done
failed=()
check() {
  local name=$1
  shift
  step "$name"
  "$@" || failed+=("$name")
}
check "ruff check" .venv/bin/ruff check "${dirs[@]}"
check "ruff format --check" .venv/bin/ruff format --check "${dirs[@]}"
check "mypy" .venv/bin/mypy
# The layers of docs/architecture.md, as contracts in pyproject.toml ([tool.importlinter]).
check "import layers" .venv/bin/lint-imports
check "pytest" .venv/bin/pytest -q "$@"
# Windows and macOS: what can be proven here (types for both platforms, wheels that resolve).
check "static Windows/macOS checks" scripts/static_platform_checks.sh
# The frozen program (PyInstaller), run from a clean folder with no Python on PATH.
check "frozen program (build + smoke test)" bash -c 'scripts/freeze.sh && scripts/smoke_frozen.sh'

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nAll checks passed.\n'

#!/usr/bin/env bash
# What can be proved about Windows and macOS from this Linux machine, without running there:
#   1. mypy (strict) type-checks the package as it would on Windows and on macOS, so the
#      Windows-only branches (winreg, msvcrt, os.startfile) and macOS-only ones are checked too;
#   2. the built wheel and all its dependencies install from wheels alone (no compiler on an
#      office PC) for Windows x64 and macOS arm64 / x86_64, on CPython 3.11, 3.12 and 3.13
#      (packaging/check_wheels.py: pip's dry run, with the target's own environment markers).
# Needs the test venv (scripts/test.sh makes it) and PyPI. Takes about 3 minutes, mostly pip.
#
#   scripts/static_platform_checks.sh            everything
#   PYTHONS="3.12" scripts/static_platform_checks.sh      fewer Python versions
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
[ -x .venv/bin/python ] || { echo "No test venv: run scripts/test.sh once first."; exit 2; }
failed=()

for platform in win32 darwin; do
  step "mypy --platform $platform"
  .venv/bin/mypy --platform "$platform" watchdog || failed+=("mypy --platform $platform")
done

step "Building the wheel"
wheel_dir=$(mktemp -d "${TMPDIR:-/tmp}/watchdog-wheel.XXXXXX")
trap 'rm -rf "$wheel_dir"' EXIT
.venv/bin/python -m pip wheel --quiet --disable-pip-version-check --no-deps . -w "$wheel_dir" \
  2> >(grep -v '^WARNING: Location' >&2)
wheel=$(ls "$wheel_dir"/*.whl)

step "Wheels for Windows and macOS (pip --dry-run --only-binary=:all:)"
targets=()
for target in windows macos-arm64 macos-x86_64; do targets+=(--target "$target"); done
pythons=()
for version in ${PYTHONS:-3.11 3.12 3.13}; do pythons+=(--python "$version"); done
.venv/bin/python packaging/check_wheels.py --wheel "$wheel" "${targets[@]}" "${pythons[@]}" \
  || failed+=("wheel resolution")

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nStatic Windows and macOS checks passed.\n'

"""Does the built wheel and every dependency install from wheels alone on another platform?

``pip install --dry-run --platform TAG --only-binary=:all: --python-version X.Y`` checks that a
wheel exists for the target's tags, but pip evaluates environment markers for the machine it
runs on, not the target: run on Linux, it pulls in Linux-only dependencies (secretstorage,
python-xlib) and leaves out Windows- or macOS-only ones (pywin32-ctypes for keyring,
pyobjc-framework-Quartz for pystray), which are exactly the ones that might lack a wheel. So
this script evaluates the markers of every resolved distribution's requirements for the target
(``sys_platform``, ``platform_system``, ``os_name``, ``platform_machine``, Python version) and
adds the missing ones as explicit requirements, until nothing is missing (a few rounds).

    python packaging/check_wheels.py --wheel dist/x.whl --target windows --python 3.12

Exit 0 when everything resolves to wheels, 1 when pip cannot, 2 for wrong arguments. Needs
PyPI (or the configured index); uses pip and ``packaging`` from the running Python.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

#: target name -> (pip platform tags, marker environment)
TARGETS: dict[str, tuple[list[str], dict[str, str]]] = {
    "windows": (
        ["win_amd64"],
        {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
         "platform_machine": "AMD64"},
    ),
    "macos-arm64": (
        ["macosx_11_0_arm64"],
        {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
         "platform_machine": "arm64"},
    ),
    "macos-x86_64": (
        ["macosx_11_0_x86_64"],
        {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix",
         "platform_machine": "x86_64"},
    ),
}  # fmt: skip

MAX_ROUNDS = 6


def marker_environment(target: str, python: str) -> dict[str, str]:
    """The marker variables of ``target`` running CPython ``python`` (e.g. ``3.12``)."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    env.update(TARGETS[target][1])
    env.update(
        python_version=python,
        python_full_version=f"{python}.0",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        implementation_version=f"{python}.0",
    )
    return env


def dry_run(wheel: Path, extra: list[str], target: str, python: str) -> dict[str, Any]:
    """pip's resolution report for the wheel plus ``extra`` on the target; exits on failure."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        argv += ["--quiet", "--disable-pip-version-check", "--report", str(report)]
        for tag in TARGETS[target][0]:
            argv += ["--platform", tag]
        argv += ["--only-binary=:all:", "--python-version", python]
        argv += ["--implementation", "cp", "--target", str(Path(scratch) / "target")]
        argv += [str(wheel), *extra]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            errors = [
                line for line in done.stderr.splitlines() if not line.startswith("WARNING: Loc")
            ]
            print(f"FAIL {target} Python {python}: pip cannot install from wheels alone:")
            print("\n".join(errors[-15:]))
            raise SystemExit(1)
        result: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return result


def missing_requirements(report: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Requirements true for the target but absent from pip's (this machine's) resolution."""
    installed = {canonicalize_name(item["metadata"]["name"]) for item in report["install"]}
    missing: dict[str, str] = {}
    for item in report["install"]:
        extras = ["", *(item.get("requested_extras") or [])]
        for text in item["metadata"].get("requires_dist") or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonicalize_name(requirement.name)
            if name in installed or name in missing:
                continue
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**env, "extra": e}) for e in extras):
                requirement.marker = None
                missing[name] = str(requirement)
    return sorted(missing.values())


def check(wheel: Path, target: str, python: str) -> list[str]:
    """Resolve until complete; return the target-only requirements that had to be added."""
    env = marker_environment(target, python)
    extra: list[str] = []
    for _round in range(MAX_ROUNDS):
        report = dry_run(wheel, extra, target, python)
        missing = missing_requirements(report, env)
        if not missing:
            names = sorted(item["metadata"]["name"] for item in report["install"])
            print(
                f"OK   {target} Python {python}: {len(names)} distributions from wheels"
                + (f" (for this platform: {', '.join(extra)})" if extra else "")
            )
            return extra
        extra += missing
    print(f"FAIL {target} Python {python}: still missing after {MAX_ROUNDS} rounds: {extra}")
    raise SystemExit(1)


def main() -> int:
    """Check each ``--target`` x ``--python`` pair; stop at the first failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--target", choices=sorted(TARGETS), action="append", required=True)
    parser.add_argument("--python", action="append", required=True, metavar="X.Y")
    args = parser.parse_args()
    if not args.wheel.is_file():
        parser.error(f"no wheel at {args.wheel}")
    for target in args.target:
        for python in args.python:
            check(args.wheel, target, python)
    return 0


if __name__ == "__main__":
    sys.exit(main())

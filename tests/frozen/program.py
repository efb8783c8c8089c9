"""Run the frozen ``watchdog`` program as an office PC would: its own folder, no Python anywhere.

``WATCHDOG_FROZEN_PROGRAM`` names the program (scripts/smoke_frozen.sh sets it to a copy of
``dist/watchdog/watchdog`` in a fresh temporary folder). The test venv's Python only drives the
tests and the test servers; the product under test is that executable alone: its environment has
no Python on ``PATH``, no ``PYTHONPATH``/``PYTHONHOME``/``VIRTUAL_ENV``, and it runs from a
working folder outside the source tree.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

PROGRAM_ENV = "WATCHDOG_FROZEN_PROGRAM"

#: Programs that would let the product fall back on an interpreter we did not ship.
_PYTHON_NAME = re.compile(r"^(python|pip|pydoc|idle|2to3)|python", re.IGNORECASE)
#: Interpreter settings that must not reach the frozen program (keyring's own variable may).
_PYTHON_VARIABLES = re.compile(r"^(PYTHON(?!_KEYRING_BACKEND$)|VIRTUAL_ENV|CONDA|PIP_)")


def frozen_program() -> Path | None:
    """The frozen program named by ``$WATCHDOG_FROZEN_PROGRAM``, or None when it is not set."""
    value = os.environ.get(PROGRAM_ENV)
    return Path(value) if value else None


def python_free_bin(folder: Path, path: str | None = None) -> Path:
    """A folder of links to every program on ``path`` except Python's; for a clean ``PATH``.

    The first program of a name wins, as on ``PATH`` itself. Only links are made, so this is
    cheap (a few thousand links) and the real system tools (``xdg-open``, ``notify-send``, ...)
    stay available to the product as they would be on a user's PC.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for directory in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = folder / entry.name
            if _PYTHON_NAME.search(entry.name) or target.exists() or target.is_symlink():
                continue
            try:
                if entry.is_file() and os.stat(entry.path).st_mode & stat.S_IXUSR:
                    target.symlink_to(entry.path)
            except OSError:
                continue  # a dangling link on PATH: skip it like a shell would
    return folder


def frozen_env(bin_folder: Path, extra: dict[str, str]) -> dict[str, str]:
    """This environment minus Python's traces, ``PATH`` = ``bin_folder``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not _PYTHON_VARIABLES.match(k)}
    env.pop(PROGRAM_ENV, None)
    env["PATH"] = str(bin_folder)
    env.update(extra)
    assert shutil.which("python3", path=env["PATH"]) is None
    assert shutil.which("python", path=env["PATH"]) is None
    return env


def run_frozen(
    program: Path,
    *args: str,
    env: dict[str, str],
    cwd: Path,
    config: Path | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """``program [--config PATH] ARGS...`` in ``cwd``; never raises on a non-zero exit."""
    argv = [str(program)]
    if config is not None:
        argv += ["--config", str(config)]
    return subprocess.run(
        [*argv, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

"""Run the ``watchdog`` command as a user would: a separate process, its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def watchdog(
    *args: str, env: dict[str, str], config: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m watchdog [--config PATH] ARGS...``; never raises on a non-zero exit."""
    argv = [sys.executable, "-m", "watchdog"]
    if config is not None:
        argv += ["--config", str(config)]
    return subprocess.run(
        [*argv, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def watchdog_json(*args: str, env: dict[str, str], config: Path) -> tuple[int, Any]:
    """Run a command with ``--json`` and parse what it printed."""
    done = watchdog(*args, "--json", env=env, config=config)
    assert done.stdout, f"no output; stderr was:\n{done.stderr}"
    return done.returncode, json.loads(done.stdout)

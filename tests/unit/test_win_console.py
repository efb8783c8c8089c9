"""Started without a console (pythonw.exe / watchdogw.exe at sign-in), errors still leave a trace.

Under a windowless start ``sys.stdout`` and ``sys.stderr`` are None: a broken config used to
vanish without a word. Now they go to ``console.log`` in the log folder (and, on Windows only,
a message box).
"""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from watchdog.cli import main
from watchdog.config import APP_NAME
from watchdog.core.exit_status import ExitStatus


def test_a_broken_config_at_a_windowless_start_is_written_to_the_console_log(
    tmp_path: Path, watchdog_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[sender\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    code = main(["--config", str(bad), "status"])
    assert code == ExitStatus.CONFIG
    log = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / "console.log"
    text = log.read_text(encoding="utf-8")
    assert "Configuration problem" in text and str(bad) in text

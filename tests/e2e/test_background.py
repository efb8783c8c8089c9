"""Running in the background: one instance per user, and no tray is no reason to stop checking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.cli import watchdog


def start(command: str, config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "watchdog", "--config", str(config), command],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_second_instance_exits_with_a_clear_message_and_the_first_keeps_running(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, every_minutes=0.05))
    first = start("run", config, watchdog_env)
    try:
        assert wait_for(lambda: len(servers.smtp.received) >= 1)
        second = watchdog("tray", env=watchdog_env, config=config, timeout=30)
        assert second.returncode == 2
        assert "already running" in second.stderr
        assert first.poll() is None
    finally:
        out, err = stop(first)
    assert first.returncode == 0, err
    assert "Stopped." in out


def test_without_a_system_tray_the_loop_still_runs_and_says_so(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, every_minutes=0.05))
    env = {**watchdog_env, "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    process = start("tray", config, env)
    try:
        assert wait_for(lambda: len(servers.smtp.received) >= 2)
    finally:
        _out, err = stop(process)
    assert process.returncode == 0, err
    log_file = Path(watchdog_env["XDG_STATE_HOME"]) / "delivery-watchdog" / "log" / "watchdog.log"
    log_text = log_file.read_text(encoding="utf-8")
    assert "No system tray is available" in log_text
    assert "Sending canary" in log_text


def test_a_lock_left_by_a_crashed_instance_is_taken_over(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, every_minutes=0.05))
    crashed = start("run", config, watchdog_env)
    assert wait_for(lambda: len(servers.smtp.received) >= 1)
    crashed.kill()  # no cleanup: the lock file stays behind
    crashed.communicate(timeout=10)
    again = start("run", config, watchdog_env)
    try:
        received = len(servers.smtp.received)
        assert wait_for(lambda: len(servers.smtp.received) > received)
    finally:
        _out, err = stop(again)
    assert again.returncode == 0, err

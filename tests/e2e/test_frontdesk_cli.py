"""The commands as the front desk and support meet them (issue 12, items 10, 12, 14, 15, 16).

Each command runs in its own process, as typed at the office PC, against a history built
through the product's own API (no mail servers are needed to read one).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cli import watchdog
from tests.support.history_builder import HistoryBuilder
from watchdog.config import load_config
from watchdog.core.models import Canary, Outcome
from watchdog.storage.paths import history_path

CONFIG = """\
office = "Smile Dental"

[sender]
address = "frontdesk@smiledental.test"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = "frontdesk"

[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "seed"

[alerts]
support_contact = "Acme IT, 555-0100"
"""


@pytest.fixture
def config(tmp_path: Path, watchdog_env: dict[str, str]) -> Path:
    """An office config (read only: nothing here talks to a server)."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def build_history(config: Path, outcomes: list[Outcome]) -> None:
    """Checks an hour apart, ending an hour ago, in the config's own history."""
    builder = HistoryBuilder(history_path(load_config(config)))
    start = time.time() - 3600 * (len(outcomes) + 1)
    for n, outcome in enumerate(outcomes):
        builder.add(start + 3600 * n, outcome)
    builder.close()


# --- item 10: before any config exists --------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "check", "history", "incidents", "export"])
def test_before_any_config_exists_the_commands_point_to_watchdog_setup(
    watchdog_env: dict[str, str], command: str
) -> None:
    done = watchdog(command, env=watchdog_env)
    assert done.returncode == 3
    assert "This PC is not set up yet" in done.stderr
    assert "Run `watchdog setup`" in done.stderr
    assert "Configuration problem" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_config_given_with_config_names_it_in_the_setup_command(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    missing = tmp_path / "other.toml"
    done = watchdog("status", env=watchdog_env, config=missing)
    assert done.returncode == 3
    assert f"Run `watchdog --config {missing} setup`" in done.stderr


# --- item 12: words, not codes ----------------------------------------------------------------


def test_incidents_name_the_diagnosis_in_words_not_its_code(
    config: Path, watchdog_env: dict[str, str]
) -> None:
    build_history(config, [Outcome.DELIVERED, Outcome.LOST, Outcome.LOST, Outcome.DELIVERED])
    done = watchdog("incidents", env=watchdog_env, config=config)
    assert done.returncode == 0, done.stderr
    assert "why: Reminders may be disappearing without a warning" in done.stdout
    assert "silent_drop" not in done.stdout


def test_status_of_a_check_still_waiting_says_so_and_never_prints_an_empty_pending(
    config: Path, watchdog_env: dict[str, str]
) -> None:
    build_history(config, [Outcome.DELIVERED])
    builder = HistoryBuilder(history_path(load_config(config)))
    now = time.time()
    builder.history.record_pending(
        Canary(token="waiting", message_id="<waiting@x>", sent_at=now, deadline_at=now + 600), now
    )
    builder.close()

    status = watchdog("status", env=watchdog_env, config=config)
    assert status.returncode == 0, status.stderr
    last = next(line for line in status.stdout.splitlines() if line.startswith("Last check:"))
    assert "waiting for the test message to arrive (deadline " in last
    assert not last.rstrip().endswith(":")
    assert "pending: \n" not in status.stdout + "\n"

    history = watchdog("history", env=watchdog_env, config=config)
    waiting_row = next(line for line in history.stdout.splitlines() if "pending" in line)
    assert "unknown" not in waiting_row
    assert "(waiting)" in waiting_row


# --- item 14: a closed pipe -------------------------------------------------------------------


def piped_into_head(
    args: list[str], env: dict[str, str], *, lines: int = 1
) -> tuple[int, str, str]:
    """``watchdog ARGS | head -n LINES``: watchdog's exit code, what head got, its stderr."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "watchdog", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdout is not None and writer.stderr is not None
    first = b"".join(writer.stdout.readline() for _ in range(lines))
    writer.stdout.close()  # what head does after its lines
    errors = writer.stderr.read().decode()
    return writer.wait(timeout=60), first.decode(), errors


def test_export_piped_into_head_ends_quietly_with_exit_0(
    config: Path, watchdog_env: dict[str, str]
) -> None:
    build_history(config, [Outcome.DELIVERED] * 3000)  # far more than a pipe's buffer
    code, first, errors = piped_into_head(["--config", str(config), "export"], watchdog_env)
    assert first.startswith("token,") or "," in first
    assert "Traceback" not in errors and "BrokenPipe" not in errors
    assert errors == ""
    assert code == 0


def test_help_piped_into_a_reader_that_closes_at_once_ends_quietly(
    watchdog_env: dict[str, str],
) -> None:
    code, first, errors = piped_into_head(["history", "--help"], watchdog_env, lines=0)
    assert first == ""
    assert "Traceback" not in errors and "Exception ignored" not in errors
    assert code == 0


# --- item 15: the guide keeps the office ------------------------------------------------------


def test_a_guide_for_another_provider_keeps_the_office_name_and_support_contact(
    config: Path, tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    page = tmp_path / "guide.html"
    done = watchdog(
        "guide",
        "--provider",
        "gmail",
        "--diagnosis",
        "sending_limit",
        "--output",
        str(page),
        "--no-open",
        env=watchdog_env,
        config=config,
    )
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "Smile Dental" in html
    assert "Acme IT, 555-0100" in html
    assert "Gmail" in html


def test_a_guide_for_a_given_provider_and_diagnosis_works_without_any_config(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    page = tmp_path / "guide.html"
    done = watchdog(
        "guide",
        "--provider",
        "yahoo",
        "--diagnosis",
        "auth_rejected",
        "--output",
        str(page),
        "--no-open",
        env=watchdog_env,
    )
    assert done.returncode == 0, done.stderr
    assert page.exists()


# --- item 16: a browser that does not start ---------------------------------------------------


def failing_browser(tmp_path: Path) -> Path:
    """A "browser" that starts and fails at once, as one does without a display."""
    script = tmp_path / "no-display-browser"
    script.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_when_the_browser_fails_to_start_the_guide_command_says_so_and_names_the_file(
    config: Path, tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    page = tmp_path / "guide.html"
    env = {**watchdog_env, "BROWSER": str(failing_browser(tmp_path))}
    done = watchdog(
        "guide", "--diagnosis", "ok", "--output", str(page), env=env, config=config, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"open this file by hand: {page}" in done.stdout

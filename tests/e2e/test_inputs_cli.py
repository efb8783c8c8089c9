"""Hostile inputs end as plain messages from the real command, never as a traceback or a blast
of messages (issue 11 items 7 and 15): the CLI in a subprocess, as support runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import watchdog

CONFIG = """
[sender]
address = "{sender}"
smtp_host = "smtp.gmail.com"
smtp_port = 465
security = "ssl"
username = "frontdesk@gmail.com"

[seed]
address = "canary@smiledental.com"
imap_host = "imap.smiledental.com"
imap_port = 993
security = "ssl"
username = "canary"

[schedule]
every_minutes = {every}
deadline_minutes = 10
"""


@pytest.mark.parametrize(
    ("command", "sender", "every", "words"),
    [
        ("check", "réception@gmail.com", "30", "only ASCII addresses can be used"),
        ("run", "frontdesk@gmail.com", "0.001", "may suspend the account"),
        ("run", "frontdesk@gmail.com", "inf", "must be a number of minutes above 0"),
        ("run", "frontdesk@gmail.com", "1e12", "allowed is 5 to 1440 minutes"),
        ("run", "frontdesk@gmail.com", "5", "288 test messages a day"),
    ],
)
def test_a_config_that_could_only_fail_or_flood_stops_before_anything_is_sent(
    tmp_path: Path,
    watchdog_env: dict[str, str],
    command: str,
    sender: str,
    every: str,
    words: str,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(sender=sender, every=every), encoding="utf-8")
    done = watchdog(command, env=watchdog_env, config=config, timeout=30)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith(f"Configuration problem: {config}: [")
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing was sent, not even the "Checking ..." line

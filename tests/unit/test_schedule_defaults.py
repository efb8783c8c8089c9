"""The schedule's defaults have one home (issue 13): the config without ``[schedule]``, the values
set-up writes when not asked otherwise, and set-up's help all say the same two numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from watchdog import cli
from watchdog.config import (
    DEFAULT_DEADLINE_MINUTES,
    DEFAULT_EVERY_MINUTES,
    SeedConfig,
    SenderConfig,
    load_config,
)
from watchdog.core.models import Security
from watchdog.setup.config_writer import ConfigValues, render_config

CONFIG = """
[sender]
address = "frontdesk@smiledental.com"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = ""

[seed]
address = "canary@smiledental.com"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "canary"
"""


def test_the_defaults_are_half_an_hour_and_ten_minutes() -> None:
    assert (DEFAULT_EVERY_MINUTES, DEFAULT_DEADLINE_MINUTES) == (30.0, 10.0)


def test_a_config_without_a_schedule_uses_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    schedule = load_config(path).schedule
    assert (schedule.every_minutes, schedule.deadline_minutes) == (
        DEFAULT_EVERY_MINUTES,
        DEFAULT_DEADLINE_MINUTES,
    )


def test_what_setup_writes_when_not_asked_otherwise_loads_with_the_defaults(
    tmp_path: Path,
) -> None:
    values = ConfigValues(
        sender=SenderConfig("frontdesk@smiledental.com", "127.0.0.1", 2525, Security.NONE, ""),
        seed=SeedConfig("canary@smiledental.com", "127.0.0.1", 1143, Security.NONE, "canary"),
    )
    path = tmp_path / "config.toml"
    path.write_text(render_config(values), encoding="utf-8")
    schedule = load_config(path).schedule
    assert (schedule.every_minutes, schedule.deadline_minutes) == (
        DEFAULT_EVERY_MINUTES,
        DEFAULT_DEADLINE_MINUTES,
    )


def test_setup_help_names_the_defaults() -> None:
    parser = cli.build_parser(["setup"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["setup"].format_help().split())
    assert f"how often to check (default {DEFAULT_EVERY_MINUTES:g})" in text
    assert f"when a canary counts as lost (default {DEFAULT_DEADLINE_MINUTES:g})" in text

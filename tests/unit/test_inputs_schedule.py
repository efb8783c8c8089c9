"""Bounds on ``[schedule]`` (issue 11 item 7): never the cause of the block we watch for.

A schedule that checks every few seconds sends a blast of canaries through the practice's account,
exactly what gets accounts suspended; ``inf`` crashed ``run``; ``1e300`` gave nonsense. Each refusal
names the file, the key, the value, what is allowed and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.config import (
    REFUSE_DAILY_SHARE,
    WARN_DAILY_SHARE,
    canaries_per_day,
    load_config,
    schedule_warnings,
)
from watchdog.core.errors import ConfigError
from watchdog.core.providers import all_providers, get_provider
from watchdog.setup.console import deadline_minutes_parser, every_minutes_parser

CONFIG = """
[sender]
address = "{address}"
smtp_host = "{host}"
smtp_port = 465
security = "ssl"
username = "{address}"

[seed]
address = "canary.frontdesk@gmail.com"
imap_host = "imap.gmail.com"
imap_port = 993
security = "ssl"
username = "canary.frontdesk@gmail.com"

[schedule]
every_minutes = {every}
deadline_minutes = {deadline}
"""


def write(
    tmp_path: Path,
    *,
    every: str = "30",
    deadline: str = "10",
    host: str = "smtp.mail.att.net",
    address: str = "frontdesk@att.net",
) -> Path:
    path = tmp_path / "config.toml"
    text = CONFIG.format(every=every, deadline=deadline, host=host, address=address)
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [schedule] ")
    return message


@pytest.mark.parametrize(
    ("every", "deadline", "key", "words"),
    [
        ("0.001", "10", "every_minutes = 0.001", "may suspend the account"),
        ("4.9", "1", "every_minutes = 4.9", "allowed is 5 to 1440 minutes"),
        ("inf", "10", "every_minutes = inf", "must be a number of minutes above 0"),
        ("nan", "10", "every_minutes = nan", "must be a number of minutes above 0"),
        ("1e12", "10", "every_minutes = 1e+12", "allowed is 5 to 1440 minutes"),
        ("1441", "10", "every_minutes = 1441", "more than a day"),
        ("30", "1e300", "deadline_minutes = 1e+300", "allowed is 1 to 240 minutes"),
        ("30", "inf", "deadline_minutes = inf", "must be a number of minutes above 0"),
        ("30", "0.5", "deadline_minutes = 0.5", "would otherwise count as a lost message"),
        ("30", "-1", "deadline_minutes = -1", "above 0"),
    ],
)
def test_a_schedule_out_of_bounds_is_refused_with_the_allowed_range_and_why(
    tmp_path: Path, every: str, deadline: str, key: str, words: str
) -> None:
    message = refusal(write(tmp_path, every=every, deadline=deadline))
    assert key in message
    assert words in message


def test_the_smallest_and_largest_allowed_schedule_load(tmp_path: Path) -> None:
    fast = load_config(write(tmp_path, every="5", deadline="1"))
    assert fast.schedule.every_minutes == 5 and fast.schedule.deadline_minutes == 1
    slow = load_config(write(tmp_path, every="1440", deadline="240"))
    assert slow.schedule.every_seconds == 86400 and slow.schedule.deadline_seconds == 4 * 3600


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.1"])
def test_a_server_on_this_pc_may_be_checked_every_few_seconds_for_demos_and_tests(
    tmp_path: Path, host: str
) -> None:
    config = load_config(write(tmp_path, every="0.05", deadline="0.02", host=host))
    assert config.schedule.every_seconds == pytest.approx(3.0)
    # ... but the upper bounds and finiteness still hold there.
    assert "more than a day" in refusal(write(tmp_path, every="1e12", host=host))
    warnings = schedule_warnings(config)
    assert any("allowed only because the outgoing server" in w for w in warnings)


def test_a_schedule_using_half_of_gmails_daily_limit_is_refused_naming_the_numbers(
    tmp_path: Path,
) -> None:
    # Every 5 minutes is 288 canaries a day: 58 % of a personal Gmail account's 500.
    message = refusal(
        write(tmp_path, every="5", host="smtp.gmail.com", address="frontdesk@gmail.com")
    )
    assert "[schedule] every_minutes = 5 is too often" in message
    assert "288 test messages a day" in message and "500" in message
    assert "Gmail" in message and "may suspend the account" in message
    assert "Every 29 minutes or more" in message


def test_a_workspace_account_gets_googles_larger_limit(tmp_path: Path) -> None:
    # The same 5 minutes through smtp.gmail.com from the practice's own domain: 288 of 2,000.
    config = load_config(
        write(
            tmp_path,
            every="5",
            deadline="2",
            host="smtp.gmail.com",
            address="frontdesk@smiledental.com",
        )
    )
    warnings = schedule_warnings(config)
    assert len(warnings) == 1
    assert "14% of the about 2,000 a day" in warnings[0]


def test_a_schedule_using_more_than_a_tenth_of_the_limit_is_warned_about(tmp_path: Path) -> None:
    # Outlook.com allows about 300 a day; every 30 minutes is 48 (16 %).
    path = write(tmp_path, every="30", host="smtp-mail.outlook.com", address="f@outlook.com")
    warnings = schedule_warnings(load_config(path))
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}: [schedule] every_minutes = 30: ")
    assert "48 test messages a day, 16% of the about 300" in warnings[0]
    assert "Every 48 minutes or more" in warnings[0]


def test_the_default_schedule_is_quiet_for_a_personal_gmail_account(tmp_path: Path) -> None:
    path = write(tmp_path, host="smtp.gmail.com", address="frontdesk@gmail.com")
    assert schedule_warnings(load_config(path)) == []


def test_a_deadline_longer_than_the_interval_is_questioned(tmp_path: Path) -> None:
    warnings = schedule_warnings(load_config(write(tmp_path, every="10", deadline="20")))
    assert len(warnings) == 1
    assert "deadline_minutes = 20 is longer than every_minutes = 10" in warnings[0]


def test_every_published_limit_allows_the_default_half_hour_schedule() -> None:
    """No provider's daily limit refuses the default: setup's suggestion must always load."""
    for provider in all_providers():
        for limit in (provider.daily_limit, provider.daily_limit_own_domain):
            if limit is not None:
                assert canaries_per_day(30) / limit < REFUSE_DAILY_SHARE, provider.name
    assert canaries_per_day(30) / 500 <= WARN_DAILY_SHARE  # Gmail's default stays quiet


def test_the_documented_daily_limits_are_numbers_where_published() -> None:
    assert get_provider("gmail").daily_limit == 500
    assert get_provider("gmail").daily_limit_own_domain == 2000
    assert get_provider("outlook").daily_limit == 300
    assert get_provider("microsoft365").daily_limit == 10000
    assert get_provider("icloud").daily_limit == 1000
    assert get_provider("comcast").daily_limit is None  # not published: left unknown


def test_setup_prompts_use_the_config_bounds_for_the_sending_account() -> None:
    gmail = every_minutes_parser("smtp.gmail.com", "frontdesk@gmail.com")
    assert gmail("30") == 30
    with pytest.raises(ValueError, match="may suspend the account"):
        gmail("1")
    with pytest.raises(ValueError, match="288 test messages a day"):
        gmail("5")
    with pytest.raises(ValueError, match="more than a day"):
        gmail("2000")
    assert every_minutes_parser("127.0.0.1", "a@localhost")("0.05") == 0.05
    deadline = deadline_minutes_parser("smtp.gmail.com")
    assert deadline("10") == 10
    with pytest.raises(ValueError, match="allowed is 1 to 240 minutes"):
        deadline("1e300")


def test_doctor_warns_loudly_about_a_schedule_that_uses_much_of_the_limit(tmp_path: Path) -> None:
    from watchdog.setup.doctor import Doctor

    path = write(tmp_path, every="30", host="smtp-mail.outlook.com", address="f@outlook.com")
    doctor = Doctor(load_config(path))
    doctor.schedule()
    [finding] = doctor.findings
    assert finding.level == "WARN" and finding.name == "schedule"
    assert finding.line().startswith(f"WARN Schedule: {path}: [schedule] every_minutes = 30: ")
    assert "16% of the about 300 a day" in finding.line()


def test_doctor_shows_a_sound_schedule_as_ok_with_its_daily_count(tmp_path: Path) -> None:
    from watchdog.setup.doctor import Doctor

    doctor = Doctor(load_config(write(tmp_path, host="smtp.gmail.com", address="f@gmail.com")))
    doctor.schedule()
    [finding] = doctor.findings
    assert finding.level == "OK"
    assert "a check every 30 minutes (48 test messages a day)" in finding.line()


def test_names_reserved_for_tests_are_exempt_from_the_lower_bounds(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, every="0.05", deadline="0.05", host="smtp.example.invalid")
    )
    assert config.schedule.every_seconds == pytest.approx(3.0)
    # A real provider's name is not: "smtp.example.com" is a real, resolvable domain.
    assert "too often" in refusal(write(tmp_path, every="0.05", host="smtp.example.com"))


def test_a_provider_named_for_a_relay_on_this_pc_is_warned_about_not_refused(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, every="0.05", deadline="0.02", host="127.0.0.1")
    path.write_text(
        path.read_text().replace("smtp_port = 465", 'smtp_port = 465\nprovider = "gmail"')
    )
    warnings = schedule_warnings(load_config(path))
    assert any("of the about 2,000 a day that Gmail" in w for w in warnings)
    assert any(
        "allowed only because the outgoing server 127.0.0.1 is on this PC" in w for w in warnings
    )

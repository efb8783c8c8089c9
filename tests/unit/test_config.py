"""Config parsing: the documented keys work; a bad value names file, key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.config import load_config
from watchdog.core.errors import ConfigError
from watchdog.core.models import Security

GOOD = """
[sender]
address = "frontdesk@att.net"
smtp_host = "smtp.mail.att.net"
smtp_port = 465
security = "ssl"
username = "frontdesk@att.net"

[seed]
address = "canary.frontdesk@gmail.com"
imap_host = "imap.gmail.com"
imap_port = 993
security = "ssl"
username = "canary.frontdesk@gmail.com"

[schedule]
every_minutes = 30
deadline_minutes = 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.sender.smtp_host == "smtp.mail.att.net"
    assert config.sender.security is Security.SSL
    assert config.seed.imap_port == 993
    assert config.schedule.every_seconds == 1800
    assert config.schedule.deadline_seconds == 600
    assert config.policy.down_after_lost == 1


def test_fractional_minutes_are_accepted_for_demos_and_tests_on_this_pc(tmp_path: Path) -> None:
    local = GOOD.replace('smtp_host = "smtp.mail.att.net"', 'smtp_host = "127.0.0.1"')
    text = local.replace("deadline_minutes = 10", "deadline_minutes = 0.1")
    config = load_config(
        write(tmp_path, text.replace("every_minutes = 30", "every_minutes = 0.05"))
    )
    assert config.schedule.deadline_seconds == pytest.approx(6.0)
    assert config.schedule.every_seconds == pytest.approx(3.0)


def test_the_config_path_comes_from_the_environment_when_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("WATCHDOG_CONFIG", str(path))
    assert load_config().path == path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "smtp_port = 465",
            "smtp_port = 99999",
            "[sender] smtp_port = 99999 must be a whole number from 1 to 65535",
        ),
        (
            "smtp_port = 465",
            'smtp_port = "465"',
            "[sender] smtp_port = '465' must be a whole number",
        ),
        (
            'security = "ssl"\nusername = "frontdesk',
            'security = "tls"\nusername = "frontdesk',
            '[sender] security = \'tls\' is not allowed; use one of "ssl", "starttls", "none"',
        ),
        (
            "every_minutes = 30",
            "every_minutes = 0",
            "[schedule] every_minutes = 0 must be a number of minutes above 0",
        ),
        (
            "every_minutes = 30",
            'every_minutes = "often"',
            "[schedule] every_minutes = 'often' must be a number",
        ),
        (
            'address = "frontdesk@att.net"',
            'address = "frontdesk"',
            "[sender] address = 'frontdesk' is not an e-mail address",
        ),
        (
            'address = "frontdesk@att.net"',
            'address = "a@att.net\\r\\nBcc: x@evil.example"',
            "[sender] address = 'a@att.net\\r\\nBcc: x@evil.example' must be a single line",
        ),
        (
            'imap_host = "imap.gmail.com"',
            'imap_host = "imap.gmail.com"\ncolour = "red"',
            "[seed] colour is not a known setting. Allowed here:",
        ),
        (
            'security = "ssl"\nusername = "frontdesk',
            'security = "none"\nusername = "frontdesk',
            '[sender] security = "none" is only allowed for a server on this PC',
        ),
        ("[schedule]", "[schedule]\ndeadline = 3", "[schedule] deadline is not a known setting"),
    ],
)
def test_a_bad_value_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_a_password_in_the_file_is_refused_with_where_passwords_go(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace(
            'username = "frontdesk@att.net"', 'username = "frontdesk@att.net"\npassword = "hunter2"'
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "[sender] password" in message
    assert "keyring" in message and "WATCHDOG_SENDER_PASSWORD" in message
    assert "hunter2" not in message


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.split("[seed]")[0])
    with pytest.raises(ConfigError, match=r"the section \[seed\] is missing"):
        load_config(path)


def test_broken_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[sender\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WATCHDOG_CONFIG"):
        load_config(tmp_path / "nope.toml")


def test_plain_connections_are_allowed_to_a_loopback_relay(tmp_path: Path) -> None:
    text = GOOD.replace('smtp_host = "smtp.mail.att.net"', 'smtp_host = "127.0.0.1"').replace(
        'security = "ssl"\nusername = "frontdesk', 'security = "none"\nusername = "frontdesk'
    )
    assert load_config(write(tmp_path, text)).sender.security is Security.NONE


def test_a_relative_ca_file_is_read_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    text = GOOD.replace("[seed]", 'ca_file = "ca.pem"\n\n[seed]', 1)
    assert load_config(write(tmp_path, text)).sender.ca_file == tmp_path / "ca.pem"


ALERTS = """
[alerts]
remind_every_hours = 1.5
office_hours = "08:30-17:00"
office_days = ["mon", "tue", "wed", "thu"]
support_contact = "Acme IT, 555-0100"

[[alerts.webhook]]
kind = "slack"
url = "https://hooks.slack.com/services/T000/B000/XXXX"
name = "IT support"

[[alerts.webhook]]
kind = "ntfy"
url = "http://127.0.0.1:8080/office-1"

[alerts.heartbeat]
url = "https://hc-ping.com/5c1f0e9e-0000-4000-8000-000000000000"
"""


def test_the_alerts_section_sets_policy_channels_and_heartbeat(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD + ALERTS))
    alerts = config.alerts
    assert alerts.policy.remind_every_s == 1.5 * 3600
    assert (alerts.policy.office_open_min, alerts.policy.office_close_min) == (510, 1020)
    assert alerts.policy.office_days == frozenset({0, 1, 2, 3})
    assert alerts.support_contact == "Acme IT, 555-0100"
    assert [(w.kind, w.label) for w in alerts.webhooks] == [
        ("slack", "webhook:IT support"),
        ("ntfy", "webhook:ntfy"),
    ]
    assert alerts.heartbeat_url is not None and alerts.heartbeat_url.startswith("https://hc-ping")


def test_without_an_alerts_section_the_defaults_are_office_hours_and_desktop(
    tmp_path: Path,
) -> None:
    alerts = load_config(write(tmp_path, GOOD)).alerts
    assert alerts.desktop is True
    assert alerts.policy.office_days == frozenset(range(5))
    assert alerts.webhooks == ()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'office_hours = "08:30-17:00"',
            'office_hours = "8 to 5"',
            "[alerts] office_hours = '8 to 5' must look like",
        ),
        (
            'office_hours = "08:30-17:00"',
            'office_hours = "17:00-08:30"',
            "must open before it closes",
        ),
        ('["mon", "tue", "wed", "thu"]', '["monday", "funday"]', "[alerts] office_days"),
        ('kind = "slack"', 'kind = "pager"', "[alerts.webhook #1] kind = 'pager' is not allowed"),
        (
            'url = "http://127.0.0.1:8080/office-1"',
            'url = "http://example.com/x"',
            "[alerts.webhook #2] url must start with https://",
        ),
        ("remind_every_hours = 1.5", "remind_every_hours = 0", "[alerts] remind_every_hours = 0"),
    ],
)
def test_a_bad_alerts_value_names_the_entry_and_what_is_allowed(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = GOOD + ALERTS
    assert old in text
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text.replace(old, new, 1)))
    assert expected in str(caught.value)


def test_the_provider_can_be_named_when_the_server_name_does_not_tell(tmp_path: Path) -> None:
    from watchdog.core.providers import detect_provider

    text = GOOD.replace('smtp_host = "smtp.mail.att.net"', 'smtp_host = "relay.office.lan"')
    plain = load_config(write(tmp_path, text))
    assert plain.sender.provider == ""
    assert detect_provider(plain.sender.smtp_host, plain.sender.address).name == "other"
    named = load_config(write(tmp_path, text.replace("[seed]", 'provider = "ATT"\n\n[seed]')))
    assert named.sender.provider == "att"
    sender = named.sender
    assert detect_provider(sender.smtp_host, sender.address, named=sender.provider).name == "att"


def test_an_unknown_provider_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("[seed]", 'provider = "hotmale"\n\n[seed]'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "[sender] provider = 'hotmale' must be one of" in message
    assert "gmail" in message and "outlook" in message

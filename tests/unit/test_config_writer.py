"""The config file setup writes: it loads back as written, escapes safely, and holds no secret."""

from __future__ import annotations

import re
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from watchdog.config import SeedConfig, SenderConfig, load_config
from watchdog.core.errors import ConfigError
from watchdog.core.inputs import RefusedValue
from watchdog.core.models import Security
from watchdog.setup.config_writer import (
    ConfigValues,
    render_config,
    toml_string,
    write_config_file,
)

PORTS = {Security.SSL: (465, 993), Security.STARTTLS: (587, 143), Security.NONE: (25, 143)}


def values_for(security: Security, **changes: Any) -> ConfigValues:
    """A complete set of answers; "none" is only allowed on this PC, so the host is loopback."""
    smtp_port, imap_port = PORTS[security]
    values = ConfigValues(
        sender=SenderConfig(
            address="frontdesk@example.com",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            security=security,
            username="frontdesk@example.com",
        ),
        seed=SeedConfig(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=imap_port,
            security=security,
            username="canary",
        ),
        every_minutes=30,
        deadline_minutes=0.5,
        office="Smile Dental",
    )
    return replace(values, **changes)


def write(tmp_path: Path, values: ConfigValues) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(render_config(values), encoding="utf-8")
    return path


@pytest.mark.parametrize("security", list(Security))
def test_a_rendered_config_loads_back_with_the_same_values_for_every_security_mode(
    tmp_path: Path, security: Security
) -> None:
    values = values_for(security)
    config = load_config(write(tmp_path, values))
    assert config.office == "Smile Dental"
    assert config.sender.address == "frontdesk@example.com"
    assert (config.sender.smtp_host, config.sender.smtp_port) == ("127.0.0.1", PORTS[security][0])
    assert config.sender.security is security
    assert config.sender.username == "frontdesk@example.com"
    assert config.sender.ca_file is None
    assert (config.seed.imap_port, config.seed.security) == (PORTS[security][1], security)
    assert config.seed.username == "canary"
    assert config.schedule.every_minutes == 30
    assert config.schedule.deadline_minutes == 0.5
    assert config.alerts.support_contact == ""


def test_whole_minutes_are_written_as_a_person_would_and_fractions_exactly() -> None:
    text = render_config(values_for(Security.SSL, every_minutes=30.0, deadline_minutes=0.05))
    assert re.search(r"^every_minutes = 30 ", text, re.M)
    assert re.search(r"^deadline_minutes = 0.05 ", text, re.M)


def test_an_empty_sender_username_means_no_sign_in_and_survives_the_round_trip(
    tmp_path: Path,
) -> None:
    values = values_for(Security.STARTTLS)
    values = replace(values, sender=replace(values.sender, username=""))
    assert load_config(write(tmp_path, values)).sender.username == ""


def test_the_ca_file_is_written_as_an_absolute_path_so_the_config_can_live_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    values = values_for(Security.SSL)
    values = replace(
        values,
        sender=replace(values.sender, ca_file=Path("ca.pem")),
        seed=replace(values.seed, ca_file=Path("ca.pem")),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = write_config_file(elsewhere / "config.toml", render_config(values))
    assert config.sender.ca_file == tmp_path / "ca.pem"
    assert config.seed.ca_file == tmp_path / "ca.pem"
    assert f'ca_file = "{tmp_path / "ca.pem"}"' in (elsewhere / "config.toml").read_text()


@pytest.mark.parametrize(
    "text",
    [
        'Dr. "Smile" Dental',
        "C:\\Practice\\Front desk",
        'both \\" at once',
        "tab\there",
        "Zahnärzte",
    ],
)
def test_quotes_backslashes_and_tabs_are_escaped_so_the_value_loads_back_unchanged(
    tmp_path: Path, text: str
) -> None:
    config = load_config(
        write(tmp_path, values_for(Security.SSL, office=text, support_contact=text))
    )
    assert config.office == text.strip()
    assert config.alerts.support_contact == text


@pytest.mark.parametrize(
    ("bad", "found"),
    [
        ("line\nbreak", "U+000A"),
        ("carriage\rreturn", "U+000D"),
        ("nul\x00byte", "U+0000"),
        # Before: the writer had its own rule (C0 and DEL only) and wrote these into the file,
        # which the config reader then refused; now both use inputs.single_line_problem.
        ("line\u2028separator", "U+2028"),
        ("next\x85line", "U+0085"),
        ("para\u2029graph", "U+2029"),
    ],
)
@pytest.mark.parametrize("field", ["office", "support_contact", "sender_username", "seed_host"])
def test_a_line_break_or_control_character_is_refused_naming_the_key(
    bad: str, found: str, field: str
) -> None:
    values = values_for(Security.SSL)
    keys = {
        "office": ("office", replace(values, office=bad)),
        "support_contact": ("[alerts] support_contact", replace(values, support_contact=bad)),
        "sender_username": (
            "[sender] username",
            replace(values, sender=replace(values.sender, username=bad)),
        ),
        "seed_host": (
            "[seed] imap_host",
            replace(values, seed=replace(values.seed, imap_host=bad)),
        ),
    }
    key, changed = keys[field]
    with pytest.raises(RefusedValue) as refused:
        render_config(changed)
    assert refused.value.key == key  # set-up names the option from this, not from the words
    assert str(refused.value) == (
        f"{key} = {bad!r} must be a single line without control characters (found {found})"
    )


def test_toml_strings_escape_exactly_quotes_backslashes_and_tabs() -> None:
    assert toml_string('a"b\\c\td') == '"a\\"b\\\\c\\td"'


def test_a_port_out_of_range_is_refused_before_anything_is_written() -> None:
    values = values_for(Security.SSL)
    with pytest.raises(ValueError, match=r"\[sender\] smtp_port must be a whole number"):
        render_config(replace(values, sender=replace(values.sender, smtp_port=70000)))


def test_the_file_holds_no_password_key_and_says_where_passwords_are() -> None:
    text = render_config(values_for(Security.SSL, support_contact="Acme IT, 555-0100"))
    assert not re.search(r"^\s*#?\s*(password|pass|secret|token)\s*=", text, re.M | re.I)
    assert "keyring" in text
    assert "WATCHDOG_SENDER_PASSWORD" in text


def test_every_commented_optional_key_is_valid_when_a_person_uncomments_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "office-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = render_config(values_for(Security.SSL))
    uncommented = re.sub(r"^# (\[[a-z_]+\]|[a-z_]+ = )", r"\1", text, flags=re.M)
    assert uncommented.count("\n[") > text.count("\n[")  # [policy] and [alerts] came alive
    config = load_config(write_text(tmp_path, uncommented))
    assert config.sender.imap_host == "imap.example.com"
    assert config.seed.junk_folders == ("Quarantine",)
    assert config.policy.down_after_lost == 1
    assert config.alerts.support_contact == "Acme IT, 555-0100"
    assert config.sender.ca_file == tmp_path / "office-ca.pem"


def write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_written_file_is_readable_only_by_its_owner_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "config.toml"
    config = write_config_file(path, render_config(values_for(Security.SSL)))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.path == path
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left


def test_an_existing_config_is_not_replaced_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# the office's own settings\n", encoding="utf-8")
    text = render_config(values_for(Security.SSL))
    with pytest.raises(FileExistsError):
        write_config_file(path, text)
    assert path.read_text() == "# the office's own settings\n"
    write_config_file(path, text, overwrite=True)
    assert load_config(path).office == "Smile Dental"


def test_a_config_the_watchdog_would_refuse_is_never_written(tmp_path: Path) -> None:
    values = values_for(Security.NONE)
    values = replace(values, sender=replace(values.sender, smtp_host="smtp.gmail.com"))
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError, match=r'\[sender\] security = "none" is only allowed'):
        write_config_file(path, render_config(values))
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_running_setup_again_keeps_every_setting_it_did_not_ask_about(tmp_path: Path) -> None:
    from watchdog.setup.config_writer import write_config_file

    path = tmp_path / "config.toml"
    first = render_config(values_for(Security.STARTTLS))
    path.write_text(
        first.replace("[seed]", 'imap_host = "127.0.0.1"  # the practice\'s inbox\n\n[seed]', 1)
        + """
[policy]
down_after_lost = 2

[[alerts.webhook]]
kind = "json"
url = "https://hooks.example.net/watchdog"  # support's pager
""",
        encoding="utf-8",
    )
    again = values_for(Security.STARTTLS)
    again = replace(again, sender=replace(again.sender, smtp_port=465, security=Security.SSL))
    config = write_config_file(path, render_config(again), overwrite=True)
    assert (config.sender.smtp_port, config.sender.security) == (465, Security.SSL)  # asked
    assert config.policy.down_after_lost == 2  # kept
    assert [w.url for w in config.alerts.webhooks] == ["https://hooks.example.net/watchdog"]
    assert config.sender_inbox is not None  # the practice's inbox, kept
    assert "# support's pager" in path.read_text(encoding="utf-8")  # with its comment

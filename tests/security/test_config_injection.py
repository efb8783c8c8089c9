"""Config values that reach mail headers, protocol commands or HTTP requests refuse control
characters (issue 8): a CR/LF could add a ``Bcc:`` header or a second IMAP/SMTP command.

Each case is one value in an otherwise valid config; the error must name the file, the key
(as the user finds it in the file) and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from watchdog.config import load_config
from watchdog.core.errors import ConfigError
from watchdog.core.inputs import control_character


def config_text(**overrides: Any) -> str:
    """A valid config; ``overrides`` maps "section.key" (or "key" at the top) to a value."""
    tables: dict[str, dict[str, Any]] = {
        "": {"office": "Smile Dental"},
        "sender": {
            "address": "frontdesk@att.net",
            "smtp_host": "smtp.mail.att.net",
            "smtp_port": 465,
            "security": "ssl",
            "username": "frontdesk@att.net",
            "imap_host": "imap.mail.att.net",
        },
        "seed": {
            "address": "canary@gmail.com",
            "imap_host": "imap.gmail.com",
            "imap_port": 993,
            "security": "ssl",
            "username": "canary@gmail.com",
            "junk_folders": ["Spam"],
        },
        "alerts": {"support_contact": "Acme IT, 555-0100"},
        "alerts.heartbeat": {"url": "https://hc-ping.com/abc"},
        "alerts.webhook": {"kind": "slack", "url": "https://hooks.slack.com/services/T/B/X"},
    }
    for dotted, value in overrides.items():
        section, _, key = dotted.rpartition(".")
        tables[section][key] = value
    lines = [f"{k} = {json.dumps(v)}" for k, v in tables.pop("").items()]
    for name, table in tables.items():
        header = f"[[{name}]]" if name == "alerts.webhook" else f"[{name}]"
        lines += ["", header] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def load(tmp_path: Path, **overrides: Any) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(config_text(**overrides), encoding="utf-8")
    load_config(path)
    return path


def test_the_base_config_of_this_table_is_valid(tmp_path: Path) -> None:
    load(tmp_path)


INJECTIONS = [
    # (key in the file, dotted override, hostile value)
    ("[sender] address", "sender.address", "a@att.net\r\nBcc: all@evil.example"),
    ("[sender] address", "sender.address", "a@att.net\nBcc: all@evil.example"),
    ("[seed] address", "seed.address", "canary@gmail.com\rX-Injected: 1"),
    ("office", "office", "Smile Dental\r\nBcc: all@evil.example"),
    ("office", "office", "Smile\u2028Dental"),
    ("office", "office", "Smile\x1b[31mDental"),
    ("[sender] username", "sender.username", "frontdesk\r\nRSET"),
    ("[seed] username", "seed.username", 'canary"\r\na1 DELETE INBOX'),
    ("[seed] username", "seed.username", "canary\x00admin"),
    ("[sender] smtp_host", "sender.smtp_host", "smtp.mail.att.net\r\n"),
    ("[sender] imap_host", "sender.imap_host", "imap.mail.att.net\x0b"),
    ("[seed] imap_host", "seed.imap_host", "imap.gmail.com\n"),
    ("[sender] imap_username", "sender.imap_username", "frontdesk\nLOGOUT"),
    ("[seed] junk_folders", "seed.junk_folders", ["Spam\r\na2 DELETE INBOX"]),
    ("[alerts] support_contact", "alerts.support_contact", "Acme\r\nBcc: x@evil.example"),
    ("[alerts.webhook #1] url", "alerts.webhook.url", "https://hooks.slack.com/x\r\nX-A: 1"),
    ("[alerts.webhook #1] name", "alerts.webhook.name", "front\x7fdesk"),
    ("[alerts.heartbeat] url", "alerts.heartbeat.url", "https://hc-ping.com/abc\nHost: evil"),
    ("[sender] provider", "sender.provider", "gmail\n"),
    ("data_dir", "data_dir", "/tmp/history\nx"),
]


@pytest.mark.parametrize(("key", "override", "value"), INJECTIONS)
def test_a_control_character_in_a_value_is_refused_naming_the_file_and_key(
    tmp_path: Path, key: str, override: str, value: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{override: value})
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: {key} ")
    assert "single line without control characters" in message


@pytest.mark.parametrize(
    ("override", "value"),
    [
        ("sender.address", "front desk@att.net"),
        ("sender.address", "frontdesk\t@att.net"),
        ("seed.imap_host", "imap.gmail.com\tx"),
        ("sender.smtp_host", "smtp\u00a0mail.att.net"),
    ],
)
def test_whitespace_inside_an_address_or_a_server_name_is_refused(
    tmp_path: Path, override: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=r"must be a server name|is not an e-mail address"):
        load(tmp_path, **{override: value})


def test_a_tab_in_the_office_name_is_kept_as_plain_whitespace(tmp_path: Path) -> None:
    path = load(tmp_path, office="Smile\tDental")
    assert load_config(path).office == "Smile\tDental"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("plain text", None),
        ("Zahnärzte \u2013 Praxis", None),
        ("tab\there", None),
        ("cr\rlf", "U+000D"),
        ("nul\x00", "U+0000"),
        ("next\x85line", "U+0085"),
        ("para\u2029graph", "U+2029"),
        ("esc\x1b", "U+001B"),
        ("del\x7f", "U+007F"),
    ],
)
def test_control_characters_are_found_and_named_by_code_point(text: str, found: str | None) -> None:
    assert control_character(text) == found

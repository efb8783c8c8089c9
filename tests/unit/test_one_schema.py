"""One schema layer (issue 13): the config and the data files share fields, rules and words.

The config's values are checked by the fields of ``watchdog.core.tables`` and its tables refuse
unknown keys with the data files' rule; only the frame of the message differs (the data files
name ``file: [table]``, the config ``file: [section]``), never the words about the value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest

from watchdog.config import load_config
from watchdog.core import tables
from watchdog.core.errors import ConfigError
from watchdog.core.tables import DataFileError

CONFIG = """
[sender]
address = "frontdesk@att.net"
smtp_host = "smtp.mail.att.net"
smtp_port = 465
username = "frontdesk@att.net"

[seed]
address = "canary.frontdesk@gmail.com"
imap_host = "imap.gmail.com"
imap_port = 993
username = "canary.frontdesk@gmail.com"
"""


def _config_refusal(tmp_path: Path, extra: str, *, top: str = "") -> str:
    """The refusal of the config with ``extra`` at its end and ``top`` at its top level."""
    path = tmp_path / "config.toml"
    path.write_text(top + CONFIG + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def _data_file_refusal(key: str, value: object, field: tables.Field) -> str:
    with pytest.raises(DataFileError) as caught:
        tables.read_table({key: value}, {key: field}, "f.toml: [t]")
    return str(caught.value).removeprefix("f.toml: [t] ")


@pytest.mark.parametrize(
    ("field", "section", "key", "toml_value", "value"),
    [
        # A bounded whole number: the config's [policy] counts and a data file's count.
        (tables.integer(1), "policy", "down_after_lost", "0", 0),
        (tables.integer(1), "policy", "down_after_lost", "true", True),
        (tables.integer(1), "batches", "min_messages", "0", 0),
        # true or false.
        (tables.boolean(), "alerts", "desktop", '"yes"', "yes"),
        # A number of minutes above 0 (the config's own field, now one a data file can use).
        (tables.positive_number(), "schedule", "every_minutes", "-1", -1),
        # One line of text: a line break could add a mail header, in either file.
        (tables.line(), "alerts", "support_contact", '"Call\\nBcc: x"', "Call\nBcc: x"),
    ],
)
def test_one_field_type_gives_the_same_words_from_a_data_file_and_from_the_config(
    tmp_path: Path, field: tables.Field, section: str, key: str, toml_value: str, value: object
) -> None:
    """The words after ``key =`` come from the same field; only where they are told differs.

    Before, the config checked these values with code of its own (``_Reader.count``,
    ``.boolean``, ``.minutes``, ``.text``) and data files could not check minutes or single
    lines at all: the two could drift apart with nothing to notice.
    """
    from_data_file = _data_file_refusal(key, value, field)
    from_config = _config_refusal(tmp_path, f"\n[{section}]\n{key} = {toml_value}\n")
    assert from_data_file.startswith(f"{key} = {value!r} must ")
    assert from_config == f"[{section}] {from_data_file}"


def test_the_config_and_a_data_file_refuse_a_folder_name_list_and_a_host_alike(
    tmp_path: Path,
) -> None:
    """The inputs rules set-up's prompts use are fields too (:func:`tables.line_by`)."""
    from watchdog.core.inputs import host_problem

    host = tables.line_by(host_problem, "must be a server name")
    from_data_file = _data_file_refusal("imap_host", "imap gmail.com", host)
    config = CONFIG.replace('imap_host = "imap.gmail.com"', 'imap_host = "imap gmail.com"')
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: [seed] {from_data_file}"


class _SpyOnUnknownKeys:
    """Records each call of the shared unknown-key rule and answers as the rule does."""

    def __init__(self) -> None:
        self.rule = tables.unknown_keys
        self.tables_seen: list[list[str]] = []

    def __call__(self, raw: Mapping[str, object], allowed: Collection[str]) -> list[str]:
        self.tables_seen.append(list(raw))
        return self.rule(raw, allowed)


@pytest.mark.parametrize(
    ("extra", "section", "key"),
    [
        ("", "", "colour"),
        ("\n[schedule]\ndeadline = 3\n", "[schedule] ", "deadline"),
        ("\n[policy]\ndown_after = 2\n", "[policy] ", "down_after"),
        ("\n[batches]\nmin_message = 2\n", "[batches] ", "min_message"),
        ("\n[alerts]\noffice_hour = '08:00-17:00'\n", "[alerts] ", "office_hour"),
        (
            '\n[alerts.heartbeat]\nurl = "https://h.example/x"\nurll = 1\n',
            "[alerts.heartbeat] ",
            "urll",
        ),
        (
            '\n[[alerts.webhook]]\nurl = "https://h.example/x"\nretry = 1\n',
            "[alerts.webhook #1] ",
            "retry",
        ),
    ],
)
def test_the_config_refuses_an_unknown_key_through_the_rule_the_data_files_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, section: str, key: str
) -> None:
    spy = _SpyOnUnknownKeys()
    monkeypatch.setattr(tables, "unknown_keys", spy)
    message = _config_refusal(tmp_path, extra, top="" if extra else f"{key} = 1\n")
    assert message.startswith(f"{section}{key} is not a known setting. Allowed here: ")
    assert any(key in seen for seen in spy.tables_seen)


def test_an_unknown_key_in_the_sender_section_is_refused_by_the_shared_rule_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _SpyOnUnknownKeys()
    monkeypatch.setattr(tables, "unknown_keys", spy)
    config = CONFIG.replace("smtp_port = 465", "smtp_port = 465\nsmtp_prot = 465")
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[sender\] smtp_prot is not a known setting"):
        load_config(path)
    assert any("smtp_prot" in seen for seen in spy.tables_seen)


def test_the_first_unknown_key_in_the_file_is_the_one_named_and_allowed_keys_are_sorted(
    tmp_path: Path,
) -> None:
    message = _config_refusal(tmp_path, "\n[policy]\nzeta = 1\nalpha = 2\n")
    assert message == (
        "[policy] zeta is not a known setting. Allowed here: down_after_lost, down_after_refusals"
    )


def test_a_data_file_still_lists_every_unknown_key_in_its_own_words() -> None:
    spec: dict[str, tables.Field] = {"name": tables.text(), "count": tables.integer(0)}
    raw: dict[str, Any] = {"zeta": 1, "name": "x", "alpha": 2}
    with pytest.raises(DataFileError) as caught:
        tables.read_table(raw, spec, "f.toml: [t]")
    assert str(caught.value) == "f.toml: [t] has unknown keys: alpha, zeta (allowed: name, count)"


def test_a_missing_required_config_key_in_a_spec_table_is_named_in_the_configs_words(
    tmp_path: Path,
) -> None:
    message = _config_refusal(tmp_path, '\n[[alerts.webhook]]\nkind = "slack"\n')
    assert message == "[alerts.webhook #1] url is missing; it is required"


def test_a_bad_inbox_setting_is_refused_even_without_imap_host(tmp_path: Path) -> None:
    """``[sender]`` is one spec now: every key's value is checked, also an ``imap_port`` that
    only counts with ``imap_host``. Before, ``imap_port = "x"`` without ``imap_host`` loaded
    without a word, and the mistake surfaced only once ``imap_host`` was added."""
    config = CONFIG.replace("smtp_port = 465", 'smtp_port = 465\nimap_port = "x"')
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: [sender] imap_port = 'x' must be a whole number from 1 to 65535"
    )


def test_a_relative_ca_file_is_read_from_the_configs_folder(tmp_path: Path) -> None:
    (tmp_path / "office-ca.pem").write_text("not checked here", encoding="utf-8")
    config = CONFIG.replace("smtp_port = 465", 'smtp_port = 465\nca_file = "office-ca.pem"')
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    assert load_config(path).sender.ca_file == tmp_path / "office-ca.pem"

"""The one reader of the data files' tables: every data file is checked by it, the same way."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from watchdog.core import tables
from watchdog.core.classifier import load_reply_rules, packaged_rules
from watchdog.core.guidance import all_guides, parse_fixes, parse_guides
from watchdog.core.models import Diagnosis
from watchdog.core.notices import notice_rules, parse_notice_rules
from watchdog.core.providers import all_providers, parse_providers
from watchdog.core.tables import DataFileError
from watchdog.mail.sent_folder import keeps_sent_copy, parse_sent_copies


def _data(name: str) -> str:
    return resources.files("watchdog").joinpath("data", name).read_text(encoding="utf-8")


def _guide_files() -> dict[str, str]:
    folder = resources.files("watchdog").joinpath("data", "guides")
    return {f.name: f.read_text("utf-8") for f in folder.iterdir() if f.name.endswith(".toml")}


def test_every_shipped_data_file_loads() -> None:
    assert [p.name for p in all_providers()][-1] == "other"
    assert packaged_rules()
    assert notice_rules()
    assert len(all_guides()) == len(all_providers()) * len(Diagnosis)
    assert parse_fixes(_data("fixes.toml"))[Diagnosis.OK]["default"]
    assert keeps_sent_copy("gmail").keeps_copy == "yes"


def _notice_with_typo() -> None:
    doc = tomllib.loads(_data("provider_notices.toml"))
    doc["notice"][0]["colour"] = "red"
    parse_notice_rules(doc)


def _rule_with_typo() -> None:
    load_reply_rules(
        _data("reply_patterns.toml").replace("[[rule]]\n", '[[rule]]\ncolour = "red"\n', 1)
    )


def _provider_with_typo() -> None:
    doc = tomllib.loads(_data("providers.toml"))
    doc["gmail"]["colour"] = "red"
    parse_providers(doc)


def _server_with_typo() -> None:
    doc = tomllib.loads(_data("providers.toml"))
    doc["gmail"]["smtp"]["colour"] = "red"
    parse_providers(doc)


def _fix_with_typo() -> None:
    parse_fixes(_data("fixes.toml").replace("[ok]\n", '[ok]\ncolour = "red"\n', 1))


def _guide_with_typo() -> None:
    files = _guide_files()
    files["ok.toml"] = files["ok.toml"].replace("[default]\n", '[default]\ncolour = "red"\n', 1)
    parse_guides(files)


def _sent_copy_with_typo() -> None:
    doc = tomllib.loads(_data("sent_copies.toml"))
    doc["gmail"]["colour"] = "red"
    parse_sent_copies(doc)


@pytest.mark.parametrize(
    ("load", "where"),
    [
        (_notice_with_typo, "provider_notices.toml: notice "),
        (_rule_with_typo, "reply_patterns.toml: rule "),
        (_provider_with_typo, "providers.toml: [gmail]"),
        (_server_with_typo, "providers.toml: [gmail] smtp"),
        (_fix_with_typo, "fixes.toml: [ok]"),
        (_guide_with_typo, "guides/ok.toml: [default]"),
        (_sent_copy_with_typo, "sent_copies.toml: [gmail]"),
    ],
    ids=["notice", "reply-rule", "provider", "server-preset", "fix", "guide", "sent-copy"],
)
def test_every_data_file_reader_refuses_an_unknown_key_naming_file_table_and_key(
    load: Callable[[], None], where: str
) -> None:
    with pytest.raises(DataFileError) as caught:
        load()
    message = str(caught.value)
    assert message.startswith(where)
    assert "has unknown keys: colour (allowed: " in message


def test_a_preset_server_name_follows_the_configs_server_name_rule() -> None:
    """A space inside a preset host used to pass the lower-case check; the config refuses it."""
    doc = tomllib.loads(_data("providers.toml"))
    doc["gmail"]["smtp"]["host"] = "smtp gmail.com"
    with pytest.raises(DataFileError) as caught:
        parse_providers(doc, "providers.toml")
    assert str(caught.value) == (
        "providers.toml: [gmail] smtp host = 'smtp gmail.com' "
        "must be a server name like smtp.example.com"
    )


# --- the reader itself --------------------------------------------------------------------------

_SPEC: tables.Spec = {
    "name": tables.text(),
    "kind": tables.member(Diagnosis).optional(Diagnosis.OK),
    "pattern": tables.regex().optional(),
    "count": tables.integer(1, 9).optional(),
    "on": tables.boolean().optional(False),
}


def test_a_table_is_returned_converted_with_defaults_for_what_is_left_out() -> None:
    checked = tables.read_table({"name": "n", "pattern": "a+", "count": 3}, _SPEC, "f.toml: [t]")
    assert checked["name"] == "n"
    assert checked["kind"] is Diagnosis.OK
    assert isinstance(checked["pattern"], re.Pattern)
    assert checked["pattern"].search("AAA")  # case ignored, as every data file's patterns are
    assert (checked["count"], checked["on"]) == (3, False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x", "f.toml: [t] must be a table"),
        ({}, "f.toml: [t] needs name (must be text)"),
        ({"name": " "}, "f.toml: [t] name = ' ' must be text"),
        (
            {"name": "n", "count": True},
            "f.toml: [t] count = True must be a whole number from 1 to 9",
        ),
        ({"name": "n", "count": 10}, "f.toml: [t] count = 10 must be a whole number from 1 to 9"),
        ({"name": "n", "on": "yes"}, "f.toml: [t] on = 'yes' must be true or false"),
        (
            {"name": "n", "nmae": "m"},
            "f.toml: [t] has unknown keys: nmae (allowed: name, kind, pattern, count, on)",
        ),
    ],
    ids=["not-a-table", "missing", "blank", "bool-as-number", "too-big", "not-bool", "unknown"],
)
def test_a_refusal_names_the_file_table_key_value_and_what_is_allowed(
    raw: Any, message: str
) -> None:
    with pytest.raises(DataFileError) as caught:
        tables.read_table(raw, _SPEC, "f.toml: [t]")
    assert str(caught.value) == message


def test_an_enum_refusal_lists_every_allowed_value() -> None:
    with pytest.raises(DataFileError) as caught:
        tables.read_table({"name": "n", "kind": "nope"}, _SPEC, "f.toml: [t]")
    allowed = ", ".join(d.value for d in Diagnosis)
    assert str(caught.value) == f"f.toml: [t] kind = 'nope' must be one of {allowed}"


def test_a_data_file_error_is_a_value_error_for_callers_that_catch_those() -> None:
    assert issubclass(DataFileError, ValueError)

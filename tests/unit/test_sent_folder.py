"""Finding the Sent folder in a LIST answer, the sent-copies data file, and import cost."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import resources
from typing import Any

import pytest

from watchdog.core.providers import all_providers
from watchdog.mail.probe import build_canary
from watchdog.mail.sent_folder import (
    SentFolderReader,
    find_sent_folder,
    keeps_sent_copy,
    parse_sent_copies,
)

DOT, SLASH = b".", b"/"


@pytest.mark.parametrize(
    ("name", "folders", "expected"),
    [
        (
            "SPECIAL-USE \\Sent wins over a usual name",
            [((), DOT, "Sent"), ((b"\\HasNoChildren", b"\\Sent"), DOT, "Outgoing copies")],
            "Outgoing copies",
        ),
        (
            "Gmail's folder",
            [((b"\\HasNoChildren",), SLASH, "[Gmail]/Sent Mail")],
            "[Gmail]/Sent Mail",
        ),
        ("Exchange's folder", [((), SLASH, "Sent Items"), ((), SLASH, "INBOX")], "Sent Items"),
        ("iCloud's folder", [((), SLASH, "Sent Messages")], "Sent Messages"),
        ("a German server's folder", [((), SLASH, "Gesendete Objekte")], "Gesendete Objekte"),
        ("a folder under INBOX by its last part", [((), DOT, "INBOX.Sent")], "INBOX.Sent"),
        ("names compare without case", [((), DOT, "SENT ITEMS")], "SENT ITEMS"),
        (
            "plain Sent is preferred to Sent Items when both exist",
            [((), DOT, "Sent Items"), ((), DOT, "Sent")],
            "Sent",
        ),
        ("a folder that cannot be opened is skipped", [((b"\\Noselect",), DOT, "Sent")], None),
        ("no Sent folder at all", [((), DOT, "INBOX"), ((b"\\Junk",), DOT, "Junk")], None),
    ],
)
def test_the_sent_folder_is_found_in_the_folder_list(
    name: str, folders: list[tuple[tuple[bytes, ...], bytes, str]], expected: str | None
) -> None:
    assert find_sent_folder(folders) == expected, name


def test_the_canary_header_left_out_of_the_count_is_the_one_the_probe_writes() -> None:
    canary = build_canary("front.desk@example.org", "seed@example.org", "t0ken", 0.0)
    left_out = SentFolderReader().exclude_header
    assert left_out is not None and canary[left_out] == "t0ken"


@pytest.mark.parametrize(
    ("provider", "keeps"),
    [
        ("gmail", "yes"),
        ("outlook", "yes"),
        ("microsoft365", "yes"),
        ("yahoo", "no"),
        ("icloud", "no"),
        ("comcast", "unknown"),
        ("GMAIL ", "yes"),
        ("a provider nobody listed", "unknown"),
    ],
)
def test_whether_a_provider_keeps_a_sent_copy_is_looked_up(provider: str, keeps: str) -> None:
    assert keeps_sent_copy(provider).keeps_copy == keeps


def test_every_known_provider_has_a_sent_copy_entry() -> None:
    text = resources.files("watchdog").joinpath("data", "sent_copies.toml").read_text("utf-8")
    listed = set(tomllib.loads(text))
    assert {p.name for p in all_providers()} <= listed


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"gmail": "yes"}, "[gmail] must be a table"),
        ({"gmail": {"keeps_copy": "maybe"}}, 'keeps_copy = \'maybe\' must be "yes", "no"'),
        ({"gmail": {"keeps_copy": "yes", "colour": "red"}}, "unknown keys: colour"),
        ({"gmail": {"keeps_copy": "yes", "folder": 3}}, "[gmail] folder = 3 must be text"),
    ],
)
def test_a_broken_sent_copies_file_is_refused_naming_table_and_key(
    doc: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValueError, match=r"sent_copies\.toml") as caught:
        parse_sent_copies(doc)
    assert words in str(caught.value)


def test_importing_the_batch_modules_loads_no_imap_library() -> None:
    """``watchdog check`` must stay fast: these modules import imapclient only when polling."""
    code = (
        "import sys, watchdog.core.batches, watchdog.mail.sent_folder; "
        "print(sorted(m for m in ('imapclient', 'sqlite3', 'smtplib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Reading a canary token back out of a Message-ID (the fallback when our header is stripped)."""

from __future__ import annotations

import pytest

from watchdog.core.tokens import CANARY_HEADER, make_token, token_of_message_id, verify_token
from watchdog.mail.probe import build_canary

KEY = b"k" * 32
TOKEN = make_token(KEY, 1764300000.0, nonce=bytes.fromhex("6f1c2a9e0b7d"))


def test_the_canary_message_id_is_the_token_at_the_sender_domain() -> None:
    message = build_canary("frontdesk@smileclinic.com", "seed@example.net", TOKEN, 1764300000.0)
    assert message["Message-ID"] == f"<{TOKEN}@smileclinic.com>"
    assert message[CANARY_HEADER] == TOKEN


def test_the_token_read_from_the_message_id_verifies() -> None:
    token = token_of_message_id(f"<{TOKEN}@smileclinic.com>")
    assert token == TOKEN
    assert verify_token(KEY, token)


def test_a_folded_message_id_still_gives_its_token() -> None:
    assert token_of_message_id(f"\r\n <{TOKEN}@smileclinic.com> ") == TOKEN


@pytest.mark.parametrize(
    "value",
    [
        f"<x{TOKEN}@smileclinic.com>",
        f"<{TOKEN}.more@smileclinic.com>",
        f"<{TOKEN}x@smileclinic.com>",
        f"<{TOKEN}>",
        f"{TOKEN}@smileclinic.com",
        f"<{TOKEN}@smileclinic.com> <other@example.net>",
        "<1764300000.1234.watchdog@smileclinic.com>",
        "",
    ],
)
def test_a_message_id_that_only_contains_a_token_inside_something_else_gives_none(
    value: str,
) -> None:
    assert token_of_message_id(value) is None

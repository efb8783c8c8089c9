"""Canary tokens are unique and only this PC's key can make one that verifies."""

from __future__ import annotations

import os
from pathlib import Path

from watchdog.core.tokens import make_token, verify_token
from watchdog.storage.canary_key import load_or_create_key

KEY = b"k" * 32


def test_a_token_made_with_the_key_verifies() -> None:
    assert verify_token(KEY, make_token(KEY, 1_764_300_000.5))


def test_a_token_signed_with_another_key_does_not_verify() -> None:
    forged = make_token(b"x" * 32, 1_764_300_000)
    assert not verify_token(KEY, forged)


def test_a_token_with_a_changed_time_does_not_verify() -> None:
    token = make_token(KEY, 1_764_300_000)
    version, ts, nonce, mac = token.split(".")
    tampered = ".".join([version, str(int(ts) + 1), nonce, mac])
    assert not verify_token(KEY, tampered)


def test_tokens_are_unique() -> None:
    tokens = {make_token(KEY, 1_764_300_000) for _ in range(1000)}
    assert len(tokens) == 1000


def test_garbage_does_not_verify() -> None:
    for junk in ["", "v1", "v1.1.2", "a.b.c.d", "v1.1.2." + "0" * 24]:
        assert not verify_token(KEY, junk)


def test_the_key_is_created_once_and_readable_by_this_user_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "canary.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert load_or_create_key(path) == key
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_truncated_key_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "canary.key"
    path.write_bytes(b"short")
    key = load_or_create_key(path)
    assert len(key) == 32 and path.read_bytes() == key

"""OAuth2 token records in a keyring that behaves like Windows Credential Manager.

keyring's Windows backend writes each password as one generic credential whose blob is the
password in UTF-16 (pywin32-ctypes' ``CredWrite``); Windows refuses a blob over
``CRED_MAX_CREDENTIAL_BLOB_SIZE`` = 5 * 512 = 2,560 bytes and a user name over
``CRED_MAX_USERNAME_LENGTH`` = 513 characters, with ERROR_INVALID_PARAMETER. A Microsoft token
cache is several thousand characters, so :class:`watchdog.signin.oauth.TokenStore` splits it into
chunks; these tests hold the chunks to Windows' limits, in bytes as Windows counts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from watchdog.signin.credentials import KEYRING_SERVICE
from watchdog.signin.oauth import CHUNK_CHARS, TokenStore

#: wincred.h: CRED_MAX_CREDENTIAL_BLOB_SIZE (5 * 512) and CRED_MAX_USERNAME_LENGTH (256 + 1 + 256).
BLOB_LIMIT_BYTES = 2560
USERNAME_LIMIT_CHARS = 513


class CredentialRefusedError(OSError):
    """What ``CredWrite`` answers to an oversized credential (winerror 87)."""


class FakeCredentialManager(KeyringBackend):
    """An in-memory keyring with Credential Manager's limits, counting bytes as Windows does."""

    priority = 1

    def __init__(self) -> None:
        # keyring 25's KeyringBackend.__init__ has no annotations, so mypy calls it untyped.
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}
        self.largest_blob = 0

    def set_password(self, service: str, username: str, password: str) -> None:
        blob = len(password.encode("utf-16-le"))
        if blob > BLOB_LIMIT_BYTES or len(username) > USERNAME_LIMIT_CHARS:
            raise CredentialRefusedError(87, "CredWrite: The parameter is incorrect.")
        self.largest_blob = max(self.largest_blob, blob)
        self.entries[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def credential_manager() -> Iterator[FakeCredentialManager]:
    """The fake installed as keyring's backend for the test, the previous one restored after."""
    previous = keyring.get_keyring()
    fake = FakeCredentialManager()
    keyring.set_keyring(fake)
    try:
        yield fake
    finally:
        keyring.set_keyring(previous)


def msal_like_record(characters: int) -> str:
    """A token record as oauth.py stores it: ``json.dumps`` of msal's serialized cache.

    The cache carries the account's display name, here with accents and an emoji, as a
    Microsoft 365 tenant may return it.
    """
    cache = {
        "Account": {"home": {"username": "zoë.müller@praxis.example", "name": "Zoë Müller 🦷"}},
        "RefreshToken": {"rt": {"secret": "x" * characters}},
    }
    return json.dumps({"kind": "msal", "msal_cache": json.dumps(cache)})


def test_a_microsoft_sized_token_cache_fits_credential_manager_chunk_by_chunk(
    credential_manager: FakeCredentialManager,
) -> None:
    record = msal_like_record(12_000)
    store = TokenStore("seed", "zoë.müller@praxis.example")

    store.save(record)

    assert store.load() == record
    assert credential_manager.largest_blob <= BLOB_LIMIT_BYTES
    assert len(credential_manager.entries) == 1 + -(-len(record) // CHUNK_CHARS)  # head + chunks


def test_a_chunk_of_the_largest_allowed_size_is_under_the_blob_limit_in_utf16() -> None:
    # The records are JSON with ensure_ascii: one UTF-16 unit, two bytes, per character.
    assert msal_like_record(10).isascii()
    assert CHUNK_CHARS * 2 <= BLOB_LIMIT_BYTES


def test_resaving_replaces_the_chunks_and_leaves_no_old_ones_behind(
    credential_manager: FakeCredentialManager,
) -> None:
    store = TokenStore("sender", "front.desk@praxis.example")
    store.save(msal_like_record(9_000))
    store.save(msal_like_record(3_000))

    assert store.load() == msal_like_record(3_000)
    names = [name for service, name in credential_manager.entries if service == KEYRING_SERVICE]
    assert len(names) == 1 + -(-len(msal_like_record(3_000)) // CHUNK_CHARS)


def test_the_longest_possible_address_still_fits_credential_managers_user_name(
    credential_manager: FakeCredentialManager,
) -> None:
    address = "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 59 + ".example"
    assert len(address) == 254  # RFC 5321's limit for a whole address
    store = TokenStore("seed", address)

    store.save(msal_like_record(5_000))

    assert store.load() == msal_like_record(5_000)
    assert max(len(name) for _service, name in credential_manager.entries) <= USERNAME_LIMIT_CHARS


def test_a_record_that_is_not_ascii_would_still_fit(
    credential_manager: FakeCredentialManager,
) -> None:
    TokenStore("seed", "zoe@praxis.example").save("🦷" * 2_000)

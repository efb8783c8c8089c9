"""``auth = "oauth2"`` in the config, and where OAuth2 tokens are kept (chunks in the keyring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from watchdog.config import MICROSOFT_AUTHORITY, MICROSOFT_SCOPES, load_config
from watchdog.core.errors import ConfigError
from watchdog.signin.oauth import CHUNK_CHARS, TokenStore

BASE = """\
[sender]
address = "frontdesk@outlook.com"
smtp_host = "smtp-mail.outlook.com"
smtp_port = 587
security = "starttls"
username = "frontdesk@outlook.com"
{sender}

[seed]
address = "canary@gmail.com"
imap_host = "imap.gmail.com"
imap_port = 993
username = "canary@gmail.com"
{seed}
"""


def write(tmp_path: Path, sender: str = "", seed: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE.format(sender=sender, seed=seed), encoding="utf-8")
    return path


def test_oauth2_takes_the_sign_in_service_and_its_defaults_from_the_server_name(
    tmp_path: Path,
) -> None:
    config = load_config(
        write(
            tmp_path,
            sender='auth = "oauth2"\noauth_client_id = "app-1"',
            seed='auth = "oauth2"\noauth_client_id = "g-1"\noauth_client_secret = "desktop"',
        )
    )
    assert config.sender.oauth is not None and config.seed.oauth is not None
    assert config.sender.oauth.provider == "microsoft"
    assert config.sender.oauth.authority == MICROSOFT_AUTHORITY
    assert config.sender.oauth.scopes == MICROSOFT_SCOPES
    assert config.seed.oauth.provider == "google"
    assert config.seed.oauth.scopes == ("https://mail.google.com/",)


def test_the_sender_and_the_seed_choose_their_sign_in_independently(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, sender='auth = "oauth2"\noauth_client_id = "app-1"'))
    assert config.sender.auth == "oauth2"
    assert config.seed.auth == "password" and config.seed.oauth is None


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ('auth = "oauth"', '[sender] auth = \'oauth\' is not allowed; use "password" or "oauth2"'),
        ('auth = "oauth2"', "[sender] oauth_client_id is missing"),
        ('oauth_client_id = "x"', '[sender] oauth_client_id is only used with auth = "oauth2"'),
        (
            'auth = "oauth2"\noauth_client_id = "x"\noauth_provider = "yahoo"',
            '[sender] oauth_provider = \'yahoo\' is not allowed; use "microsoft" or "google"',
        ),
        (
            'auth = "oauth2"\noauth_client_id = "x"\noauth_client_secret = "s"',
            "[sender] oauth_client_secret is only for Google",
        ),
        (
            'auth = "oauth2"\noauth_client_id = "x"\noauth_scopes = ["offline_access"]',
            "[sender] oauth_scopes must not name openid, profile or offline_access",
        ),
        (
            'auth = "oauth2"\noauth_client_id = "x"\noauth_authority = "http://login.example"',
            "[sender] oauth_authority must start with https://",
        ),
    ],
)
def test_a_bad_oauth_setting_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, sender: str, expected: str
) -> None:
    path = write(tmp_path, sender=sender)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_server_that_does_not_tell_its_sign_in_service_asks_for_oauth_provider(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, sender='auth = "oauth2"\noauth_client_id = "x"')
    text = path.read_text().replace("smtp-mail.outlook.com", "mail.example.org")
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"\[sender\] oauth_provider is missing"):
        load_config(path)


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.data[(service, username)]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def test_a_long_token_record_is_kept_in_chunks_that_fit_the_windows_credential_locker(
    memory_keyring: MemoryKeyring,
) -> None:
    store = TokenStore("sender", "frontdesk@outlook.com")
    record = "x" * 4500 + "end"
    store.save(record)
    assert store.load() == record
    assert all(len(v) <= CHUNK_CHARS for v in memory_keyring.data.values())
    assert len(memory_keyring.data) == 1 + 5  # the head and five chunks


def test_saving_again_replaces_the_old_chunks_and_delete_leaves_nothing(
    memory_keyring: MemoryKeyring,
) -> None:
    store = TokenStore("seed", "canary@gmail.com")
    store.save("a" * 2500)
    store.save("short")
    assert store.load() == "short"
    assert len(memory_keyring.data) == 2
    store.delete()
    assert store.load() is None and not memory_keyring.data

"""``watchdog setup`` with OAuth2, and ``watchdog setup --reauth``, as support runs them.

The CLI runs as a subprocess on a pseudo-terminal (pexpect) against the loopback OAuth2 authority,
Dovecot's ``oauth2`` passdb and the submission server's ``AUTH XOAUTH2`` (all checking tokens at
the authority). The test plays the person: it reads the device code the CLI prints and approves
it at the authority, as someone typing it on microsoft.com/devicelogin would; Google's browser
flow goes through ``BROWSER`` (tests/support/fake_browser.py). No password exists anywhere: only
a working OAuth2 sign-in can deliver.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.e2e.cli import watchdog, watchdog_json
from tests.servers import MailServers, find_dovecot
from tests.servers.oauth_authority import OAuthAuthority
from tests.support import REPO_ROOT, file_keyring_env, read_keyring
from tests.support.oauth_servers import (
    CLIENT_ID,
    GOOGLE_CLIENT,
    GOOGLE_SECRET,
    browser_command,
    start_oauth_servers,
)
from watchdog.config import load_config

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(find_dovecot() is None, reason="the dovecot binary is not installed"),
]

SERVICE = "delivery-watchdog"
CODE = re.compile(r"enter the code (\w+)")


@pytest.fixture(scope="module")
def oauth_servers() -> Iterator[tuple[MailServers, OAuthAuthority]]:
    with start_oauth_servers() as started:
        yield started


@pytest.fixture
def parts(oauth_servers: tuple[MailServers, OAuthAuthority]) -> tuple[MailServers, OAuthAuthority]:
    servers, authority = oauth_servers
    servers.reset()
    return servers, authority


@pytest.fixture
def env(
    tmp_path: Path, watchdog_env: dict[str, str], oauth_servers: tuple[MailServers, OAuthAuthority]
) -> dict[str, str]:
    """The product's environment: a file keyring, no password at all, a test "browser"."""
    servers, _ = oauth_servers
    return {
        **watchdog_env,
        **file_keyring_env(tmp_path / "keyring.json"),
        "WATCHDOG_SENDER_PASSWORD": "",
        "WATCHDOG_SEED_PASSWORD": "",
        "BROWSER": browser_command(servers.ca_file),
    }


class Cli:
    """``watchdog ARGS`` on a pseudo-terminal; everything printed is kept for the assertions."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.transcript = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "watchdog", "--config", str(config), *args],
            env={**os.environ, **env},
            cwd=str(REPO_ROOT),
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 400),
        )
        self.child.logfile_read = self.transcript

    def answer(self, prompt: str, text: str) -> None:
        self.child.expect(prompt)
        self.child.sendline(text)

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def enter_device_code(self, authority: OAuthAuthority, user: str, *, allow: bool = True) -> str:
        """Read the code the CLI shows and approve (or decline) it as ``user``."""
        self.child.expect(CODE)
        code = str(self.child.match.group(1))
        if allow:
            authority.approve(code, user)
        else:
            authority.deny(code)
        return code

    def exit_code(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        code = self.child.exitstatus
        assert code is not None, f"killed by signal {self.child.signalstatus}\n{self.output}"
        return int(code)

    @property
    def output(self) -> str:
        return self.transcript.getvalue().replace("\r\n", "\n")


def scripted(servers: MailServers, authority: OAuthAuthority, **overrides: str) -> list[str]:
    """A scripted setup: the sender on Microsoft's device code, the seed on Google's browser."""
    values = {
        "--sender-address": servers.sender_address,
        "--smtp-host": servers.smtp_host,
        "--smtp-port": str(servers.smtp_starttls_port),
        "--smtp-security": "starttls",
        "--sender-username": servers.sender_user,
        "--sender-auth": "oauth2",
        "--sender-oauth-provider": "microsoft",
        "--sender-oauth-client-id": CLIENT_ID,
        "--sender-oauth-authority": authority.microsoft_authority,
        "--seed-address": servers.seed_address,
        "--imap-host": servers.imap_host,
        "--imap-port": str(servers.imaps_port),
        "--imap-security": "ssl",
        "--seed-username": servers.seed_user,
        "--seed-auth": "oauth2",
        "--seed-oauth-provider": "google",
        "--seed-oauth-client-id": GOOGLE_CLIENT,
        "--seed-oauth-authority": authority.google_issuer,
        "--ca-file": str(servers.ca_file),
        "--deadline-minutes": "0.5",
    }
    values.update(overrides)
    options = ["setup", "--non-interactive"]
    for option, value in values.items():
        options += [option, value]
    return options


def set_up(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> tuple[Path, Cli]:
    servers, authority = parts
    config = tmp_path / "config.toml"
    env = {**env, "WATCHDOG_SEED_OAUTH_CLIENT_SECRET": GOOGLE_SECRET}
    cli = Cli(config, env, *scripted(servers, authority))
    cli.enter_device_code(authority, servers.sender_user)
    assert cli.exit_code() == 0, cli.output
    return config, cli


def tokens_in(text: str) -> list[str]:
    """Anything that looks like one of the authority's tokens (``rt-...``, ``at-...``)."""
    return re.findall(r"\b(?:rt|at)-[\w-]{20,}", text)


def test_a_scripted_setup_with_oauth2_on_both_sides_signs_in_and_the_next_check_delivers(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    before = authority.counters.authorization_code
    config, cli = set_up(tmp_path, parts, env)
    out = cli.output
    assert "OK   OAuth2 sign-in of the sending account sender" in out
    assert "OK   OAuth2 sign-in of the seed mailbox seed" in out
    assert authority.counters.authorization_code == before + 1  # Google's flow ran in the browser
    assert "Delivered: the test message arrived in INBOX" in out
    assert servers.smtp.received[-1].login == "sender"  # signed in with XOAUTH2
    # The config names the sign-in, never a token; the tokens are only in the keyring.
    loaded = load_config(config)
    assert (loaded.sender.auth, loaded.seed.auth) == ("oauth2", "oauth2")
    assert loaded.sender.oauth is not None and loaded.sender.oauth.client_id == CLIENT_ID
    assert loaded.sender.oauth.authority == authority.microsoft_authority
    assert loaded.seed.oauth is not None and loaded.seed.oauth.provider == "google"
    assert loaded.seed.oauth.client_secret == GOOGLE_SECRET
    stored = read_keyring(tmp_path / "keyring.json")[SERVICE]
    assert {"oauth:sender:sender", "oauth:seed:seed"} <= set(stored)
    assert tokens_in("".join(stored.values()))
    assert not tokens_in(config.read_text() + out)
    # The installed watchdog uses the stored sign-ins on its own.
    check = watchdog("check", env=env, config=config)
    assert check.returncode == 0, check.stdout + check.stderr
    assert len(servers.smtp.received) == 2


def test_an_interactive_setup_of_an_outlook_com_account_goes_to_a_device_code_sign_in(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    config = tmp_path / "config.toml"
    w = Cli(config, env, "setup", "--ca-file", str(servers.ca_file))
    w.answer(r"sending e-mail address: ", "frontdesk@outlook.com")
    w.answer(r"Mail provider .*\[outlook\]: ", "")
    w.expect(r"cannot be used with a password at all")
    w.answer(r"Outgoing mail server \(SMTP\) \[smtp-mail\.outlook\.com\]: ", servers.smtp_host)
    w.answer(r"Port \[587\]: ", str(servers.smtp_starttls_port))
    w.answer(r"Security: ssl, starttls or none: ", "starttls")
    w.expect(r"through a Microsoft sign-in page \(OAuth2\)")
    # No "type - for no sign-in": an OAuth2 account always signs in.
    w.answer(r"User name for signing in \[frontdesk@outlook\.com\]: ", servers.sender_user)
    w.answer(r"Private certificate authority .*\]: ", "")
    w.answer(r"Application \(client\) ID of your Microsoft app registration: ", CLIENT_ID)
    w.answer(
        r"Microsoft sign-in service .*\[https://login\.microsoftonline\.com/common\]: ",
        authority.microsoft_authority,
    )
    w.expect(r"Sign in to Microsoft as sender: open the page below")
    w.enter_device_code(authority, servers.sender_user)
    w.expect(r"Signed in; kept in the system keyring")
    w.expect(r"OK: signed in\.")  # SMTP with XOAUTH2
    # The seed mailbox: the test server's, with a password.
    w.answer(r"seed mailbox's e-mail address: ", servers.seed_address)
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Incoming mail server \(IMAP\) of the seed mailbox: ", servers.imap_host)
    w.answer(r"Port: ", str(servers.imaps_port))
    w.answer(r"Security: ssl, starttls or none: ", "ssl")
    w.answer(r"User name for signing in \[seed@example\.test\]: ", servers.seed_user)
    w.answer(r"Private certificate authority .*: ", "")
    w.answer(r"Password for seed \(not shown as you type\): ", servers.seed_password)
    w.expect(r"OK: signed in\.")
    w.answer(r"Check every how many minutes \[30\]: ", "")
    w.answer(r"counts as lost \[10\]: ", "0.5")
    w.answer(r"Name of the practice.*: ", "")
    w.answer(r"Who should the staff call.*: ", "")
    w.expect(r"Delivered: the test message arrived in INBOX")
    w.expect(r"Sign-in for sender: saved in the system keyring")
    w.answer(r"automatically when this PC starts\? \[Y/n\]: ", "n")
    assert w.exit_code() == 0, w.output
    assert "Password for sender" not in w.output  # never asked for one
    loaded = load_config(config)
    assert loaded.sender.auth == "oauth2" and loaded.seed.auth == "password"
    assert loaded.sender.oauth is not None and loaded.sender.oauth.provider == "microsoft"
    stored = read_keyring(tmp_path / "keyring.json")[SERVICE]
    assert stored["seed:seed"] == servers.seed_password
    assert "oauth:sender:sender" in stored


def test_reauth_after_a_revoked_refresh_token_makes_the_watchdog_deliver_again(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    config, _ = set_up(tmp_path, parts, env)
    authority.revoke_user("sender")  # the practice changed the account's password
    authority.expire_access_tokens()
    code, expired = watchdog_json("check", env=env, config=config)
    assert expired["diagnosis"] == "signin_expired", expired
    assert "watchdog setup --reauth" in expired["detail"]
    assert expired["status"]["status"] == "UNKNOWN"

    r = Cli(config, env, "setup", "--reauth")
    r.enter_device_code(authority, servers.sender_user)  # the sender: Microsoft's device code
    r.expect(r"OK   Signed in again: the sending account sender")
    r.expect(r"OK   Signed in again: the seed mailbox seed")  # the seed: Google, in the browser
    assert r.exit_code() == 0, r.output
    assert "Done." in r.output

    code, delivered = watchdog_json("check", env=env, config=config)
    assert code == 0 and delivered["outcome"] == "delivered", delivered
    _, status = watchdog_json("status", env=env, config=config)
    assert status["status"]["status"] == "UP"


def test_reauth_of_only_the_sender_leaves_the_seed_sign_in_alone(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    config, _ = set_up(tmp_path, parts, env)
    seed_before = {
        k: v
        for k, v in read_keyring(tmp_path / "keyring.json")[SERVICE].items()
        if k.startswith("oauth:seed")
    }
    r = Cli(config, env, "setup", "--reauth", "sender")
    r.enter_device_code(authority, servers.sender_user)
    assert r.exit_code() == 0, r.output
    assert "seed mailbox" not in r.output
    after = read_keyring(tmp_path / "keyring.json")[SERVICE]
    assert {k: v for k, v in after.items() if k.startswith("oauth:seed")} == seed_before


def test_a_setup_whose_oauth_sign_in_is_refused_exits_2_and_writes_nothing(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    config = tmp_path / "config.toml"
    env = {**env, "WATCHDOG_SEED_OAUTH_CLIENT_SECRET": GOOGLE_SECRET}
    cli = Cli(config, env, *scripted(servers, authority))
    cli.enter_device_code(authority, servers.sender_user, allow=False)  # the person declines
    assert cli.exit_code() == 2, cli.output
    assert "FAIL OAuth2 sign-in of the sending account sender" in cli.output
    assert "authorization_declined" in cli.output
    assert "Nothing was saved." in cli.output
    assert not config.exists()
    assert not read_keyring(tmp_path / "keyring.json").get(SERVICE)
    assert not servers.smtp.received


def test_a_setup_whose_first_canary_fails_takes_its_new_sign_ins_back(
    tmp_path: Path, parts: tuple[MailServers, OAuthAuthority], env: dict[str, str]
) -> None:
    servers, authority = parts
    config = tmp_path / "config.toml"
    env = {**env, "WATCHDOG_SEED_OAUTH_CLIENT_SECRET": GOOGLE_SECRET}
    servers.smtp.set_mode("blackhole")  # accepted, never delivered: the first canary is lost
    cli = Cli(config, env, *scripted(servers, authority, **{"--deadline-minutes": "0.05"}))
    cli.enter_device_code(authority, servers.sender_user)
    assert cli.exit_code() == 2, cli.output
    assert "OK   OAuth2 sign-in of the seed mailbox seed" in cli.output
    assert not config.exists()
    assert not read_keyring(tmp_path / "keyring.json").get(SERVICE)


def test_reauth_without_an_oauth2_account_exits_3_and_changes_nothing(
    tmp_path: Path, env: dict[str, str], write_config: Any
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[sender]\naddress = "a@example.test"\nsmtp_host = "127.0.0.1"\nsmtp_port = 587\n'
        'security = "starttls"\nusername = "a"\n\n[seed]\naddress = "b@example.test"\n'
        'imap_host = "127.0.0.1"\nimap_port = 993\nsecurity = "ssl"\nusername = "b"\n',
        encoding="utf-8",
    )
    text = config.read_text()
    done = watchdog("setup", "--reauth", env=env, config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "No account in" in done.stdout and 'auth = "oauth2"' in done.stdout
    seed_only = watchdog("setup", "--reauth", "seed", env=env, config=config)
    assert seed_only.returncode == 3
    assert "signs in with a password" in seed_only.stdout
    missing = watchdog("setup", "--reauth", env=env, config=tmp_path / "none.toml")
    assert missing.returncode == 3 and "Run `watchdog setup` first" in missing.stdout
    assert config.read_text() == text


@pytest.mark.parametrize(
    ("options", "named", "words"),
    [
        (["--sender-address", "frontdesk@outlook.com"], "--sender-oauth-client-id", "is required"),
        (
            ["--sender-address", "frontdesk@outlook.com", "--sender-auth", "password"],
            "--sender-auth",
            "accepts no password",
        ),
        (
            ["--sender-address", "frontdesk@yahoo.com", "--sender-auth", "oauth2"],
            "--sender-auth",
            "app password",
        ),
        (
            [
                "--sender-address",
                "frontdesk@gmail.com",
                "--sender-auth",
                "oauth2",
                "--sender-oauth-client-id",
                "x.apps.googleusercontent.com",
            ],
            "--sender-oauth-client-secret",
            "is required for Google",
        ),
    ],
)
def test_a_scripted_oauth2_setup_missing_what_it_needs_exits_3_naming_the_option(
    tmp_path: Path, env: dict[str, str], options: list[str], named: str, words: str
) -> None:
    config = tmp_path / "config.toml"
    seed = ["--seed-address", "seed@example.test", "--imap-host", "127.0.0.1"]
    done = watchdog("setup", "--non-interactive", *options, *seed, env=env, config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{named}: " in done.stdout and words in done.stdout, done.stdout
    assert not config.exists()
    assert read_keyring(tmp_path / "keyring.json") == {}

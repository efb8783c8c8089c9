"""OAuth2 (XOAUTH2) sign-in end to end on loopback: the real msal and google-auth clients against
a local OAuth2/OpenID authority, Dovecot's oauth2 passdb and aiosmtpd's XOAUTH2, both checking
tokens by introspection at that authority. No password is available to the product here.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import webbrowser
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import requests

from tests.security.test_sentinel import encodings
from tests.servers import MailServers, find_dovecot, write_config
from tests.servers.oauth_authority import OAuthAuthority
from tests.support import KEYRING_FILE_ENV
from tests.support.file_keyring import FileKeyring
from tests.support.oauth_servers import (
    CLIENT_ID,
    GOOGLE_CLIENT,
    GOOGLE_SECRET,
    start_oauth_servers,
)
from watchdog.app import open_app
from watchdog.config import SeedConfig, SenderConfig, load_config
from watchdog.core.models import Diagnosis, Outcome, Status
from watchdog.notify import Alert, AlertKind, AttemptResult
from watchdog.pages.report import write_report
from watchdog.setup.support_bundle import build_bundle
from watchdog.signin.credentials import Role
from watchdog.signin.oauth import OAuthTokens, TokenStore
from watchdog.storage.export import write_csv, write_json

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(find_dovecot() is None, reason="the dovecot binary is not installed"),
]

BROWSER = "watchdog-test-browser"


@pytest.fixture(scope="module")
def oauth_servers() -> Iterator[tuple[MailServers, OAuthAuthority]]:
    with start_oauth_servers() as started:
        yield started


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring that really keeps what is stored (a JSON file), for this process."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv(KEYRING_FILE_ENV, str(path))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    try:
        yield path
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """No password anywhere: a password login would fail, so only OAuth2 can succeed."""
    monkeypatch.delenv("WATCHDOG_SENDER_PASSWORD", raising=False)
    monkeypatch.delenv("WATCHDOG_SEED_PASSWORD", raising=False)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.alerts.append(alert)
        return AttemptResult(self.name, ok=True, detail="recorded")


def oauth_keys(authority: OAuthAuthority, provider: str = "microsoft") -> dict[str, Any]:
    if provider == "google":
        return {
            "auth": "oauth2",
            "oauth_provider": "google",
            "oauth_client_id": GOOGLE_CLIENT,
            "oauth_client_secret": GOOGLE_SECRET,
            "oauth_authority": authority.google_issuer,
        }
    return {
        "auth": "oauth2",
        "oauth_provider": "microsoft",
        "oauth_client_id": CLIENT_ID,
        "oauth_authority": authority.microsoft_authority,
    }


def make_config(
    tmp_path: Path,
    servers: MailServers,
    authority: OAuthAuthority,
    *,
    sender: str = "microsoft",
    seed: str = "microsoft",
) -> Path:
    return write_config(
        tmp_path,
        servers,
        deadline_minutes=0.2,
        data_dir=tmp_path / "data",
        sender=oauth_keys(authority, sender),
        seed=oauth_keys(authority, seed),
    )


def sign_in(config_path: Path, authority: OAuthAuthority) -> None:
    """What `watchdog setup` does for each account: the person signs in once."""
    config = load_config(config_path)
    accounts: tuple[tuple[Role, SenderConfig | SeedConfig], ...] = (
        ("sender", config.sender),
        ("seed", config.seed),
    )
    for role, account in accounts:
        assert account.oauth is not None
        tokens = OAuthTokens(role, account.username, account.oauth, ca_file=account.ca_file)
        shown: list[str] = []

        def show(message: str, user: str = account.username, shown: list[str] = shown) -> None:
            shown.append(message)
            match = re.search(r"enter the code (\w+)", message)
            if match:  # Microsoft: the person types the code on the device-login page
                authority.approve(match.group(1), user)

        tokens.sign_in(show, browser=BROWSER)
        assert shown, "the person was told what to do"


SignedIn = tuple[MailServers, OAuthAuthority, Path]


@pytest.fixture
def signed_in(
    oauth_servers: tuple[MailServers, OAuthAuthority],
    tmp_path: Path,
    watchdog_env: dict[str, str],
    keyring_file: Path,
    no_passwords: None,
) -> SignedIn:
    """Clean servers, a config with OAuth2 (Microsoft) on both sides, both accounts signed in."""
    servers, authority = oauth_servers
    servers.reset()
    config_path = make_config(tmp_path, servers, authority)
    sign_in(config_path, authority)
    return servers, authority, config_path


@pytest.fixture(scope="module", autouse=True)
def test_browser(oauth_servers: tuple[MailServers, OAuthAuthority]) -> None:
    """A "browser" for Google's installed-app flow: follows the authority's redirect back to the
    product's loopback listener, as a person clicking "Allow" would."""
    servers, _authority = oauth_servers
    ca = str(servers.ca_file)

    class Browser(webbrowser.BaseBrowser):
        def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
            def visit() -> None:
                session = requests.Session()
                session.trust_env = False
                session.get(url, verify=ca, timeout=10)

            threading.Thread(target=visit, daemon=True).start()
            return True

    webbrowser.register(BROWSER, None, Browser(BROWSER))


def test_the_round_trip_runs_with_oauth2_on_both_sides(
    signed_in: SignedIn, keyring_file: Path
) -> None:
    servers, _authority, config_path = signed_in
    with open_app(load_config(config_path), channels=[Recorder()]) as app:
        report = app.runner.check()
    assert report.result.outcome is Outcome.DELIVERED, report.result
    assert report.status.status is Status.UP
    assert servers.smtp.received[-1].login == "sender"  # signed in with XOAUTH2 as the sender
    # Only tokens in the keyring, in chunks small enough for Windows' Credential Locker.
    stored = json.loads(keyring_file.read_text())["delivery-watchdog"]
    assert stored and all(len(value) <= 1000 for value in stored.values())
    assert any(name.startswith("oauth:seed:seed#") for name in stored)


def test_an_expired_access_token_is_refreshed_silently(
    signed_in: SignedIn,
) -> None:
    _servers, authority, config_path = signed_in
    before = TokenStore("seed", "seed").load()
    refreshes = authority.counters.refresh
    authority.expire_access_tokens()  # the servers now refuse every token handed out so far
    with open_app(load_config(config_path), channels=[Recorder()]) as app:
        report = app.runner.check()
    assert report.result.outcome is Outcome.DELIVERED, report.result
    assert authority.counters.refresh >= refreshes + 2  # sender and seed each renewed
    assert TokenStore("seed", "seed").load() != before  # the rotated refresh token was kept


def test_a_revoked_refresh_token_gives_signin_expired(
    signed_in: SignedIn,
) -> None:
    servers, authority, config_path = signed_in
    authority.revoke_user("sender")  # e.g. the practice changed the account's password
    recorder = Recorder()
    with open_app(load_config(config_path), channels=[recorder]) as app:
        first = app.runner.check()
        second = app.runner.check()
        rows = app.history.recent(5)
        snapshot = app.history.status()
    assert first.result.diagnosis is Diagnosis.SIGNIN_EXPIRED
    assert "watchdog setup --reauth" in first.result.detail
    assert not servers.smtp.received  # nothing was sent
    # Recorded, shown as "cannot check" (never DOWN, never a mail block), and told once.
    assert [r.diagnosis for r in rows[:2]] == [Diagnosis.SIGNIN_EXPIRED] * 2
    assert snapshot.status is Status.UNKNOWN
    assert snapshot.diagnosis is Diagnosis.SIGNIN_EXPIRED
    assert len(first.flips) == 1 and not second.flips
    assert [a.kind for a in recorder.alerts] == [AlertKind.UNKNOWN]
    assert "sign in" in recorder.alerts[0].title.lower()
    assert "not going out" not in recorder.alerts[0].title


def test_a_revoked_seed_sign_in_still_sends_and_says_signin_expired(
    signed_in: SignedIn,
) -> None:
    servers, authority, config_path = signed_in
    authority.revoke_user("seed")
    with open_app(load_config(config_path), channels=[Recorder()]) as app:
        report = app.runner.check()
    assert report.result.outcome is Outcome.SEED_UNREACHABLE
    assert report.result.diagnosis is Diagnosis.SIGNIN_EXPIRED
    assert report.status.status is Status.UNKNOWN
    assert len(servers.smtp.received) == 1  # the sender's sign-in still worked


def test_google_accounts_sign_in_in_the_browser_and_refresh_through_google_auth(
    oauth_servers: tuple[MailServers, OAuthAuthority],
    tmp_path: Path,
    watchdog_env: dict[str, str],
    keyring_file: Path,
    no_passwords: None,
) -> None:
    servers, authority = oauth_servers
    servers.reset()
    config_path = make_config(tmp_path, servers, authority, sender="google", seed="google")
    sign_in(config_path, authority)
    assert authority.counters.authorization_code >= 2
    authority.expire_access_tokens()
    with open_app(load_config(config_path), channels=[Recorder()]) as app:
        delivered = app.runner.check()
        authority.revoke_user("sender")
        authority.expire_access_tokens()
        expired = app.runner.check()
    assert delivered.result.outcome is Outcome.DELIVERED, delivered.result
    assert expired.result.diagnosis is Diagnosis.SIGNIN_EXPIRED


def test_doctor_checks_oauth2_logins_and_says_when_no_sign_in_is_stored(
    oauth_servers: tuple[MailServers, OAuthAuthority],
    tmp_path: Path,
    watchdog_env: dict[str, str],
    keyring_file: Path,
    no_passwords: None,
) -> None:
    from watchdog.setup.doctor import Doctor

    servers, authority = oauth_servers
    config_path = make_config(tmp_path, servers, authority)
    before = {f.name: f for f in Doctor(load_config(config_path), timeout=5).run()}
    assert before["signin.sender"].level == "FAIL"
    assert "watchdog setup --reauth" in before["signin.sender"].fix
    sign_in(config_path, authority)
    after = {f.name: f for f in Doctor(load_config(config_path), timeout=5).run()}
    assert after["signin.sender"].level == "OK"
    assert after["smtp.login"].level == "OK", after["smtp.login"]
    assert after["imap.login"].level == "OK", after["imap.login"]


def test_no_oauth_token_leaves_the_keyring_into_logs_history_report_exports_or_bundle(
    oauth_servers: tuple[MailServers, OAuthAuthority],
    tmp_path: Path,
    watchdog_env: dict[str, str],
    keyring_file: Path,
    no_passwords: None,
) -> None:
    """Every token the authority handed out, searched raw and base64 (XOAUTH2) in every output."""
    servers, authority = oauth_servers
    servers.reset()
    config_path = make_config(tmp_path, servers, authority)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        sign_in(config_path, authority)
        authority.expire_access_tokens()  # a refresh on the way, too
        with open_app(load_config(config_path), channels=[Recorder()]) as app:
            assert app.runner.check().result.outcome is Outcome.DELIVERED
            authority.revoke_user("seed")  # and a refused refresh, with its error text
            assert app.runner.check().result.diagnosis is Diagnosis.SIGNIN_EXPIRED
            rows = list(app.history.iter_checks())
            report = write_report(
                app.history,
                tmp_path / "report.html",
                office="",
                now=0.0,
                daily_limit=None,
                provider_name="the provider",
            )
        with (tmp_path / "export.csv").open("w") as out:
            write_csv(rows, out)
        with (tmp_path / "export.json").open("w") as out:
            write_json(rows, out)
        build_bundle(config_path, tmp_path / "bundle.zip", doctor_total_timeout=20.0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    tokens = list(authority.issued)
    assert len(tokens) >= 6  # sign-ins and refreshes really happened
    outputs: dict[str, bytes] = {
        "debug log": log_file.read_bytes(),
        "report": report.read_bytes(),
        "export csv": (tmp_path / "export.csv").read_bytes(),
        "export json": (tmp_path / "export.json").read_bytes(),
        "config": config_path.read_bytes(),
    }
    for path in (tmp_path / "data").iterdir():
        outputs[f"data/{path.name}"] = path.read_bytes()
    with zipfile.ZipFile(tmp_path / "bundle.zip") as bundle:
        for name in bundle.namelist():
            outputs[f"bundle/{name}"] = bundle.read(name)
    assert b"DEBUG" in outputs["debug log"]  # the log really was at debug level
    found = [
        f"{token[:6]}... as {form} in {where}"
        for token in tokens
        for form, needle in encodings(token).items()
        for where, blob in outputs.items()
        if needle in blob
    ]
    assert found == []
    # The tokens are in the keyring, where they belong (proof the search could find them).
    stored = keyring_file.read_bytes()
    assert any(token.encode() in stored for token in tokens)

"""One account as ``watchdog setup`` collected it, and the live test of its sign-in.

``Account`` is what the wizard's questions, the scripted options and ``--reauth`` (from an existing
config) all produce; ``live_login`` signs in with it the way the watchdog will, with the password
just typed (never stored here) or with XOAUTH2 and the stored OAuth2 sign-in.

Why separate: both the wizard and the OAuth2 sign-in module (``setup_oauth``) need the record and
the test, and the OAuth2 module must not import the wizard (the wizard imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watchdog.config import OAuthSettings, SeedConfig, SenderConfig
from watchdog.core.errors import SecretError
from watchdog.core.models import Diagnosis, Security
from watchdog.core.providers import Provider
from watchdog.setup.doctor import DEFAULT_TIMEOUT_S, Problem, check_imap_login, check_smtp_login
from watchdog.signin.accounts import account_signin
from watchdog.signin.credentials import PasswordSignIn, Role

#: How the sign-in services are called on screen.
SERVICE_NAMES = {"microsoft": "Microsoft", "google": "Google"}


@dataclass(frozen=True)
class Account:
    """One account as setup collected it (no password: that is kept apart)."""

    role: Role
    address: str
    host: str
    port: int
    security: Security
    username: str
    ca_file: Path | None
    provider: Provider
    oauth: OAuthSettings | None = None  # set: signs in with OAuth2 (XOAUTH2); None: a password

    @property
    def auth(self) -> str:
        return "password" if self.oauth is None else "oauth2"

    def sender_config(self) -> SenderConfig:
        return SenderConfig(
            address=self.address,
            smtp_host=self.host,
            smtp_port=self.port,
            security=self.security,
            username=self.username,
            ca_file=self.ca_file,
            auth=self.auth,
            oauth=self.oauth,
        )

    def seed_config(self) -> SeedConfig:
        return SeedConfig(
            address=self.address,
            imap_host=self.host,
            imap_port=self.port,
            security=self.security,
            username=self.username,
            ca_file=self.ca_file,
            auth=self.auth,
            oauth=self.oauth,
        )

    def describe(self) -> str:
        who = self.username or "no sign-in"
        how = f", {SERVICE_NAMES[self.oauth.provider]} sign-in (OAuth2)" if self.oauth else ""
        return (
            f"{self.address} via {self.host}:{self.port} ({self.security.value}, user {who}"
            f"{how}; provider: {self.provider.display_name})"
        )


def live_login(account: Account, password: str) -> Problem | None:
    """The sign-in the watchdog will make, with the password just typed (never stored here), or
    with XOAUTH2 and the token of the sign-in just stored."""
    if account.oauth is not None:
        signin = account_signin(
            account.role, account.username, "oauth2", account.oauth, ca_file=account.ca_file
        )
    else:
        signin = PasswordSignIn(account.username, lambda: password)
    timeout = DEFAULT_TIMEOUT_S
    try:
        if account.role == "sender":
            return check_smtp_login(
                account.sender_config(), signin, account.provider.name, timeout=timeout
            )
        result = check_imap_login(account.seed_config(), signin, timeout=timeout)
    except SecretError as e:  # the token could not be had (renewal refused, not stored)
        return Problem(Diagnosis.SIGNIN_EXPIRED, str(e), "login")
    return result if isinstance(result, Problem) else None

"""Sign-in: the one seam between an account and the server it logs in to.

Today a password (from the OS keyring, or for headless use from an environment variable); OAuth2
(XOAUTH2) plugs in here later as another ``SignIn`` without touching the probe or the mailbox.
Passwords are fetched only at the moment of login and never stored on objects that get logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from .errors import SecretError

if TYPE_CHECKING:
    import smtplib

    from imapclient import IMAPClient

KEYRING_SERVICE = "delivery-watchdog"
Role = Literal["sender", "seed"]


def keyring_entry(role: Role, username: str) -> str:
    """The keyring user name under which a password is stored, e.g. ``sender:frontdesk@att.net``."""
    return f"{role}:{username}"


def env_var(role: Role) -> str:
    """The environment variable that may hold the password for headless use."""
    return f"WATCHDOG_{role.upper()}_PASSWORD"


def lookup_password(role: Role, username: str) -> str:
    """The password for ``role``: environment first (headless installs), then the OS keyring."""
    from_env = os.environ.get(env_var(role))
    if from_env:
        return from_env
    import keyring  # imported late: it is slow to import and not needed when the env is set
    import keyring.errors

    entry = keyring_entry(role, username)
    try:
        password = keyring.get_password(KEYRING_SERVICE, entry)
    except keyring.errors.KeyringError as e:
        raise SecretError(
            f"The system keyring could not be read ({type(e).__name__}). Store the {role} "
            f"password in the keyring (service {KEYRING_SERVICE!r}, user {entry!r}) or set "
            f"{env_var(role)} for headless use."
        ) from e
    if not password:
        raise SecretError(
            f"No {role} password is stored for {username}. Store it with "
            f"`keyring set {KEYRING_SERVICE} {entry}` (or run `watchdog setup`), or set "
            f"{env_var(role)} for headless use."
        )
    return password


class SignIn(Protocol):
    """Logs a connection in. One per account, chosen by the account's ``auth`` setting."""

    def smtp(self, connection: smtplib.SMTP) -> None:
        """Authenticate an SMTP connection that has already said EHLO (and STARTTLS)."""
        ...

    def imap(self, client: IMAPClient) -> None:
        """Authenticate an IMAP connection."""
        ...


class PasswordSignIn:
    """Password sign-in: AUTH PLAIN/LOGIN over SMTP, LOGIN over IMAP.

    ``password`` is a callable, so the secret is read only when a login really happens and an empty
    user name (a relay that needs no AUTH) never touches the keyring.
    """

    def __init__(self, username: str, password: Callable[[], str]) -> None:
        self.username = username
        self._password = password

    def __repr__(self) -> str:
        return f"PasswordSignIn(username={self.username!r})"

    def smtp(self, connection: smtplib.SMTP) -> None:
        if self.username:
            connection.login(self.username, self._password())

    def imap(self, client: IMAPClient) -> None:
        client.login(self.username, self._password())


PasswordLookup = Callable[[Role, str], str]


def password_signin(
    role: Role, username: str, lookup: PasswordLookup = lookup_password
) -> PasswordSignIn:
    """The password sign-in for an account of the config."""
    return PasswordSignIn(username, lambda: lookup(role, username))

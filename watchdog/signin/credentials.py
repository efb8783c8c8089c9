"""Sign-in: the one seam between an account and the server it logs in to.

A password (from the OS keyring, or for headless use from an environment variable), or OAuth2
(XOAUTH2, tokens from :mod:`watchdog.signin.oauth`), chosen per account by its ``auth``
setting; the probe and the mailbox only see a ``SignIn``. Secrets are fetched only at the
moment of login and never
stored on objects that get logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from watchdog.core.errors import SecretError

if TYPE_CHECKING:
    import smtplib

    from imapclient import IMAPClient


#: The keyring service every secret of this product is stored under (passwords, OAuth2 tokens).
KEYRING_SERVICE = "delivery-watchdog"
#: Which of the two accounts a secret belongs to.
Role = Literal["sender", "seed"]


def keyring_entry(role: Role, username: str) -> str:
    """The keyring user name under which a password is stored, e.g. ``sender:frontdesk@att.net``."""
    return f"{role}:{username}"


#: Keyring backends that keep nothing safe: ``fail`` (none found), ``null`` (forgets) and
#: keyrings.alt's file backends (a file in the home folder, plain or weakly encrypted).
_UNSAFE_BACKEND_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def keyring_backend_problem(backend: object) -> str | None:
    """Why ``backend`` is no safe place for a password, or None for a real system keyring."""
    module = type(backend).__module__
    name = str(getattr(backend, "name", type(backend).__name__))
    if module.startswith("keyrings.alt"):
        return f"the keyring here ({name}) would keep it in a plain file"
    if module.startswith("keyring.backends.fail"):
        return "this PC has no system keyring that Watchdog can use"
    if module.startswith("keyring.backends.null"):
        return f"the keyring here ({name}) keeps nothing"
    return None


def is_safe_keyring(backend: object) -> bool:
    """True for a real system keyring (not a fail, null or plain-file backend)."""
    return not type(backend).__module__.startswith(_UNSAFE_BACKEND_MODULES)


def secure_keyring_advice(platform: str | None = None) -> str:
    """What to install or enable so passwords have a safe place on this kind of PC.

    Never a file: not the config, not the autostart entry, not a plain-text keyring.
    """
    import sys

    system = platform or sys.platform
    chosen = os.environ.get("PYTHON_KEYRING_BACKEND")
    override = (
        f" PYTHON_KEYRING_BACKEND={chosen} is set here and chooses the keyring: remove it."
        if chosen
        else ""
    )
    if system.startswith("win"):
        text = (
            "Windows keeps passwords in its Credential Manager, which is always there: run "
            "set-up as the Windows user who will use the watchdog (not as administrator), "
            "and reinstall Delivery Watchdog if the keyring still cannot be reached."
        )
    elif system == "darwin":
        text = (
            "macOS keeps passwords in the Keychain: run set-up in the Mac user's own desktop "
            "session (not over SSH), where the login keychain is unlocked."
        )
    else:
        text = (
            "Install and enable a system keyring with the Secret Service: GNOME Keyring (on "
            "Debian and Ubuntu the package gnome-keyring; other desktops: install it too) or "
            "KWallet on KDE with its Secret Service switched on; then log in to the desktop, "
            "so it unlocks, and run `watchdog setup` there."
        )
    return text + override


def env_var(role: Role) -> str:
    """The environment variable that may hold the password for headless use."""
    return f"WATCHDOG_{role.upper()}_PASSWORD"


def lookup_password(role: Role, username: str) -> str:
    """The password for ``role``: environment first (headless installs), then the OS keyring."""
    from_env = os.environ.get(env_var(role))
    if from_env:
        return from_env
    import keyring  # imported late: it is slow to import and not needed when the env is set

    entry = keyring_entry(role, username)
    try:
        password = keyring.get_password(KEYRING_SERVICE, entry)
    except Exception as e:
        # keyring's Windows backend raises pywintypes.error (e.g. 1312), not a KeyringError.
        if not is_keyring_failure(e):
            raise
        raise SecretError(
            f"The system keyring could not be read ({keyring_failure_detail(e)}). Store the {role} "
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
        """One AUTH attempt with one mechanism: PLAIN if offered, else LOGIN (else CRAM-MD5).

        Not ``smtplib.SMTP.login``: it tries each offered mechanism in turn, so one wrong
        password costs two or three failed sign-ins, and fail2ban-style protections count every
        one of them towards blocking the practice's own account.
        """
        if not self.username:
            return
        import smtplib

        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        mechanism = smtp_mechanism(connection.esmtp_features["auth"])
        if mechanism is None:
            raise smtplib.SMTPException(
                "The server offers no sign-in method Watchdog knows (PLAIN, LOGIN, CRAM-MD5): "
                + connection.esmtp_features["auth"]
            )
        # smtplib's auth_plain / auth_login / auth_cram_md5 read these two attributes.
        connection.user, connection.password = self.username, self._password()
        try:
            method = getattr(connection, "auth_" + mechanism.lower().replace("-", "_"))
            # Raises SMTPAuthenticationError for anything but 235 (or 503, already signed in).
            connection.auth(mechanism, method)
        finally:
            connection.password = ""

    def imap(self, client: IMAPClient) -> None:
        client.login(self.username, self._password())


#: Single-attempt preference: PLAIN and LOGIN carry the same secret (over TLS); CRAM-MD5 only
#: for a server that offers nothing else.
_SMTP_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


def smtp_mechanism(offered: str) -> str | None:
    """The one SASL mechanism to use from an EHLO ``AUTH`` line (``"LOGIN PLAIN"``), or None."""
    names = set(offered.upper().split())
    return next((m for m in _SMTP_MECHANISMS if m in names), None)


PasswordLookup = Callable[[Role, str], str]


def password_signin(
    role: Role, username: str, lookup: PasswordLookup = lookup_password
) -> PasswordSignIn:
    """The password sign-in for an account of the config."""
    return PasswordSignIn(username, lambda: lookup(role, username))


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64): ``user=..^Aauth=Bearer ..^A^A``."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


class OAuthSignIn:
    """OAuth2 sign-in: SASL XOAUTH2 over SMTP and IMAP, with a token fetched at login.

    ``token(force_refresh)`` returns an access token; it raises ``SigninExpiredError`` when the
    provider refused to renew the sign-in, which the runner records as ``signin_expired``. A token
    the server refuses is renewed once and tried again, as mail programs do: providers may revoke
    access tokens before they expire (Microsoft's continuous access evaluation), and a renewal that
    is refused then tells "sign in again" apart from a token that was merely stale.
    """

    def __init__(self, username: str, token: Callable[[bool], str]) -> None:
        self.username = username
        self._token = token

    def __repr__(self) -> str:
        return f"OAuthSignIn(username={self.username!r})"

    def _smtp_once(self, connection: smtplib.SMTP, token: str) -> None:
        import smtplib

        response = xoauth2_string(self.username, token)

        def answer(challenge: bytes | None = None) -> str:
            # A refused token gets a 334 with a JSON error; an empty answer then ends the
            # exchange with the server's real refusal (535), which the classifier reads.
            return response if challenge is None else ""

        code, text = connection.auth("XOAUTH2", answer, initial_response_ok=True)
        if code != 235:
            # smtplib returns a 503 ("send EHLO first", "already authenticated") without raising.
            raise smtplib.SMTPAuthenticationError(code, text)

    def smtp(self, connection: smtplib.SMTP) -> None:
        import smtplib

        try:
            self._smtp_once(connection, self._token(False))
        except smtplib.SMTPAuthenticationError as e:
            if e.smtp_code != 535:
                raise
            self._smtp_once(connection, self._token(True))

    def imap(self, client: IMAPClient) -> None:
        from imapclient.exceptions import LoginError

        try:
            client.oauth2_login(self.username, self._token(False))
        except LoginError:
            client.oauth2_login(self.username, self._token(True))


def is_keyring_failure(error: BaseException) -> bool:
    """Whether ``error`` means "the OS keyring failed": a ``KeyringError``, or a Windows error.

    keyring's Windows backend lets the Win32 error of ``CredRead``/``CredWrite`` through as
    ``pywintypes.error`` (pywin32-ctypes' ``win32ctypes.pywin32.pywintypes.error``, or pywin32's
    own), not as a ``KeyringError``: e.g. 1312, "A specified logon session does not exist",
    under a scheduled task set to run whether the user is logged on or not. Recognised by class
    name and module, so pywin32 is never imported (it does not exist elsewhere).
    """
    import keyring.errors

    if isinstance(error, keyring.errors.KeyringError):
        return True
    return any(
        cls.__name__ == "error" and cls.__module__.rpartition(".")[2] == "pywintypes"
        for cls in type(error).__mro__
    )


def keyring_failure_detail(error: BaseException) -> str:
    """`` (Windows error 1312: ...)`` for a Windows error, else the error's class name."""
    code = getattr(error, "winerror", None)
    if isinstance(code, int):
        text = getattr(error, "strerror", None) or ""
        return f"Windows error {code}{': ' + str(text).strip() if text else ''}"
    return type(error).__name__

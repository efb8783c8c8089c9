"""Error classes. Raised with ``raise ... from e``; the CLI maps them to exit codes."""

from __future__ import annotations

from watchdog.core.models import Diagnosis, SmtpReply


class WatchdogError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigError(WatchdogError):
    """The configuration is missing, unreadable or has a bad value.

    The message names the file and, where there is one, the key, the value and what is allowed.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.key = key
        # key is shown as the user would find it in the file, e.g. "[sender] smtp_port".
        text = message
        if key:
            text = f"{key} {text}"
        if path:
            text = f"{path}: {text}"
        super().__init__(text)


class SecretError(WatchdogError):
    """A password could not be read from the keyring or the environment."""


class SigninExpiredError(SecretError):
    """The provider refused to renew an OAuth2 sign-in (``invalid_grant``): someone must sign in.

    A ``SecretError`` because, like a missing password, it is a problem of Watchdog's own
    credentials and never of the practice's mail. ``role`` is ``sender`` or ``seed``.
    """

    def __init__(self, message: str, *, role: str = "", username: str = "") -> None:
        super().__init__(message)
        self.role = role
        self.username = username


class SendError(WatchdogError):
    """The canary could not be handed to the outgoing server."""

    def __init__(
        self,
        message: str,
        *,
        reply: SmtpReply | None = None,
        network: bool = False,
        stage: str = "",
        diagnosis: Diagnosis | None = None,
        cancelled: bool = False,
    ) -> None:
        super().__init__(message)
        self.reply = reply
        # True when a stop request (Ctrl-C, SIGTERM, Quit) cut the send before the server
        # accepted the canary: nothing was sent.
        self.cancelled = cancelled
        self.network = network  # True when the server could not be reached or hung up
        self.stage = stage  # connect, login, send: where it went wrong
        # Set when the probe itself knows what the failure means (STARTTLS not offered, not an
        # SMTP server, a conversation cut for time); the message is then in plain words.
        self.diagnosis = diagnosis


class MailboxError(WatchdogError):
    """The seed mailbox could not be opened or searched."""

    def __init__(
        self, message: str, *, network: bool = False, diagnosis: Diagnosis | None = None
    ) -> None:
        super().__init__(message)
        self.network = network  # True when the server could not be reached or hung up
        # Set when the mailbox code knows what the failure means (see SendError.diagnosis).
        self.diagnosis = diagnosis


class StorageError(WatchdogError):
    """The history database cannot be used."""


class AlreadyRunningError(WatchdogError):
    """Another instance of the loop is running for this user."""

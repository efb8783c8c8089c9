"""Error classes. Modules raise these (always ``raise ... from e``); the CLI maps them to exit codes."""

from __future__ import annotations

from .models import Diagnosis, SmtpReply


class WatchdogError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigError(WatchdogError):
    """The configuration is missing, unreadable or has a bad value.

    The message always names the file and, where there is one, the key, the value and what is allowed.
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
        where = ""
        if path and key:
            where = f"{path}: [{key}] "
        elif path:
            where = f"{path}: "
        super().__init__(f"{where}{message}")


class SecretError(WatchdogError):
    """A password could not be read from the keyring or the environment."""


class SendError(WatchdogError):
    """The canary could not be handed to the outgoing server."""

    def __init__(
        self,
        message: str,
        *,
        reply: SmtpReply | None = None,
        diagnosis: Diagnosis = Diagnosis.UNKNOWN,
        network: bool = False,
    ) -> None:
        super().__init__(message)
        self.reply = reply
        self.diagnosis = diagnosis
        self.network = network  # True when the server could not be reached at all


class MailboxError(WatchdogError):
    """The seed mailbox could not be opened or searched."""

    def __init__(
        self, message: str, *, diagnosis: Diagnosis = Diagnosis.SEED_UNREACHABLE, network: bool = False
    ) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis
        self.network = network


class StorageError(WatchdogError):
    """The history database cannot be used."""


class AlreadyRunningError(WatchdogError):
    """Another instance of the loop is running for this user."""

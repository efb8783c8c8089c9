"""The words of the domain: statuses, outcomes, diagnoses and the records that carry them.

Nothing here does I/O or imports other modules of ours, so every layer can share these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    """Whether reminder e-mails are getting through, as the staff sees it."""

    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"
    PAUSED = "PAUSED"


class Outcome(enum.StrEnum):
    """What became of one canary."""

    PENDING = "pending"  # sent, not yet found, deadline not yet passed
    DELIVERED = "delivered"  # found in the inbox before the deadline
    JUNK = "junk"  # found in the junk folder before the deadline
    LATE = "late"  # found, but only after the deadline
    LOST = "lost"  # not found by the deadline (may still turn LATE)
    SEND_FAILED = "send_failed"  # the outgoing server refused or could not be reached
    BOUNCED = "bounced"  # accepted, then a bounce came back to the sender
    SEED_UNREACHABLE = "seed_unreachable"  # the seed mailbox could not be opened
    OFFLINE = "offline"  # neither server reachable: this PC's network, not the provider
    # The check stopped before the outgoing server accepted the canary (power cut, Ctrl-C, a
    # kill during a slow connect): nothing was sent, so nothing can be lost. No status change.
    NOT_SENT = "not_sent"

    @property
    def is_final(self) -> bool:
        """True once nothing more can change this outcome except a late arrival."""
        return self is not Outcome.PENDING


class Diagnosis(enum.StrEnum):
    """Why delivery looks the way it does: one vocabulary for guidance and history."""

    OK = "ok"
    DELAYED = "delayed"
    VERIFICATION_REQUIRED = "verification_required"
    APP_PASSWORD_REQUIRED = "app_password_required"
    AUTH_REJECTED = "auth_rejected"
    BASIC_AUTH_DISABLED = "basic_auth_disabled"
    SENDING_LIMIT = "sending_limit"
    SENDER_BLOCKED = "sender_blocked"
    RATE_LIMITED = "rate_limited"
    MESSAGE_REJECTED = "message_rejected"
    SILENT_DROP = "silent_drop"
    JUNK_PLACEMENT = "junk_placement"
    SEED_UNREACHABLE = "seed_unreachable"
    # Watchdog's own OAuth2 sign-in was refused by the provider (revoked, password changed,
    # consent withdrawn): Watchdog cannot check, which says nothing about the practice's mail.
    SIGNIN_EXPIRED = "signin_expired"
    # The seed mailbox refused the canary because it is full: Watchdog's own mailbox, so this
    # says nothing about the practice's mail either.
    SEED_MAILBOX_FULL = "seed_mailbox_full"
    # The seed address does not exist (5.1.1 at RCPT or in a bounce): Watchdog's set-up.
    SEED_ADDRESS_UNKNOWN = "seed_address_unknown"
    # About a reminder (``watchdog explain``): the patient's address does not exist.
    RECIPIENT_UNKNOWN = "recipient_unknown"
    # About a reminder: the patient's mailbox is full (for the canary: seed_mailbox_full).
    RECIPIENT_MAILBOX_FULL = "recipient_mailbox_full"
    # Relay access denied / sender address not owned by the signed-in user: the user name, the
    # From address or the "sign in to send" setting is wrong. Not a junk-mail filter.
    RELAY_DENIED = "relay_denied"
    # Watchdog could not run its check for a reason of its own (a password missing from the
    # keyring, a locked keyring, an internal error): nothing is known about the practice's mail.
    CANNOT_CHECK = "cannot_check"
    # The configured host and port answered, but not as the kind of mail server expected (an
    # IMAP port in smtp_port, garbage): a settings problem, never the provider's refusal.
    WRONG_SERVER_SETTINGS = "wrong_server_settings"
    OFFLINE = "offline"
    TLS_ERROR = "tls_error"
    SERVER_UNREACHABLE = "server_unreachable"
    UNKNOWN = "unknown"


class Security(enum.StrEnum):
    """How a connection to a mail server is protected."""

    SSL = "ssl"  # implicit TLS from the first byte (ports 465, 993)
    STARTTLS = "starttls"  # plain connect, then upgrade (ports 587, 143)
    NONE = "none"  # only for a loopback or LAN relay


class AlertKind(enum.StrEnum):
    """Why an alert is sent.

    The value is what the history stores (``alert_attempts.kind``, ``alert_memory.last_kind``)
    and what a webhook's JSON carries; inside the program the kind is always this enum.
    """

    DOWN = "down"  # reminders are not going out
    DEGRADED = "degraded"  # going out, but late or into junk
    REMINDER = "reminder"  # still down, N hours later
    RECOVERED = "recovered"  # mail flows again
    UNKNOWN = "unknown"  # we cannot check (seed mailbox, this PC offline)
    TEST = "test"  # `watchdog test-alert`
    RESULT = "result"  # the answer to "Check now", whatever it is
    BUDGET = "budget"  # the account nears its provider's daily sending limit (once a day)


@dataclass(frozen=True)
class SmtpReply:
    """A reply from the outgoing server, kept whole so support can read what was really said."""

    code: int
    text: str
    enhanced: str | None = None  # RFC 3463 status such as "5.7.9", when the server gave one

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


@dataclass(frozen=True)
class Canary:
    """One test message on its way to the seed mailbox."""

    token: str
    message_id: str
    sent_at: float  # Unix time, seconds
    deadline_at: float


@dataclass(frozen=True)
class CheckResult:
    """Everything one check established; one history row per canary."""

    token: str
    sent_at: float
    deadline_at: float
    outcome: Outcome
    diagnosis: Diagnosis
    found_at: float | None = None
    latency_s: float | None = None
    folder: str | None = None
    smtp_reply: SmtpReply | None = None
    detail: str = ""  # plain-words explanation, safe to show (no secrets)
    # The bounce's status and diagnostic text, kept beside the server's own final reply (whose
    # queue ID support needs), never in its place.
    bounce: str | None = None
    # False while the outgoing server has not (yet) accepted the canary: a row left so by a
    # power cut or a kill during the send is closed as not sent, never as lost.
    accepted: bool = True
    # Mail server clock minus this PC's, measured from a canary watched live (INTERNALDATE
    # against the moment it was seen): corrects arrivals judged later by INTERNALDATE.
    clock_skew_s: float | None = None


@dataclass(frozen=True)
class StatusSnapshot:
    """The status now, since when, and the evidence the next decision needs."""

    status: Status
    since: float | None
    reason: str = ""
    diagnosis: Diagnosis | None = None
    consecutive_lost: int = 0
    consecutive_refused: int = 0
    streak_since: float | None = None  # when the current run of losses or refusals began


@dataclass(frozen=True)
class Policy:
    """When the status turns DOWN (``[policy]`` in the config)."""

    down_after_lost: int = 1
    down_after_refusals: int = 1


@dataclass(frozen=True)
class Flip:
    """A change of status: the moment to tell people."""

    from_status: Status
    to_status: Status
    at: float
    reason: str
    diagnosis: Diagnosis | None = None


@dataclass(frozen=True)
class AlertPolicy:
    """When people are told (``[alerts]`` in the config).

    ``office_days`` are weekday numbers (Monday 0); ``office_open``/``office_close`` are minutes
    after local midnight. Outside office hours non-urgent reminders wait for the office to open.
    """

    on_degraded: bool = True
    remind_every_s: float = 2 * 3600.0
    office_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    office_open_min: int = 7 * 60
    office_close_min: int = 19 * 60


@dataclass(frozen=True)
class AlertMemory:
    """What people were last told, kept in the history so a restart never repeats an alert."""

    last_kind: AlertKind | None = None
    last_at: float | None = None
    problem: Status | None = None  # the problem status people were told about, until recovery
    problem_since: float | None = None  # when that problem began (the first lost canary)


@dataclass(frozen=True)
class AlertAttempt:
    """One alert on one channel, as stored."""

    at: float
    kind: AlertKind  # stored as its value ("down", "recovered", ...)
    channel: str
    ok: bool
    permanent: bool
    attempts: int
    detail: str
    status: Status
    diagnosis: Diagnosis | None


@dataclass(frozen=True)
class Alert:
    """Everything a channel may show; texts are plain words, server text kept apart."""

    kind: AlertKind
    status: Status
    title: str  # short, e.g. "Reminder e-mails are not going out (AT&T)"
    message: str  # what happened and what to do first
    office: str = ""
    provider: str = "other"
    provider_name: str = "Other"
    diagnosis: Diagnosis | None = None
    summary: str = ""  # one sentence: what the diagnosis means
    since: float | None = None  # Unix time the status began
    at: float = 0.0  # Unix time the alert was made
    last_reply: str | None = None  # the server's words, for support (never shown unescaped)
    details: dict[str, str] = field(default_factory=dict)

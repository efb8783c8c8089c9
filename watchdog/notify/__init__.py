"""Telling people: alert messages and the channels that carry them.

A channel turns an ``Alert`` into a desktop notification, a webhook call or a heartbeat ping. A
channel never raises into the loop: it returns an ``AttemptResult`` that the runner records in the
history, with ``permanent`` telling a broken setup (fix the config) from a passing hiccup (retry).
Modelled on healthchecks' transports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from ..models import Diagnosis, Status


class AlertKind(enum.StrEnum):
    """Why an alert is sent."""

    DOWN = "down"  # reminders are not going out
    DEGRADED = "degraded"  # going out, but late or into junk
    REMINDER = "reminder"  # still down, N hours later
    RECOVERED = "recovered"  # mail flows again
    UNKNOWN = "unknown"  # we cannot check (seed mailbox, this PC offline)
    TEST = "test"  # `watchdog test-alert`
    RESULT = "result"  # the answer to "Check now", whatever it is
    BUDGET = "budget"  # the account nears its provider's daily sending limit (once a day)


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


@dataclass(frozen=True)
class AttemptResult:
    """What became of one alert on one channel."""

    channel: str  # e.g. "desktop", "webhook:slack"
    ok: bool
    detail: str = ""  # what went wrong, in words support can act on (never a secret)
    permanent: bool = False  # True: retrying will not help until the config changes
    attempts: int = 1


class Channel(Protocol):
    """Delivers alerts somewhere. ``send`` never raises."""

    @property
    def name(self) -> str:
        """Stable name for the history, e.g. ``desktop`` or ``webhook:ntfy``."""
        ...

    def send(self, alert: Alert) -> AttemptResult:
        """Deliver ``alert``; report success or failure, never raise."""
        ...

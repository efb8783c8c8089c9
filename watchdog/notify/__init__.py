"""Telling people: alert messages and the channels that carry them.

A channel turns an ``Alert`` into a desktop notification, a webhook call or a heartbeat ping. A
channel never raises into the loop: it returns an ``AttemptResult`` that the runner records in the
history, with ``permanent`` telling a broken setup (fix the config) from a passing hiccup (retry).
Modelled on healthchecks' transports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..models import AlertKind, Diagnosis, Status

# AlertKind lives in the pure core (models) so the alert rules in ``state`` can name it too;
# ``from watchdog.notify import AlertKind`` keeps working.
__all__ = ["Alert", "AlertKind", "AttemptResult", "Channel"]


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

"""Telling people: alert messages and the channels that carry them.

A channel turns an ``Alert`` into a desktop notification, a webhook call or a heartbeat ping. A
channel never raises into the loop: it returns an ``AttemptResult`` that the runner records in the
history, with ``permanent`` telling a broken setup (fix the config) from a passing hiccup (retry).
Modelled on healthchecks' transports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from watchdog.core.models import Alert, AlertKind

# Alert and AlertKind live in the pure core (models): the alert rules in ``state`` and the
# words in ``messages`` make them; ``from watchdog.notify import Alert, AlertKind`` keeps working.
__all__ = ["Alert", "AlertKind", "AttemptResult", "Channel"]


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

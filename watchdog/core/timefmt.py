"""The one way a moment is written for machines: ISO 8601 in UTC, to the millisecond, with ``Z``.

Used by every JSON and CSV the watchdog writes: ``--json`` of ``status``, ``history`` and
``incidents``, ``watchdog export`` (docs/export.md) and the webhook payload (docs/escalation.md).
Why one: a script that reads one of them reads all of them with one parser. Why milliseconds: a
canary watched live is timed to the sub-second, and the export is where support reads it. Why
``Z``: it is UTC at a glance, and every ISO 8601 parser reads it (Python's ``fromisoformat``
since 3.11).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc", "iso_utc_or_none"]


def iso_utc(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as ``2025-03-04T09:15:00.250Z``.

    >>> iso_utc(1_767_000_000.25)
    '2025-12-29T09:20:00.250Z'
    """
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def iso_utc_or_none(timestamp: float | None) -> str | None:
    """:func:`iso_utc`, or None for a moment that has not happened (JSON ``null``, CSV empty)."""
    return None if timestamp is None else iso_utc(timestamp)

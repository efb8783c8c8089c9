"""Times and durations in the words a person at the front desk reads at a glance."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``0.04 s``, ``12.3 s``, ``4 min 10 s``, ``2 h 5 min``: what a person reads at a glance."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def parse_since(text: str | None) -> float | None:
    """``--since 2026-11-01`` (local midnight) or an ISO date-time; a clear error otherwise."""
    if text is None:
        return None
    from datetime import datetime

    from watchdog.core.errors import ConfigError

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(f"--since {text!r}: give a date like 2026-11-01") from None

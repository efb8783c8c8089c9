"""Time as a dependency, so tests and the demo can drive it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What time-dependent code needs: wall time for records, monotonic time for waiting."""

    def now(self) -> float:
        """Wall-clock Unix time in seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never jumps."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

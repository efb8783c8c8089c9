"""Time as a dependency, so tests and the demo can drive it."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: ``QueryUnbiasedInterruptTime`` counts in units of 100 nanoseconds.
_INTERRUPT_TIME_UNITS_PER_S = 10_000_000


class Clock(Protocol):
    """What time-dependent code needs: wall time for records, monotonic time for waiting."""

    def now(self) -> float:
        """Wall-clock Unix time in seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never jumps, and stands still while the PC sleeps."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds``."""
        ...


class SystemClock:
    """The real clock.

    ``monotonic`` must not count time the PC spent asleep: the loop's sleep detector
    (``loop.SleepDetector``) notices a sleep as wall time that passed while monotonic time stood
    still. On Linux (``CLOCK_MONOTONIC``) and macOS (``mach_absolute_time``)
    :func:`time.monotonic` already stops during sleep. On Windows it does not:
    ``GetTickCount64`` (Python up to 3.12) counts sleep and hibernation, and nothing promises
    that ``QueryPerformanceCounter`` (3.13) does not; so there ``monotonic`` is kernel32's
    ``QueryUnbiasedInterruptTime``, documented to leave sleep and hibernation out. Chosen once,
    here: ``platform`` (default ``sys.platform``) and ``kernel32`` (default the real DLL) are
    injectable for tests. If the function cannot be loaded, :func:`time.monotonic` is used and
    a warning logged (sleep then goes unnoticed, as before).
    """

    def __init__(self, *, platform: str | None = None, kernel32: Any = None) -> None:
        self._monotonic: Callable[[], float] = time.monotonic
        if (sys.platform if platform is None else platform) == "win32":
            unbiased = unbiased_interrupt_time(kernel32)
            if unbiased is not None:
                self._monotonic = unbiased

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return self._monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def unbiased_interrupt_time(kernel32: Any = None) -> Callable[[], float] | None:
    """Windows: seconds of ``QueryUnbiasedInterruptTime`` (sleep left out), or None if missing.

    ``kernel32``: the DLL (``ctypes.WinDLL("kernel32")`` when None); a test passes a stand-in
    whose ``QueryUnbiasedInterruptTime`` fills the pointer it gets. A call that fails raises
    OSError (the function only fails for a bad pointer). ``ctypes`` is imported only here, so
    other platforms never pay for it.
    """
    import ctypes

    try:
        if kernel32 is None:
            kernel32 = _load_kernel32()
        query = kernel32.QueryUnbiasedInterruptTime
        query.argtypes = [ctypes.POINTER(ctypes.c_ulonglong)]
        query.restype = ctypes.c_int  # BOOL
    except Exception as e:  # no such DLL or function: an old or unusual Windows
        log.warning(
            "QueryUnbiasedInterruptTime is not available (%s): a sleep of this PC may go "
            "unnoticed and make a canary in flight look lost",
            e,
        )
        return None

    def monotonic() -> float:
        counter = ctypes.c_ulonglong(0)
        if not query(ctypes.pointer(counter)):
            raise OSError("QueryUnbiasedInterruptTime failed")
        return counter.value / _INTERRUPT_TIME_UNITS_PER_S

    return monotonic


def _load_kernel32() -> Any:
    """kernel32.dll; raises anywhere else (a test that only injects the platform)."""
    if sys.platform == "win32":
        import ctypes

        return ctypes.WinDLL("kernel32", use_last_error=True)
    raise OSError("kernel32.dll exists only on Windows")

"""The system clock on Windows, with the platform and kernel32 injected (no Windows here).

``time.monotonic`` on Windows counts the time the PC slept, so the loop's sleep detector
(wall time minus monotonic time) never fired there; ``SystemClock`` uses
``QueryUnbiasedInterruptTime`` (100-ns units, sleep left out) instead.
"""

from __future__ import annotations

import ctypes
import logging
import time
from typing import Any

import pytest

from watchdog.core.clock import SystemClock
from watchdog.engine.loop import SleepDetector

TICKS_PER_S = 10_000_000


class FakeKernel32:
    """kernel32 with ``QueryUnbiasedInterruptTime`` filling the pointer from ``ticks``."""

    def __init__(self, *ticks: int, succeed: bool = True) -> None:
        self.ticks = list(ticks)
        self.succeed = succeed

        def query(pointer: Any) -> int:
            pointer.contents.value = self.ticks.pop(0)
            return 1 if self.succeed else 0

        self.QueryUnbiasedInterruptTime = query


def test_on_windows_the_system_clock_reads_the_unbiased_interrupt_time_in_seconds() -> None:
    clock = SystemClock(platform="win32", kernel32=FakeKernel32(25 * TICKS_PER_S + 5_000_000))
    assert clock.monotonic() == 25.5


def test_on_windows_a_night_asleep_is_seen_by_the_loops_sleep_detector() -> None:
    """The interrupt time stands still while the PC sleeps: 2 h of wall time, 1 min of it."""
    kernel32 = FakeKernel32(1_000 * TICKS_PER_S, 1_060 * TICKS_PER_S)
    clock = SystemClock(platform="win32", kernel32=kernel32)
    detector = SleepDetector(threshold_s=1800)
    wall = 1_700_000_000.0
    assert detector.observe(wall, clock.monotonic()) == 0.0
    assert detector.observe(wall + 7_260, clock.monotonic()) == 7_200.0


def test_on_windows_the_function_gets_a_pointer_to_an_unsigned_64_bit_counter() -> None:
    kernel32 = FakeKernel32(1)
    SystemClock(platform="win32", kernel32=kernel32)
    assert kernel32.QueryUnbiasedInterruptTime.argtypes == [  # type: ignore[attr-defined]
        ctypes.POINTER(ctypes.c_ulonglong)
    ]


def test_a_failed_call_raises_instead_of_returning_a_wrong_time() -> None:
    clock = SystemClock(platform="win32", kernel32=FakeKernel32(0, succeed=False))
    with pytest.raises(OSError, match="QueryUnbiasedInterruptTime failed"):
        clock.monotonic()


def test_without_the_function_the_clock_falls_back_to_time_monotonic_and_says_so(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: 42.0)
    with caplog.at_level(logging.WARNING, logger="watchdog.core.clock"):
        clock = SystemClock(platform="win32", kernel32=object())
    assert clock.monotonic() == 42.0
    assert "QueryUnbiasedInterruptTime is not available" in caplog.text


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_on_linux_and_macos_the_clock_stays_time_monotonic_and_never_touches_kernel32(
    platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: 7.0)
    kernel32 = FakeKernel32()  # no ticks: any call would raise IndexError
    assert SystemClock(platform=platform, kernel32=kernel32).monotonic() == 7.0

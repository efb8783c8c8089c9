"""The tests' own clocks behave like the real one where the product relies on it."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock, RealClock


def test_a_fake_sleep_is_recorded_and_moves_wall_and_monotonic_time_together() -> None:
    clock = FakeClock(1_000.0, monotonic_start=5.0)
    clock.sleep(30.0)
    clock.sleep(2.5)
    assert clock.sleeps == [30.0, 2.5]
    assert (clock.now(), clock.monotonic()) == (1_032.5, 37.5)


def test_fake_time_never_goes_back_like_a_real_sleep_of_a_negative_time() -> None:
    clock = FakeClock(1_000.0)
    clock.sleep(-5.0)
    clock.advance(-1.0)
    clock.advance_to(900.0)
    assert clock.sleeps == [-5.0]  # asked for, so recorded
    assert (clock.now(), clock.monotonic()) == (1_000.0, 1_000.0)
    clock.advance_to(1_060.0)
    assert clock.now() == 1_060.0


def test_setting_the_fake_wall_clock_leaves_monotonic_time_alone() -> None:
    clock = FakeClock(1_000.0, monotonic_start=0.0)
    clock.wall_offset = -3_600.0  # the user sets the clock back an hour
    assert (clock.now(), clock.monotonic()) == (-2_600.0, 0.0)


def test_the_real_clocks_wall_can_jump_ahead_while_its_monotonic_time_does_not() -> None:
    clock = RealClock()
    before_wall, before_mono = clock.now(), clock.monotonic()
    clock.wall_offset = 7_200.0  # two hours asleep
    assert clock.now() - before_wall == pytest.approx(7_200.0, abs=60)
    assert clock.monotonic() - before_mono == pytest.approx(0.0, abs=60)
    assert clock.monotonic_calls == 2

"""The clocks tests (and ``benchmarks/detection.py``) hand to the product instead of real time.

Both follow :class:`watchdog.core.clock.Clock` (``now``, ``monotonic``, ``sleep``), so mypy checks
them against the protocol wherever they are passed. There are two on purpose, because tests need
two different kinds of time:

- :class:`FakeClock`: simulated time that moves only when the test moves it or the code under
  test sleeps (a sleep is recorded and returns at once). For everything single-threaded.
- :class:`RealClock`: real time (the product's :class:`~watchdog.core.clock.SystemClock`), for tests
  where real threads or real servers wait; its wall clock can still be made to jump.

Benchmarks may import this module: they already import ``tests.servers``, and nothing in
``watchdog/`` imports from ``tests/``.
"""

from __future__ import annotations

from watchdog.core.clock import SystemClock

#: The fake clock's default wall time (2027-01-15): far from today, so a value taken from the real
#: clock by mistake stands out.
DEFAULT_START = 1_800_000_000.0


class FakeClock:
    """Simulated time: wall and monotonic time move together, only when told.

    What tests read and move:

    - ``t``: the time that has passed; :meth:`sleep`, :meth:`advance` and :meth:`advance_to` move
      it forward, a test may also set it (``clock.t += 7200``: two hours pass).
    - ``wall_offset``: a change of the wall clock alone, which monotonic time does not see (the
      user sets the clock, the PC slept): ``now()`` is ``t + wall_offset``.
    - ``sleeps``: every sleep the code asked for, in order, in seconds.

    ``start`` is the wall time at the start. ``monotonic_start`` is the monotonic time then
    (default: the same as the wall time); a value far from ``start`` makes code that mixes up the
    two clocks fail visibly.
    """

    def __init__(
        self, start: float = DEFAULT_START, *, monotonic_start: float | None = None
    ) -> None:
        self.t = start
        self.wall_offset = 0.0
        self.sleeps: list[float] = []
        self._monotonic_shift = 0.0 if monotonic_start is None else start - monotonic_start

    def now(self) -> float:
        return self.t + self.wall_offset

    def monotonic(self) -> float:
        return self.t - self._monotonic_shift

    def sleep(self, seconds: float) -> None:
        """Record the sleep and let the time pass at once (none for a negative one, as for real)."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass; time never goes back."""
        self.t += max(0.0, seconds)

    def advance_to(self, t: float) -> None:
        """Let time pass until ``t`` (a value of ``t``, without the wall offset); never back."""
        self.t = max(self.t, t)


class RealClock(SystemClock):
    """Real time, for real threads and servers, with two things a test can do to it.

    - ``wall_offset``: seconds added to the wall time, so the wall clock jumps while monotonic
      time does not (what a PC that slept looks like to the product).
    - ``monotonic_calls``: how often the code looked at monotonic time (a loop that polls looks
      often; one that sleeps until the next check looks once per wakeup).
    """

    def __init__(self) -> None:
        super().__init__()
        self.wall_offset = 0.0
        self.monotonic_calls = 0

    def now(self) -> float:
        return super().now() + self.wall_offset

    def monotonic(self) -> float:
        self.monotonic_calls += 1
        return super().monotonic()

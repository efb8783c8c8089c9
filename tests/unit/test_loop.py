"""The loop's own rules: PC sleep noticed, deadlines given back, Check now, pause and resume."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock, RealClock
from tests.support.sent_folder import FakeSentFolder
from tests.unit.test_runner import KEY, FakeMailbox, FakeProbe, make_config, make_runner
from watchdog.config import ScheduleConfig
from watchdog.core.models import Canary, CheckResult, Diagnosis, Outcome
from watchdog.core.tokens import make_token
from watchdog.engine.loop import Loop, Plan, SleepDetector
from watchdog.storage.history import History


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # (wall, monotonic) observations -> seconds slept reported at each
        ([(0, 0), (60, 60), (120, 120)], [0.0, 0.0, 0.0]),
        ([(0, 0), (7260, 60)], [0.0, 7200.0]),  # 2 h of wall time, 1 min awake
        ([(0, 0), (100, 60)], [0.0, 0.0]),  # 40 s of drift: below the 30-min interval
    ],
)
def test_the_sleep_detector_counts_wall_time_that_passed_while_monotonic_time_stood_still(
    steps: list[tuple[float, float]], expected: list[float]
) -> None:
    detector = SleepDetector(threshold_s=1800)
    assert [detector.observe(w, m) for w, m in steps] == expected


def test_after_a_sleep_canaries_in_flight_get_the_time_back_and_are_not_lost(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    mailbox = FakeMailbox(clock)
    runner = make_runner(tmp_path, FakeProbe(), mailbox, clock, route=True)
    history: History = runner.history
    t0 = clock.now()
    overdue = Canary(make_token(KEY, t0 - 3600), "<a>", t0 - 3600, t0 - 3000)  # late before
    in_flight = Canary(make_token(KEY, t0), "<b>", t0, t0 + 30)
    history.record_pending(overdue, t0)
    history.record_pending(in_flight, t0)

    clock.t += 2 * 3600  # the PC slept two hours
    assert runner.after_sleep(2 * 3600, asleep_from=t0) == 1
    assert history.get(in_flight.token).deadline_at == t0 + 30 + 7200  # type: ignore[union-attr]
    assert history.get(overdue.token).deadline_at == t0 - 3000  # type: ignore[union-attr]

    # On wake the canary that came in during the nap is found, judged by its arrival time.
    mailbox.arrived[in_flight.token] = t0 + 4
    settled = {r.token: r.outcome for r in runner.settle()}
    assert settled[in_flight.token] is Outcome.DELIVERED


class NoCanariesYet:
    """The history as the loop reads it, before any canary went out."""

    def recent(self, limit: int) -> list[CheckResult]:
        return []


class CountingRunner:
    """Stands in for the Runner (``loop.Checks``): counts checks, never touches the network."""

    def __init__(self, interval_s: float) -> None:
        self.checks = 0
        self.after_reminders: list[bool] = []  # each check: did it answer for reminders?
        self.config = replace(
            make_config(Path()),  # its path is never read
            schedule=ScheduleConfig(every_minutes=interval_s / 60, deadline_minutes=0.5),
        )
        self.history = NoCanariesYet()

    def safe_check(self, stop: threading.Event, /, *, after_reminders: bool = False) -> None:
        self.checks += 1
        self.after_reminders.append(after_reminders)

    def after_sleep(self, slept: float, asleep_from: float) -> int:
        return 0

    def signin_retry_at(self) -> float | None:
        return None


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_check_now_pause_and_resume_drive_the_loop(tmp_path: Path) -> None:
    runner = CountingRunner(interval_s=3600)
    loop = Loop(runner, RealClock())
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: runner.checks == 1)  # the first check runs at once
        loop.request_check()
        assert wait_until(lambda: runner.checks == 2)  # Check now
        loop.pause(3600)
        assert loop.paused_until is not None
        time.sleep(0.2)
        assert runner.checks == 2  # nothing during a pause
        loop.resume()
        assert wait_until(lambda: runner.checks == 3)  # a pause ends with a check
        assert loop.paused_until is None
    finally:
        loop.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_an_idle_loop_sleeps_until_the_next_check_instead_of_polling() -> None:
    runner = CountingRunner(interval_s=3600)
    clock = RealClock()  # counts how often the loop looks at it: once per wakeup
    loop = Loop(runner, clock)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: runner.checks == 1)
        time.sleep(0.05)  # let the loop settle into its wait
        looks = clock.monotonic_calls
        time.sleep(0.5)
        # A loop polling its schedule (every second, or faster) would have looked again; this
        # one waits for the next check (at most a minute, for the sleep detector) or a control.
        assert clock.monotonic_calls == looks
        loop.request_check()
        assert wait_until(lambda: runner.checks == 2)  # and still wakes at once for Check now
    finally:
        loop.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


class SlowRunner(CountingRunner):
    """Each check waits out a 10-minute deadline on the simulated clock."""

    def __init__(self, clock: FakeClock, interval_s: float, takes_s: float) -> None:
        super().__init__(interval_s)
        self.clock = clock
        self.takes_s = takes_s
        self.started: list[float] = []

    def safe_check(self, stop: threading.Event, /, *, after_reminders: bool = False) -> None:
        self.started.append(self.clock.now())
        self.clock.t += self.takes_s
        super().safe_check(stop, after_reminders=after_reminders)


def test_the_schedule_is_re_anchored_to_each_check_s_start_on_the_loop_s_clock() -> None:
    from watchdog.engine.loop import Plan

    clock = FakeClock()
    t0 = clock.now()
    runner = SlowRunner(clock, interval_s=1800, takes_s=600)
    loop = Loop(runner, clock)
    plan = Plan(1800, clock.now())
    for _ in range(500):  # bounded: each turn moves the simulated clock on by what it waits
        if len(runner.started) == 4:
            break
        clock.t += loop.step(plan)
    # Planned from each start (not from the end of a check that waited 10 minutes), and on
    # the injected clock: the real clock has not moved an interval during this test.
    assert [t - t0 for t in runner.started] == [0, 1800, 3600, 5400]


# -- office hours thinned while the Sent folder shows no sending ------------------------------


def monday(hhmm: str) -> float:
    import datetime as dt

    return dt.datetime.strptime(f"2026-12-07 {hhmm}", "%Y-%m-%d %H:%M").astimezone().timestamp()


class SentCanaries:
    """The history as the loop reads it: the canaries the runner sent, newest first."""

    def __init__(self) -> None:
        self.sent_at: list[float] = []
        self.lost: set[float] = set()  # send times of the canaries that were lost
        self.unreadable = False

    def recent(self, limit: int) -> list[CheckResult]:
        if self.unreadable:
            raise OSError("database is locked (test)")
        newest = sorted(self.sent_at, reverse=True)[:limit]
        return [
            CheckResult(f"t{t}", t, t + 30, Outcome.LOST, Diagnosis.SILENT_DROP)
            if t in self.lost
            else CheckResult(f"t{t}", t, t + 30, Outcome.DELIVERED, Diagnosis.OK)
            for t in newest
        ]


class CanaryRunner:
    """Stands in for the Runner (``loop.Checks``): each check sends a canary at the clock's now.

    The shipped schedule: every 30 minutes, every 2 hours when no reminders are due.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.config = replace(
            make_config(Path()),  # its path is never read; office hours Mon-Fri 07:00-19:00
            schedule=ScheduleConfig(
                every_minutes=30, deadline_minutes=0.5, quiet_every_minutes=120
            ),
        )
        self.history = SentCanaries()

    def safe_check(self, stop: threading.Event, /, *, after_reminders: bool = False) -> None:
        self.history.sent_at.append(self.clock.now())

    def after_sleep(self, slept: float, asleep_from: float) -> int:
        return 0

    def signin_retry_at(self) -> float | None:
        return None


class Office:
    """The real loop and its plan on a simulated Monday, with a runner that sends canaries."""

    def __init__(self, start: str, *, watched: bool = True, canaries_excluded: bool = True) -> None:
        from watchdog.engine.batch_watch import BatchWatch

        self.clock = FakeClock(monday(start))
        self.runner = CanaryRunner(self.clock)
        self.folder = FakeSentFolder(self.clock, canaries_excluded=canaries_excluded)
        watch = BatchWatch(self.folder, self.clock) if watched else None
        self.loop = Loop(self.runner, self.clock, batch_watch=watch)
        self.plan = Plan(self.runner.config.schedule.every_seconds, self.clock.now())

    def canaries_until(self, hhmm: str) -> list[str]:
        """Run the loop until ``hhmm``; every canary sent so far, as HH:MM."""
        return canaries_until(self.loop, self.plan, self.clock, monday(hhmm))


def canaries_until(loop: Loop, plan: Plan, clock: FakeClock, end: float) -> list[str]:
    """Drive the real loop on the simulated clock until ``end``; the canaries' times, HH:MM."""
    import datetime as dt

    for _ in range(10_000):  # bounded: each turn moves the clock on by what the loop waits
        if clock.now() >= end:
            break
        clock.t = min(end, clock.t + max(loop.step(plan), 1.0))
    history = loop.runner.history
    assert isinstance(history, SentCanaries)
    return [dt.datetime.fromtimestamp(t).strftime("%H:%M") for t in history.sent_at]


def test_in_office_hours_with_nothing_sent_since_the_last_canary_the_check_waits_longer() -> None:
    office = Office("09:00")
    office.folder.send(monday("08:40"))  # before the first canary: that canary answers for it
    assert office.canaries_until("11:45") == ["09:00", "11:00"]
    assert office.loop.regular_interval_now() == 7200


def test_in_office_hours_one_message_sent_after_the_last_canary_brings_back_the_schedule() -> None:
    office = Office("09:00")
    office.folder.send(monday("09:10"))  # the front desk sends one e-mail
    assert office.canaries_until("09:20") == ["09:00"]
    assert office.loop.regular_interval_now() == 1800
    # The canary at the next slot follows that sending; then nothing more goes out.
    assert office.canaries_until("11:45") == ["09:00", "09:30", "11:30"]
    assert office.loop.regular_interval_now() == 7200


@pytest.mark.parametrize(
    "cannot_tell",
    [
        "no Sent folder is watched",
        "the Sent folder cannot be read",
        "the server cannot leave our canaries out",
        "the history cannot be read",
    ],
)
def test_in_office_hours_the_regular_check_goes_every_interval_when_the_watch_cannot_tell(
    cannot_tell: str,
) -> None:
    office = Office(
        "09:00",
        watched=cannot_tell != "no Sent folder is watched",
        canaries_excluded=cannot_tell != "the server cannot leave our canaries out",
    )
    office.folder.failing = cannot_tell == "the Sent folder cannot be read"
    office.runner.history.unreadable = cannot_tell == "the history cannot be read"
    assert office.canaries_until("10:45") == ["09:00", "09:30", "10:00", "10:30"]
    assert office.loop.regular_interval_now() == 1800


def test_a_running_batch_gets_no_more_canaries_once_one_sent_during_it_was_lost() -> None:
    from watchdog.engine.batch_watch import BatchWatch

    clock = FakeClock(monday("17:00"))
    runner = CanaryRunner(clock)
    folder = FakeSentFolder(clock)
    loop = Loop(runner, clock, batch_watch=BatchWatch(folder, clock))
    folder.send(*(monday("17:00") + 2 * k for k in range(400)))  # 17:00 to 17:13:18
    runner.history.sent_at.append(monday("17:01"))  # a canary early in the run
    clock.t = monday("17:05")  # four minutes on: the run is due another canary
    loop.batch_watch.poll()  # type: ignore[union-attr]
    loop._watch_batches()
    assert loop._check_requested is True
    loop._check_requested = False
    runner.history.lost.add(monday("17:01"))  # that canary was lost: the run has its evidence
    loop._watch_batches()
    assert loop._check_requested is False


def test_every_scheduled_check_let_pass_at_night_is_reported_with_why() -> None:
    office = Office("20:00", watched=False)
    let_pass: list[tuple[str, str]] = []

    def record(why: str) -> None:
        import datetime as dt

        let_pass.append((dt.datetime.fromtimestamp(office.clock.now()).strftime("%H:%M"), why))

    office.loop.on_check_let_pass = record
    assert office.canaries_until("23:59") == ["20:00", "22:00"]
    # Every 30-minute slot without a canary is told, so the heartbeat still hears the loop.
    assert [at for at, _ in let_pass] == ["20:30", "21:00", "21:30", "22:30", "23:00", "23:30"]
    assert all("no mail is going out" in why for _, why in let_pass)


def test_a_failing_let_pass_report_does_not_stop_the_loop() -> None:
    office = Office("20:00", watched=False)

    def broken(why: str) -> None:
        raise RuntimeError("heartbeat bug (test)")

    office.loop.on_check_let_pass = broken
    assert office.canaries_until("23:59") == ["20:00", "22:00"]

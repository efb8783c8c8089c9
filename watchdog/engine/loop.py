"""The background loop: checks on a schedule, Check now, pause / resume, and PC sleep.

:class:`Plan` plans the runs: a ``schedule`` job whose next run is kept in the time of the
loop's injected clock (so tests and the benchmarks drive it with a simulated one). The loop
wakes early for "Check now" and for stopping, holds checks during a pause, and notices that
the PC slept.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import TYPE_CHECKING

from watchdog.core.clock import Clock

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from watchdog.core.models import CheckResult
    from watchdog.engine.batch_watch import BatchWatch, ReminderTimes
    from watchdog.engine.seams import Checks

log = logging.getLogger(__name__)

#: The longest the loop sleeps in one go: bounds how late a wall-clock jump is noticed.
_MAX_IDLE_S = 60.0

#: A canary sent this little sooner than the quiet interval still counts as one interval ago:
#: the canary leaves a moment after its check starts, and the schedule's slots are fixed.
_QUIET_SLACK_S = 60.0


#: How many of the newest canaries the batch watch looks at: the last one's send time, and
#: whether one sent during a running batch was lost (a lead and its confirming ones).
_RECENT_FOR_BATCH = 8


def _lost_during(since: float, recent: Sequence[CheckResult]) -> bool:
    """Whether one of ``recent`` canaries sent at or after ``since`` was lost."""
    from watchdog.core.models import Outcome

    return any(r.outcome is Outcome.LOST and r.sent_at >= since for r in recent)


class SleepDetector:
    """Notices wall-clock time that passed while monotonic time stood still: the PC slept.

    The monotonic clock stops during suspend while the wall clock runs on, so the difference
    between the two jumps is the time asleep: on Linux and macOS ``time.monotonic`` does so, on
    Windows ``SystemClock`` uses ``QueryUnbiasedInterruptTime`` to (``time.monotonic`` there
    counts sleep, and this detector would never fire). A jump larger than ``threshold_s``
    (the check interval) counts; smaller drifts are ordinary scheduling noise.
    """

    def __init__(self, threshold_s: float) -> None:
        self.threshold_s = threshold_s
        self._last: tuple[float, float] | None = None

    def observe(self, wall: float, mono: float) -> float:
        """Seconds slept since the last observation (0.0 when the PC did not sleep)."""
        last, self._last = self._last, (wall, mono)
        if last is None:
            return 0.0
        slept = (wall - last[0]) - (mono - last[1])
        return slept if slept > self.threshold_s else 0.0


class Plan:
    """When the next scheduled check is due: a ``schedule`` job, planned on the loop's clock.

    ``schedule`` holds the regular job (its interval and its next run, as ``Job.next_run``), but
    its own notion of now is the system clock (``datetime.now()`` inside ``Job``), so the loop
    never asks it what is due: the next run is written and read here in the injected clock's
    time. Tests and ``benchmarks/office_days.py`` drive the real plan with a simulated clock.

    The next run is planned from the *start* of the last check (re-anchoring): ``schedule``
    plans from the end, and a check that waited out its deadline would push every later check
    back by that wait. A check that ran longer than the interval is followed at once.
    """

    def __init__(self, every_s: float, now: float) -> None:
        import schedule  # only the loop plans: `watchdog check` does not pay for it

        self.scheduler = schedule.Scheduler()
        # schedule types the interval as int, but only feeds it to timedelta(seconds=...).
        self.job = self.scheduler.every(every_s).seconds.do(_nothing)  # type: ignore[arg-type]
        self.next_at = now + every_s

    @property
    def every_s(self) -> float:
        """The regular interval, as the job holds it."""
        return float(self.job.interval)

    @property
    def next_at(self) -> float:
        """The next run in the injected clock's time (the job keeps a naive local datetime)."""
        assert self.job.next_run is not None  # set in __init__, never cleared
        return float(self.job.next_run.timestamp())

    @next_at.setter
    def next_at(self, at: float) -> None:
        # fromtimestamp sets `fold` in the hour that repeats when clocks go back, so the round
        # trip through a local datetime is exact all year.
        self.job.next_run = datetime.datetime.fromtimestamp(at)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def ran(self, started: float, now: float) -> None:
        """A check started at ``started`` and ended at ``now``: plan the next from its start."""
        self.next_at = max(now, started + self.every_s)

    def skip(self, now: float) -> None:
        """A scheduled check was let pass: the schedule moves on as if it had run."""
        self.next_at = now + self.every_s

    def seconds_left(self, now: float) -> float:
        return max(0.0, self.next_at - now)


def _nothing() -> None:
    """The job's action: the loop runs the check itself, between its other duties."""


class _Unread:
    """The history could not be read: when the last canary went is not known."""


_UNREAD = _Unread()


class Loop:
    """Runs ``runner`` every ``every_minutes`` until ``stop()``; thread-safe controls."""

    def __init__(
        self,
        runner: Checks,
        clock: Clock,
        batch_watch: BatchWatch | None = None,
        reminder_times: ReminderTimes | None = None,
    ) -> None:
        self.runner = runner
        self.clock = clock
        # Reads the practice's Sent folder for reminder batches, where the account keeps copies:
        # a batch gone quiet gets a canary at once, on top of the schedule.
        self.batch_watch = batch_watch
        # The practice's reminder times (named or learned): a canary 20 minutes after each.
        self.reminder_times = reminder_times
        self.stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._check_requested = True  # the first check runs at once
        # The requested check answers for reminders just sent (a batch, a reminder time).
        self._after_reminders = False
        self._paused_until: float | None = None
        self.sleep_detector = SleepDetector(runner.config.schedule.every_seconds)
        self.last_check_at: float | None = None
        # Told when a scheduled check is let pass on purpose (quiet hours, the daily budget, a
        # sign-in back-off), with why: the heartbeat still hears that the watchdog is alive,
        # so silence at the monitoring service keeps meaning "the watchdog is not running".
        self.on_check_let_pass: Callable[[str], None] | None = None

    # -- controls (any thread) --------------------------------------------------------------

    def stop(self) -> None:
        """Finish the check in progress (pending canaries stay pending) and end the loop."""
        self.stopping.set()
        self._wake.set()

    def request_check(self) -> None:
        """Check as soon as the loop is free ("Check now"); also ends a pause."""
        with self._lock:
            self._check_requested = True
            self._paused_until = None
        self._wake.set()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = self.clock.now() + seconds
        log.info("Paused for %.0f s", seconds)
        self._wake.set()

    def resume(self) -> None:
        self.request_check()

    @property
    def paused_until(self) -> float | None:
        with self._lock:
            return self._paused_until

    # -- the loop (one thread) --------------------------------------------------------------

    def run(self) -> None:
        """Check on schedule until stopped; errors in a check never end the loop."""
        plan = Plan(self.runner.config.schedule.every_seconds, self.clock.now())
        while not self.stopping.is_set():
            idle = self.step(plan)
            self._wake.wait(idle)
            self._wake.clear()

    def step(self, plan: Plan) -> float:
        """One turn of the loop: a check if one is due; returns how long to wait for the next.

        Everything here reads the injected clock, so a simulated clock drives the real loop
        (tests, ``benchmarks/office_days.py``).
        """
        self._notice_sleep()
        self._watch_batches()
        if self._due(plan):
            started = self.clock.now()
            self.last_check_at = started
            with self._lock:
                after_reminders, self._after_reminders = self._after_reminders, False
            if not after_reminders and self.batch_watch is not None:
                # A fresh look first: between batches the Sent folder is read every 5 minutes,
                # and a batch that began since must not be met by a canary on the slow path.
                try:
                    self.batch_watch.poll_unless_fresh()
                except Exception:
                    log.exception("Could not read the Sent folder before the check")
            after_reminders = after_reminders or self._batch_running()
            self.runner.safe_check(self.stopping, after_reminders=after_reminders)
            plan.ran(started, self.clock.now())
        idle = min(plan.seconds_left(self.clock.now()), _MAX_IDLE_S)
        paused_until = self.paused_until
        if paused_until is not None:
            # The schedule is overdue during a pause; wait for the pause to end instead.
            idle = min(max(paused_until - self.clock.now(), 0.0), _MAX_IDLE_S)
        if self.batch_watch is not None:
            idle = min(idle, self.batch_watch.seconds_to_next_poll())
        return idle

    def _batch_running(self) -> bool:
        """Whether a reminder batch is going out now (not yet quiet), as last read.

        A check that falls inside a batch, the regular one included, answers for it: a block
        that starts during the batch is first seen by that canary, and the batch canary cannot
        go while it is waited for. So it is judged as the batch canary is (suspected soon,
        confirmed by a few at once), not by the slower regular path.
        """
        batch = self.batch_watch.last_batch if self.batch_watch is not None else None
        return batch is not None and not batch.quiet

    def regular_interval_now(self) -> float:
        """The regular schedule's interval in force now (the quiet one when no reminders are due).

        Anything that judges how old the last *check* may be (a "last check" that looks stale)
        must use this, not ``every_minutes``: with a Sent folder that shows no sending, office
        hours get the quiet interval too. (The heartbeat hears every slot, checked or let pass:
        ``on_check_let_pass``.)
        """
        return self._regular_interval(self.clock.now(), self._last_canary_sent_at())

    def _last_canary_sent_at(self) -> float | _Unread | None:
        """When the last canary was sent (None: never), or :data:`_UNREAD` (history failed)."""
        try:
            recent = self.runner.history.recent(1)
        except Exception:
            return _UNREAD
        return recent[0].sent_at if recent else None

    def _regular_interval(self, now: float, last_sent: float | _Unread | None) -> float:
        """:meth:`regular_interval_now` for the last canary's send time, read by the caller."""
        schedule = self.runner.config.schedule
        quiet = schedule.quiet_every_seconds
        if quiet is None or self._reminders_due(now, last_sent):
            return schedule.every_seconds
        return quiet

    def _reminders_due(self, now: float, last_sent: float | _Unread | None) -> bool:
        """``batches.reminders_due`` with what the loop knows: office hours, reminder times,
        the last batch and whether the Sent folder shows sending since our last canary.

        That last one is unknown (None: office hours keep ``every_minutes``) without a batch
        watch, before the first canary, when the history could not be read, or when the watch
        cannot tell (``BatchWatch.sent_since``).
        """
        from watchdog.core.batches import reminders_due
        from watchdog.core.state import in_office_hours

        times: tuple[str, ...] = ()
        if self.reminder_times is not None:
            times = self.reminder_times.times()
        watch = self.batch_watch
        batch = watch.last_batch if watch is not None else None
        sent: bool | None = None
        if watch is not None and last_sent is not None and not isinstance(last_sent, _Unread):
            sent = watch.sent_since(last_sent)
        return reminders_due(
            now,
            in_office_hours=in_office_hours(self.runner.config.alerts.policy, now),
            reminder_times=times,
            last_batch_at=batch.last_at if batch is not None else None,
            sent_since_last_canary=sent,
        )

    def _regular_check_waits(self, now: float) -> bool:
        """True when the regular check lets this turn pass: the schedule in force is thinner
        than ``every_minutes`` and the last canary went less than its interval ago.

        Two reasons thin it, judged by the one rule here (and one look at the history):

        - today's sending budget is tight (``BatchWatch.regular_interval``; None: no regular
          canary today, once the practice was warned): the watchdog is never the cause of the
          block it watches for, its own canaries count against the provider's daily limit;
        - no reminders are due (nights, weekends, office hours in which the Sent folder shows
          nothing sent since the last canary: ``regular_interval_now``), with a minute of
          slack because a canary leaves a moment after its check starts.

        The canary after each batch and at each reminder time, "Check now" and the first check
        go regardless. When the history cannot be read, check rather than leave it unchecked.
        """
        schedule = self.runner.config.schedule
        every = schedule.every_seconds
        watch = self.batch_watch
        budget = watch.regular_interval(every) if watch is not None else every
        budget_thins = budget is None or budget > every
        if not budget_thins and schedule.quiet_every_seconds is None:
            return False
        last_sent = self._last_canary_sent_at()
        if isinstance(last_sent, _Unread):
            return False
        quiet = self._regular_interval(now, last_sent)
        since_last = now - last_sent if last_sent is not None else None
        if budget_thins and (budget is None or (since_last is not None and since_last < budget)):
            log.info(
                "Today's sending is close to the provider's daily limit: the regular check "
                "waits (the check after each reminder batch still goes)"
            )
            return True
        return since_last is not None and quiet > every and since_last < quiet - _QUIET_SLACK_S

    def _watch_batches(self) -> None:
        """A canary after each reminder batch (Sent folder) and after each reminder time."""
        watch, times = self.batch_watch, self.reminder_times
        if (watch is None and times is None) or self.paused_until is not None:
            return
        if watch is not None:
            watch.poll_if_due()
        retry_at = self.runner.signin_retry_at()
        if retry_at is not None and self.clock.now() < retry_at:
            return  # backing off after refused sign-ins: a batch does not override that
        try:
            recent = self.runner.history.recent(_RECENT_FOR_BATCH)
        except Exception:
            log.exception("Could not read the history for the last canary")
            return
        last_sent = recent[0].sent_at if recent else None
        why = None
        batch = watch.needs_canary(last_sent) if watch is not None else None
        if batch is not None and not batch.quiet and _lost_during(batch.first_at, recent):
            # A canary sent during this run was lost: the run has its evidence (and its alert).
            # More canaries while it runs would only add to what the provider is dropping; the
            # regular schedule and "Check now" look for the recovery.
            batch = None
        if batch is not None:
            from watchdog.engine.batch_watch import describe_batch

            why = f"Reminder batch ({describe_batch(batch)})"
        elif times is not None:
            due = times.due(last_sent)
            if due is not None:
                why = f"Reminders are usually sent at {due}"
        if why is None:
            return
        log.info("%s: a canary goes out now", why)
        with self._lock:
            self._check_requested = True
            self._after_reminders = True

    def _due(self, plan: Plan) -> bool:
        """A check is due when asked for, or by the schedule, and not during a pause."""
        now = self.clock.now()
        with self._lock:
            if self._paused_until is not None:
                if now < self._paused_until:
                    return False
                self._paused_until = None
                self._check_requested = True  # a pause ends with a check
            requested, self._check_requested = self._check_requested, False
        if requested or not plan.due(now):
            return requested
        if self._regular_check_waits(now):
            plan.skip(now)
            self._let_pass("no mail is going out, or today's sending is near the daily limit")
            return False
        retry_at = self.runner.signin_retry_at()
        if retry_at is not None and now < retry_at:
            # The provider refused the password more than once: a scheduled retry would only
            # add to its lockout count. "Check now" (requested) still tries at once.
            until = datetime.datetime.fromtimestamp(retry_at).strftime("%H:%M")
            log.info("Not signing in again until %s: the provider refused the password", until)
            plan.skip(now)
            self._let_pass(f"not signing in again until {until}: the password was refused")
            return False
        return True

    def _let_pass(self, why: str) -> None:
        """A scheduled check was let pass on purpose: tell ``on_check_let_pass`` (never raises)."""
        if self.on_check_let_pass is None:
            return
        try:
            self.on_check_let_pass(why)
        except Exception:
            log.exception("Could not report a check let pass")

    def _notice_sleep(self) -> None:
        now, mono = self.clock.now(), self.clock.monotonic()
        slept = self.sleep_detector.observe(now, mono)
        if slept:
            self.runner.after_sleep(slept, asleep_from=now - slept)
            with self._lock:
                self._check_requested = True  # look again at once, on wake

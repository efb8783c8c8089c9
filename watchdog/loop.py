"""The background loop: checks on a schedule, Check now, pause / resume, and PC sleep.

``schedule`` plans the runs; this module owns what schedule does not: waking early for
"Check now" and for stopping, holding checks during a pause, and noticing that the PC slept.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import TYPE_CHECKING

from .clock import Clock
from .runner import Runner

if TYPE_CHECKING:
    from .batch_watch import BatchWatch, ReminderTimes

log = logging.getLogger(__name__)

#: The longest the loop sleeps in one go: bounds how late a wall-clock jump is noticed.
_MAX_IDLE_S = 60.0


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


class Loop:
    """Runs ``runner`` every ``every_minutes`` until ``stop()``; thread-safe controls."""

    def __init__(
        self,
        runner: Runner,
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
        self._paused_until: float | None = None
        self.sleep_detector = SleepDetector(runner.config.schedule.every_seconds)
        self.last_check_at: float | None = None

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
        import schedule

        interval = self.runner.config.schedule.every_seconds
        scheduler = schedule.Scheduler()
        # schedule types the interval as int, but it only feeds it to timedelta(seconds=...), and
        # fractional intervals are part of the config contract (demos and tests).
        job = scheduler.every(interval).seconds.do(lambda: None)  # type: ignore[arg-type]
        while not self.stopping.is_set():
            self._notice_sleep()
            self._watch_batches()
            if self._due(job):
                started = datetime.datetime.now()
                self.last_check_at = self.clock.now()
                self.runner.safe_check(self.stopping)
                # Re-anchor to the start: schedule would plan from the end of a long check.
                job.next_run = max(
                    datetime.datetime.now(), started + datetime.timedelta(seconds=interval)
                )
                job.last_run = started
            idle = min(max(scheduler.idle_seconds or 0.0, 0.0), _MAX_IDLE_S)
            paused_until = self.paused_until
            if paused_until is not None:
                # The schedule is overdue during a pause; wait for the pause to end instead.
                idle = min(max(paused_until - self.clock.now(), 0.0), _MAX_IDLE_S)
            if self.batch_watch is not None:
                idle = min(idle, self.batch_watch.seconds_to_next_poll())
            self._wake.wait(idle)
            self._wake.clear()

    def _thinned(self) -> bool:
        """True when today's sending budget is tight and a regular canary would use too much.

        The watchdog is never the cause of the block it watches for: its own canaries count
        against the provider's daily limit, so the regular schedule stretches (or stops, once
        the practice was warned); the canary after each batch always goes.
        """
        watch = self.batch_watch
        if watch is None:
            return False
        every = self.runner.config.schedule.every_seconds
        interval = watch.regular_interval(every)
        if interval is not None and interval <= every:
            return False
        try:
            recent = self.runner.history.recent(1)
        except Exception:
            return False
        if interval is not None and (
            not recent or self.clock.now() - recent[0].sent_at >= interval
        ):
            return False
        log.info(
            "Today's sending is close to the provider's daily limit: the regular check waits "
            "(the check after each reminder batch still goes)"
        )
        return True

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
            recent = self.runner.history.recent(1)
        except Exception:
            log.exception("Could not read the history for the last canary")
            return
        last_sent = recent[0].sent_at if recent else None
        why = None
        batch = watch.needs_canary(last_sent) if watch is not None else None
        if batch is not None:
            from .batch_watch import describe_batch

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

    def _due(self, job: object) -> bool:
        """A check is due when asked for, or by the schedule, and not during a pause."""
        import schedule

        assert isinstance(job, schedule.Job)
        with self._lock:
            if self._paused_until is not None:
                if self.clock.now() < self._paused_until:
                    return False
                self._paused_until = None
                self._check_requested = True  # a pause ends with a check
            requested, self._check_requested = self._check_requested, False
        if requested or not job.should_run:
            return requested
        if self._thinned():
            return self._skip(job)
        retry_at = self.runner.signin_retry_at()
        if retry_at is not None and self.clock.now() < retry_at:
            # The provider refused the password more than once: a scheduled retry would only
            # add to its lockout count. "Check now" (requested) still tries at once.
            log.info(
                "Not signing in again until %s: the provider refused the password",
                datetime.datetime.fromtimestamp(retry_at).strftime("%H:%M"),
            )
            return self._skip(job)
        return True

    @staticmethod
    def _skip(job: object) -> bool:
        """Let a scheduled check pass without running it: the schedule moves on as if it had."""
        import schedule

        assert isinstance(job, schedule.Job)
        job.last_run = datetime.datetime.now()
        job._schedule_next_run()
        return False

    def _notice_sleep(self) -> None:
        now, mono = self.clock.now(), self.clock.monotonic()
        slept = self.sleep_detector.observe(now, mono)
        if slept:
            self.runner.after_sleep(slept, asleep_from=now - slept)
            with self._lock:
                self._check_requested = True  # look again at once, on wake

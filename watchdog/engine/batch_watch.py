"""Watch the practice's reminder batches in its Sent folder and ask for a canary after each one.

The block this product watches for is set off by a batch of reminders. Where the sending account
keeps a copy of what it sends (Gmail, Outlook.com, Microsoft 365), the Sent folder shows each
batch as it happens: this module polls it (times only, through :mod:`watchdog.mail.sent_folder`),
finds the batches (:mod:`watchdog.core.batches`), and tells the loop when a batch has gone quiet
without a canary after it, so the canary goes out at once instead of at the next regular slot.

Nothing about the messages is kept but their INTERNALDATEs, in memory, for today.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from watchdog.core.batches import (
    DEFAULT_BATCH_RULES,
    Batch,
    BatchRules,
    BudgetState,
    batch_needing_canary,
    canary_allowance,
    daily_budget,
    find_batches,
    local_midnight,
    reminder_canary_times,
    running_batch_needing_canary,
    thinned_interval,
    usual_batch_times,
)
from watchdog.core.clock import Clock
from watchdog.core.errors import MailboxError, SecretError
from watchdog.core.models import CheckResult
from watchdog.mail.sent_folder import SentFolderReader

if TYPE_CHECKING:
    from watchdog.engine.seams import OpenSent

log = logging.getLogger(__name__)

#: How often the Sent folder is read while a batch is running (a message within the batch gap)
#: and otherwise. Each look is one SEARCH and, for new messages only, one FETCH of dates.
POLL_DURING_BATCH_S = 20.0
POLL_IDLE_S = 300.0
#: After a failed look (mailbox down, password missing), wait this long: the canary schedule
#: goes on regardless, and the failure is the seed/inbox checks' to report.
POLL_AFTER_FAILURE_S = 600.0
#: A reading of the Sent folder older than this (two idle polls) no longer tells whether the
#: practice is sending: the loop polls every few minutes, so an older one means looks fail or
#: stopped, and "nothing was sent" would be a guess.
SENT_READING_FRESH_S = 2 * POLL_IDLE_S
#: A message dated up to this long before our last canary still counts as sent after it. The
#: Sent folder's dates come from the server's clock, to the second; ours may be a little ahead.
#: Missing a message would thin the schedule while mail goes out; counting one that went just
#: before the canary costs at most one canary on the regular schedule.
SEND_TIME_SKEW_S = 60.0


class BatchWatch:
    """Send times of today's mail from the Sent folder, and the batch that needs a canary."""

    def __init__(
        self,
        open_inbox: OpenSent,
        clock: Clock,
        *,
        rules: BatchRules = DEFAULT_BATCH_RULES,
        folder: str | None = None,
        daily_limit: int | None = None,
        provider_name: str = "the provider",
        canaries_since: Callable[[float], int] | None = None,
        on_budget_warning: Callable[[BudgetState], None] | None = None,
        on_sent: Callable[[float, Sequence[float]], None] | None = None,
    ) -> None:
        self.open_inbox = open_inbox
        self.clock = clock
        self.rules = rules
        # The daily budget: what went out today (Sent folder + our canaries) against the
        # provider's published limit; a warning once a day before the limit is reached.
        self.daily_limit = daily_limit
        self.provider_name = provider_name
        self.canaries_since = canaries_since
        self.on_budget_warning = on_budget_warning
        self.budget: BudgetState | None = None
        # Where today's per-minute counts are kept (the history): how many reminders a block
        # touched is read from there, for today's alerts and for past incidents alike.
        self.on_sent = on_sent
        self._warned_day: str | None = None
        self.reader = SentFolderReader(folder=folder)
        self.times: list[float] = []
        self.day: str | None = None
        self.next_poll_at = 0.0
        self.last_error: str | None = None
        # When the Sent folder was last read without an error, and whether that look left our
        # own canaries out (a server without header search counts them as sent mail).
        self.last_read_at: float | None = None
        self.canaries_excluded = False
        # Whether a copy of our own canary was seen in Sent: proof that this account files
        # what goes out through its outgoing server (as the reminders do). Without it the
        # folder may show only what a mail program copied there: an empty folder then does
        # not mean that nothing went out (see :meth:`sent_since`). A provider's general habit
        # (data/sent_copies.toml) is not enough: Microsoft 365's direct send and relay
        # connectors, for one, keep no copy.
        self.files_smtp_copies = False

    def poll_if_due(self) -> None:
        """Read the Sent folder when it is time; never raises (a failure is logged)."""
        now = self.clock.now()
        if now < self.next_poll_at:
            return
        self.poll()

    def poll_unless_fresh(self, fresh_s: float = POLL_DURING_BATCH_S) -> None:
        """A look now, unless one succeeded within ``fresh_s`` or the last one failed (that
        waits for its own retry, so a mailbox that is down does not delay every check)."""
        read_at = self.last_read_at
        if self.last_error is not None:
            return
        if read_at is not None and self.clock.now() - read_at < fresh_s:
            return
        self.poll()

    def poll(self) -> None:
        """One look at the Sent folder: today's send times, kept in memory."""
        now = self.clock.now()
        today = datetime.fromtimestamp(now).strftime("%Y-%m-%d")
        if today != self.day:
            self.day, self.times = today, []
            self.reader.highest_uid = 0  # a new day: start from its midnight
        midnight = local_midnight(now)
        try:
            with self.open_inbox() as inbox:
                found = inbox.sent_times(self.reader, since=midnight)
        except (MailboxError, SecretError) as e:
            if str(e) != self.last_error:
                log.warning("Could not read the Sent folder for reminder batches: %s", e)
            self.last_error = str(e)
            self.next_poll_at = now + POLL_AFTER_FAILURE_S
            return
        self.last_error = None
        self.last_read_at = now
        self.canaries_excluded = found.canaries_excluded
        self.files_smtp_copies = self.files_smtp_copies or bool(found.canary_copies_seen)
        fresh = [t for t in found.new_times if t >= midnight]
        self.times = sorted(fresh if found.restarted else [*self.times, *fresh])
        running = bool(self.times) and now - self.times[-1] <= self.rules.max_gap_s
        quieting = bool(self.batches()) and not self.batches()[-1].quiet
        busy = running or quieting
        self.next_poll_at = now + (POLL_DURING_BATCH_S if busy else POLL_IDLE_S)
        if fresh:
            log.debug("Sent folder: %d new e-mails, %d today", len(fresh), len(self.times))
        if self.on_sent is not None:
            try:
                self.on_sent(midnight, self.times)
            except Exception:
                log.exception("Could not store today's sending counts")
        self._check_budget(midnight, today)

    def _check_budget(self, midnight: float, today: str) -> None:
        """Today's sending against the provider's daily limit; warn once a day near it."""
        canaries = 0
        if self.canaries_since is not None:
            try:
                canaries = self.canaries_since(midnight)
            except Exception:
                log.exception("Could not count today's canaries")
        self.budget = daily_budget(len(self.times), canaries, self.daily_limit, self.provider_name)
        if self.budget.warn and self._warned_day != today and self.on_budget_warning is not None:
            self._warned_day = today
            log.warning("%s", self.budget.words)
            try:
                self.on_budget_warning(self.budget)
            except Exception:
                log.exception("Could not send the daily-limit warning")

    def regular_interval(self, every_s: float) -> float | None:
        """The regular schedule's interval for the rest of today, thinned by the daily budget.

        ``every_s`` while nothing is known or no limit is published; longer when our canaries
        would take a noticeable share of what is left of the limit; None (no regular canaries)
        once the practice was warned. The canary after each batch is never thinned.
        """
        budget = self.budget
        if budget is None or budget.limit is None:
            return every_s
        now = self.clock.now()
        left = max(0.0, local_midnight(now, days=1) - now)
        allowance = canary_allowance(budget, regular_left=int(left // every_s))
        return thinned_interval(every_s, allowance, left)

    def sent_since(self, when: float) -> bool | None:
        """Whether the account sent anything after ``when`` (our last canary), as last read.

        None when the reading cannot tell: no successful look yet today, the last look failed,
        the last good one is older than :data:`SENT_READING_FRESH_S`, the server could not leave
        our own canaries out (each canary would look like the practice sending), no copy of
        our own canary was seen in Sent yet (``files_smtp_copies`` False), or ``when``
        is before today's midnight and nothing was sent since (the watch keeps today's sends
        only). A send up to :data:`SEND_TIME_SKEW_S` before ``when`` counts as after it.
        """
        now = self.clock.now()
        read_at = self.last_read_at
        if read_at is None or self.last_error is not None:
            return None
        if not (self.canaries_excluded and self.files_smtp_copies):
            return None
        midnight = local_midnight(now)
        if read_at < midnight or now - read_at > SENT_READING_FRESH_S:
            return None
        if any(t > when - SEND_TIME_SKEW_S for t in self.times):
            return True
        return None if when < midnight else False

    def batches(self) -> list[Batch]:
        """Today's batches, as of now."""
        return find_batches(self.times, self.clock.now(), self.rules)

    @property
    def last_batch(self) -> Batch | None:
        found = self.batches()
        return found[-1] if found else None

    def needs_canary(self, last_canary_sent_at: float | None) -> Batch | None:
        """The batch a canary should answer now: one gone quiet, or a long one still running."""
        found = self.batches()
        quiet = batch_needing_canary(found, last_canary_sent_at)
        if quiet is not None:
            return quiet
        return running_batch_needing_canary(
            found, last_canary_sent_at, self.clock.now(), self.rules
        )

    def seconds_to_next_poll(self) -> float:
        """How long the loop may sleep before the next look (or before a batch goes quiet)."""
        now = self.clock.now()
        wait = self.next_poll_at - now
        last = self.last_batch
        if last is not None and not last.quiet:
            wait = min(wait, last.quiet_at - now)
        return max(0.0, wait)


def describe_batch(batch: Batch) -> str:
    """A batch in words, for the log and the status: counts and times only."""

    def hhmm(ts: float) -> str:
        return time.strftime("%H:%M", time.localtime(ts))

    return f"{batch.count} e-mails sent between {hhmm(batch.first_at)} and {hhmm(batch.last_at)}"


#: How far back the practice's usual reminder times are learned from the kept sending counts.
LEARN_DAYS = 14


class ReminderTimes:
    """Canaries at the practice's reminder times, for accounts whose Sent folder shows nothing.

    The times are those named in ``[schedule] reminder_times`` and those learned from the
    sending counts the history keeps (a batch starting in the same quarter hour on at least three
    days). A canary is due 20 minutes after each time, unless one was sent since.
    """

    def __init__(
        self,
        configured: Sequence[str],
        clock: Clock,
        *,
        sent_minutes_since: Callable[[float], list[tuple[float, int]]] | None = None,
        rules: BatchRules = DEFAULT_BATCH_RULES,
    ) -> None:
        self.configured = tuple(configured)
        self.clock = clock
        self.sent_minutes_since = sent_minutes_since
        self.rules = rules
        self._learned: tuple[str, ...] = ()
        self._learned_on: str | None = None

    def times(self) -> tuple[str, ...]:
        """Configured and learned times of day ("HH:MM"), learned again once a day."""
        now = self.clock.now()
        today = datetime.fromtimestamp(now).strftime("%Y-%m-%d")
        if self._learned_on != today and self.sent_minutes_since is not None:
            self._learned_on = today
            try:
                minutes = self.sent_minutes_since(now - LEARN_DAYS * 24 * 3600)
            except Exception:
                log.exception("Could not read the sending counts to learn reminder times")
                minutes = []
            sends = [start for start, count in minutes for _ in range(count)]
            self._learned = tuple(usual_batch_times(find_batches(sends, now, self.rules)))
            if self._learned:
                log.info("Usual reminder times learned: %s", ", ".join(self._learned))
        return tuple(sorted({*self.configured, *self._learned}))

    def due(self, last_canary_sent_at: float | None) -> str | None:
        """The reminder time whose canary is due now, or None."""
        now = self.clock.now()
        times = self.times()
        if not times:
            return None
        day = datetime.fromtimestamp(now).date()
        moments = reminder_canary_times(times, day)
        passed = [(m, t) for m, t in zip(moments, sorted(times), strict=True) if m <= now]
        if not passed:
            return None
        moment, time_of_day = passed[-1]
        if last_canary_sent_at is not None and last_canary_sent_at >= moment:
            return None
        return time_of_day


#: A test message's outcome as the front desk reads it after "the test message after it".
_ARRIVAL_WORDS = {
    "delivered": "arrived",
    "junk": "arrived in the junk folder",
    "late": "arrived late",
    "lost": "did not arrive",
    "pending": "is on its way",
    "bounced": "came back undelivered",
    "send_failed": "could not be sent",
}


class SendingRecord(Protocol):
    """What the notes read from the history: sending counts and canaries."""

    def sent_minutes_since(self, since: float) -> list[tuple[float, int]]: ...
    def first_canary_after(self, when: float) -> CheckResult | None: ...
    def canaries_since(self, since: float) -> int: ...


def last_batch_note(
    record: SendingRecord, now: float, rules: BatchRules = DEFAULT_BATCH_RULES
) -> str | None:
    """Today's last reminder batch and what became of the test message after it, in words.

    Read from the kept per-minute counts (so the tray, the status and the report say the same),
    counts and times only. None when no batch was seen today.
    """
    minutes = record.sent_minutes_since(local_midnight(now))
    sends = [start for start, count in minutes for _ in range(count)]
    found = find_batches(sends, now, rules)
    if not found:
        return None
    batch = found[-1]
    line = f"Last reminder batch: {describe_batch(batch)}"
    canary = record.first_canary_after(batch.last_at)
    if canary is None:
        line += "; its test message goes out when the batch is over"
    else:
        when = time.strftime("%H:%M", time.localtime(canary.sent_at))
        outcome = _ARRIVAL_WORDS.get(canary.outcome.value, canary.outcome.value)
        line += f"; the test message after it ({when}) {outcome}"
    return line + "."


def sending_today_note(
    record: SendingRecord, now: float, limit: int | None, provider_name: str
) -> str | None:
    """Today's sending against the provider's daily limit, in words (None without a limit)."""
    if limit is None:
        return None
    midnight = local_midnight(now)
    sent = sum(count for _start, count in record.sent_minutes_since(midnight))
    return daily_budget(sent, record.canaries_since(midnight), limit, provider_name).words


def reminders_today(
    record: SendingRecord,
    now: float,
    *,
    limit: int | None,
    provider_name: str,
    rules: BatchRules = DEFAULT_BATCH_RULES,
) -> tuple[str, ...]:
    """The day's notes the tray, ``status`` and the report show alike: last batch, sending."""
    notes = (
        last_batch_note(record, now, rules),
        sending_today_note(record, now, limit, provider_name),
    )
    return tuple(note for note in notes if note)

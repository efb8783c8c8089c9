"""Reminder batches, a deadline learned from arrivals, the daily budget, reminders a block touched.

Pure: no I/O and no clock reads. Every time is a Unix time in seconds, passed in by the caller;
the only inputs are *counts and times* (INTERNALDATEs from the sender's Sent folder, our own
canaries' send and arrival times, the provider's published daily limit). Nothing here ever sees
a recipient, a subject or a body, so nothing here can leak one. See docs/batches.md.

Four questions, one section each:

1. Is the practice sending a reminder batch, and has it gone quiet (the moment for a canary)?
   :func:`find_batches`, :func:`batch_needing_canary`.
2. How long may a canary take before it counts as lost, judged from this account's own
   arrivals? :func:`learned_deadline`; and the canary right after a batch, suspected soon and
   confirmed by a few at once: :func:`batch_canary_plan`.
3. How much of the provider's daily limit is used, should the staff be warned, and how many of
   our own clock canaries may still go today? :func:`daily_budget`, :func:`canary_allowance`,
   :func:`thinned_interval`.
4. How many messages left the account while delivery was down? :func:`reminders_touched`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

# --- 1. batches ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRules:
    """What counts as a reminder batch. Defaults and their reasons are in docs/batches.md.

    - ``min_messages`` (10): practice software sends its reminders in one run, typically
      dozens to hundreds. A person at the front desk does not send ten messages each within a
      minute of the last; a small practice's run of 10 to 20 reminders still counts.
    - ``max_gap_s`` (60 s): inside a run messages leave seconds apart (one SMTP transaction
      takes about a second; Microsoft 365's 30 a minute makes it 2 s). A minute covers a
      program that pauses, reconnects or retries, without chaining a person's occasional
      messages into a "batch".
    - ``quiet_after_s`` (120 s): no new message for twice the longest gap allowed inside a run
      means the run is over: the moment to send a canary. Shorter would send the canary while
      the run may still go on (a second canary for the same batch); longer delays the alert.
    """

    min_messages: int = 10
    max_gap_s: float = 60.0
    quiet_after_s: float = 120.0
    #: While a long batch is still running, a canary every this many seconds (None: only after
    #: it): a block that starts early in a 400-message run would otherwise wait for the run's
    #: end (about 13 minutes at one message every 2 s) before any canary could notice it. One
    #: extra message among hundreds does not change how the provider sees the run. 120 s, the
    #: same as ``quiet_after_s``: a block anywhere in the run meets a canary as soon as one at
    #: its end would (about 2 minutes and a look at the Sent folder), and the batch canary's
    #: plan tells it some 2.5 minutes later: DOWN about 4 minutes after the block started
    #: (benchmarks/office_days.py), for about 6 canaries per 400-message run (13 minutes).
    #: None once a canary sent during the run was lost (``Loop._watch_batches``).
    running_canary_every_s: float | None = 120.0

    def __post_init__(self) -> None:
        if self.min_messages < 2:
            raise ValueError(f"min_messages = {self.min_messages}: a batch needs 2 or more")
        if not self.max_gap_s > 0:
            raise ValueError(f"max_gap_s = {self.max_gap_s}: must be more than 0 seconds")
        # Quiet sooner than the longest gap inside a batch would end a batch that is still
        # running, and its canary would go out in the middle of the reminders.
        if self.quiet_after_s < self.max_gap_s:
            raise ValueError(
                f"quiet_after_s = {self.quiet_after_s} must be at least max_gap_s = "
                f"{self.max_gap_s}: a batch can only be over after its longest gap"
            )
        every = self.running_canary_every_s
        if every is not None and every < self.quiet_after_s:
            raise ValueError(
                f"running_canary_every_s = {every} must be at least quiet_after_s = "
                f"{self.quiet_after_s}, or None"
            )


DEFAULT_BATCH_RULES = BatchRules()


@dataclass(frozen=True)
class Batch:
    """One burst of sends from the account: when it started and ended, and how many."""

    first_at: float
    last_at: float
    count: int
    #: True once no message followed ``last_at`` for the rules' quiet time (as of ``now``).
    quiet: bool
    #: When the batch goes (or went) quiet: ``last_at`` plus the quiet time; the canary's moment.
    quiet_at: float


def find_batches(
    send_times: Iterable[float], now: float, rules: BatchRules = DEFAULT_BATCH_RULES
) -> list[Batch]:
    """The batches among ``send_times`` (oldest first), each marked quiet or still running.

    Consecutive sends no more than ``max_gap_s`` apart form a run; a run of at least
    ``min_messages`` is a batch. Sends after ``now`` are ignored (a server clock ahead of ours
    must not end a batch early). The input need not be sorted.
    """
    times = sorted(t for t in send_times if t <= now)
    batches: list[Batch] = []
    start = 0
    for i in range(1, len(times) + 1):
        if i < len(times) and times[i] - times[i - 1] <= rules.max_gap_s:
            continue
        count = i - start
        if count >= rules.min_messages:
            first, last = times[start], times[i - 1]
            quiet_at = last + rules.quiet_after_s
            batches.append(Batch(first, last, count, quiet=now >= quiet_at, quiet_at=quiet_at))
        start = i
    return batches


def batch_needing_canary(
    batches: Sequence[Batch], last_canary_sent_at: float | None
) -> Batch | None:
    """The latest quiet batch that no canary has answered yet, or None.

    ``last_canary_sent_at`` is when our last canary of any kind was sent (None: never). A
    canary sent after a batch's last message answers for that batch, whichever schedule sent
    it; one sent in the middle of a batch does not. Only the latest batch matters, because one
    canary answers for everything sent before it.
    """
    for batch in reversed(batches):
        if not batch.quiet:
            continue
        if last_canary_sent_at is None or batch.last_at > last_canary_sent_at:
            return batch
        return None
    return None


def running_batch_needing_canary(
    batches: Sequence[Batch],
    last_canary_sent_at: float | None,
    now: float,
    rules: BatchRules = DEFAULT_BATCH_RULES,
) -> Batch | None:
    """The running batch, when ``running_canary_every_s`` passed without a canary in it.

    Counted from the batch's first message or from our last canary, whichever is later, so a
    run shorter than that interval gets no canary until it has gone quiet.
    """
    every = rules.running_canary_every_s
    if every is None or not batches or batches[-1].quiet:
        return None
    batch = batches[-1]
    since = batch.first_at
    if last_canary_sent_at is not None:
        since = max(since, last_canary_sent_at)
    return batch if now - since >= every else None


def usual_batch_times(
    batches: Iterable[Batch],
    *,
    tz: tzinfo | None = None,
    min_days: int = 3,
    slot_minutes: int = 15,
) -> list[str]:
    """The times of day ("HH:MM") at which batches started on at least ``min_days`` days.

    Learned while the Sent folder could be seen, for the days it cannot (a provider that
    stopped keeping copies, a lost sign-in): each batch's start is rounded down to a
    ``slot_minutes`` slot in ``tz`` (None: this PC's zone), and a slot seen on ``min_days``
    different days is a habit of the practice's software, not a coincidence.
    """
    days_by_slot: dict[str, set[date]] = {}
    for batch in batches:
        start = datetime.fromtimestamp(batch.first_at, tz)
        minute = (start.hour * 60 + start.minute) // slot_minutes * slot_minutes
        slot = f"{minute // 60:02d}:{minute % 60:02d}"
        days_by_slot.setdefault(slot, set()).add(start.date())
    return sorted(slot for slot, days in days_by_slot.items() if len(days) >= min_days)


def reminder_canary_times(
    reminder_times: Iterable[str], day: date, *, after_s: float = 1200.0, tz: tzinfo | None = None
) -> list[float]:
    """When to send a canary on ``day`` for reminder runs at ``reminder_times`` ("HH:MM").

    For an account whose Sent folder shows nothing (no copy kept): the practice names when its
    software sends (``[schedule] reminder_times``), or :func:`usual_batch_times` learned it.
    ``after_s`` (20 min) leaves time for a run of a few hundred messages to finish: 400 at one
    every 2 s take about 13 minutes. ValueError names a time that is not "HH:MM".
    """
    moments: list[float] = []
    for text in reminder_times:
        try:
            clock = datetime.strptime(text.strip(), "%H:%M").time()
        except ValueError:
            raise ValueError(f"reminder time {text!r}: write it as HH:MM, e.g. 17:00") from None
        start = datetime.combine(day, clock, tzinfo=tz)
        if tz is None:
            start = start.astimezone()  # this PC's zone, daylight saving included
        moments.append(start.timestamp() + after_s)
    return sorted(moments)


#: How near a reminder time (before or after) or a batch the regular schedule stays as set:
#: a run of 400 takes about 13 minutes, its canary goes 20 minutes after the time, and the
#: practice's software may start a little early or late.
REMINDER_WINDOW_S = 3600.0


def reminders_due(
    now: float,
    *,
    in_office_hours: bool,
    reminder_times: Iterable[str] = (),
    last_batch_at: float | None = None,
    sent_since_last_canary: bool | None = None,
    window_s: float = REMINDER_WINDOW_S,
    tz: tzinfo | None = None,
) -> bool:
    """Whether reminders may be going out now, so the regular schedule stays as configured.

    Yes within ``window_s`` of a named or learned reminder time (yesterday's, today's or
    tomorrow's, so a time near midnight counts) and within ``window_s`` after the last batch
    seen. During the office hours (``[alerts]``: the front desk sends mail and is there to act)
    yes too, unless the Sent folder shows that nothing went out since our last canary
    (``sent_since_last_canary`` False). Otherwise (nights, weekends, office hours in which the
    account sends nothing) the schedule may be thinner; the canary after each batch and at each
    reminder time always goes.

    Why office hours may be thinned: a block only hurts mail that is sent, and it is set off by
    sending. While the practice's sending is visible, a canary follows the sending (the canary
    after each batch, and the regular schedule again as soon as one message went out after the
    last canary), and the clock only keeps a heartbeat. Every canary spent while nothing goes
    out takes from the account's own daily sending budget, and the watchdog must never itself
    be the cause of a block.

    ``sent_since_last_canary``: True when the Sent folder shows a message sent after our last
    canary, False when it shows none (and its reading can be trusted), None when it cannot tell
    (no Sent folder watched, no recent successful look, our own canaries not told apart): then
    office hours count as reminders due, as without a Sent folder.
    """
    if in_office_hours and sent_since_last_canary is not False:
        return True
    if last_batch_at is not None and 0 <= now - last_batch_at <= window_s:
        return True
    today = datetime.fromtimestamp(now, tz).date()
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        for moment in reminder_canary_times(reminder_times, day, after_s=0.0, tz=tz):
            if abs(now - moment) <= window_s:
                return True
    return False


def per_minute(send_times: Iterable[float]) -> dict[int, int]:
    """Sends per minute: the start of each minute (Unix seconds) mapped to how many were sent."""
    counts: dict[int, int] = {}
    for t in send_times:
        minute = int(t // 60) * 60
        counts[minute] = counts.get(minute, 0) + 1
    return dict(sorted(counts.items()))


# --- 2. the learned deadline ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineRules:
    """How a deadline is learned from this account's canary arrival times.

    deadline = quantile(latencies) x ``factor`` + ``extra_s``, bounded below by ``floor_s``
    and above by the configured deadline.

    - ``quantile`` 0.99 and ``factor`` 2 + ``extra_s`` 30 s: arrivals are mostly seconds with a
      long tail of minutes; a lost canary is a DOWN alert's evidence, and a false DOWN costs
      the staff's trust, so the deadline sits well past almost every real arrival. The margin
      absorbs the tail moving (a busy evening at the provider) between what we learned and now.
    - ``floor_s`` 120 s: never judge a canary lost sooner, however fast the history; a few
      quick days must not make an ordinary one-minute delay a lost canary.
    - ``min_samples`` 30: below this the "99th percentile" is only the largest of a handful of
      arrivals and says little about the tail; the configured deadline is used instead.
    - ``window`` 500: the most recent arrivals only, so the deadline follows a provider that
      got slower or faster, and the work stays small.
    """

    quantile: float = 0.99
    factor: float = 2.0
    extra_s: float = 30.0
    floor_s: float = 120.0
    min_samples: int = 30
    window: int = 500

    def __post_init__(self) -> None:
        if not 0.5 <= self.quantile <= 1.0:
            raise ValueError(f"quantile = {self.quantile} must be from 0.5 to 1")
        if self.factor < 1.0 or self.extra_s < 0 or self.floor_s <= 0:
            raise ValueError("factor must be 1 or more, extra_s 0 or more, floor_s more than 0")
        if self.min_samples < 1 or self.window < self.min_samples:
            raise ValueError("min_samples must be 1 or more and window at least min_samples")


DEFAULT_DEADLINE_RULES = DeadlineRules()


@dataclass(frozen=True)
class LearnedDeadline:
    """The deadline to use for the next canary, and where it came from (for status and logs)."""

    seconds: float
    samples: int  # arrivals it was learned from
    learned: bool  # False: too few arrivals, the configured deadline is used
    reason: str  # plain words: why this value


def learned_deadline(
    latencies_s: Sequence[float],
    configured_s: float,
    rules: DeadlineRules = DEFAULT_DEADLINE_RULES,
) -> LearnedDeadline:
    """The canary deadline from this account's arrival latencies, oldest first.

    ``latencies_s`` must hold every canary that arrived, *including late ones* (found after
    their deadline): learning only from canaries that beat the deadline would teach the
    deadline to shrink itself. Canaries never found are left out (they say nothing of how
    long delivery takes). The configured deadline is the upper bound and the override: with
    fewer than ``min_samples`` arrivals it is used as it is.
    """
    recent = [x for x in latencies_s[-rules.window :] if math.isfinite(x) and x >= 0]
    if len(recent) < rules.min_samples:
        return LearnedDeadline(
            configured_s,
            len(recent),
            learned=False,
            reason=(
                f"{len(recent)} arrivals so far, fewer than {rules.min_samples}: "
                "the configured deadline is used"
            ),
        )
    tail = quantile(recent, rules.quantile)
    raw = tail * rules.factor + rules.extra_s
    floor = min(rules.floor_s, configured_s)
    seconds = min(max(raw, floor), configured_s)
    percent = f"{rules.quantile * 100:g}"
    if seconds == configured_s and raw > configured_s:
        why = "the configured deadline is shorter, so it is used"
    elif seconds == floor and raw < floor:
        why = f"raised to the shortest allowed, {floor:g} s"
    else:
        why = f"{rules.factor:g} x that + {rules.extra_s:g} s"
    reason = f"{percent}% of the last {len(recent)} canaries arrived within {tail:.0f} s; {why}"
    return LearnedDeadline(seconds, len(recent), learned=True, reason=reason)


def deadline_in_force(
    latencies_s: Sequence[float],
    configured_s: float,
    rules: DeadlineRules = DEFAULT_DEADLINE_RULES,
    *,
    learn: bool = True,
) -> LearnedDeadline:
    """The deadline the next regular canary gets, and why (the runner's and ``status``'s rule).

    A loss under a learned deadline is confirmed by a second canary, so it is told after two
    learned deadlines: the learned one is used only while twice it is sooner than the
    configured one, else learning would make the alert later, not sooner. ``learn`` False
    (``[schedule] learn_deadline = false``): the configured deadline, always.
    """
    if not learn:
        return LearnedDeadline(configured_s, 0, learned=False, reason="learn_deadline is off")
    found = learned_deadline(latencies_s, configured_s, rules)
    if found.learned and 2 * found.seconds >= configured_s:
        return LearnedDeadline(
            configured_s,
            found.samples,
            learned=False,
            reason=(
                f"{found.reason}; confirmed, a loss would be told only after twice "
                f"{found.seconds:.0f} s, not sooner than the configured deadline, so that is used"
            ),
        )
    return found


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values`` by linear interpolation between sorted values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- 2b. the canary after a batch: suspected soon, confirmed by a few at once --------------------


@dataclass(frozen=True)
class ConfirmRules:
    """How the canary after a reminder batch is judged: fast, with the false alarms bounded.

    A block is most likely right after a batch (the batch is what triggers it), and that is
    when the staff most need to know soon: the reminders just sent may not arrive. So the
    canary after a batch is *suspected* after ``suspect_after_s`` and then *confirmed* by a
    few canaries sent at once; DOWN only when all of them and the first are still missing
    ``confirm_within_s`` later. Both times and how many confirm are chosen from this account's
    arrivals (:func:`batch_canary_plan`) so that ordinary delivery delays give a false DOWN
    with a chance of at most ``false_alarm`` per batch canary.

    - ``false_alarm`` 1e-5: a practice has about four batch canaries on an office day, some
      1,000 a year: one false DOWN in about a century per office (the staff's trust is the
      product), and a handful a year across a thousand offices.
    - ``max_confirmations`` 3: canaries sent together to confirm, at most. Four small messages
      in a minute are no "blast" to any provider; it happens only when the first is late
      (a few in a hundred batch canaries), so it costs well under one canary a day.
    - ``floor_s`` 60 s: never suspect a canary, nor judge a confirmation, sooner: a minute
      covers a provider's ordinary queueing and our own look at the seed mailbox.
    - ``step_s`` 30 s: the times are tried in half-minute steps (a plan in plain words).
    - ``max_suspected`` 0.1: the first canary is suspected no sooner than the age at which at
      most one in ten is still on its way, so confirming stays the exception (a slow account
      whose every canary takes four minutes is not confirmed every time).
    - ``min_samples`` 100: the tail of the arrival times must be seen, not guessed: with fewer
      arrivals the batch canary is judged like any other.
    - ``window`` 500: the most recent arrivals, as for the learned deadline.
    - ``confidence_z`` 1.645: each "how often is a canary later than t" is taken at the upper
      end of its one-sided 95% interval (Wilson), so a tail seen only a few times is not
      trusted to be as thin as it looked.

    The chance multiplies the canaries' delays as if independent. Delays that move together
    (a provider slow for everyone for minutes) are what the configured deadline is for: the
    fast plan is used only when it tells sooner than that, and only after a batch.
    """

    false_alarm: float = 1e-5
    max_confirmations: int = 3
    floor_s: float = 60.0
    step_s: float = 30.0
    max_suspected: float = 0.1
    min_samples: int = 100
    window: int = 500
    confidence_z: float = 1.645

    def __post_init__(self) -> None:
        if not 0.0 < self.false_alarm < 1.0:
            raise ValueError(f"false_alarm = {self.false_alarm} must be between 0 and 1")
        if self.max_confirmations < 1:
            raise ValueError(f"max_confirmations = {self.max_confirmations} must be 1 or more")
        if self.floor_s <= 0 or self.step_s <= 0:
            raise ValueError("floor_s and step_s must be more than 0 seconds")
        if not 0.0 < self.max_suspected <= 1.0:
            raise ValueError(f"max_suspected = {self.max_suspected} must be above 0, at most 1")
        if self.min_samples < 1 or self.window < self.min_samples:
            raise ValueError("min_samples must be 1 or more and window at least min_samples")


DEFAULT_CONFIRM_RULES = ConfirmRules()


@dataclass(frozen=True)
class BatchCanaryPlan:
    """When the canary after a batch is suspected, how many confirm it, and when DOWN is told."""

    suspect_after_s: float  # the first canary is suspected once this old
    confirm_within_s: float  # the confirming canaries are judged after this
    confirmations: int  # canaries sent together to confirm
    false_alarm: float  # the bound on a false DOWN this plan meets (per batch canary)
    samples: int  # arrivals it was learned from

    @property
    def down_after_s(self) -> float:
        """From the first canary's send to a DOWN, when nothing arrives."""
        return self.suspect_after_s + self.confirm_within_s

    def describe(self) -> str:
        """The plan in words, for the log."""
        return (
            f"suspected after {self.suspect_after_s:g} s, confirmed by {self.confirmations} "
            f"canaries within {self.confirm_within_s:g} s (a false alarm: at most "
            f"{self.false_alarm:.1g}; from {self.samples} arrivals)"
        )


def later_than_upper(ordered: Sequence[float], t: float, z: float) -> float:
    """How often a canary takes longer than ``t`` s: the upper end of a one-sided interval.

    ``ordered``: arrival latencies, sorted. Wilson's score interval, which stays above zero
    when no arrival in the sample was that late (a tail not seen is not a tail that is not
    there) and is closed-form (no statistics library in the pure core).
    """
    n = len(ordered)
    if n == 0:
        return 1.0
    p = (n - bisect_right(ordered, t)) / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z2 / n))


def batch_canary_plan(
    latencies_s: Sequence[float],
    configured_s: float,
    rules: ConfirmRules = DEFAULT_CONFIRM_RULES,
) -> BatchCanaryPlan | None:
    """The quickest plan for the canary after a batch whose false alarms stay bounded.

    ``latencies_s``: this account's arrivals (late ones included, as for
    :func:`learned_deadline`). A DOWN at ``s + c`` after the first canary's send needs the first
    still missing then and every one of ``k`` confirming canaries, sent at ``s``, missing at
    their age ``c``: by ordinary delay that happens with a chance of at most
    ``P(> s + c) * P(> c) ** k``. The shortest ``s + c`` meeting ``rules.false_alarm`` wins;
    among those, the plan that sends the fewest extra canaries on average (``P(> s) * k``).
    The first is suspected only once ``P(> s)`` is at most ``rules.max_suspected``.

    None when too few arrivals are known, or no plan tells sooner than the configured
    deadline (a slow account): then the batch canary is judged like any other.
    """
    ordered = sorted(x for x in latencies_s[-rules.window :] if math.isfinite(x) and x >= 0)
    if len(ordered) < rules.min_samples:
        return None

    def later(t: float) -> float:
        return later_than_upper(ordered, t, rules.confidence_z)

    floor, step = rules.floor_s, rules.step_s
    total = 2 * floor
    while total < configured_s:
        best: tuple[float, BatchCanaryPlan] | None = None
        suspect = floor
        while suspect <= total - floor + 1e-9:
            confirm = total - suspect
            if later(suspect) > rules.max_suspected:
                suspect += step
                continue
            for k in range(1, rules.max_confirmations + 1):
                chance = later(total) * later(confirm) ** k
                if chance > rules.false_alarm:
                    continue
                cost = later(suspect) * k
                if best is None or cost < best[0]:
                    plan = BatchCanaryPlan(suspect, confirm, k, chance, len(ordered))
                    best = (cost, plan)
                break  # more confirming canaries than needed only cost more
            suspect += step
        if best is not None:
            return best[1]
        total += step
    return None


# --- 3. the daily budget -------------------------------------------------------------------------

#: Warn once today's sends reach this share of the provider's daily limit.
WARN_SHARE = 0.8


@dataclass(frozen=True)
class BudgetState:
    """Today's sends against the provider's daily limit, and what to tell the staff."""

    used: int  # messages that left the account today: the practice's plus our canaries
    canaries: int  # of which Watchdog's own
    limit: int | None  # the provider's published messages a day; None when not published
    share: float | None  # used / limit
    warn: bool  # at or past the warning share: tell the staff (once a day)
    words: str  # plain words for the notification, the tray and status


def daily_budget(
    sent_today: int,
    canaries_today: int,
    limit: int | None,
    provider: str,
    *,
    warn_share: float = WARN_SHARE,
) -> BudgetState:
    """Today's budget: ``sent_today`` from the Sent folder (without our canaries) plus ours.

    ``provider`` is the display name ("Gmail"). Our canaries count against the practice's
    budget because the provider counts them: a watchdog that used up the limit would be the
    cause of the block it watches for.
    """
    if sent_today < 0 or canaries_today < 0:
        raise ValueError("counts cannot be negative")
    used = sent_today + canaries_today
    sentence = f"{_count(used, 'e-mail')} {'has' if used == 1 else 'have'} gone out"
    sentence += " from this account today"
    if limit is None:
        words = f"{sentence}; {provider} does not publish a daily limit."
        return BudgetState(used, canaries_today, None, None, warn=False, words=words)
    share = used / limit
    warn = share >= warn_share
    if used >= limit:
        words = (
            f"{sentence}; {provider} stops at about {limit:,} a day, so further e-mails may "
            "be refused or held back: send the rest tomorrow."
        )
    elif warn:
        words = f"{sentence}; {provider} stops at about {limit:,} a day: send the rest tomorrow."
    else:
        words = f"{sentence}, of about {limit:,} a day that {provider} allows."
    return BudgetState(used, canaries_today, limit, share, warn=warn, words=words)


def canary_allowance(
    budget: BudgetState,
    *,
    regular_left: int,
    batches_expected: int = 1,
    our_share: float = 0.05,
) -> int:
    """How many *regular* (clock) canaries may still go today; batch canaries are never thinned.

    ``regular_left`` is how many the unthinned schedule would still send today. With no
    published limit nothing is thinned. Otherwise our canaries may use at most ``our_share``
    of what is left of the limit, after reserving one canary for each of the
    ``batches_expected`` batches still to come; once the staff is warned, none: the canary
    after each batch is the one that matters, and it always goes.
    """
    if regular_left <= 0:
        return 0
    if budget.limit is None:
        return regular_left
    if budget.warn:
        return 0
    remaining = budget.limit - budget.used
    allowed = math.floor(remaining * our_share) - max(batches_expected, 0)
    return max(0, min(regular_left, allowed))


def thinned_interval(every_s: float, allowance: int, seconds_left_today: float) -> float | None:
    """The regular schedule's interval for the rest of today, or None for no regular canaries.

    Never shorter than the configured ``every_s``; stretched so that no more than
    ``allowance`` canaries go before midnight.
    """
    if allowance <= 0:
        return None
    return max(every_s, seconds_left_today / allowance)


def local_midnight(ts: float, *, days: int = 0) -> float:
    """The start of ``ts``'s local day (this PC's zone), ``days`` later: one rule for "today"."""
    day = datetime.fromtimestamp(ts).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=days)).timestamp()


# --- 4. reminders a block touched ----------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """Messages that left the account while delivery was down; ``count`` None when unknown."""

    count: int | None
    first_at: float | None = None
    last_at: float | None = None


def reminders_touched(
    start: float, end: float | None, send_times: Iterable[float] | None
) -> Touched:
    """How many of ``send_times`` fall in the block from ``start`` to ``end`` (None: not over).

    ``send_times`` is None without Sent-folder access: then the count is unknown, never 0.
    The window is inclusive at both ends; the caller chooses it (see docs/batches.md: from the
    send of the last canary that arrived before the block to the send of the first that
    arrived after it, because anything between them may have been caught).
    """
    if send_times is None:
        return Touched(None)
    inside = sorted(t for t in send_times if t >= start and (end is None or t <= end))
    if not inside:
        return Touched(0)
    return Touched(len(inside), inside[0], inside[-1])


def touched_words(touched: Touched, *, tz: tzinfo | None = None) -> str:
    """The sentence for the recovery notification, the incident list, the report and webhooks.

    Times are shown as hours and minutes in ``tz`` (None: this PC's time zone), with the day
    as well when the window spans more than one day.
    """
    if touched.count is None:
        return (
            "How many reminders were sent while delivery was down is not known: Watchdog "
            "cannot see this account's Sent folder."
        )
    if touched.count == 0 or touched.first_at is None or touched.last_at is None:
        return "No reminders were sent while delivery was down."
    first = datetime.fromtimestamp(touched.first_at, tz)
    last = datetime.fromtimestamp(touched.last_at, tz)
    shape = "%H:%M" if first.date() == last.date() else "%d %b %H:%M"
    if touched.count == 1:
        return (
            f"1 reminder sent at {first.strftime(shape)} may not have arrived; "
            "consider calling that patient."
        )
    return (
        f"{touched.count:,} reminders sent between {first.strftime(shape)} and "
        f"{last.strftime(shape)} may not have arrived; consider calling those patients."
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"

"""Reminder batches, the learned deadline, the daily budget and the reminders a block touched."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchdog.core.batches import (
    Batch,
    BatchRules,
    BudgetState,
    DeadlineRules,
    Touched,
    batch_needing_canary,
    canary_allowance,
    daily_budget,
    find_batches,
    learned_deadline,
    per_minute,
    quantile,
    reminder_canary_times,
    reminders_touched,
    running_batch_needing_canary,
    thinned_interval,
    touched_words,
    usual_batch_times,
)

T0 = datetime(2026, 12, 4, 17, 2, tzinfo=UTC).timestamp()
RULES = BatchRules(min_messages=10, max_gap_s=60, quiet_after_s=120)


def run(start: float, count: int, gap: float) -> list[float]:
    return [start + i * gap for i in range(count)]


# --- batches -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "times", "now", "expected"),
    [
        ("nothing sent", [], T0, []),
        ("a person's few messages are no batch", run(T0, 5, 300), T0 + 3000, []),
        ("nine quick messages are one short of a batch", run(T0, 9, 2), T0 + 600, []),
        (
            "two hundred reminders two seconds apart are one quiet batch",
            run(T0, 200, 2),
            T0 + 398 + 120,
            [Batch(T0, T0 + 398, 200, quiet=True, quiet_at=T0 + 518)],
        ),
        (
            "a batch whose last message was a minute ago is still running",
            run(T0, 50, 3),
            T0 + 147 + 60,
            [Batch(T0, T0 + 147, 50, quiet=False, quiet_at=T0 + 267)],
        ),
        (
            "a pause of exactly the longest gap keeps the run together",
            run(T0, 10, 2) + run(T0 + 18 + 60, 10, 2),
            T0 + 3600,
            [Batch(T0, T0 + 96, 20, quiet=True, quiet_at=T0 + 216)],
        ),
        (
            "a pause longer than the gap splits morning and evening batches",
            run(T0, 30, 1) + run(T0 + 6 * 3600, 40, 1),
            T0 + 7 * 3600,
            [
                Batch(T0, T0 + 29, 30, quiet=True, quiet_at=T0 + 149),
                Batch(T0 + 21600, T0 + 21639, 40, quiet=True, quiet_at=T0 + 21759),
            ],
        ),
        (
            "sends stamped after now (a server clock ahead) are not counted yet",
            [*run(T0, 20, 1), T0 + 10000],
            T0 + 200,
            [Batch(T0, T0 + 19, 20, quiet=True, quiet_at=T0 + 139)],
        ),
    ],
)
def test_batches_are_found_in_send_times(
    name: str, times: list[float], now: float, expected: list[Batch]
) -> None:
    assert find_batches(times, now, RULES) == expected, name


def test_batches_are_found_in_unsorted_send_times() -> None:
    times = run(T0, 30, 2)
    assert find_batches(list(reversed(times)), T0 + 1000, RULES) == find_batches(
        times, T0 + 1000, RULES
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"min_messages": 1}, "min_messages"),
        ({"max_gap_s": 0}, "max_gap_s"),
        ({"max_gap_s": 120, "quiet_after_s": 60}, "quiet_after_s"),
        ({"running_canary_every_s": 60}, "running_canary_every_s"),
    ],
)
def test_batch_rules_that_cannot_work_are_refused_naming_the_setting(
    kwargs: dict[str, float], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        BatchRules(**kwargs)  # type: ignore[arg-type]


QUIET_EARLY = Batch(T0, T0 + 100, 40, quiet=True, quiet_at=T0 + 220)
QUIET_LATE = Batch(T0 + 3600, T0 + 3700, 60, quiet=True, quiet_at=T0 + 3820)
RUNNING = Batch(T0 + 7200, T0 + 7300, 60, quiet=False, quiet_at=T0 + 7420)


@pytest.mark.parametrize(
    ("name", "batches", "last_canary", "expected"),
    [
        ("no batch, no canary", [], None, None),
        ("a quiet batch never probed gets a canary", [QUIET_EARLY], None, QUIET_EARLY),
        ("a quiet batch already probed gets none", [QUIET_EARLY], T0 + 230, None),
        ("the latest quiet batch is the one probed", [QUIET_EARLY, QUIET_LATE], None, QUIET_LATE),
        ("a running batch waits for its quiet", [QUIET_EARLY, RUNNING], T0 + 230, None),
        (
            "an older batch is answered by a newer canary",
            [QUIET_EARLY, QUIET_LATE],
            T0 + 3830,
            None,
        ),
    ],
)
def test_the_canary_goes_after_the_latest_quiet_batch_once(
    name: str, batches: list[Batch], last_canary: float | None, expected: Batch | None
) -> None:
    assert batch_needing_canary(batches, last_canary) == expected, name


RUN_START = T0 + 7200
RUNNING_RULES = BatchRules(running_canary_every_s=300)


@pytest.mark.parametrize(
    ("name", "last_canary", "now", "due"),
    [
        ("a run younger than the interval gets none", None, RUN_START + 299, False),
        ("a long run gets a canary after the interval", None, RUN_START + 300, True),
        ("a canary in the run restarts the interval", RUN_START + 300, RUN_START + 599, False),
        ("and the next falls due an interval later", RUN_START + 300, RUN_START + 600, True),
    ],
)
def test_a_long_running_batch_gets_a_canary_every_interval(
    name: str, last_canary: float | None, now: float, due: bool
) -> None:
    running = Batch(RUN_START, now - 1, 150, quiet=False, quiet_at=now + 119)
    found = running_batch_needing_canary([QUIET_EARLY, running], last_canary, now, RUNNING_RULES)
    assert (found == running) is due, name


def test_a_quiet_batch_or_switched_off_rule_gives_no_running_canary() -> None:
    assert running_batch_needing_canary([QUIET_LATE], None, T0 + 99_999, RULES) is None
    off = BatchRules(running_canary_every_s=None)
    running = Batch(RUN_START, RUN_START + 900, 400, quiet=False, quiet_at=RUN_START + 1020)
    assert running_batch_needing_canary([running], None, RUN_START + 901, off) is None


def evening_batch(day: int, hour: int, minute: int) -> Batch:
    start = datetime(2026, 12, day, hour, minute, tzinfo=UTC).timestamp()
    return Batch(start, start + 600, 100, quiet=True, quiet_at=start + 720)


@pytest.mark.parametrize(
    ("name", "batches", "expected"),
    [
        ("no batches, no habit", [], []),
        (
            "a batch at the same time on three days is a habit",
            [evening_batch(1, 17, 2), evening_batch(2, 17, 5), evening_batch(3, 17, 14)],
            ["17:00"],
        ),
        (
            "two days are not yet a habit",
            [evening_batch(1, 17, 2), evening_batch(2, 17, 5), evening_batch(3, 9, 0)],
            [],
        ),
        (
            "two batches on one day count as one day",
            [evening_batch(1, 17, 0), evening_batch(1, 17, 10), evening_batch(2, 17, 1)],
            [],
        ),
        (
            "morning and evening habits are both learned",
            [evening_batch(d, h, 1) for d in (1, 2, 3) for h in (8, 17)],
            ["08:00", "17:00"],
        ),
    ],
)
def test_the_practice_s_usual_batch_times_are_learned(
    name: str, batches: list[Batch], expected: list[str]
) -> None:
    assert usual_batch_times(batches, tz=UTC) == expected, name


def test_named_reminder_times_give_a_canary_after_each_run() -> None:
    day = date(2026, 12, 4)
    times = reminder_canary_times(["17:00", "08:30"], day, after_s=1200, tz=UTC)
    assert times == [
        datetime(2026, 12, 4, 8, 50, tzinfo=UTC).timestamp(),
        datetime(2026, 12, 4, 17, 20, tzinfo=UTC).timestamp(),
    ]


def test_a_reminder_time_that_is_not_hours_and_minutes_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'5pm': write it as HH:MM"):
        reminder_canary_times(["5pm"], date(2026, 12, 4))


def test_sends_are_counted_per_minute() -> None:
    minute = 60 * 29_000_000
    assert per_minute([minute + 1, minute + 59, minute + 60, minute + 130]) == {
        minute: 2,
        minute + 60: 1,
        minute + 120: 1,
    }


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=300),
    min_messages=st.integers(min_value=2, max_value=30),
    max_gap=st.floats(min_value=1, max_value=300),
)
def test_batches_never_overlap_and_never_count_more_than_was_sent(
    gaps: list[float], min_messages: int, max_gap: float
) -> None:
    rules = BatchRules(
        min_messages=min_messages,
        max_gap_s=max_gap,
        quiet_after_s=max_gap * 2,
        running_canary_every_s=None,
    )
    times = [T0]
    for gap in gaps:
        times.append(times[-1] + gap)
    batches = find_batches(times, times[-1] + 1, rules)
    assert sum(b.count for b in batches) <= len(times)
    for earlier, later in itertools.pairwise(batches):
        assert later.first_at - earlier.last_at > max_gap
    for b in batches:
        assert b.count >= min_messages
        assert b.first_at <= b.last_at
        inside = [t for t in times if b.first_at <= t <= b.last_at]
        assert len(inside) == b.count


@given(st.lists(st.floats(min_value=0, max_value=10**6, allow_nan=False), max_size=200))
def test_only_the_last_batch_can_still_be_running(times: list[float]) -> None:
    now = max(times, default=0) + 1
    batches = find_batches(times, now, RULES)
    assert all(b.quiet for b in batches[:-1])


# --- the learned deadline ------------------------------------------------------------------------


FAST = [2.0 + (i % 10) for i in range(100)]  # 2..11 s
TAIL = [5.0] * 95 + [60.0, 90.0, 120.0, 150.0, 180.0]


@pytest.mark.parametrize(
    ("name", "latencies", "configured", "rules", "seconds", "learned"),
    [
        ("no arrivals yet use the configured deadline", [], 600, DeadlineRules(), 600, False),
        ("29 arrivals are too few to learn from", [3.0] * 29, 600, DeadlineRules(), 600, False),
        ("fast arrivals are raised to the floor", FAST, 600, DeadlineRules(), 120, True),
        (
            "a long tail sets the deadline past it with the margin",
            TAIL,
            600,
            DeadlineRules(),
            pytest.approx(quantile(TAIL, 0.99) * 2 + 30),
            True,
        ),
        ("the configured deadline stays the upper bound", TAIL, 300, DeadlineRules(), 300, True),
        ("a configured deadline below the floor is kept", FAST, 60, DeadlineRules(), 60, True),
        (
            "only the recent window is learned from",
            [900.0] * 100 + [3.0] * 40,
            1800,
            DeadlineRules(window=40),
            120,
            True,
        ),
        (
            "impossible values are not learned from",
            [float("nan"), -5.0, float("inf")] * 20 + [3.0] * 10,
            600,
            DeadlineRules(),
            600,
            False,
        ),
    ],
)
def test_the_deadline_is_learned_from_arrivals(
    name: str,
    latencies: list[float],
    configured: float,
    rules: DeadlineRules,
    seconds: float,
    learned: bool,
) -> None:
    result = learned_deadline(latencies, configured, rules)
    assert result.seconds == seconds, name
    assert result.learned is learned, name
    assert result.reason


def test_the_deadline_says_why_in_plain_words() -> None:
    assert "fewer than 30" in learned_deadline([3.0], 600).reason
    assert "99% of the last 100 canaries arrived within" in learned_deadline(TAIL, 600).reason
    assert "configured deadline is shorter" in learned_deadline(TAIL, 300).reason


@given(
    st.lists(st.floats(min_value=0, max_value=3600, allow_nan=False), min_size=0, max_size=300),
    st.floats(min_value=1, max_value=7200),
)
def test_a_learned_deadline_stays_between_floor_and_configured_and_covers_most_arrivals(
    latencies: list[float], configured: float
) -> None:
    rules = DeadlineRules()
    result = learned_deadline(latencies, configured, rules)
    assert min(rules.floor_s, configured) <= result.seconds <= configured
    if result.learned and result.seconds < configured:
        late = sum(1 for x in latencies[-rules.window :] if x > result.seconds)
        assert late <= 0.01 * len(latencies[-rules.window :]) + 1


def test_deadline_rules_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match="quantile"):
        DeadlineRules(quantile=0.2)
    with pytest.raises(ValueError, match="factor"):
        DeadlineRules(factor=0.5)
    with pytest.raises(ValueError, match="window"):
        DeadlineRules(min_samples=50, window=10)


# --- the daily budget ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sent", "canaries", "limit", "warn", "words"),
    [
        (
            "a quiet day is no warning",
            100,
            20,
            500,
            False,
            "120 e-mails have gone out from this account today, of about 500 a day that Gmail "
            "allows.",
        ),
        (
            "412 of 500 warns in plain words",
            400,
            12,
            500,
            True,
            "412 e-mails have gone out from this account today; Gmail stops at about 500 a day: "
            "send the rest tomorrow.",
        ),
        ("exactly 80% warns", 390, 10, 500, True, "400 e-mails"),
        ("just under 80% does not", 389, 10, 500, False, "399 e-mails"),
        (
            "past the limit says mail may be refused",
            520,
            3,
            500,
            True,
            "523 e-mails have gone out from this account today; Gmail stops at about 500 a day, "
            "so further e-mails may be refused or held back: send the rest tomorrow.",
        ),
        (
            "an unpublished limit never warns",
            3000,
            30,
            None,
            False,
            "3,030 e-mails have gone out from this account today; Gmail does not publish a "
            "daily limit.",
        ),
        ("one e-mail is singular", 0, 1, 500, False, "1 e-mail has gone out"),
    ],
)
def test_the_budget_counts_the_practice_and_our_canaries(
    name: str, sent: int, canaries: int, limit: int | None, warn: bool, words: str
) -> None:
    state = daily_budget(sent, canaries, limit, "Gmail")
    assert state.used == sent + canaries, name
    assert state.canaries == canaries
    assert state.warn is warn, name
    assert words in state.words, name


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        daily_budget(-1, 0, 500, "Gmail")


def budget(used: int, limit: int | None) -> BudgetState:
    return daily_budget(used, 0, limit, "Gmail")


@pytest.mark.parametrize(
    ("name", "state", "regular_left", "batches", "expected"),
    [
        ("no limit published: nothing is thinned", budget(3000, None), 40, 1, 40),
        ("a fresh day keeps the whole schedule", budget(0, 2000), 40, 1, 40),
        ("a tight day thins to our share of what is left", budget(200, 500), 40, 1, 14),
        ("a warned day sends no regular canaries", budget(400, 500), 40, 1, 0),
        ("batch canaries are reserved first", budget(200, 500), 40, 5, 10),
        ("nothing left to send is nothing", budget(0, 500), 0, 1, 0),
    ],
)
def test_the_regular_schedule_thins_when_the_budget_is_tight(
    name: str, state: BudgetState, regular_left: int, batches: int, expected: int
) -> None:
    assert canary_allowance(state, regular_left=regular_left, batches_expected=batches) == expected


@pytest.mark.parametrize(
    ("every", "allowance", "left", "expected"),
    [
        (1800, 40, 6 * 3600, 1800),  # enough allowance: the configured interval
        (1800, 4, 6 * 3600, 5400),  # stretched to fit
        (1800, 0, 6 * 3600, None),  # none left: only the canaries after batches
    ],
)
def test_the_thinned_interval_is_never_shorter_than_configured(
    every: float, allowance: int, left: float, expected: float | None
) -> None:
    assert thinned_interval(every, allowance, left) == expected


@given(
    used=st.integers(min_value=0, max_value=5000),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=5000)),
    regular_left=st.integers(min_value=0, max_value=1440),
)
def test_our_canaries_never_take_the_practice_past_the_limit(
    used: int, limit: int | None, regular_left: int
) -> None:
    state = daily_budget(used, 0, limit, "Gmail")
    allowed = canary_allowance(state, regular_left=regular_left)
    assert 0 <= allowed <= regular_left
    if limit is not None:
        assert used + allowed <= max(limit, used)
        if state.warn:
            assert allowed == 0


# --- reminders a block touched -------------------------------------------------------------------

TZ = timezone(timedelta(hours=-5))
EVENING = datetime(2026, 12, 4, 17, 0, tzinfo=TZ).timestamp()


@pytest.mark.parametrize(
    ("name", "start", "end", "times", "expected"),
    [
        ("without Sent access the count is unknown", EVENING, EVENING + 600, None, Touched(None)),
        ("nothing sent in the block is zero", EVENING, EVENING + 600, [EVENING - 5], Touched(0)),
        (
            "sends inside the window are counted with first and last",
            EVENING,
            EVENING + 3600,
            [EVENING - 1, *run(EVENING + 120, 38, 60), EVENING + 3601],
            Touched(38, EVENING + 120, EVENING + 120 + 37 * 60),
        ),
        (
            "a block not over yet counts up to now",
            EVENING,
            None,
            [EVENING + 10, EVENING + 99_999],
            Touched(2, EVENING + 10, EVENING + 99_999),
        ),
        (
            "the window's ends are inside it",
            EVENING,
            EVENING + 60,
            [EVENING, EVENING + 60],
            Touched(2, EVENING, EVENING + 60),
        ),
    ],
)
def test_the_reminders_a_block_touched_are_counted(
    name: str, start: float, end: float | None, times: list[float] | None, expected: Touched
) -> None:
    assert reminders_touched(start, end, times) == expected, name


@pytest.mark.parametrize(
    ("touched", "words"),
    [
        (
            Touched(38, EVENING + 120, EVENING + 2400),
            "38 reminders sent between 17:02 and 17:40 may not have arrived; consider calling "
            "those patients.",
        ),
        (
            Touched(1, EVENING + 120, EVENING + 120),
            "1 reminder sent at 17:02 may not have arrived; consider calling that patient.",
        ),
        (Touched(0), "No reminders were sent while delivery was down."),
        (Touched(None), "is not known: Watchdog cannot see this account's Sent folder"),
        (
            Touched(1200, EVENING, EVENING + 86_400),
            "1,200 reminders sent between 04 Dec 17:00 and 05 Dec 17:00",
        ),
    ],
)
def test_the_touched_reminders_are_said_in_plain_words(touched: Touched, words: str) -> None:
    assert words in touched_words(touched, tz=TZ)


@given(
    times=st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=100),
    start=st.floats(min_value=0, max_value=10_000),
    length=st.floats(min_value=0, max_value=10_000),
)
def test_the_touched_count_is_every_send_inside_the_window_and_no_other(
    times: list[float], start: float, length: float
) -> None:
    end = start + length
    touched = reminders_touched(start, end, times)
    inside = [t for t in times if start <= t <= end]
    assert touched.count == len(inside)
    if inside:
        assert (touched.first_at, touched.last_at) == (min(inside), max(inside))


def test_reminders_are_due_in_office_hours_near_a_reminder_time_and_after_a_batch() -> None:
    import datetime as dt

    from watchdog.core.batches import reminders_due

    def at(hhmm: str, day: str = "2026-12-06") -> float:  # a Sunday
        return dt.datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").astimezone().timestamp()

    night = at("03:00")
    assert reminders_due(night, in_office_hours=True)
    assert not reminders_due(night, in_office_hours=False)
    assert reminders_due(night, in_office_hours=False, reminder_times=["03:30"])
    assert not reminders_due(night, in_office_hours=False, reminder_times=["17:30"])
    # A time just before midnight counts for the small hours after it.
    assert reminders_due(at("00:20"), in_office_hours=False, reminder_times=["23:45"])
    assert reminders_due(night, in_office_hours=False, last_batch_at=night - 1800)
    assert not reminders_due(night, in_office_hours=False, last_batch_at=night - 3 * 3600)


# -- the canary after a batch: suspected soon, confirmed by a few at once ----------------------


def test_an_arrival_tail_never_seen_is_not_trusted_to_be_empty() -> None:
    from watchdog.core.batches import later_than_upper

    quick = sorted([2.0] * 100)
    assert later_than_upper(quick, 60.0, 1.645) > 0.02  # none of 100 was late, yet not zero
    assert later_than_upper(quick, 1.0, 1.645) == 1.0
    many = sorted([2.0] * 1000)
    assert later_than_upper(many, 60.0, 1.645) < later_than_upper(quick, 60.0, 1.645)


def test_the_batch_canary_plan_bounds_a_false_down_by_the_account_s_own_arrivals() -> None:
    import random

    from watchdog.core.batches import DEFAULT_CONFIRM_RULES, batch_canary_plan, later_than_upper

    rng = random.Random(3)
    # Most within seconds, a tenth within two minutes, 3% held two to eight minutes.
    latencies = [
        rng.uniform(1, 5)
        if u < 0.87
        else rng.uniform(10, 120)
        if u < 0.97
        else rng.uniform(120, 480)
        for u in (rng.random() for _ in range(500))
    ]
    plan = batch_canary_plan(latencies, 600.0)
    assert plan is not None
    ordered = sorted(latencies)

    def later(t: float) -> float:
        return later_than_upper(ordered, t, DEFAULT_CONFIRM_RULES.confidence_z)

    chance = later(plan.down_after_s) * later(plan.confirm_within_s) ** plan.confirmations
    assert chance <= DEFAULT_CONFIRM_RULES.false_alarm
    assert later(plan.suspect_after_s) <= DEFAULT_CONFIRM_RULES.max_suspected
    # One confirming canary would not do at that speed: the tail is too heavy.
    assert later(plan.down_after_s) * later(plan.confirm_within_s) > 1e-5
    assert plan.confirmations > 1
    assert plan.down_after_s < 600.0 / 2  # sooner than the usual path (two learned deadlines)


def test_a_quick_account_is_told_sooner_than_a_slow_one() -> None:
    from watchdog.core.batches import batch_canary_plan

    quick = batch_canary_plan([2.0] * 300, 600.0)
    slow = batch_canary_plan([100.0] * 300, 600.0)
    assert quick is not None and slow is not None
    assert quick.down_after_s < slow.down_after_s
    assert slow.suspect_after_s > 100.0  # never suspected while most are still on their way


def test_no_fast_plan_for_a_slow_account_or_too_few_arrivals() -> None:
    from watchdog.core.batches import batch_canary_plan

    assert batch_canary_plan([2.0] * 99, 600.0) is None  # the tail not seen yet
    assert batch_canary_plan([300.0] * 500, 600.0) is None  # no sooner than the setting
    assert batch_canary_plan([2.0] * 500, 90.0) is None  # a 90 s setting is already quick


def test_confirm_rules_refuse_values_that_mean_nothing() -> None:
    from watchdog.core.batches import ConfirmRules

    for bad in (
        {"false_alarm": 0.0},
        {"max_confirmations": 0},
        {"floor_s": 0.0},
        {"max_suspected": 1.5},
        {"min_samples": 10, "window": 5},
    ):
        with pytest.raises(ValueError):
            ConfirmRules(**bad)


def test_office_hours_are_thinned_only_when_the_sent_folder_shows_nothing_sent_since() -> None:
    import datetime as dt

    from watchdog.core.batches import reminders_due

    def at(hhmm: str, day: str = "2026-12-07") -> float:  # a Monday
        return dt.datetime.strptime(f"{day} {hhmm}", "%Y-%m-%d %H:%M").astimezone().timestamp()

    morning = at("10:00")
    # Nothing sent since the last canary: no mail is going out, the quiet interval applies.
    assert not reminders_due(morning, in_office_hours=True, sent_since_last_canary=False)
    # One message sent after it, or the Sent folder cannot tell: the schedule as configured.
    assert reminders_due(morning, in_office_hours=True, sent_since_last_canary=True)
    assert reminders_due(morning, in_office_hours=True, sent_since_last_canary=None)
    assert reminders_due(morning, in_office_hours=True)
    # The hour around a reminder time and after a batch keep their rules in office hours too.
    assert reminders_due(
        morning, in_office_hours=True, sent_since_last_canary=False, reminder_times=["10:30"]
    )
    assert reminders_due(
        morning, in_office_hours=True, sent_since_last_canary=False, last_batch_at=morning - 1800
    )
    # Nights keep theirs: the Sent folder's answer does not make a night busy.
    assert not reminders_due(at("03:00"), in_office_hours=False, sent_since_last_canary=True)


def test_a_learned_deadline_is_in_force_only_while_twice_it_is_sooner_than_the_setting() -> None:
    from watchdog.core.batches import deadline_in_force

    quick = deadline_in_force([2.0] * 100, 600.0)
    assert quick.seconds == 120 and quick.learned
    slow = deadline_in_force([150.0] * 100, 600.0)  # learned 330 s: confirmed, 660 s > 600 s
    assert slow.seconds == 600 and not slow.learned
    assert "not sooner than the configured deadline" in slow.reason
    off = deadline_in_force([2.0] * 100, 600.0, learn=False)
    assert off.seconds == 600 and off.reason == "learn_deadline is off"

"""Alert rules, table-tested with an injected clock and time zone: who is told what, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from watchdog.core.models import AlertKind, AlertMemory, AlertPolicy, Flip, Status, StatusSnapshot
from watchdog.core.state import decide_alert

S = Status
POLICY = AlertPolicy()  # Mon-Fri 07:00-19:00, remind every 2 h, tell about DEGRADED

# Monday 2026-11-30 in UTC; the tests read local time as UTC.
MONDAY_9AM = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


def utc(ts: float) -> tuple[int, int]:
    t = datetime.fromtimestamp(ts, UTC)
    return t.weekday(), t.hour * 60 + t.minute


def run(
    steps: Sequence[tuple[float, Status]],
    policy: AlertPolicy = POLICY,
    memory: AlertMemory | None = None,
) -> list[tuple[float, AlertKind]]:
    """Feed (hours after Monday 09:00, status after a check); return (hours, alert kind) sent."""
    memory = memory or AlertMemory()
    previous = Status.UNKNOWN
    sent = []
    for hours, status in steps:
        now = MONDAY_9AM + hours * HOUR
        flip = Flip(previous, status, now, "why") if status is not previous else None
        kind, memory = decide_alert(memory, StatusSnapshot(status, now), flip, policy, now, utc)
        if kind:
            sent.append((hours, kind))
        previous = status
    return sent


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # A healthy start tells nobody.
        ([(0, S.UP), (0.5, S.UP)], []),
        # The change to DOWN is told once, not on every failed check.
        ([(0, S.UP), (0.5, S.DOWN), (1, S.DOWN), (1.5, S.DOWN)], [(0.5, "down")]),
        # Still DOWN two hours later: a reminder, then every two hours.
        (
            [(0, S.UP), (0.5, S.DOWN), (2, S.DOWN), (2.5, S.DOWN), (4.5, S.DOWN)],
            [(0.5, "down"), (2.5, "reminder"), (4.5, "reminder")],
        ),
        # Recovery is told when mail flows again.
        ([(0, S.UP), (0.5, S.DOWN), (1, S.UP)], [(0.5, "down"), (1, "recovered")]),
        # DEGRADED (junk, late) is told, and its end too.
        ([(0, S.UP), (0.5, S.DEGRADED), (1, S.UP)], [(0.5, "degraded"), (1, "recovered")]),
        # From DOWN to DEGRADED: the urgent problem is over.
        ([(0, S.UP), (0.5, S.DOWN), (1, S.DEGRADED)], [(0.5, "down"), (1, "recovered")]),
        # We cannot see (offline): said once; back to DOWN does not repeat the DOWN alert.
        (
            [(0, S.UP), (0.5, S.DOWN), (1, S.UNKNOWN), (1.5, S.DOWN)],
            [(0.5, "down"), (1, "unknown")],
        ),
        # UNKNOWN to UP without an earlier problem: nothing to recover from.
        ([(0, S.UP), (0.5, S.UNKNOWN), (1, S.UP)], [(0.5, "unknown")]),
        # A DOWN at night is urgent and told at once; the reminders wait for the office to open
        # (Tuesday 07:00 is 22 h after Monday 09:00).
        (
            [(0, S.UP), (11, S.DOWN), (13.5, S.DOWN), (18, S.DOWN), (22, S.DOWN)],
            [(11, "down"), (22, "reminder")],
        ),
    ],
)
def test_alerts_follow_changes_reminders_and_office_hours(
    steps: list[tuple[float, Status]], expected: list[tuple[float, str]]
) -> None:
    assert run(steps) == expected


def test_degraded_is_not_told_when_the_policy_says_so() -> None:
    quiet = AlertPolicy(on_degraded=False)
    assert run([(0, S.UP), (0.5, S.DEGRADED), (1, S.UP)], quiet) == []


def test_no_reminders_at_the_weekend() -> None:
    # Saturday 09:00 is 5 days after Monday 09:00.
    sat, mon = 5 * 24, 7 * 24 - 2  # Monday 07:00 the week after
    steps = [(sat - 1, S.UP), (sat, S.DOWN), (sat + 3, S.DOWN), (mon, S.DOWN)]
    assert run(steps) == [(sat, "down"), (mon, "reminder")]


def test_a_restart_does_not_repeat_an_alert_that_was_already_sent() -> None:
    # The memory comes back from the history; the first check after the restart is still DOWN.
    told = AlertMemory(last_kind=AlertKind.DOWN, last_at=MONDAY_9AM, problem=S.DOWN)
    now = MONDAY_9AM + 0.5 * HOUR
    snapshot = StatusSnapshot(S.DOWN, MONDAY_9AM)
    kind, memory = decide_alert(told, snapshot, None, POLICY, now, utc)
    assert kind is None
    assert memory == told


def test_a_setup_problem_is_told_once_and_never_reminded_while_it_lasts() -> None:
    """Relay denied for Watchdog's own details: UNKNOWN, one alert, no DOWN-style reminders."""
    from watchdog.core.models import CheckResult, Diagnosis, Outcome, Policy
    from watchdog.core.state import INITIAL, evaluate

    memory = AlertMemory()
    snapshot = INITIAL
    sent = []
    for hour in range(6):
        now = MONDAY_9AM + hour * HOUR
        refused = CheckResult(
            f"t{hour}", now, now + 600, Outcome.SEND_FAILED, Diagnosis.RELAY_DENIED
        )
        snapshot, flip = evaluate(snapshot, refused, Policy(), now)
        kind, memory = decide_alert(memory, snapshot, flip, POLICY, now, utc)
        if kind:
            sent.append((hour, kind))
    assert sent == [(0, "unknown")]
    assert memory.problem is None  # nothing was said about the practice's mail itself


def test_the_rules_give_alert_kinds_as_the_enum_and_remember_them_so() -> None:
    now = MONDAY_9AM
    flip = Flip(S.UP, S.DOWN, now, "2 lost")
    kind, memory = decide_alert(AlertMemory(), StatusSnapshot(S.DOWN, now), flip, POLICY, now, utc)
    assert type(kind) is AlertKind and kind is AlertKind.DOWN
    assert type(memory.last_kind) is AlertKind

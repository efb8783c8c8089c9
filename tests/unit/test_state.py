"""Status rules, table-tested: from a sequence of outcomes to the status and its flips."""

from __future__ import annotations

import pytest

from watchdog.core.models import CheckResult, Diagnosis, Outcome, Policy, Status
from watchdog.core.state import INITIAL, evaluate

Out = Outcome

DIAGNOSIS_OF = {
    Out.DELIVERED: Diagnosis.OK,
    Out.JUNK: Diagnosis.JUNK_PLACEMENT,
    Out.LATE: Diagnosis.DELAYED,
    Out.LOST: Diagnosis.SILENT_DROP,
    Out.SEND_FAILED: Diagnosis.SENDING_LIMIT,
    Out.SEED_UNREACHABLE: Diagnosis.SEED_UNREACHABLE,
    Out.OFFLINE: Diagnosis.OFFLINE,
    Out.PENDING: Diagnosis.UNKNOWN,
}


def result(outcome: Outcome, sent_at: float) -> CheckResult:
    return CheckResult(
        token=f"t{sent_at}",
        sent_at=sent_at,
        deadline_at=sent_at + 600,
        outcome=outcome,
        diagnosis=DIAGNOSIS_OF[outcome],
        latency_s=1.5 if outcome is Out.DELIVERED else None,
    )


def replay(outcomes: list[Outcome], policy: Policy | None = None) -> tuple[list[Status], list[str]]:
    policy = policy or Policy()
    snapshot = INITIAL
    statuses, flips = [], []
    for i, outcome in enumerate(outcomes):
        snapshot, flip = evaluate(snapshot, result(outcome, 1000.0 * i), policy, 1000.0 * i + 5)
        statuses.append(snapshot.status)
        if flip:
            flips.append(f"{flip.from_status}->{flip.to_status}")
    return statuses, flips


S = Status


@pytest.mark.parametrize(
    ("outcomes", "expected_statuses", "expected_flips"),
    [
        ([Out.DELIVERED], [S.UP], ["UNKNOWN->UP"]),
        ([Out.DELIVERED, Out.LOST], [S.UP, S.UP], ["UNKNOWN->UP"]),
        ([Out.DELIVERED, Out.LOST, Out.LOST], [S.UP, S.UP, S.DOWN], ["UNKNOWN->UP", "UP->DOWN"]),
        (
            [Out.DELIVERED, Out.LOST, Out.LOST, Out.LOST, Out.DELIVERED],
            [S.UP, S.UP, S.DOWN, S.DOWN, S.UP],
            ["UNKNOWN->UP", "UP->DOWN", "DOWN->UP"],
        ),
        ([Out.DELIVERED, Out.LOST, Out.DELIVERED, Out.LOST], [S.UP] * 4, ["UNKNOWN->UP"]),
        ([Out.DELIVERED, Out.SEND_FAILED], [S.UP, S.DOWN], ["UNKNOWN->UP", "UP->DOWN"]),
        ([Out.DELIVERED, Out.JUNK], [S.UP, S.DEGRADED], ["UNKNOWN->UP", "UP->DEGRADED"]),
        (
            [Out.DELIVERED, Out.LATE, Out.DELIVERED],
            [S.UP, S.DEGRADED, S.UP],
            ["UNKNOWN->UP", "UP->DEGRADED", "DEGRADED->UP"],
        ),
        ([Out.DELIVERED, Out.OFFLINE], [S.UP, S.UNKNOWN], ["UNKNOWN->UP", "UP->UNKNOWN"]),
        ([Out.DELIVERED, Out.SEED_UNREACHABLE], [S.UP, S.UNKNOWN], ["UNKNOWN->UP", "UP->UNKNOWN"]),
        ([Out.DELIVERED, Out.PENDING], [S.UP, S.UP], ["UNKNOWN->UP"]),
        # An offline spell between two losses neither resets nor counts: the streak goes on.
        (
            [Out.DELIVERED, Out.LOST, Out.OFFLINE, Out.LOST],
            [S.UP, S.UP, S.UNKNOWN, S.DOWN],
            ["UNKNOWN->UP", "UP->UNKNOWN", "UNKNOWN->DOWN"],
        ),
    ],
)
def test_a_sequence_of_outcomes_gives_the_expected_statuses_and_flips(
    outcomes: list[Outcome], expected_statuses: list[Status], expected_flips: list[str]
) -> None:
    """With a policy that forgives one lost canary (``down_after_lost = 2``)."""
    statuses, flips = replay(outcomes, Policy(down_after_lost=2))
    assert statuses == expected_statuses
    assert flips == expected_flips


@pytest.mark.parametrize(
    ("outcomes", "expected_statuses", "expected_flips"),
    [
        ([Out.DELIVERED, Out.LOST], [S.UP, S.DOWN], ["UNKNOWN->UP", "UP->DOWN"]),
        (
            [Out.DELIVERED, Out.LOST, Out.LATE, Out.DELIVERED],
            [S.UP, S.DOWN, S.DEGRADED, S.UP],
            ["UNKNOWN->UP", "UP->DOWN", "DOWN->DEGRADED", "DEGRADED->UP"],
        ),
        (
            [Out.DELIVERED, Out.LOST, Out.OFFLINE, Out.LOST],
            [S.UP, S.DOWN, S.UNKNOWN, S.DOWN],
            ["UNKNOWN->UP", "UP->DOWN", "DOWN->UNKNOWN", "UNKNOWN->DOWN"],
        ),
    ],
)
def test_by_default_the_first_lost_canary_turns_the_status_down(
    outcomes: list[Outcome], expected_statuses: list[Status], expected_flips: list[str]
) -> None:
    """The default meets issue 8's goal: a drop is told within one interval plus one deadline."""
    statuses, flips = replay(outcomes)
    assert statuses == expected_statuses
    assert flips == expected_flips


def test_thresholds_come_from_the_policy() -> None:
    statuses, _ = replay([Out.DELIVERED, Out.LOST, Out.LOST, Out.LOST], Policy(down_after_lost=3))
    assert statuses == [S.UP, S.UP, S.UP, S.DOWN]
    statuses, _ = replay(
        [Out.DELIVERED, Out.SEND_FAILED, Out.SEND_FAILED], Policy(down_after_refusals=2)
    )
    assert statuses == [S.UP, S.UP, S.DOWN]


def test_silent_drop_says_how_many_canaries_in_a_row_and_since_when() -> None:
    snapshot = INITIAL
    for i, outcome in enumerate([Out.DELIVERED, Out.LOST, Out.LOST, Out.LOST]):
        snapshot, _ = evaluate(snapshot, result(outcome, 1000.0 * i), Policy(), 1000.0 * i)
    assert snapshot.diagnosis is Diagnosis.SILENT_DROP
    assert snapshot.consecutive_lost == 3
    assert snapshot.streak_since == 1000.0
    assert snapshot.reason.startswith("3 canaries in a row")


def test_since_stays_at_the_first_moment_of_the_status() -> None:
    snapshot = INITIAL
    snapshot, _ = evaluate(snapshot, result(Out.DELIVERED, 0), Policy(), 10)
    snapshot, _ = evaluate(snapshot, result(Out.DELIVERED, 100), Policy(), 110)
    assert snapshot.since == 10


def test_a_send_refusal_keeps_its_diagnosis_in_the_status() -> None:
    snapshot, flip = evaluate(INITIAL, result(Out.SEND_FAILED, 0), Policy(), 1)
    assert snapshot.status is S.DOWN
    assert snapshot.diagnosis is Diagnosis.SENDING_LIMIT
    assert flip is not None and flip.diagnosis is Diagnosis.SENDING_LIMIT


def test_a_full_seed_mailbox_is_unknown_told_once_and_keeps_no_refusal_streak() -> None:
    up, _ = evaluate(INITIAL, result(Out.DELIVERED, 0.0), Policy(), 5.0)
    full = CheckResult(
        token="t1",
        sent_at=1000.0,
        deadline_at=1600.0,
        outcome=Out.SEND_FAILED,
        diagnosis=Diagnosis.SEED_MAILBOX_FULL,
        detail="552 5.2.2 over quota",
    )
    first, flip = evaluate(up, full, Policy(), 1005.0)
    assert first.status is Status.UNKNOWN and flip is not None
    assert first.diagnosis is Diagnosis.SEED_MAILBOX_FULL
    second, again = evaluate(first, full, Policy(), 2005.0)
    assert second.status is Status.UNKNOWN and again is None


SETUP_PROBLEMS = [
    Diagnosis.SIGNIN_EXPIRED,
    Diagnosis.SEED_MAILBOX_FULL,
    Diagnosis.SEED_ADDRESS_UNKNOWN,
    Diagnosis.WRONG_SERVER_SETTINGS,
    Diagnosis.RELAY_DENIED,
]


@pytest.mark.parametrize("diagnosis", SETUP_PROBLEMS, ids=str)
@pytest.mark.parametrize("outcome", [Out.SEND_FAILED, Out.BOUNCED, Out.LOST], ids=str)
def test_a_watchdog_setup_problem_is_unknown_never_down_and_told_once(
    diagnosis: Diagnosis, outcome: Outcome
) -> None:
    up, _ = evaluate(INITIAL, result(Out.DELIVERED, 0.0), Policy(), 5.0)
    problem = CheckResult(
        token="t1",
        sent_at=1000.0,
        deadline_at=1600.0,
        outcome=outcome,
        diagnosis=diagnosis,
    )
    first, flip = evaluate(up, problem, Policy(), 1005.0)
    assert (first.status, first.diagnosis) == (Status.UNKNOWN, diagnosis)
    assert flip is not None and flip.to_status is Status.UNKNOWN
    assert first.reason  # a reason of its own even without a detail
    assert first.consecutive_refused == 0 and first.consecutive_lost == 0
    again, repeat = evaluate(first, problem, Policy(), 2005.0)
    assert again.status is Status.UNKNOWN and repeat is None


def test_each_setup_problem_has_its_own_reason_when_the_result_has_no_detail() -> None:
    reasons = set()
    for diagnosis in SETUP_PROBLEMS:
        problem = CheckResult("t", 0.0, 600.0, Out.SEND_FAILED, diagnosis)
        snapshot, _ = evaluate(INITIAL, problem, Policy(), 1.0)
        reasons.add(snapshot.reason)
    assert len(reasons) == len(SETUP_PROBLEMS)


def test_a_setup_problem_first_seen_while_unknown_is_still_announced() -> None:
    offline, _ = evaluate(INITIAL, result(Out.OFFLINE, 0.0), Policy(), 1.0)
    assert offline.status is Status.UNKNOWN
    relay = CheckResult("t", 10.0, 610.0, Out.SEND_FAILED, Diagnosis.RELAY_DENIED)
    snapshot, flip = evaluate(offline, relay, Policy(), 11.0)
    assert snapshot.status is Status.UNKNOWN
    assert flip is not None and flip.diagnosis is Diagnosis.RELAY_DENIED


@pytest.mark.parametrize("before", [Out.DELIVERED, Out.SEND_FAILED, Out.LOST], ids=str)
def test_a_canary_that_was_never_sent_changes_nothing(before: Outcome) -> None:
    prev, _ = evaluate(INITIAL, result(before, 0.0), Policy(), 5.0)
    not_sent = CheckResult("t1", 1000.0, 1600.0, Out.NOT_SENT, Diagnosis.UNKNOWN)
    after, flip = evaluate(prev, not_sent, Policy(), 1005.0)
    assert after == prev
    assert flip is None


@pytest.mark.parametrize("diagnosis", [Diagnosis.DELAYED, Diagnosis.RATE_LIMITED], ids=str)
def test_a_lost_canary_the_provider_still_tries_to_deliver_is_late_not_dropped(
    diagnosis: Diagnosis,
) -> None:
    """Only a delay notice gives a lost canary these diagnoses (greylisting, no answer...)."""
    up, _ = evaluate(INITIAL, result(Out.DELIVERED, 0.0), Policy(), 5.0)
    lost = CheckResult(
        "t1", 1000.0, 1600.0, Out.LOST, diagnosis, detail="delivery delayed, status 4.4.1"
    )
    snapshot, flip = evaluate(up, lost, Policy(), 1605.0)
    assert (snapshot.status, snapshot.diagnosis) == (Status.DEGRADED, diagnosis)
    assert snapshot.consecutive_lost == 0
    assert snapshot.reason == "delivery delayed, status 4.4.1"
    assert flip is not None and flip.to_status is Status.DEGRADED


def test_a_canary_past_a_learned_deadline_is_in_doubt_only_past_the_configured_one_too() -> None:
    from watchdog.core.models import CheckResult, Diagnosis, Outcome
    from watchdog.core.state import OVERDUE_GRACE_S, overdue_canaries

    # Sent at 0 with a learned deadline of 2 minutes; the configured deadline is 10.
    canary = CheckResult("t", 0.0, 120.0, Outcome.PENDING, Diagnosis.UNKNOWN)
    # Where the learned deadline is the configured one, the canary is in doubt past it.
    assert overdue_canaries([canary], 120 + OVERDUE_GRACE_S + 1, configured_deadline_s=120) != []
    later = 120 + OVERDUE_GRACE_S + 1
    assert overdue_canaries([canary], later, configured_deadline_s=600) == []
    assert overdue_canaries([canary], 600 + OVERDUE_GRACE_S + 1, configured_deadline_s=600) != []

"""Incident grouping, table-tested: flapping, ongoing, UNKNOWN gaps and restarts."""

from __future__ import annotations

import pytest

from watchdog.core.incidents import group_incidents
from watchdog.core.models import (
    AlertAttempt,
    AlertKind,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    Status,
)

S, Out, D = Status, Outcome, Diagnosis


def flips(*steps: tuple[float, Status, Status]) -> list[Flip]:
    return [Flip(a, b, t, "", D.SILENT_DROP if b is S.DOWN else None) for t, a, b in steps]


def check(t: float, outcome: Outcome, diagnosis: Diagnosis = D.OK) -> CheckResult:
    return CheckResult(f"t{t}", t, t + 10, outcome, diagnosis)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # (status, start, end) per incident
        ([(0, S.UNKNOWN, S.UP), (100, S.UP, S.DOWN), (200, S.DOWN, S.UP)], [(S.DOWN, 100, 200)]),
        # Flapping: two separate incidents.
        (
            [
                (0, S.UNKNOWN, S.UP),
                (100, S.UP, S.DOWN),
                (110, S.DOWN, S.UP),
                (120, S.UP, S.DOWN),
                (130, S.DOWN, S.UP),
            ],
            [(S.DOWN, 100, 110), (S.DOWN, 120, 130)],
        ),
        # Ongoing: no end yet.
        ([(0, S.UNKNOWN, S.UP), (100, S.UP, S.DOWN)], [(S.DOWN, 100, None)]),
        # Offline in the middle (or a restart that saw UNKNOWN): still one incident.
        (
            [
                (0, S.UNKNOWN, S.UP),
                (100, S.UP, S.DOWN),
                (150, S.DOWN, S.UNKNOWN),
                (170, S.UNKNOWN, S.DOWN),
                (200, S.DOWN, S.UP),
            ],
            [(S.DOWN, 100, 200)],
        ),
        # DEGRADED is kept apart from DOWN.
        (
            [
                (0, S.UNKNOWN, S.UP),
                (100, S.UP, S.DEGRADED),
                (150, S.DEGRADED, S.DOWN),
                (200, S.DOWN, S.UP),
            ],
            [(S.DEGRADED, 100, 150), (S.DOWN, 150, 200)],
        ),
        # Nothing went wrong.
        ([(0, S.UNKNOWN, S.UP), (50, S.UP, S.UNKNOWN), (60, S.UNKNOWN, S.UP)], []),
    ],
)
def test_status_changes_group_into_incidents(
    changes: list[tuple[float, Status, Status]], expected: list[tuple[Status, float, float | None]]
) -> None:
    incidents = group_incidents(flips(*changes))
    assert [(i.status, i.start, i.end) for i in incidents] == expected


def test_an_incident_counts_the_lost_canaries_that_led_to_it_and_its_alerts() -> None:
    changes = flips((0, S.UNKNOWN, S.UP), (130, S.UP, S.DOWN), (300, S.DOWN, S.UP))
    checks = [
        check(0, Out.DELIVERED),
        check(60, Out.LOST, D.SILENT_DROP),
        check(120, Out.LOST, D.SILENT_DROP),
        check(180, Out.SEND_FAILED, D.SENDING_LIMIT),
        check(240, Out.OFFLINE, D.OFFLINE),
        check(290, Out.DELIVERED),
    ]
    alerts = [
        AlertAttempt(131, AlertKind.DOWN, "desktop", True, False, 1, "", S.DOWN, D.SILENT_DROP),
        AlertAttempt(
            131, AlertKind.DOWN, "webhook:support", True, False, 1, "", S.DOWN, D.SILENT_DROP
        ),
        AlertAttempt(250, AlertKind.RESULT, "desktop", True, False, 1, "", S.DOWN, D.SILENT_DROP),
        AlertAttempt(301, AlertKind.RECOVERED, "desktop", True, False, 1, "", S.UP, None),
    ]
    (incident,) = group_incidents(changes, checks, alerts)
    assert incident.canaries_failed == 3
    assert incident.diagnoses == [D.SILENT_DROP, D.SENDING_LIMIT]
    kinds = [(a.kind, a.channel) for a in incident.alerts]
    assert kinds == [
        ("down", "desktop"),
        ("down", "webhook:support"),
        ("result", "desktop"),
        ("recovered", "desktop"),
    ]
    assert incident.person_acted_at == [250]
    assert incident.duration(now=1000) == 170


def test_the_incident_list_and_the_report_take_the_same_incidents_for_a_since_date() -> None:
    from watchdog.core.incidents import Incident, incidents_since
    from watchdog.core.models import Status

    before = Incident(Status.DOWN, start=100.0, end=150.0)
    across = Incident(Status.DOWN, start=180.0, end=260.0)  # began before, still on at 200
    after = Incident(Status.DEGRADED, start=300.0, end=None)
    assert incidents_since([before, across, after], 200.0) == [across, after]
    assert incidents_since([before, across, after], None) == [before, across, after]

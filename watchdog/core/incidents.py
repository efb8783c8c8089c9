"""Incidents: periods when reminders were not going out (DOWN) or not going out well (DEGRADED).

Pure: built from the status changes, the checks and the alert attempts in the history.
- A DOWN incident opens with the change to DOWN and closes with the change to UP or DEGRADED.
  A spell of UNKNOWN (offline, seed mailbox unreadable) inside it does not close it: nobody saw
  mail flow again, so it is the same incident if it comes back DOWN.
- A DEGRADED incident is kept separately, with the same rules.
- Restarts change nothing: the changes are read from the history, not from a process's memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from watchdog.core.models import AlertAttempt, AlertKind, Diagnosis, Flip, Outcome, Status

_PROBLEMS = (Status.DOWN, Status.DEGRADED)
_FAILED = (Outcome.LOST, Outcome.SEND_FAILED, Outcome.BOUNCED)
_EVIDENCE = (*_FAILED, Outcome.JUNK, Outcome.LATE)  # checks that show the problem
_NO_EVIDENCE = (
    Outcome.PENDING,
    Outcome.OFFLINE,
    Outcome.SEED_UNREACHABLE,
    Outcome.NOT_SENT,
)
_RECOVERY_NOTICE_S = 120.0


@dataclass
class Incident:
    """One period of DOWN or DEGRADED."""

    status: Status
    start: float
    end: float | None = None  # None: still going on
    diagnoses: list[Diagnosis] = field(default_factory=list)  # in the order they appeared
    canaries_failed: int = 0
    alerts: list[AlertAttempt] = field(default_factory=list)
    person_acted_at: list[float] = field(default_factory=list)  # "Check now" presses

    def duration(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start

    @property
    def ongoing(self) -> bool:
        return self.end is None


class CheckLike(Protocol):
    """What grouping reads of a check (a ``CheckResult``, or the report's lighter rows)."""

    @property
    def sent_at(self) -> float: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def diagnosis(self) -> Diagnosis: ...


def group_incidents(
    flips: Sequence[Flip],
    checks: Sequence[CheckLike] = (),
    alerts: Sequence[AlertAttempt] = (),
) -> list[Incident]:
    """Incidents from status changes (any order), oldest first, with their checks and alerts."""
    incidents: list[Incident] = []
    open_: Incident | None = None
    for flip in sorted(flips, key=lambda f: f.at):
        to = flip.to_status
        if to in (Status.UNKNOWN, Status.PAUSED):
            continue  # no evidence either way: an open incident stays open
        if open_ is not None and open_.status is to:
            if flip.diagnosis and flip.diagnosis not in open_.diagnoses:
                open_.diagnoses.append(flip.diagnosis)
            continue  # back from UNKNOWN into the same problem
        if open_ is not None:
            open_.end = flip.at
            open_ = None
        if to in _PROBLEMS:
            open_ = Incident(status=to, start=flip.at)
            if flip.diagnosis:
                open_.diagnoses.append(flip.diagnosis)
            incidents.append(open_)
    ordered = sorted(checks, key=lambda c: c.sent_at)
    times = [c.sent_at for c in ordered]
    alerts_in_order = sorted(alerts, key=lambda a: a.at)
    alert_times = [a.at for a in alerts_in_order]
    for incident in incidents:
        _attach(incident, ordered, times, alerts_in_order, alert_times)
    return incidents


def _attach(
    incident: Incident,
    ordered: Sequence[CheckLike],
    times: Sequence[float],
    alerts: Sequence[AlertAttempt],
    alert_times: Sequence[float],
) -> None:
    """The checks and alerts of the incident (``ordered`` and ``alerts`` sorted by time).

    The failed checks that led to the change come before it (the first lost canary was sent an
    interval or more earlier), so the unbroken run of failures just before the start counts too.
    Found by bisection: years of history with many incidents stay fast.
    """
    end = incident.end if incident.end is not None else float("inf")
    leads = _FAILED if incident.status is Status.DOWN else (Outcome.JUNK, Outcome.LATE)
    first = bisect.bisect_left(times, incident.start)
    lead_in: list[CheckLike] = []
    for check in reversed(ordered[:first] if first < 64 else ordered[first - 64 : first]):
        if check.outcome in _NO_EVIDENCE:
            continue
        if check.outcome not in leads:
            break
        lead_in.append(check)
    inside = ordered[first : bisect.bisect_left(times, end)]
    for check in [*reversed(lead_in), *inside]:
        if check.outcome in _FAILED:
            incident.canaries_failed += 1
        if check.outcome in _EVIDENCE and check.diagnosis not in incident.diagnoses:
            incident.diagnoses.append(check.diagnosis)
    start_at = bisect.bisect_left(alert_times, incident.start)
    stop_at = bisect.bisect_right(alert_times, end + _RECOVERY_NOTICE_S)
    for attempt in alerts[start_at:stop_at]:
        # The recovery notice is sent just after the change that ends the incident.
        if attempt.at <= end or attempt.kind is AlertKind.RECOVERED:
            incident.alerts.append(attempt)
            if attempt.kind is AlertKind.RESULT:
                incident.person_acted_at.append(attempt.at)


def incidents_since(incidents: Iterable[Incident], since: float | None) -> list[Incident]:
    """The incidents going on at ``since`` or later (all with None).

    One rule for ``watchdog incidents`` and the report: an incident that began before ``since``
    but was still going on then belongs to the period asked about.
    """
    return [i for i in incidents if since is None or i.end is None or i.end >= since]

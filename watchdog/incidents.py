"""Incidents: periods when reminders were not going out (DOWN) or not going out well (DEGRADED).

Pure: built from the status changes, the checks and the alert attempts in the history.
- A DOWN incident opens with the change to DOWN and closes with the change to UP or DEGRADED.
  A spell of UNKNOWN (offline, seed mailbox unreadable) inside it does not close it: nobody saw
  mail flow again, so it is the same incident if it comes back DOWN.
- A DEGRADED incident is kept separately, with the same rules.
- Restarts change nothing: the changes are read from the history, not from a process's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .history import AlertAttempt
from .models import CheckResult, Diagnosis, Flip, Outcome, Status

_PROBLEMS = (Status.DOWN, Status.DEGRADED)
_FAILED = (Outcome.LOST, Outcome.SEND_FAILED, Outcome.BOUNCED)
_EVIDENCE = (*_FAILED, Outcome.JUNK, Outcome.LATE)  # checks that show the problem
_NO_EVIDENCE = (Outcome.PENDING, Outcome.OFFLINE, Outcome.SEED_UNREACHABLE)
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


def group_incidents(
    flips: Sequence[Flip],
    checks: Sequence[CheckResult] = (),
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
    for incident in incidents:
        _attach(incident, checks, alerts)
    return incidents


def _attach(
    incident: Incident, checks: Sequence[CheckResult], alerts: Sequence[AlertAttempt]
) -> None:
    """The checks and alerts of the incident.

    The failed checks that led to the change come before it (the first lost canary was sent an
    interval or more earlier), so the unbroken run of failures just before the start counts too.
    """
    end = incident.end if incident.end is not None else float("inf")
    ordered = sorted(checks, key=lambda c: c.sent_at)
    leads = _FAILED if incident.status is Status.DOWN else (Outcome.JUNK, Outcome.LATE)
    lead_in: list[CheckResult] = []
    for check in ordered:
        if check.sent_at >= incident.start:
            break
        if check.outcome in _NO_EVIDENCE:
            continue
        lead_in = [*lead_in, check] if check.outcome in leads else []
    inside = [c for c in ordered if incident.start <= c.sent_at < end]
    for check in [*lead_in, *inside]:
        if check.outcome in _FAILED:
            incident.canaries_failed += 1
        if check.outcome in _EVIDENCE and check.diagnosis not in incident.diagnoses:
            incident.diagnoses.append(check.diagnosis)
    for attempt in sorted(alerts, key=lambda a: a.at):
        # The recovery notice is sent just after the change that ends the incident.
        if incident.start <= attempt.at <= end + _RECOVERY_NOTICE_S and (
            attempt.at <= end or attempt.kind == "recovered"
        ):
            incident.alerts.append(attempt)
            if attempt.kind == "result":
                incident.person_acted_at.append(attempt.at)

"""Pure status rules: from the previous status and one check result to the next status.

Modelled on healthchecks' flips: a status changes only on evidence, and each change is a ``Flip``
that the caller records and announces. No I/O, no clock reads: ``now`` is passed in.

- DELIVERED: UP (the first clean delivery ends any problem).
- JUNK or LATE: DEGRADED (mail flows, but not as it should).
- LOST: DOWN once ``down_after_lost`` canaries in a row are lost (default 1: a drop is told within
  one interval plus one deadline; benchmarks/detection.py shows no false alarms from slow mail).
- SEND_FAILED or BOUNCED: DOWN once ``down_after_refusals`` sends in a row were refused, failed
  or bounced (a bounce is a refusal that arrives by mail).
- SEED_UNREACHABLE / OFFLINE: UNKNOWN. We cannot see whether mail flows, and must not blame the
  provider for a problem of the seed mailbox or of this PC's network. Streaks are kept as they are.
- LOST with diagnosis ``delayed`` or ``rate_limited`` (only a delay notice gives a lost canary
  these: greylisting, the receiving server not answering, "too much mail"): DEGRADED. The
  provider accepted the canary and says it is still trying, so it is late, not silently dropped.
- NOT_SENT (the check stopped before the server accepted the canary): nothing changes.
- A Watchdog set-up problem (``WATCHDOG_SETUP_PROBLEMS``, whatever the outcome): UNKNOWN, never
  DOWN. Watchdog's own OAuth2 sign-in was refused (the practice's mail program signs in on its
  own), Watchdog's own test mailbox is full or its address does not exist, the server and port
  in Watchdog's settings are not the right kind of server, or the server refuses to send with
  Watchdog's account details (relay denied): none of these is the provider blocking mail. The
  first appearance is a flip even when the status already was UNKNOWN, so someone is told once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from watchdog.core.models import (
    AlertKind,
    AlertMemory,
    AlertPolicy,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    Policy,
    Status,
    StatusSnapshot,
)

#: Problems of Watchdog's own set-up, whatever the outcome: UNKNOWN, never a mail block, and
#: their first appearance is announced even when the status already was UNKNOWN.
#:
#: ``relay_denied`` is here because the canary goes out with Watchdog's own copy of the account
#: details (``[sender] address`` / ``username``, signing in): a refusal to relay for them says
#: those settings do not fit the account, which support fixes in Watchdog. The practice software
#: has its own copy; if it shares the mistake its mail is refused too, so the alert says to compare
#: them, but calling it the provider's block (DOWN) would send the staff after the wrong cause.
WATCHDOG_SETUP_PROBLEMS = frozenset(
    {
        Diagnosis.SIGNIN_EXPIRED,
        Diagnosis.SEED_MAILBOX_FULL,
        Diagnosis.SEED_ADDRESS_UNKNOWN,
        Diagnosis.WRONG_SERVER_SETTINGS,
        Diagnosis.RELAY_DENIED,
        Diagnosis.CANNOT_CHECK,
    }
)

#: The status reason for a set-up problem when the result carries no detail of its own.
_SETUP_REASONS = {
    Diagnosis.SIGNIN_EXPIRED: "Watchdog must be signed in to the mail account again.",
    Diagnosis.SEED_MAILBOX_FULL: "Watchdog's test mailbox is full, so its checks bounce.",
    Diagnosis.SEED_ADDRESS_UNKNOWN: "Watchdog's test mailbox address does not exist.",
    Diagnosis.WRONG_SERVER_SETTINGS: "The server and port in Watchdog's settings are not the "
    "right kind of mail server.",
    Diagnosis.RELAY_DENIED: "The outgoing server would not send with Watchdog's account details "
    "(user name, From address or signing in).",
    Diagnosis.CANNOT_CHECK: "Watchdog could not run its check.",
}

#: What a delay notice makes of a lost canary: still being tried, so late rather than lost.
_STILL_TRYING = frozenset({Diagnosis.DELAYED, Diagnosis.RATE_LIMITED})

#: How long past its deadline a canary may still be pending before the status is in doubt: the
#: check that owns it is settling it, or was cut off (then "UP" would be greener than the truth).
OVERDUE_GRACE_S = 60.0


def overdue_canaries(
    pending: Sequence[CheckResult], now: float, *, configured_deadline_s: float
) -> list[CheckResult]:
    """Pending canaries more than :data:`OVERDUE_GRACE_S` past their deadline, oldest first.

    ``configured_deadline_s`` (``[schedule] deadline_minutes``): a canary is in doubt only once
    past that too. A learned deadline may be shorter, and a canary past it is not cut off: a
    second canary is confirming it, or it waits out the configured deadline before it is
    called lost; calling it overdue meanwhile would turn a green icon grey for nothing.
    """
    return [
        p
        for p in pending
        if now > max(p.deadline_at, p.sent_at + configured_deadline_s) + OVERDUE_GRACE_S
    ]


INITIAL = StatusSnapshot(status=Status.UNKNOWN, since=None, reason="No check has run yet.")


def evaluate(
    prev: StatusSnapshot, result: CheckResult, policy: Policy, now: float
) -> tuple[StatusSnapshot, Flip | None]:
    """The status after ``result``, and the flip if the status changed."""
    outcome = result.outcome
    if outcome is Outcome.PENDING or (
        outcome is Outcome.NOT_SENT and result.diagnosis is not Diagnosis.CANNOT_CHECK
    ):
        # NOT_SENT: the check stopped before the server accepted the canary; no evidence at all.
        # Unless Watchdog *could not* check (a missing password, a locked keyring): that is a
        # status of its own, or a green icon would stand on checks that cannot run.
        return prev, None
    if result.diagnosis in WATCHDOG_SETUP_PROBLEMS:
        reason = result.detail or _SETUP_REASONS[result.diagnosis]
        nxt = _to(prev, Status.UNKNOWN, reason, result.diagnosis, now)
        newly = prev.diagnosis is not result.diagnosis
        flip = None
        if nxt.status is not prev.status or newly:
            flip = Flip(prev.status, nxt.status, now, nxt.reason, nxt.diagnosis)
        return nxt, flip
    if outcome is Outcome.DELIVERED:
        latency = f" in {result.latency_s:.1f} s" if result.latency_s is not None else ""
        nxt = _to(prev, Status.UP, f"Test message delivered{latency}.", Diagnosis.OK, now)
        nxt = replace(nxt, consecutive_lost=0, consecutive_refused=0, streak_since=None)
    elif outcome in (Outcome.JUNK, Outcome.LATE) or (
        outcome is Outcome.LOST and result.diagnosis in _STILL_TRYING
    ):
        if outcome is Outcome.JUNK:
            reason = "The test message arrived in the junk folder."
        elif outcome is Outcome.LATE:
            reason = "The test message arrived, but later than it should."
        else:
            reason = result.detail or (
                "The canary has not arrived yet; the provider reported that it is still trying "
                "to deliver it."
            )
        nxt = _to(prev, Status.DEGRADED, reason, result.diagnosis, now)
        nxt = replace(nxt, consecutive_lost=0, consecutive_refused=0, streak_since=None)
    elif outcome is Outcome.LOST:
        count = prev.consecutive_lost + 1
        since = prev.streak_since if prev.consecutive_lost else result.sent_at
        nxt = replace(prev, consecutive_lost=count, consecutive_refused=0, streak_since=since)
        if count >= policy.down_after_lost:
            reason = (
                f"The canary sent at {_clock_time(since)} was accepted by the server but never "
                "arrived."
                if count == 1
                else f"{count} canaries in a row were accepted by the server but never arrived "
                f"(since {_clock_time(since)})."
            )
            nxt = _to(nxt, Status.DOWN, reason, Diagnosis.SILENT_DROP, now)
    elif outcome in (Outcome.SEND_FAILED, Outcome.BOUNCED):
        count = prev.consecutive_refused + 1
        since = prev.streak_since if prev.consecutive_refused else result.sent_at
        nxt = replace(prev, consecutive_refused=count, consecutive_lost=0, streak_since=since)
        if count >= policy.down_after_refusals:
            reason = result.detail or "The outgoing server did not accept the canary."
            nxt = _to(nxt, Status.DOWN, reason, result.diagnosis, now)
    else:  # SEED_UNREACHABLE, OFFLINE
        reason = result.detail or "The delivery check could not be completed."
        nxt = _to(prev, Status.UNKNOWN, reason, result.diagnosis, now)
    flip = None
    if nxt.status is not prev.status:
        flip = Flip(prev.status, nxt.status, now, nxt.reason, nxt.diagnosis)
    return nxt, flip


def _to(
    prev: StatusSnapshot, status: Status, reason: str, diagnosis: Diagnosis | None, now: float
) -> StatusSnapshot:
    """Move to ``status``; ``since`` changes only when the status really changes."""
    since = prev.since if status is prev.status and prev.since is not None else now
    return replace(prev, status=status, since=since, reason=reason, diagnosis=diagnosis)


def _clock_time(ts: float | None) -> str:
    """Local date and time for a reason text (the only formatting here; no clock is read)."""
    if ts is None:
        return "unknown"
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


# -- alert rules --------------------------------------------------------------------------------
#
# Notify on the change, not on every failed check; remind while still DOWN; hold reminders outside
# office hours; announce recovery only for a problem people were told about. ``local`` turns a Unix
# time into (weekday, minutes after midnight) in the office's time zone; injected for tests.

Local = Callable[[float], tuple[int, int]]


def local_time(ts: float) -> tuple[int, int]:
    """The PC's local weekday (Monday 0) and minutes after midnight."""
    t = time.localtime(ts)
    return t.tm_wday, t.tm_hour * 60 + t.tm_min


def in_office_hours(policy: AlertPolicy, ts: float, local: Local = local_time) -> bool:
    weekday, minutes = local(ts)
    return (
        weekday in policy.office_days
        and policy.office_open_min <= minutes < policy.office_close_min
    )


def decide_alert(
    memory: AlertMemory,
    snapshot: StatusSnapshot,
    flip: Flip | None,
    policy: AlertPolicy,
    now: float,
    local: Local = local_time,
) -> tuple[AlertKind | None, AlertMemory]:
    """The alert to send now (or None) and the memory after it."""
    status = snapshot.status
    told = memory.problem
    kind: AlertKind | None = None
    if flip is not None:
        if status is Status.DOWN:
            # Back from UNKNOWN: already told.
            kind = None if told is Status.DOWN else AlertKind.DOWN
        elif status is Status.DEGRADED:
            if told is Status.DOWN:
                # Mail flows again, if slowly: the urgent problem is over.
                kind = AlertKind.RECOVERED
            elif policy.on_degraded and told is not Status.DEGRADED:
                kind = AlertKind.DEGRADED
        elif status is Status.UP:
            kind = AlertKind.RECOVERED if told is not None else None
        elif status is Status.UNKNOWN and flip.from_status is not Status.PAUSED:
            kind = AlertKind.UNKNOWN
    if kind is None and status is Status.DOWN and told is Status.DOWN:
        due = memory.last_at is None or now - memory.last_at >= policy.remind_every_s
        if due and in_office_hours(policy, now, local):
            # Non-urgent: held outside office hours until the office opens.
            kind = AlertKind.REMINDER
    if kind is None:
        return None, memory
    problem: Status | None
    if kind in (AlertKind.DOWN, AlertKind.REMINDER):
        problem = Status.DOWN
    elif kind is AlertKind.DEGRADED:
        problem = Status.DEGRADED
    elif kind is AlertKind.RECOVERED:
        problem = Status.DEGRADED if status is Status.DEGRADED and policy.on_degraded else None
    else:  # unknown: keep what people were told about the mail itself
        problem = memory.problem
    began = memory.problem_since if memory.problem is not None else None
    if problem is None:
        began = None
    elif began is None:
        began = snapshot.streak_since or snapshot.since or now
    return kind, AlertMemory(last_kind=kind, last_at=now, problem=problem, problem_since=began)

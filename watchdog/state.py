"""Pure status rules: from the previous status and one check result to the next status.

Modelled on healthchecks' flips: a status changes only on evidence, and each change is a ``Flip``
that the caller records and announces. No I/O, no clock reads: ``now`` is passed in.

- DELIVERED: UP (the first clean delivery ends any problem).
- JUNK or LATE: DEGRADED (mail flows, but not as it should).
- LOST: DOWN once ``down_after_lost`` canaries in a row are lost (one loss may be a hiccup).
- SEND_FAILED or BOUNCED: DOWN once ``down_after_refusals`` sends in a row were refused, failed
  or bounced (a bounce is a refusal that arrives by mail).
- SEED_UNREACHABLE / OFFLINE: UNKNOWN. We cannot see whether mail flows, and must not blame the
  provider for a problem of the seed mailbox or of this PC's network. Streaks are kept as they are.
"""

from __future__ import annotations

from dataclasses import replace

from .models import CheckResult, Diagnosis, Flip, Outcome, Policy, Status, StatusSnapshot

INITIAL = StatusSnapshot(status=Status.UNKNOWN, since=None, reason="No check has run yet.")


def evaluate(
    prev: StatusSnapshot, result: CheckResult, policy: Policy, now: float
) -> tuple[StatusSnapshot, Flip | None]:
    """The status after ``result``, and the flip if the status changed."""
    outcome = result.outcome
    if outcome is Outcome.PENDING:
        return prev, None
    if outcome is Outcome.DELIVERED:
        latency = f" in {result.latency_s:.1f} s" if result.latency_s is not None else ""
        nxt = _to(prev, Status.UP, f"Canary delivered{latency}.", Diagnosis.OK, now)
        nxt = replace(nxt, consecutive_lost=0, consecutive_refused=0, streak_since=None)
    elif outcome in (Outcome.JUNK, Outcome.LATE):
        reason = (
            "Canary arrived in the junk folder."
            if outcome is Outcome.JUNK
            else "Canary arrived, but only after the deadline."
        )
        nxt = _to(prev, Status.DEGRADED, reason, result.diagnosis, now)
        nxt = replace(nxt, consecutive_lost=0, consecutive_refused=0, streak_since=None)
    elif outcome is Outcome.LOST:
        count = prev.consecutive_lost + 1
        since = prev.streak_since if prev.consecutive_lost else result.sent_at
        nxt = replace(prev, consecutive_lost=count, consecutive_refused=0, streak_since=since)
        if count >= policy.down_after_lost:
            reason = (
                f"{count} canaries in a row were accepted by the server but never arrived "
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

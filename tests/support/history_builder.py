"""Build a history database with known checks, through the product's own History API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from watchdog.core.models import (
    Canary,
    CheckResult,
    Diagnosis,
    Outcome,
    Policy,
    SmtpReply,
    StatusSnapshot,
)
from watchdog.core.state import INITIAL, evaluate
from watchdog.storage.history import History

#: An SMTP reply a hostile or broken server could send: it must show as text, never run.
HOSTILE_REPLY = SmtpReply(
    550, "5.7.1 <script>document.title='pwned'</script> \"quoted\" & 'single' <b>bold</b>", "5.7.1"
)

DIAGNOSIS_OF = {
    Outcome.DELIVERED: Diagnosis.OK,
    Outcome.JUNK: Diagnosis.JUNK_PLACEMENT,
    Outcome.LATE: Diagnosis.DELAYED,
    Outcome.LOST: Diagnosis.SILENT_DROP,
    Outcome.SEND_FAILED: Diagnosis.SENDING_LIMIT,
    Outcome.OFFLINE: Diagnosis.OFFLINE,
}


def local_noon(day: str) -> float:
    """Noon, this PC's local time, of ``YYYY-MM-DD``."""
    return dt.datetime.fromisoformat(f"{day}T12:00:00").timestamp()


class HistoryBuilder:
    """Adds checks in time order and moves the status as the product would."""

    def __init__(self, path: Path) -> None:
        self.history = History(path)
        self.snapshot: StatusSnapshot = INITIAL
        self.count = 0

    def add(
        self,
        sent_at: float,
        outcome: Outcome,
        *,
        latency_s: float | None = None,
        reply: SmtpReply | None = None,
        diagnosis: Diagnosis | None = None,
    ) -> CheckResult:
        self.count += 1
        token = f"t{self.count:06d}"
        self.history.record_pending(
            Canary(
                token=token, message_id=f"<{token}@x>", sent_at=sent_at, deadline_at=sent_at + 600
            ),
            sent_at,
        )
        arrived = outcome in (Outcome.DELIVERED, Outcome.JUNK, Outcome.LATE)
        if arrived and latency_s is None:
            latency_s = 3.0
        result = CheckResult(
            token=token,
            sent_at=sent_at,
            deadline_at=sent_at + 600,
            outcome=outcome,
            diagnosis=diagnosis or DIAGNOSIS_OF[outcome],
            found_at=sent_at + latency_s if arrived and latency_s is not None else None,
            latency_s=latency_s if arrived else None,
            folder="Junk" if outcome is Outcome.JUNK else "INBOX" if arrived else None,
            smtp_reply=reply,
            detail=f"test check {self.count}",
        )
        now = sent_at + 601
        assert self.history.resolve(result, now)
        self.snapshot, flip = evaluate(self.snapshot, result, Policy(), now)
        self.history.save_status(self.snapshot, flip)
        return result

    def close(self) -> None:
        self.history.close()

"""The history database: rows, idempotent resolution, status, schema versions."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from watchdog.core.errors import StorageError
from watchdog.core.models import (
    Canary,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    SmtpReply,
    Status,
    StatusSnapshot,
)
from watchdog.storage.history import SCHEMA_VERSION, History


def canary(token: str, sent_at: float = 100.0) -> Canary:
    return Canary(token=token, message_id=f"<{token}@x>", sent_at=sent_at, deadline_at=sent_at + 60)


def resolved(token: str, outcome: Outcome, sent_at: float = 100.0, **kw: object) -> CheckResult:
    return CheckResult(
        token=token,
        sent_at=sent_at,
        deadline_at=sent_at + 60,
        outcome=outcome,
        diagnosis=kw.pop("diagnosis", Diagnosis.OK),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path / "history.sqlite3")


def test_a_pending_canary_is_stored_and_listed(history: History) -> None:
    history.record_pending(canary("a"), 100.0)
    assert [r.token for r in history.pending()] == ["a"]
    assert history.get("a").outcome is Outcome.PENDING  # type: ignore[union-attr]


def test_a_resolved_canary_keeps_the_whole_smtp_reply(history: History) -> None:
    history.record_pending(canary("a"), 100.0)
    reply = SmtpReply(554, "5.2.0 STOREDRV.Submission.Exception\nsecond line", "5.2.0")
    assert history.resolve(
        resolved("a", Outcome.SEND_FAILED, diagnosis=Diagnosis.SENDING_LIMIT, smtp_reply=reply),
        101.0,
    )
    row = history.get("a")
    assert row is not None
    assert row.smtp_reply == reply
    assert row.diagnosis is Diagnosis.SENDING_LIMIT
    assert history.pending() == []


def test_a_canary_is_never_resolved_twice(history: History) -> None:
    history.record_pending(canary("a"), 100.0)
    assert history.resolve(resolved("a", Outcome.DELIVERED, latency_s=1.0), 101.0)
    assert not history.resolve(resolved("a", Outcome.DELIVERED, latency_s=2.0), 102.0)
    assert history.get("a").latency_s == 1.0  # type: ignore[union-attr]


def test_a_lost_canary_may_still_turn_late(history: History) -> None:
    history.record_pending(canary("a"), 100.0)
    history.resolve(resolved("a", Outcome.LOST, diagnosis=Diagnosis.SILENT_DROP), 170.0)
    assert [r.token for r in history.awaiting(since=0)] == ["a"]
    assert history.resolve(resolved("a", Outcome.LATE, latency_s=300.0), 400.0)
    assert history.awaiting(since=0) == []
    assert history.get("a").outcome is Outcome.LATE  # type: ignore[union-attr]


def test_recent_lists_newest_first(history: History) -> None:
    for i, token in enumerate("abc"):
        history.record_pending(canary(token, sent_at=100.0 + i), 100.0 + i)
    assert [r.token for r in history.recent(2)] == ["c", "b"]


def test_status_and_flips_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with History(path) as h:
        assert h.status().status is Status.UNKNOWN
        snap = StatusSnapshot(Status.DOWN, 50.0, "2 lost", Diagnosis.SILENT_DROP, 2, 0, 10.0)
        h.save_status(snap, Flip(Status.UP, Status.DOWN, 50.0, "2 lost", Diagnosis.SILENT_DROP))
    with History(path) as h:
        assert h.status() == snap
        assert [(f.from_status, f.to_status) for f in h.flips()] == [(Status.UP, Status.DOWN)]


def test_the_database_file_is_readable_by_this_user_only(tmp_path: Path) -> None:
    History(tmp_path / "h.sqlite3").close()
    assert os.stat(tmp_path / "h.sqlite3").st_mode & 0o777 == 0o600


def test_a_database_from_a_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="newer version"):
        History(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_kept_aside_and_a_new_history_started(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with History(path) as history:
        assert history.set_aside is not None
        assert history.set_aside.read_bytes() == b"this is not sqlite" * 100
        assert history.status().status is Status.UNKNOWN
        assert "damaged" in history.status().reason
        assert history.recent() == []


def test_a_version_1_database_is_migrated_and_keeps_its_checks(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    from watchdog.storage.history import _SCHEMA_V1

    for statement in _SCHEMA_V1.split(";\n"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        "INSERT INTO canaries (token, message_id, sent_at, deadline_at, outcome, diagnosis, "
        "updated_at) VALUES ('old', '<m>', 1, 61, 'delivered', 'ok', 2)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with History(path) as h:
        assert h.get("old") is not None
        assert h.alert_memory().last_kind is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_alert_attempts_and_memory_are_stored_together(history: History) -> None:
    from watchdog.core.models import AlertAttempt, AlertKind, AlertMemory

    memory = AlertMemory(AlertKind.DOWN, 100.0, Status.DOWN)
    down, silent_drop = AlertKind.DOWN, Diagnosis.SILENT_DROP
    attempts = [
        AlertAttempt(100.0, down, "desktop", True, False, 1, "", Status.DOWN, silent_drop),
        AlertAttempt(100.0, down, "webhook:slack", False, True, 1, "HTTP 404", Status.DOWN, None),
    ]
    history.record_alert(memory, attempts)
    assert history.alert_memory() == memory
    assert history.alert_memory().last_kind is AlertKind.DOWN
    assert {a.channel for a in history.alert_attempts()} == {"desktop", "webhook:slack"}
    assert {a.kind for a in history.alert_attempts()} == {AlertKind.DOWN}
    failed = [a for a in history.alert_attempts() if not a.ok]
    assert failed[0].permanent and failed[0].detail == "HTTP 404"


def test_attempts_recorded_without_a_memory_leave_the_memory_as_it_was(history: History) -> None:
    from watchdog.core.models import AlertAttempt, AlertKind, AlertMemory

    told = AlertMemory(AlertKind.DOWN, 100.0, Status.DOWN, 90.0)
    history.record_alert(told, [])
    test = AlertAttempt(200.0, AlertKind.TEST, "desktop", True, False, 1, "", Status.UP, None)
    history.record_alert(None, [test])
    assert history.alert_memory() == told
    stored = history.alert_attempts()
    assert [(a.kind, a.channel) for a in stored] == [(AlertKind.TEST, "desktop")]
    assert sqlite3.connect(history.path).execute("SELECT kind FROM alert_attempts").fetchall() == [
        ("test",)
    ]

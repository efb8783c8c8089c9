"""The history database: every canary, every status change. The only module that imports sqlite3.

Times are Unix seconds (REAL): cheap to compare and index over years of checks. The schema version
lives in ``PRAGMA user_version``; an older file is migrated, a newer one refused, never damaged.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from watchdog.core.errors import StorageError
from watchdog.core.models import (
    AlertAttempt,
    AlertKind,
    AlertMemory,
    Canary,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    SmtpReply,
    Status,
    StatusSnapshot,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4

_SCHEMA_V1 = """
CREATE TABLE canaries (
    token          TEXT PRIMARY KEY,
    message_id     TEXT NOT NULL,
    sent_at        REAL NOT NULL,
    deadline_at    REAL NOT NULL,
    outcome        TEXT NOT NULL,
    diagnosis      TEXT NOT NULL,
    found_at       REAL,
    latency_s      REAL,
    folder         TEXT,
    smtp_code      INTEGER,
    smtp_enhanced  TEXT,
    smtp_text      TEXT,
    detail         TEXT NOT NULL DEFAULT '',
    updated_at     REAL NOT NULL
);
CREATE INDEX canaries_by_sent_at ON canaries (sent_at);
CREATE INDEX canaries_unresolved ON canaries (outcome, sent_at)
    WHERE outcome IN ('pending', 'lost', 'seed_unreachable');
CREATE TABLE status_changes (
    id           INTEGER PRIMARY KEY,
    at           REAL NOT NULL,
    from_status  TEXT NOT NULL,
    to_status    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    diagnosis    TEXT
);
-- The status now, with the streak counters the next decision needs: one row.
CREATE TABLE current_status (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    status               TEXT NOT NULL,
    since                REAL,
    reason               TEXT NOT NULL,
    diagnosis            TEXT,
    consecutive_lost     INTEGER NOT NULL,
    consecutive_refused  INTEGER NOT NULL,
    streak_since         REAL
);
"""

# v2: who was told what. One row per alert per channel attempt series; the memory row keeps a
# restart from repeating an alert.
_SCHEMA_V2 = """
CREATE TABLE alert_attempts (
    id           INTEGER PRIMARY KEY,
    at           REAL NOT NULL,
    kind         TEXT NOT NULL,
    channel      TEXT NOT NULL,
    ok           INTEGER NOT NULL,
    permanent    INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    detail       TEXT NOT NULL,
    status       TEXT NOT NULL,
    diagnosis    TEXT
);
CREATE INDEX alert_attempts_by_at ON alert_attempts (at);
CREATE TABLE alert_memory (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_kind      TEXT,
    last_at        REAL,
    problem        TEXT,
    problem_since  REAL
);
"""

# v3: how far a canary got (``sending`` until the server accepted it: a row left ``sending`` by a
# crash is closed as not sent, never lost), the bounce beside the server's reply, and the clock
# skew measured on live arrivals. Rows from before v3 were all accepted (they had a reply).
_SCHEMA_V3 = """
ALTER TABLE canaries ADD COLUMN stage TEXT NOT NULL DEFAULT 'accepted';
ALTER TABLE canaries ADD COLUMN bounce TEXT;
ALTER TABLE canaries ADD COLUMN clock_skew_s REAL
"""

# v4: how many e-mails left the practice's account per minute, from its Sent folder (counts and
# times only; never who, never what): how many reminders a block touched.
_SCHEMA_V4 = """
CREATE TABLE sent_per_minute (
    minute  INTEGER PRIMARY KEY,
    count   INTEGER NOT NULL
);
-- The local days whose Sent folder was read from midnight on: only there is a count of 0 a 0.
CREATE TABLE sent_days (
    day  TEXT PRIMARY KEY
)
"""

# Version reached -> statements that reach it.
_MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}

#: How far a canary got: ``sending`` from before the send until the server accepted it.
_SENDING = "sending"
_ACCEPTED = "accepted"

#: Outcomes a later search may still change (a late arrival, or a mailbox we could not read).
_AWAITING = (Outcome.PENDING.value, Outcome.LOST.value, Outcome.SEED_UNREACHABLE.value)


class History:
    """The SQLite history file. One connection, used from one thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # The folder holds the history and the canary key: this user only (0700).
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            created = not path.exists()
            if created:
                # Create it readable by this user only: it names the practice's addresses.
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            # Shared by the loop's worker thread and the tray / demo thread: one lock guards it.
            self._db = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as e:
            raise StorageError(
                f"Cannot open the history database {path}: {e}{_unwritable_words(path)}"
            ) from e
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self.set_aside: Path | None = None  # where a damaged file was moved, if one was
        try:
            self._prepare()
        except StorageError:
            self._db.close()  # a newer file: refused, and left exactly as it was
            raise
        except sqlite3.DatabaseError as e:
            self._db.close()
            if not _is_damaged(e):
                raise StorageError(
                    f"The history database {path} cannot be used: {e}{_unwritable_words(path)}"
                ) from e
            self._start_over(e)

    def _prepare(self) -> None:
        self._refuse_newer()
        # WAL: the tray, `watchdog check` and `watchdog status` may read while the loop writes.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _start_over(self, damage: sqlite3.DatabaseError) -> None:
        """A damaged file: keep it aside untouched, start a new history, and say so.

        Nothing in a damaged file can be trusted, and refusing to start would leave the office
        with no check at all. The old file (and its ``-wal``) keeps its bytes under a new name
        for support; the reason of the new status tells the user (``watchdog status``, tray).
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    part.rename(Path(f"{aside}{suffix}"))
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._prepare()
        except (OSError, sqlite3.Error) as e:
            raise StorageError(
                f"The history database {self.path} is damaged ({damage}) and a new one could "
                f"not be started: {e}"
            ) from e
        self.set_aside = aside
        message = (
            f"The history database was damaged ({damage}). It was kept aside as {aside} and a "
            "new history was started; earlier checks are not shown."
        )
        log.error("%s", message)
        self.save_status(StatusSnapshot(Status.UNKNOWN, since=time.time(), reason=message), None)

    def close(self) -> None:
        self._db.close()

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the whole database at ``target`` (created 0600), while others write.

        SQLite's online backup API copies a snapshot even while the loop writes in WAL mode,
        which copying the file (and its ``-wal`` beside it) could not promise.
        """
        with self._lock:
            _backup(self._db, target, self.path)

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes: nothing half-written if the disk fills up or we are killed."""
        try:
            self._lock.acquire()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            raise StorageError(f"Could not write to the history database {self.path}: {e}") from e
        finally:
            self._lock.release()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        """A read, under the lock; errors become ``StorageError``."""
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise StorageError(f"Could not read the history database {self.path}: {e}") from e

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer(self) -> None:
        """Before anything writes (even the journal mode), so a newer file stays untouched."""
        version = self._version()
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"The history database {self.path} was written by a newer version of Delivery "
                f"Watchdog (schema {version}; this version knows up to {SCHEMA_VERSION}). "
                "Install the newer version again, or move the file aside to start a new history."
            )

    def _migrate(self) -> None:
        version = self._version()
        if version == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                # One statement at a time: executescript() would commit our transaction early.
                for statement in _MIGRATIONS[step].split(";\n"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- canaries ---------------------------------------------------------------------------

    def record_pending(self, canary: Canary, now: float) -> None:
        """Remember a canary before it is sent, so a fast or late arrival can always be matched."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO canaries (token, message_id, sent_at, deadline_at, outcome, "
                "diagnosis, updated_at, stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    canary.token,
                    canary.message_id,
                    canary.sent_at,
                    canary.deadline_at,
                    Outcome.PENDING.value,
                    Diagnosis.UNKNOWN.value,
                    now,
                    _SENDING,
                ),
            )

    def mark_accepted(self, token: str, reply: SmtpReply, now: float) -> None:
        """The outgoing server accepted the canary: from now on it can be late or lost.

        The server's reply is stored at once, so a canary settled after a restart still shows
        what the server said (with its queue ID).
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE canaries SET stage = ?, smtp_code = ?, smtp_enhanced = ?, smtp_text = ?, "
                "updated_at = ? WHERE token = ?",
                (_ACCEPTED, reply.code, reply.enhanced, reply.text, now, token),
            )

    def resolve(
        self, result: CheckResult, now: float, *, only_from: tuple[str, ...] = _AWAITING
    ) -> bool:
        """Store a canary's outcome. Returns False if it was already resolved another way.

        The ``WHERE outcome IN`` guard makes this idempotent: a canary found twice, or found by
        two processes, is counted once; a late arrival may only replace lost or unreadable.
        """
        reply = result.smtp_reply
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE canaries SET outcome = ?, diagnosis = ?, found_at = ?, latency_s = ?, "
                "folder = ?, smtp_code = ?, smtp_enhanced = ?, smtp_text = ?, detail = ?, "
                "bounce = ?, clock_skew_s = ?, "
                f"updated_at = ? WHERE token = ? AND outcome IN ({_marks(only_from)})",
                (
                    result.outcome.value,
                    result.diagnosis.value,
                    result.found_at,
                    result.latency_s,
                    result.folder,
                    reply.code if reply else None,
                    reply.enhanced if reply else None,
                    reply.text if reply else None,
                    result.detail,
                    result.bounce,
                    result.clock_skew_s,
                    now,
                    result.token,
                    *only_from,
                ),
            )
            return cursor.rowcount == 1

    def extend_deadlines(self, *, after: float, by: float) -> int:
        """Push back the deadline of pending canaries still running at ``after`` (a PC sleep)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE canaries SET deadline_at = deadline_at + ? "
                "WHERE outcome = ? AND deadline_at >= ?",
                (by, Outcome.PENDING.value, after),
            )
            return cursor.rowcount

    def awaiting(self, since: float) -> list[CheckResult]:
        """Canaries sent after ``since`` that a search may still settle, oldest first."""
        rows = self._rows(
            f"SELECT * FROM canaries WHERE outcome IN ({_marks(_AWAITING)}) AND sent_at >= ? "
            "ORDER BY sent_at",
            (*_AWAITING, since),
        )
        return [_result(r) for r in rows]

    def record_sent(self, since: float, times: Iterable[float]) -> None:
        """Replace the per-minute sending counts from ``since`` on with those of ``times``.

        ``times`` is everything the Sent folder showed since ``since`` (the watch keeps the whole
        day), so the counts are written whole, never added to: a second look counts nothing twice.
        """
        per_minute: dict[int, int] = {}
        for t in times:
            if t >= since:
                per_minute[int(t // 60)] = per_minute.get(int(t // 60), 0) + 1
        day = time.strftime("%Y-%m-%d", time.localtime(since))
        with self._transaction() as db:
            db.execute("DELETE FROM sent_per_minute WHERE minute >= ?", (int(since // 60),))
            db.executemany(
                "INSERT INTO sent_per_minute (minute, count) VALUES (?, ?)",
                sorted(per_minute.items()),
            )
            db.execute("INSERT OR IGNORE INTO sent_days (day) VALUES (?)", (day,))

    def sent_between(
        self, start: float, end: float
    ) -> tuple[int | None, float | None, float | None]:
        """E-mails that left the account from ``start`` to ``end``: count, first and last minute.

        Whole minutes: a minute that overlaps the window counts whole (the Sent folder's times
        have whole seconds, and a block's edges are only known to a check interval anyway).
        The count is None (not known, never 0) unless the Sent folder was read on every day the
        window touches.
        """
        days = set()
        t = start
        while t <= end:
            days.add(time.strftime("%Y-%m-%d", time.localtime(t)))
            t += 6 * 3600
        days.add(time.strftime("%Y-%m-%d", time.localtime(end)))
        marks = ", ".join("?" for _ in days)
        known = self._rows(f"SELECT COUNT(*) FROM sent_days WHERE day IN ({marks})", tuple(days))
        if int(known[0][0]) < len(days):
            return None, None, None
        rows = self._rows(
            "SELECT SUM(count), MIN(minute), MAX(minute) FROM sent_per_minute "
            "WHERE minute BETWEEN ? AND ?",
            (int(start // 60), int(end // 60)),
        )
        total, first, last = rows[0]
        if not total:
            return 0, None, None
        return int(total), float(first) * 60, float(last) * 60

    def sent_while_down(
        self, problem_since: float, end: float
    ) -> tuple[int | None, float | None, float | None]:
        """E-mails a block may have touched: the one window for alerts, incidents, the report
        and the export.

        From the send of the last canary that arrived before the problem began (anything sent
        after it may have gone into the block: the reminder batch a canary answers for goes out
        just before that canary) until ``end``; count, first and last minute as
        :meth:`sent_between`. Where no canary ever arrived before (a block on the first day),
        from the start of that day.
        """
        from watchdog.core.batches import local_midnight

        start = self.last_arrival_before(problem_since)
        if start is None:
            start = min(problem_since, local_midnight(problem_since))
        return self.sent_between(start, end)

    def arrival_latencies(self, limit: int) -> list[float]:
        """How long the newest ``limit`` arrived canaries took (inbox, junk, late), oldest first.

        Late ones count too: leaving them out would let a learned deadline shrink itself.
        """
        rows = self._rows(
            "SELECT latency_s FROM canaries WHERE outcome IN (?, ?, ?) AND latency_s IS NOT NULL "
            "ORDER BY sent_at DESC LIMIT ?",
            (Outcome.DELIVERED.value, Outcome.JUNK.value, Outcome.LATE.value, limit),
        )
        return [float(r[0]) for r in reversed(rows)]

    def sent_minutes_since(self, since: float) -> list[tuple[float, int]]:
        """(start of minute, e-mails sent in it) from ``since`` on, oldest first."""
        rows = self._rows(
            "SELECT minute, count FROM sent_per_minute WHERE minute >= ? ORDER BY minute",
            (int(since // 60),),
        )
        return [(float(r[0]) * 60, int(r[1])) for r in rows]

    def first_canary_after(self, when: float) -> CheckResult | None:
        """The first canary sent after ``when`` (the one that answers for a batch), if any."""
        rows = self._rows(
            "SELECT * FROM canaries WHERE sent_at > ? AND outcome != ? ORDER BY sent_at LIMIT 1",
            (when, Outcome.NOT_SENT.value),
        )
        return _result(rows[0]) if rows else None

    def last_arrival_before(self, when: float) -> float | None:
        """When the last canary that arrived (inbox, junk or late) before ``when`` was sent.

        Everything sent after it may have gone into a block that began later: the window of
        reminders a block may have touched starts here.
        """
        rows = self._rows(
            "SELECT MAX(sent_at) FROM canaries WHERE sent_at < ? AND outcome IN (?, ?, ?)",
            (when, Outcome.DELIVERED.value, Outcome.JUNK.value, Outcome.LATE.value),
        )
        value = rows[0][0] if rows else None
        return float(value) if value is not None else None

    def canaries_since(self, since: float) -> int:
        """How many canaries were sent since ``since`` (the provider counts them all)."""
        rows = self._rows(
            "SELECT COUNT(*) FROM canaries WHERE sent_at >= ? AND outcome != ?",
            (since, Outcome.NOT_SENT.value),
        )
        return int(rows[0][0])

    def clock_skew(self, since: float) -> float | None:
        """The newest measured clock skew (server minus this PC, seconds) since ``since``."""
        rows = self._rows(
            "SELECT clock_skew_s FROM canaries WHERE clock_skew_s IS NOT NULL AND sent_at >= ? "
            "ORDER BY sent_at DESC LIMIT 1",
            (since,),
        )
        return float(rows[0][0]) if rows else None

    def iter_checks(self, since: float | None = None) -> Iterator[CheckResult]:
        """Every check, oldest first, streamed (years of history need not fit in memory)."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM canaries WHERE sent_at >= ? ORDER BY sent_at",
                (since if since is not None else float("-inf"),),
            )
            rows = cursor.fetchmany(1000)
        while rows:
            for row in rows:
                yield _result(row)
            with self._lock:
                rows = cursor.fetchmany(1000)

    def pending(self) -> list[CheckResult]:
        """Canaries still within their deadline or not yet looked at, oldest first."""
        rows = self._rows(
            "SELECT * FROM canaries WHERE outcome = ? ORDER BY sent_at", (Outcome.PENDING.value,)
        )
        return [_result(r) for r in rows]

    def get(self, token: str) -> CheckResult | None:
        rows = self._rows("SELECT * FROM canaries WHERE token = ?", (token,))
        return _result(rows[0]) if rows else None

    def recent(self, limit: int = 20) -> list[CheckResult]:
        """The newest ``limit`` checks, newest first."""
        rows = self._rows("SELECT * FROM canaries ORDER BY sent_at DESC LIMIT ?", (limit,))
        return [_result(r) for r in rows]

    # -- summaries for the report (SQL does the counting: years of checks stay fast) ----------

    def daily_summary(self, since: float | None = None) -> list[DaySummary]:
        """One row per local calendar day with checks, oldest first."""
        rows = self._rows(
            """
            SELECT date(sent_at, 'unixepoch', 'localtime') AS day,
                   COUNT(*) AS checks,
                   SUM(outcome = 'delivered') AS delivered,
                   SUM(outcome = 'junk') AS junk,
                   SUM(outcome = 'late') AS late,
                   SUM(outcome = 'lost') AS lost,
                   SUM(outcome IN ('send_failed', 'bounced')) AS refused,
                   SUM(outcome IN ('seed_unreachable', 'offline', 'pending', 'not_sent'))
                       AS unchecked,
                   AVG(latency_s) AS latency_avg,
                   MAX(latency_s) AS latency_max
            FROM canaries WHERE sent_at >= ? GROUP BY day ORDER BY day
            """,
            (since if since is not None else float("-inf"),),
        )
        return [
            DaySummary(
                day=r["day"],
                checks=r["checks"],
                delivered=r["delivered"],
                junk=r["junk"],
                late=r["late"],
                lost=r["lost"],
                refused=r["refused"],
                unchecked=r["unchecked"],
                latency_avg=r["latency_avg"],
                latency_max=r["latency_max"],
            )
            for r in rows
        ]

    def diagnosis_counts(self, since: float | None = None) -> list[tuple[Diagnosis, int]]:
        """How often each diagnosis other than ``ok`` was given, most frequent first."""
        rows = self._rows(
            "SELECT diagnosis, COUNT(*) AS n FROM canaries WHERE sent_at >= ? AND diagnosis != ?"
            " GROUP BY diagnosis ORDER BY n DESC, diagnosis",
            (since if since is not None else float("-inf"), Diagnosis.OK.value),
        )
        return [(Diagnosis(r["diagnosis"]), r["n"]) for r in rows]

    def check_facts(self, since: float | None = None) -> list[CheckFacts]:
        """When, what and why of every check, oldest first: the light rows incidents need."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sent_at, outcome, diagnosis FROM canaries WHERE sent_at >= ?"
                " ORDER BY sent_at",
                (since if since is not None else float("-inf"),),
            ).fetchall()
        outcomes = {o.value: o for o in Outcome}
        diagnoses = {d.value: d for d in Diagnosis}
        return [CheckFacts(r[0], outcomes[r[1]], diagnoses[r[2]]) for r in rows]

    def all_flips(self) -> list[Flip]:
        """Every status change, oldest first."""
        return list(reversed(self.flips(limit=-1)))

    # -- status -----------------------------------------------------------------------------

    def status(self) -> StatusSnapshot:
        """The status now (UNKNOWN with no history)."""
        rows = self._rows("SELECT * FROM current_status WHERE id = 1")
        row = rows[0] if rows else None
        if row is None:
            return StatusSnapshot(status=Status.UNKNOWN, since=None, reason="No check has run yet.")
        return StatusSnapshot(
            status=Status(row["status"]),
            since=row["since"],
            reason=row["reason"],
            diagnosis=Diagnosis(row["diagnosis"]) if row["diagnosis"] else None,
            consecutive_lost=row["consecutive_lost"],
            consecutive_refused=row["consecutive_refused"],
            streak_since=row["streak_since"],
        )

    def save_status(self, snapshot: StatusSnapshot, flip: Flip | None) -> None:
        """Store the new status and, in the same transaction, the flip that led to it."""
        values = asdict(snapshot)
        values["status"] = snapshot.status.value
        values["diagnosis"] = snapshot.diagnosis.value if snapshot.diagnosis else None
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO current_status (id, status, since, reason, diagnosis, "
                "consecutive_lost, consecutive_refused, streak_since) VALUES (1, :status, :since, "
                ":reason, :diagnosis, :consecutive_lost, :consecutive_refused, :streak_since)",
                values,
            )
            if flip is not None:
                db.execute(
                    "INSERT INTO status_changes (at, from_status, to_status, reason, diagnosis) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        flip.at,
                        flip.from_status.value,
                        flip.to_status.value,
                        flip.reason,
                        flip.diagnosis.value if flip.diagnosis else None,
                    ),
                )

    # -- alerts ---------------------------------------------------------------------------------

    def alert_memory(self) -> AlertMemory:
        rows = self._rows("SELECT * FROM alert_memory WHERE id = 1")
        if not rows:
            return AlertMemory()
        r = rows[0]
        problem = Status(r["problem"]) if r["problem"] else None
        kind = AlertKind(r["last_kind"]) if r["last_kind"] else None
        return AlertMemory(kind, r["last_at"], problem, r["problem_since"])

    def record_alert(self, memory: AlertMemory | None, attempts: list[AlertAttempt]) -> None:
        """Store what was sent on every channel and what people now know, together.

        ``memory`` None leaves the alert memory as it is: an alert that is not about a status
        change (a test alert, a budget warning, the answer to "Check now"), or one whose memory
        a newer decision has already stored.
        """
        with self._transaction() as db:
            if memory is not None:
                db.execute(
                    "INSERT OR REPLACE INTO alert_memory (id, last_kind, last_at, problem, "
                    "problem_since) VALUES (1, ?, ?, ?, ?)",
                    (
                        str(memory.last_kind) if memory.last_kind is not None else None,
                        memory.last_at,
                        memory.problem.value if memory.problem else None,
                        memory.problem_since,
                    ),
                )
            db.executemany(
                "INSERT INTO alert_attempts (at, kind, channel, ok, permanent, attempts, detail, "
                "status, diagnosis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        a.at,
                        a.kind.value,  # the enum's value is the stored word
                        a.channel,
                        int(a.ok),
                        int(a.permanent),
                        a.attempts,
                        a.detail,
                        a.status.value,
                        a.diagnosis.value if a.diagnosis else None,
                    )
                    for a in attempts
                ],
            )

    def alert_attempts(self, limit: int = 50) -> list[AlertAttempt]:
        """The newest alert attempts, newest first."""
        rows = self._rows(
            "SELECT * FROM alert_attempts ORDER BY at DESC, id DESC LIMIT ?", (limit,)
        )
        return [
            AlertAttempt(
                r["at"],
                AlertKind(r["kind"]),
                r["channel"],
                bool(r["ok"]),
                bool(r["permanent"]),
                r["attempts"],
                r["detail"],
                Status(r["status"]),
                Diagnosis(r["diagnosis"]) if r["diagnosis"] else None,
            )
            for r in rows
        ]

    def flips(self, limit: int = 50) -> list[Flip]:
        """The newest status changes, newest first."""
        rows = self._rows(
            "SELECT * FROM status_changes ORDER BY at DESC, id DESC LIMIT ?", (limit,)
        )
        return [
            Flip(
                Status(r["from_status"]),
                Status(r["to_status"]),
                r["at"],
                r["reason"],
                Diagnosis(r["diagnosis"]) if r["diagnosis"] else None,
            )
            for r in rows
        ]


#: The SQLite library's version, for support bundles (sqlite3 is imported only here).
SQLITE_VERSION: str = sqlite3.sqlite_version


def move_history(source: Path, target: Path) -> None:
    """Move a history file to ``target`` (same disk) without losing a committed check.

    The write-ahead log is first folded into the main file (a TRUNCATE checkpoint), so one
    atomic rename moves everything; an interrupted move leaves the old file where it was, to be
    moved again next time.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(source, timeout=10.0)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
        os.replace(source, target)
        for suffix in ("-wal", "-shm"):
            Path(f"{source}{suffix}").unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as e:
        raise StorageError(f"Could not move the history {source} to {target}: {e}") from e


def backup_file(source: Path, target: Path) -> None:
    """Copy the history database at ``source`` to ``target`` without changing ``source``.

    For the support bundle: unlike :class:`History`, this opens the file read-only, so an older
    schema is not migrated and a newer one is copied as it is. Raises ``StorageError``.
    """
    try:
        db = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as e:
        raise StorageError(f"Cannot open the history database {source}: {e}") from e
    try:
        _backup(db, target, source)
    finally:
        db.close()


def _backup(db: sqlite3.Connection, target: Path, source: Path) -> None:
    """Online backup of ``db`` into a new file ``target``, readable by this user only."""
    try:
        target.unlink(missing_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        copy = sqlite3.connect(target)
        try:
            db.backup(copy)
            # A single self-contained file: no -wal beside it for the reader to lose.
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()
    except (OSError, sqlite3.Error) as e:
        raise StorageError(f"Could not copy the history database {source}: {e}") from e


def _is_damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database or is corrupt (not merely busy)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _unwritable_words(path: Path) -> str:
    """Which of the history's files this user cannot write, in words ("" when all can be).

    SQLite keeps a ``-wal`` and a ``-shm`` file beside the history. After a read-only history is
    fixed, a stale read-only ``-wal``/``-shm`` (left by another user or a copy) still makes
    every write fail with the same "readonly database" error: naming them ends the hunt. They
    must be made writable, not deleted: a ``-wal`` left by a crash can hold recent checks.
    """
    parts = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    stuck = [p for p in parts if p.exists() and not os.access(p, os.W_OK)]
    if path.parent.exists() and not os.access(path.parent, os.W_OK):
        stuck.append(path.parent)
    if not stuck:
        return ""
    names = ", ".join(str(p) for p in stuck)
    return (
        f". This user cannot write to {names}: make {'it' if len(stuck) == 1 else 'them'} "
        "writable for this user (do not delete a -wal file: it may hold recent checks)"
    )


def _marks(values: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in values)


def _result(row: sqlite3.Row) -> CheckResult:
    reply = None
    if row["smtp_code"] is not None:
        reply = SmtpReply(row["smtp_code"], row["smtp_text"] or "", row["smtp_enhanced"])
    return CheckResult(
        token=row["token"],
        sent_at=row["sent_at"],
        deadline_at=row["deadline_at"],
        outcome=Outcome(row["outcome"]),
        diagnosis=Diagnosis(row["diagnosis"]),
        found_at=row["found_at"],
        latency_s=row["latency_s"],
        folder=row["folder"],
        smtp_reply=reply,
        detail=row["detail"],
        bounce=row["bounce"],
        accepted=row["stage"] != _SENDING,
        clock_skew_s=row["clock_skew_s"],
    )


@dataclass(frozen=True)
class DaySummary:
    """The checks of one local calendar day, counted by outcome."""

    day: str  # YYYY-MM-DD, local time
    checks: int
    delivered: int
    junk: int
    late: int
    lost: int
    refused: int  # refused, failed to send, or bounced
    unchecked: int  # offline, seed mailbox unreachable, still pending: no evidence either way
    latency_avg: float | None  # seconds, over the canaries that arrived
    latency_max: float | None

    @property
    def judged(self) -> int:
        """Checks that say something about delivery."""
        return self.checks - self.unchecked

    @property
    def rate(self) -> float | None:
        """Share of judged checks delivered on time to the inbox; None with nothing judged."""
        return self.delivered / self.judged if self.judged else None


class CheckFacts(NamedTuple):
    """The three facts of a check that incident grouping reads."""

    sent_at: float
    outcome: Outcome
    diagnosis: Diagnosis

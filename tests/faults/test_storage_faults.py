"""Fault matrix, the history database: locked, newer, damaged, and a disk that fills up.

The database is real SQLite in a temporary folder; the lock is held by another process, and the
full disk is a file-size limit (``RLIMIT_FSIZE``) on the process that writes, which fails SQLite's
writes exactly as a full disk does ("database or disk is full"), without root or a tiny
filesystem.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.rig import FaultRig, open_rig, status_of
from tests.servers import MailServers
from watchdog.core.errors import StorageError
from watchdog.core.models import Outcome, Status

MakeRig = Callable[..., FaultRig]

_ROOT = Path(__file__).resolve().parents[2]


def _history_file(rig: FaultRig) -> Path:
    return Path(rig.app.history.path)


def test_a_database_locked_by_another_process_is_waited_for_and_the_check_completes(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    rig.check()
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sqlite3, sys, time
                db = sqlite3.connect(sys.argv[1], isolation_level=None)
                db.execute("BEGIN EXCLUSIVE")
                print("locked", flush=True)
                time.sleep(1.5)
                db.execute("COMMIT")
                print("released", flush=True)
                """
            ),
            str(_history_file(rig)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        report = rig.check()  # its writes wait for the lock (SQLite's busy timeout)
        assert locker.stdout.readline().strip() == "released"
    finally:
        locker.wait(timeout=10)
    assert locker.returncode == 0
    assert report.result.outcome is Outcome.DELIVERED
    assert status_of(rig) is Status.UP
    assert rig.failed_cycles == 0
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_a_database_from_a_newer_version_is_refused_untouched_with_a_clear_message(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    rig = open_rig(tmp_path, servers)
    rig.check()
    path = _history_file(rig)
    rig.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StorageError) as refused:
        open_rig(tmp_path, servers, config_path=tmp_path / "config.toml")
    message = str(refused.value)
    assert str(path) in message
    assert "newer version" in message and "schema 99" in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # What the message advises: move the file aside (or reinstall); then checks run again.
    path.rename(path.with_name("history-newer.sqlite3"))
    again = open_rig(tmp_path, servers, config_path=tmp_path / "config.toml")
    try:
        again.assert_back_up()
        again.assert_one_row_per_canary()
    finally:
        again.close()


def test_a_damaged_database_is_kept_aside_a_new_one_started_and_the_user_told(
    tmp_path: Path,
    servers: MailServers,
    watchdog_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = open_rig(tmp_path, servers)
    rig.check()
    path = _history_file(rig)
    rig.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    damaged = b"this is no longer an SQLite file " * 200
    path.write_bytes(damaged)
    with caplog.at_level("ERROR", logger="watchdog.storage.history"):
        fresh = open_rig(tmp_path, servers, config_path=tmp_path / "config.toml")
    try:
        aside = fresh.app.history.set_aside
        assert aside is not None and aside.name.startswith("history.sqlite3.corrupt-")
        assert aside.read_bytes() == damaged  # kept exactly as it was, for support
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        # The user is told: in the log, and as the reason of the status until the next check.
        assert any(str(aside) in r.getMessage() for r in caplog.records)
        snapshot = fresh.app.history.status()
        assert snapshot.status is Status.UNKNOWN
        assert "damaged" in snapshot.reason and str(aside) in snapshot.reason
        fresh.assert_back_up()
        fresh.assert_one_row_per_canary()
        fresh.assert_no_provider_blame()
    finally:
        fresh.close()


_FULL_DISK_CHECK = """
import json, resource, signal, sys, threading
sys.path.insert(0, sys.argv[2])
from watchdog.app import open_app
from watchdog.config import load_config

app = open_app(load_config(__import__("pathlib").Path(sys.argv[1])), channels=[])
# From here on no file of this process may grow: SQLite's writes fail as on a full disk.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
report = app.runner.safe_check(threading.Event())
print(json.dumps({"result": None if report is None else report.result.outcome.value}))
"""


def test_a_full_disk_while_writing_history_keeps_the_loop_and_leaves_nothing_half_written(
    tmp_path: Path, servers: MailServers, make_rig: MakeRig, watchdog_env: dict[str, str]
) -> None:
    rig = make_rig()
    rig.check()
    before = [(r.token, r.outcome) for r in rig.rows()]
    rig.close()
    servers.smtp.reset()
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHECK, str(tmp_path / "config.toml"), str(_ROOT)],
        env={**os.environ, **watchdog_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The loop's check ended in a logged error, not a crash.
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"result": None}
    # EFBIG reads as "disk I/O error", ENOSPC as "database or disk is full": both are named.
    assert "Check failed: Could not write to the history database" in done.stderr
    # The canary could not be recorded, so it was never sent: no canary without a row.
    assert servers.smtp.received == []
    after = open_rig(tmp_path, servers, config_path=tmp_path / "config.toml")
    try:
        db = sqlite3.connect(_history_file(after))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()
        assert [(r.token, r.outcome) for r in after.rows()] == before
        after.assert_back_up()
        assert len(after.rows()) == 2
    finally:
        after.close()


def test_a_result_that_cannot_be_stored_after_the_canary_was_found_is_stored_later_not_lost(
    servers: MailServers, make_rig: MakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills between finding the canary and storing its result.

    A failing writer stands in for the full disk here: only the storing of the result fails, after
    the canary was sent and found, which a file-size limit cannot aim at. The canary is deleted
    from the seed only once its result is stored, so even a one-shot ``watchdog check`` (whose
    memory ends with the process: the runner's unstored results are dropped here) settles it.
    """
    rig = make_rig()
    history = rig.app.history
    real_resolve = history.resolve

    def disk_full(*args: object, **kwargs: object) -> bool:
        raise StorageError("Could not write to the history database: database or disk is full")

    monkeypatch.setattr(history, "resolve", disk_full)
    assert rig.cycle() is None  # logged, and the loop would go on
    assert servers.dovecot.count(servers.seed_user) == 1  # kept: its result is not stored yet
    [pending] = rig.rows()
    assert pending.outcome is Outcome.PENDING

    monkeypatch.setattr(history, "resolve", real_resolve)
    rig.app.runner._unstored.clear()  # a new process knows nothing of the first one's memory
    report = rig.assert_back_up()
    assert [(r.token, r.outcome) for r in report.settled] == [(pending.token, Outcome.DELIVERED)]
    assert rig.row(pending.token).outcome is Outcome.DELIVERED  # never a false "lost"
    assert all(f.to_status is not Status.DOWN for f in history.flips())
    assert rig.alerts == [] or all(a.kind.value != "down" for a in rig.alerts)
    rig.assert_one_row_per_canary(extra_tokens=(pending.token,))  # its cycle gave no report

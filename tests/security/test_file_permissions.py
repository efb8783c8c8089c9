"""Files with secrets or history are readable by this user only (issue 8): 0600, folders 0700.

Each is checked under the usual umask (022) and under none at all (000), so the mode comes from
the product, not from a lucky umask. POSIX only: Windows has no such modes.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_config import GOOD
from watchdog.core.models import Canary
from watchdog.desktop.instance_lock import InstanceLock
from watchdog.setup.config_writer import write_config_file
from watchdog.setup.support_bundle import build_bundle
from watchdog.storage.canary_key import load_or_create_key
from watchdog.storage.history import History, backup_file
from watchdog.storage.logfile import PrivateRotatingFileHandler

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_the_history_database_and_its_journal_files_are_private(tmp_path: Path, umask: int) -> None:
    folder = tmp_path / "data" / "delivery-watchdog"
    with History(folder / "history.sqlite3") as history:
        history.record_pending(Canary("t1", "<m1@x>", 1.0, 2.0), now=1.0)
        journals = [folder / "history.sqlite3-wal", folder / "history.sqlite3-shm"]
        assert all(p.exists() for p in journals)  # WAL mode: written while open
        modes = {p.name: mode(p) for p in [folder / "history.sqlite3", *journals]}
    assert modes == {
        "history.sqlite3": 0o600,
        "history.sqlite3-wal": 0o600,
        "history.sqlite3-shm": 0o600,
    }
    assert mode(folder) == 0o700


def test_copies_of_the_history_are_private(tmp_path: Path, umask: int) -> None:
    source = tmp_path / "history.sqlite3"
    with History(source) as history:
        history.record_pending(Canary("t1", "<m1@x>", 1.0, 2.0), now=1.0)
        history.backup_to(tmp_path / "backup.sqlite3")
    backup_file(source, tmp_path / "copy.sqlite3")
    assert mode(tmp_path / "backup.sqlite3") == 0o600
    assert mode(tmp_path / "copy.sqlite3") == 0o600
    with History(tmp_path / "copy.sqlite3") as copy:
        assert copy.get("t1") is not None


def test_the_canary_signing_key_and_its_folder_are_private(tmp_path: Path, umask: int) -> None:
    key = tmp_path / "data" / "canary.key"
    load_or_create_key(key)
    assert mode(key) == 0o600
    assert mode(key.parent) == 0o700


def test_the_config_written_by_setup_and_its_folder_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "config" / "delivery-watchdog" / "config.toml"
    write_config_file(path, GOOD)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


def test_the_single_instance_lock_file_is_private(tmp_path: Path, umask: int) -> None:
    lock = InstanceLock(tmp_path / "data" / "watchdog.lock")
    lock.acquire()
    try:
        assert mode(tmp_path / "data" / "watchdog.lock") == 0o600
        assert mode(tmp_path / "data") == 0o700
    finally:
        lock.release()


def test_log_files_are_private_also_after_rotation_and_when_left_open_by_an_older_version(
    tmp_path: Path, umask: int
) -> None:
    old = tmp_path / "watchdog.log"
    old.write_text("from an older version\n")
    old.chmod(0o644)
    handler = PrivateRotatingFileHandler(old, maxBytes=200, backupCount=2, encoding="utf-8")
    logger = logging.getLogger("tests.security.logfile")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert mode(old) == 0o600  # tightened on open
        for i in range(20):
            logger.info("line %d of enough text to roll the file over", i)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.glob("watchdog.log*"))
    assert [f.name for f in files] == ["watchdog.log", "watchdog.log.1", "watchdog.log.2"]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert "line 19" in old.read_text()


def test_the_support_bundle_is_private(tmp_path: Path, umask: int) -> None:
    config = tmp_path / "config.toml"
    config.write_text("not a config [")  # does not load: no doctor, so no server is contacted
    output = tmp_path / "bundle.zip"
    build_bundle(config, output)
    assert mode(output) == 0o600
    with zipfile.ZipFile(output) as z:  # unpacked, each member is 0600 too
        assert {(i.external_attr >> 16) & 0o777 for i in z.infolist()} == {0o600}


def test_the_log_file_of_watchdog_run_is_private(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = write_config(tmp_path, servers)
    process = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "--config", str(config), "run"],
        env={**os.environ, **watchdog_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "xdg-state" / "delivery-watchdog" / "log" / "watchdog.log"
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert log.exists()
    assert mode(log.parent) == 0o700
    assert mode(log) == 0o600


def test_the_guide_page_written_by_watchdog_guide_is_private(tmp_path: Path, umask: int) -> None:
    """It quotes the server's last reply (with its queue id) and the office's details."""
    from tests.support.history_builder import HistoryBuilder
    from watchdog import cli
    from watchdog.core.models import Outcome, SmtpReply

    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data.as_posix()}"\n{GOOD}', encoding="utf-8")
    builder = HistoryBuilder(data / "history.sqlite3")
    reply = SmtpReply(554, "5.7.1 Service unavailable; queued as 4Xyz", "5.7.1")
    builder.add(time.time() - 60, Outcome.SEND_FAILED, reply=reply)
    builder.close()
    assert cli.main(["--config", str(config), "guide", "--no-open"]) == 0
    page = data / "guide.html"
    assert "queued as 4Xyz" in page.read_text(encoding="utf-8")
    assert mode(page) == 0o600

"""A full, read-only or foreign disk at start-up is a clear error, not a traceback from the lock
file (issue 11 item 19). No test may fill a real disk, and a tiny tmpfs needs mount rights: the
file system's refusals are faked where the product meets them (``os.open``, ``os.write``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from watchdog import cli
from watchdog.core.exit_status import ExitStatus
from watchdog.desktop.instance_lock import InstanceLock, InstanceLockError

_real_open = os.open
_real_write = os.write


def refuse_lock_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """``os.write`` fails with ``code`` for the lock file's details (JSON with the PID) only."""

    def write(fd: int, data: bytes) -> int:
        if bytes(data).startswith(b'{"pid"'):
            raise OSError(code, os.strerror(code))
        return _real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def refuse_lock_creation(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def open_(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: object) -> int:
        if str(path).endswith("watchdog.lock"):
            raise OSError(code, os.strerror(code), str(path))
        return _real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)


@pytest.mark.parametrize(
    ("code", "words", "todo"),
    [
        (errno.ENOSPC, "the disk is full", "Free some space on that disk"),
        (errno.EROFS, "the disk is read-only", "Make the disk writable again"),
        (errno.EACCES, "this user may not write there", "Give this user write access"),
    ],
)
def test_a_lock_file_that_cannot_be_written_is_a_plain_error_naming_the_file_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str, todo: str
) -> None:
    path = tmp_path / "data" / "watchdog.lock"
    refuse_lock_writes(monkeypatch, code)
    lock = InstanceLock(path)
    with pytest.raises(InstanceLockError) as caught:
        lock.acquire()
    message = str(caught.value)
    assert f"the lock file {path} could not be written: {words}" in message
    assert os.strerror(code) in message and todo in message
    assert not lock.held
    monkeypatch.undo()
    with InstanceLock(path) as again:  # nothing was left locked: once fixed, it starts
        assert again.held


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the disk is read-only")],
)
def test_a_lock_file_that_cannot_be_created_names_the_disk_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    path = tmp_path / "watchdog.lock"
    refuse_lock_creation(monkeypatch, code)
    with pytest.raises(InstanceLockError, match=f"could not be created: {words}"):
        InstanceLock(path).acquire()


def test_watchdog_run_on_a_full_disk_ends_with_the_message_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""data_dir = "{data.as_posix()}"
[sender]
address = "frontdesk@smiledental.com"
smtp_host = "127.0.0.1"
smtp_port = 9
security = "none"
username = ""
[seed]
address = "canary@smiledental.com"
imap_host = "127.0.0.1"
imap_port = 9
security = "none"
username = "canary"
""",
        encoding="utf-8",
    )
    refuse_lock_writes(monkeypatch, errno.ENOSPC)
    code = cli.main(["--config", str(config), "run"])
    err = capsys.readouterr().err
    assert code == ExitStatus.FAILED
    assert f"cannot start: the lock file {data / 'watchdog.lock'}" in err
    assert "the disk is full" in err and "Free some space" in err
    assert "Traceback" not in err

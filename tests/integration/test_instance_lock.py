"""One watchdog per user, across real processes: each instance is a separate Python process
running a few lines with InstanceLock on the same path; a crash is a SIGKILL."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchdog.core.errors import AlreadyRunningError
from watchdog.desktop import instance_lock
from watchdog.desktop.instance_lock import (
    LOCK_FILE_NAME,
    InstanceLock,
    LockOwner,
    already_running_message,
    lock_path,
)

ROOT = Path(__file__).resolve().parents[2]

#: Holds the lock until its stdin is closed (a clean quit) or it is killed (a crash).
HOLD = """
import sys
from pathlib import Path
from watchdog.desktop.instance_lock import InstanceLock

with InstanceLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
print("released", flush=True)
"""

#: Tries once: prints "locked" (and lets go) or the error's message, as `watchdog run` would.
TRY = """
import sys
from pathlib import Path
from watchdog.desktop import instance_lock
from watchdog.core.errors import AlreadyRunningError
from watchdog.desktop.instance_lock import InstanceLock

try:
    with InstanceLock(Path(sys.argv[1])):
        print("locked", flush=True)
except AlreadyRunningError as e:
    print(e, flush=True)
    sys.exit(1)
"""

MESSAGE = re.compile(
    r"Delivery Watchdog is already running for this user "
    r"\(PID (\d+), started (\d{4}-\d\d-\d\d )?\d\d:\d\d\)\. "
    r"Quit it from its tray icon first, or stop that process\."
)


class Holder:
    """A process that has taken the lock (it said so) and holds it until told or killed."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "locked":
            self.process.kill()
            _, err = self.process.communicate()
            pytest.fail(f"the first instance did not take the lock: {line!r} {err}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def quit(self) -> str:
        out, err = self.process.communicate("", timeout=30)
        assert self.process.returncode == 0, err
        return out.strip()

    def crash(self) -> None:
        self.process.kill()  # SIGKILL: no finally blocks, no cleanup, the file stays
        self.process.communicate(timeout=30)


def try_lock(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TRY, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / LOCK_FILE_NAME


@pytest.fixture
def holder(path: Path) -> Iterator[Holder]:
    holding = Holder(path)
    yield holding
    if holding.process.poll() is None:
        holding.crash()


def owner_in(path: Path) -> LockOwner | None:
    return LockOwner.from_json(path.read_text(encoding="utf-8"))


def test_a_second_process_is_refused_with_a_clear_message(path: Path, holder: Holder) -> None:
    second = try_lock(path)

    assert second.returncode == 1, second.stderr
    message = second.stdout.strip()
    match = MESSAGE.fullmatch(message)
    assert match, message
    assert int(match.group(1)) == holder.pid


def test_a_refused_process_leaves_the_running_instances_file_alone(
    path: Path, holder: Holder
) -> None:
    before = path.read_bytes()

    assert try_lock(path).returncode == 1

    assert path.read_bytes() == before
    owner = owner_in(path)
    assert owner is not None and owner.pid == holder.pid
    assert owner.hostname == socket.gethostname()
    assert abs(owner.started_at - time.time()) < 60


def test_after_a_crash_the_next_process_takes_the_lock_over(path: Path, holder: Holder) -> None:
    holder.crash()
    stale = owner_in(path)
    assert stale is not None and stale.pid == holder.pid  # the crash left its file behind

    replacement = Holder(path)
    try:
        owner = owner_in(path)
        assert owner is not None and owner.pid == replacement.pid
        assert try_lock(path).returncode == 1  # and it is really held again
    finally:
        replacement.quit()


def test_of_many_processes_starting_at_once_exactly_one_runs(path: Path) -> None:
    # A login autostart and a double-click on the shortcut, times four.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(8)
    ]
    try:
        deadline = time.monotonic() + 60
        while sum(p.poll() is None for p in processes) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = [p for p in processes if p.poll() is None]
        assert len(running) == 1
        refused = [p for p in processes if p.poll() is not None]
        for p in refused:
            _, err = p.communicate()
            assert "already running for this user" in err
        out, _ = running[0].communicate("", timeout=30)
        assert out.split() == ["locked", "released"]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()


def test_a_clean_quit_removes_the_file_and_frees_the_lock(path: Path, holder: Holder) -> None:
    assert holder.quit() == "released"

    assert not path.exists()
    again = try_lock(path)
    assert (again.returncode, again.stdout.strip()) == (0, "locked")


def test_a_leftover_file_without_a_live_lock_is_taken_over(path: Path) -> None:
    path.parent.mkdir(parents=True)
    # Copied from another PC, or left by a version that did not remove it: a PID that may even
    # be alive now (our own), but nobody holds the OS lock.
    path.write_text(
        json.dumps({"pid": os.getpid(), "started_at": 1.0, "hostname": "OLD-PC"}), "utf-8"
    )

    holding = Holder(path)
    try:
        owner = owner_in(path)
        assert owner is not None
        assert (owner.pid, owner.hostname) == (holding.pid, socket.gethostname())
    finally:
        holding.quit()


def test_a_leftover_file_with_garbage_in_it_is_taken_over(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\xffnot json at all" * 1000)

    holding = Holder(path)
    try:
        owner = owner_in(path)
        assert owner is not None and owner.pid == holding.pid
    finally:
        holding.quit()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_the_lock_file_is_readable_by_its_user_only(path: Path, holder: Holder) -> None:
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_leftover_file_readable_by_others_is_made_private(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)

    with InstanceLock(path):
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_second_lock_in_the_same_process_is_refused_too(path: Path) -> None:
    with InstanceLock(path) as first:
        assert first.held
        with pytest.raises(AlreadyRunningError, match=f"PID {os.getpid()},"):
            InstanceLock(path).acquire()
        assert first.held
    assert not first.held
    assert not path.exists()


def test_release_never_removes_a_file_that_another_live_instance_now_holds(path: Path) -> None:
    first = InstanceLock(path)
    first.acquire()
    # Someone deletes the file while the first runs; a second instance then starts normally.
    path.unlink()
    second = Holder(path)
    try:
        first.release()

        assert path.exists()
        owner = owner_in(path)
        assert owner is not None and owner.pid == second.pid
        assert try_lock(path).returncode == 1
    finally:
        second.quit()


def test_a_process_that_opened_the_file_just_as_the_holder_quit_locks_the_new_one(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the inode check is for: the holder removes the file between our open and our
    lock, so our lock lands on a file nobody else can see. We must start over on the path."""
    first = InstanceLock(path)
    first.acquire()
    real_try_lock = instance_lock._try_lock

    def holder_quits_in_between(fd: int) -> bool:
        first.release()  # deterministic stand-in for the other process's timing
        monkeypatch.setattr(instance_lock, "_try_lock", real_try_lock)
        return real_try_lock(fd)

    monkeypatch.setattr(instance_lock, "_try_lock", holder_quits_in_between)
    second = InstanceLock(path)
    second.acquire()
    try:
        owner = owner_in(path)
        assert owner is not None and owner.pid == os.getpid()
        assert try_lock(path).returncode == 1  # a third process sees the lock on the path
    finally:
        second.release()


def test_acquire_and_release_are_safe_to_repeat(path: Path) -> None:
    lock = InstanceLock(path)
    lock.acquire()
    lock.acquire()
    assert lock.held
    lock.release()
    lock.release()
    assert not lock.held and not path.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG data folder")
def test_the_lock_lives_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))

    assert lock_path() == tmp_path / "share" / "delivery-watchdog" / "watchdog.lock"


def test_the_message_names_the_other_computer_and_the_date_when_they_differ() -> None:
    owner = LockOwner(
        pid=1234, started_at=time.mktime((2025, 3, 4, 14, 5, 0, 0, 0, -1)), hostname="FRONTDESK-2"
    )

    message = already_running_message(owner, now=owner.started_at + 3 * 86400)

    assert message == (
        "Delivery Watchdog is already running for this user (PID 1234 on FRONTDESK-2, started "
        "2025-03-04 14:05). Quit it from its tray icon first, or stop that process."
    )


def test_without_details_the_message_still_says_what_to_do() -> None:
    assert already_running_message(None) == (
        "Delivery Watchdog is already running for this user. "
        "Quit it from its tray icon first, or stop that process."
    )

"""One watchdog loop per user: ``watchdog run`` and ``watchdog tray`` hold a lock while they run.

Two loops for the same data folder would send two canaries per round, race on the history and
alert staff twice. So the loop holds an operating-system lock on ``watchdog.lock`` in the data
folder: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. The OS drops such a lock the
moment the process ends, however it ends (crash, SIGKILL, power button on a frozen PC), so a lock
left by a crash is never "stale" in the dangerous sense: whether another instance is alive is
decided by the OS, not by guessing from a PID that may since have been reused. The PID, start
time and host name written into the file only serve the message the second instance prints.

Protocol (the same on both systems):

* acquire: open (or create, mode 0600) the file, try the lock without waiting, then check that
  the path still names the file we locked (a quitting instance may have just removed it; then
  try again on the new file). Only then overwrite the contents with our own details.
* release: remove the file *while still holding the lock* (POSIX) or right after closing it
  (Windows, where an open file cannot be removed), and only if the path still names our file.
  So a file that another, live instance has locked is never removed.

The lock is per open file, not per process: a second :class:`InstanceLock` on the same path in the
same process is refused too, like a second process. The file descriptor is not inherited by
child processes (Python's default since 3.4), so a browser opened from the tray cannot keep the
lock alive after the watchdog has ended.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from watchdog.core.errors import AlreadyRunningError, WatchdogError

if TYPE_CHECKING:
    from watchdog.config import Config

__all__ = [
    "LOCK_FILE_NAME",
    "InstanceLock",
    "InstanceLockError",
    "LockOwner",
    "already_running_message",
    "lock_file_error",
    "lock_path",
]

LOCK_FILE_NAME = "watchdog.lock"

#: Windows byte-range locks are mandatory: a locked byte cannot even be read by another process.
#: So the lock sits on one byte far past the few hundred bytes of details, which stay readable
#: for the second instance's message. (Locking past the end of a file is allowed.)
_WINDOWS_LOCK_OFFSET = 1 << 20

#: How often acquire() retries when a quitting instance removed the file it had just opened.
_REOPEN_ATTEMPTS = 20

#: The holder writes its details right after taking the lock; a second instance starting in that
#: instant waits this long for them before giving a message without a PID.
_DETAILS_WAIT_S = 0.5


class InstanceLockError(WatchdogError):
    """The lock file cannot be created or opened (for example, the data folder is read-only)."""


@dataclass(frozen=True)
class LockOwner:
    """What the running instance wrote into the lock file about itself."""

    pid: int
    started_at: float  # Unix time
    hostname: str

    def to_json(self) -> str:
        """The file's contents: one JSON object, readable by a support technician too."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return (
            json.dumps(
                {
                    "pid": self.pid,
                    "started_at": self.started_at,
                    "started": started,
                    "hostname": self.hostname,
                }
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> LockOwner | None:
        """Parse the file's contents; None for anything else (empty, half-written, hand-edited)."""
        try:
            raw = json.loads(text)
            pid, started_at, hostname = raw["pid"], raw["started_at"], raw["hostname"]
        except (ValueError, TypeError, KeyError):
            return None
        if (
            not isinstance(pid, int)
            or isinstance(pid, bool)
            or not isinstance(started_at, int | float)
            or not isinstance(hostname, str)
        ):
            return None
        return cls(pid=pid, started_at=float(started_at), hostname=hostname)


def lock_path(config: Config | None = None) -> Path:
    """``watchdog.lock`` in the data folder of ``config`` (the platform's one without a config).

    The lock follows the data folder, not the user alone: the instance that matters is the one
    writing this history, and the demo (its own data folder) may run beside the real watchdog.
    """
    from watchdog.storage.paths import data_dir

    return data_dir(config) / LOCK_FILE_NAME


def already_running_message(owner: LockOwner | None, *, now: float | None = None) -> str:
    """The words a second instance ends with: who holds the lock, and how to stop it."""
    details = ""
    if owner is not None:
        now = time.time() if now is None else now
        started = time.localtime(owner.started_at)
        same_day = time.strftime("%Y-%m-%d", started) == time.strftime(
            "%Y-%m-%d", time.localtime(now)
        )
        when = time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", started)
        # A data folder on a network share can be locked from another PC: then say which one,
        # or the technician would look for PID 1234 on the wrong computer.
        host = "" if owner.hostname == socket.gethostname() else f" on {owner.hostname}"
        details = f" (PID {owner.pid}{host}, started {when})"
    return (
        f"Delivery Watchdog is already running for this user{details}. "
        "Quit it from its tray icon first, or stop that process."
    )


class InstanceLock:
    """An exclusive, crash-safe lock on ``path``; a context manager.

    >>> with InstanceLock(lock_path(config)):   # doctest: +SKIP
    ...     runner.run_forever(stop)

    :meth:`acquire` raises :class:`~watchdog.core.errors.AlreadyRunningError` when a live instance
    holds the lock, and takes over a file left behind by one that died.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting, or raise AlreadyRunningError. A no-op when held."""
        if self._fd is not None:
            return
        for _ in range(_REOPEN_ATTEMPTS):
            fd = self._open()
            try:
                if not _try_lock(fd):
                    owner = _wait_for_owner(fd)
                    raise AlreadyRunningError(already_running_message(owner))
                if not _names_same_file(fd, self.path):
                    # A quitting instance removed the file after we opened it: our lock is on a
                    # file nobody else will ever look at. Unlock and try the one at the path now.
                    _unlock(fd)
                    os.close(fd)
                    continue
                try:
                    _write_details(fd)
                except OSError as e:
                    # A full or read-only disk lets the file open (it exists already, or a
                    # new name needs no data block) and fails only here.
                    raise lock_file_error(self.path, e, "written") from e
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise
            self._fd = fd
            return
        raise InstanceLockError(
            f"Cannot take the lock {self.path}: it keeps being replaced. "
            "Is another copy of the watchdog starting and stopping in a loop?"
        )

    def release(self) -> None:
        """Give the lock up and remove the file (only if it is still ours). Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        ours = _names_same_file(fd, self.path)
        if sys.platform != "win32":
            # Removed while still locked: whoever opened it meanwhile finds, after we close, that
            # the path no longer names the file they locked, and starts over on a fresh one.
            if ours:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            os.close(fd)  # closing drops the flock
            return
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)
        if ours:
            # Windows cannot remove a file that someone has open. If another instance opened it
            # in the meantime, this fails and the file, now theirs, stays.
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # No O_TRUNC: the file may belong to a live instance whose details we must not wipe
            # before we know we hold the lock. O_BINARY keeps Windows from rewriting newlines.
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
            return os.open(self.path, flags, 0o600)
        except OSError as e:
            raise lock_file_error(self.path, e, "created") from e


#: Why a file cannot be made or written, in plain words, and what to do: by errno.
_DISK_PROBLEMS = {
    errno.ENOSPC: (
        "the disk is full",
        "Free some space on that disk (empty the recycle bin, remove old downloads), or move "
        "data_dir in the config to a disk with room, then start the watchdog again.",
    ),
    errno.EROFS: (
        "the disk is read-only",
        "Make the disk writable again (a disk the system found faulty turns read-only: restart "
        "the PC, and have the disk checked if it happens again), or move data_dir in the config "
        "to a writable folder.",
    ),
    errno.EACCES: (
        "this user may not write there",
        "Give this user write access to that folder (or run the watchdog as the user who set "
        "it up), or move data_dir in the config to a folder of this user.",
    ),
}
_DISK_PROBLEMS[errno.EPERM] = _DISK_PROBLEMS[errno.EACCES]
if hasattr(errno, "EDQUOT"):  # not on Windows
    _DISK_PROBLEMS[errno.EDQUOT] = (
        "this user's disk quota is used up",
        "Free some of this user's space, or ask the administrator for a larger quota, then "
        "start the watchdog again.",
    )


def lock_file_error(path: Path, error: OSError, done: str) -> InstanceLockError:
    """A plain message for a lock file that could not be ``done`` ("created" / "written").

    Why: at start-up a full, read-only or foreign disk is the first thing to fail, here; a
    traceback from ``os.write`` told the office nothing. The message names the file, what is
    wrong with the disk in words, and what to do; the system's own words follow in brackets.
    """
    problem, todo = _DISK_PROBLEMS.get(
        error.errno if error.errno is not None else -1,
        ("the system refused", "Check that the folder exists and can be written, then try again."),
    )
    system = error.strerror or str(error)
    return InstanceLockError(
        f"Delivery Watchdog cannot start: the lock file {path} could not be {done}: {problem} "
        f"({system}). {todo}"
    )


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting: True if we hold it now, False if another holder has it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:  # PermissionError (EACCES) when another handle holds the byte
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _names_same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, not replaced)."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


def _write_details(fd: int) -> None:
    """Replace whatever a previous (dead) holder left with our PID, start time and host."""
    if sys.platform != "win32":
        # A file left by an older version or made by hand may be readable by others; the
        # details are harmless, but the data folder's files are the user's alone.
        os.fchmod(fd, 0o600)
    data = LockOwner(os.getpid(), time.time(), socket.gethostname()).to_json().encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def _read_details(fd: int) -> LockOwner | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
    except OSError:
        return None
    return LockOwner.from_json(data.decode("utf-8", errors="replace"))


def _wait_for_owner(fd: int) -> LockOwner | None:
    """The holder's details; it may have taken the lock a moment ago and not written them yet."""
    deadline = time.monotonic() + _DETAILS_WAIT_S
    while True:
        owner = _read_details(fd)
        if owner is not None or time.monotonic() >= deadline:
            return owner
        time.sleep(0.02)

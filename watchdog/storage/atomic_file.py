"""Writing a file so that a crash, a full disk or a power cut leaves the old file or the new one,
never half of either: the one way every file the watchdog writes whole gets written (the config,
the guide and report pages, exports, the support bundle, the autostart entry).

How: the content goes to a temporary file in the same folder (a rename is only atomic within one
file system), which is flushed and ``fsync``-ed, given its final mode, and renamed over the
target with :func:`os.replace`; then the folder is ``fsync``-ed where the system allows it
(POSIX), so the rename itself survives a power cut. Any failure removes the temporary file and
leaves an existing target untouched. The temporary file is created 0600 from the start, so a file
meant to be private is never readable by others, not even for a moment.

On Windows :func:`os.replace` raises :class:`PermissionError` when another program holds the
target open (Excel keeps a CSV it shows locked); it is raised as it is, for the caller to word
(``export.export_to_file`` says to close the file in Excel).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

#: Only the user may read it: the config, exports, reports and guides made from the history.
PRIVATE = 0o600
#: Readable by all, writable by the user: what launchd and desktops expect of autostart entries.
READABLE_BY_ALL = 0o644


@contextlib.contextmanager
def atomic_binary_file(
    path: str | os.PathLike[str], *, mode: int = PRIVATE, temp_name: str | None = None
) -> Iterator[BinaryIO]:
    """A binary file to write; on leaving the block it replaces ``path`` whole, with ``mode``.

    The folder must exist (callers decide whether to make it, and with which mode). The
    temporary file is a fresh hidden ``.<name>.<random>.tmp`` beside ``path``, or ``temp_name``
    in the same folder where its name matters (the export's ``<name>.partial``, which the user
    may see). An exception inside the block, or from the fsync or the rename, removes the
    temporary file and propagates; the old ``path`` stays as it was.
    """
    target = Path(path)
    folder = target.parent
    if temp_name is None:
        fd, temp_text = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        temp = Path(temp_text)
    else:
        temp = folder / temp_name
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_folder(folder)


@contextlib.contextmanager
def atomic_text_file(
    path: str | os.PathLike[str],
    *,
    mode: int = PRIVATE,
    encoding: str = "utf-8",
    newline: str = "\n",
    temp_name: str | None = None,
) -> Iterator[TextIO]:
    """:func:`atomic_binary_file` as text: ``encoding`` (e.g. ``utf-8-sig`` for Excel) and
    ``newline`` as for :func:`open` (the default writes ``\\n`` on every system)."""
    with atomic_binary_file(path, mode=mode, temp_name=temp_name) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline=newline)
        try:
            yield text
            text.flush()
        finally:
            text.detach()  # the binary file is closed (and synced) by atomic_binary_file


def write_text_atomically(
    path: str | os.PathLike[str],
    text: str,
    *,
    mode: int = PRIVATE,
    encoding: str = "utf-8",
    newline: str = "\n",
) -> None:
    """Write ``text`` to ``path`` whole (see :func:`atomic_binary_file`)."""
    with atomic_text_file(path, mode=mode, encoding=encoding, newline=newline) as out:
        out.write(text)


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (POSIX); best effort: Windows has no folder handles,
    and some file systems (network shares) refuse, which costs durability, not the write."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

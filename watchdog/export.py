"""Every check as CSV or JSON, with stable column names (documented in docs/export.md).

:func:`export_to_file` writes ``--output``: beside the target first, then renamed over it, so a
failed export never leaves half a file. On Windows a CSV file starts with a UTF-8 byte order
mark (``utf-8-sig``): Excel, which opens a double-clicked ``.csv``, reads a CSV without one in
the ANSI code page and garbles every accent. Nowhere else, and never on stdout or in JSON:
scripts reading the CSV as UTF-8 would see the mark in the first column's name.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal, TextIO

from .errors import WatchdogError
from .models import CheckResult
from .timefmt import iso_utc_or_none

#: The columns, in order. Add new ones at the end; never rename or reorder (support scripts).
COLUMNS = (
    "token",
    "sent_at",
    "deadline_at",
    "outcome",
    "diagnosis",
    "found_at",
    "latency_s",
    "folder",
    "smtp_code",
    "smtp_enhanced",
    "smtp_text",
    "detail",
)


def row_of(r: CheckResult) -> dict[str, str | int | float | None]:
    """One check as a flat row; times ISO 8601 UTC, absent values None."""
    reply = r.smtp_reply
    return {
        "token": r.token,
        "sent_at": iso_utc_or_none(r.sent_at),
        "deadline_at": iso_utc_or_none(r.deadline_at),
        "outcome": r.outcome.value,
        "diagnosis": r.diagnosis.value,
        "found_at": iso_utc_or_none(r.found_at),
        "latency_s": None if r.latency_s is None else round(r.latency_s, 3),
        "folder": r.folder,
        "smtp_code": reply.code if reply else None,
        "smtp_enhanced": reply.enhanced if reply else None,
        "smtp_text": reply.text if reply else None,
        "detail": r.detail,
    }


def write_csv(rows: Iterable[CheckResult], out: TextIO) -> int:
    """CSV with a header line; returns the number of checks written."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in row_of(r).items()})
        count += 1
    return count


def write_json(rows: Iterable[CheckResult], out: TextIO) -> int:
    """A JSON array of row objects, written one row at a time."""
    out.write("[")
    count = 0
    for r in rows:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(row_of(r), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


Format = Literal["csv", "json"]


def file_encoding(fmt: Format, platform: str | None = None) -> str:
    """``utf-8-sig`` for a CSV file on Windows (for Excel, see the module doc), else ``utf-8``."""
    windows = (sys.platform if platform is None else platform) == "win32"
    return "utf-8-sig" if fmt == "csv" and windows else "utf-8"


def export_to_file(
    rows: Iterable[CheckResult], path: Path, fmt: Format, *, platform: str | None = None
) -> int:
    """Write ``rows`` to ``path`` as ``fmt``; the number of checks written.

    The rows go to ``<path>.partial`` (0600: every check, with addresses and server replies,
    is for this user only), which is then renamed over ``path``. Any failure removes the
    ``.partial`` and raises :class:`WatchdogError` naming the file. Windows refuses to replace
    a file another program holds open (Excel keeps a CSV it shows locked: WinError 5 or 32),
    so a PermissionError there says to close it in Excel.
    """
    write: Callable[[Iterable[CheckResult], TextIO], int] = (
        write_csv if fmt == "csv" else write_json
    )
    partial = path.with_name(path.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding=file_encoding(fmt, platform), newline="") as out:
            count = write(rows, out)
        os.replace(partial, path)
    except PermissionError as e:
        _remove(partial)
        raise WatchdogError(
            f"could not write {path}: another program has it open, or this folder is "
            f"read-only ({e.strerror or e}). If it is open in Excel, close it in Excel and "
            "run the export again."
        ) from e
    except OSError as e:
        _remove(partial)
        raise WatchdogError(f"could not write {path}: {e.strerror or e}") from e
    except BaseException:
        _remove(partial)
        raise
    return count


def _remove(partial: Path) -> None:
    """Remove a ``.partial`` left by a failed export (it may not exist: nothing to do)."""
    with contextlib.suppress(OSError):
        partial.unlink()

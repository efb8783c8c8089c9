"""Every check as CSV or JSON, with stable column names (documented in docs/export.md).

:func:`export_to_file` writes ``--output``: beside the target first, then renamed over it, so a
failed export never leaves half a file. On Windows a CSV file starts with a UTF-8 byte order
mark (``utf-8-sig``): Excel, which opens a double-clicked ``.csv``, reads a CSV without one in
the ANSI code page and garbles every accent. Nowhere else, and never on stdout or in JSON:
scripts reading the CSV as UTF-8 would see the mark in the first column's name.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

from .errors import WatchdogError
from .models import CheckResult

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
        "sent_at": _iso(r.sent_at),
        "deadline_at": _iso(r.deadline_at),
        "outcome": r.outcome.value,
        "diagnosis": r.diagnosis.value,
        "found_at": _iso(r.found_at),
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
    from .atomic_file import PRIVATE, atomic_text_file

    write: Callable[[Iterable[CheckResult], TextIO], int] = (
        write_csv if fmt == "csv" else write_json
    )
    try:
        # atomic_text_file removes the .partial on any failure, and syncs before the rename.
        with atomic_text_file(
            path,
            mode=PRIVATE,
            encoding=file_encoding(fmt, platform),
            newline="",
            temp_name=path.name + ".partial",
        ) as out:
            count = write(rows, out)
    except PermissionError as e:
        raise WatchdogError(
            f"could not write {path}: another program has it open, or this folder is "
            f"read-only ({e.strerror or e}). If it is open in Excel, close it in Excel and "
            "run the export again."
        ) from e
    except OSError as e:
        raise WatchdogError(f"could not write {path}: {e.strerror or e}") from e
    return count


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

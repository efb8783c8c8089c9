"""Every check as CSV or JSON, with stable column names (documented in docs/export.md).

``--incidents`` writes one row per incident instead (:data:`INCIDENT_COLUMNS`): when delivery
was down and how many e-mails left the account meanwhile, counts and times only.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO, TypeVar, cast

from watchdog.core.batches import Touched
from watchdog.core.errors import WatchdogError
from watchdog.core.incidents import Incident
from watchdog.core.models import CheckResult
from watchdog.core.timefmt import iso_utc_or_none

_Row = TypeVar("_Row")

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


#: The incident columns (``watchdog export --incidents``), in order; the same rule as COLUMNS.
INCIDENT_COLUMNS = (
    "status",
    "start",
    "end",
    "ongoing",
    "duration_s",
    "diagnoses",
    "canaries_failed",
    "emails_sent_meanwhile",
    "first_sent_at",
    "last_sent_at",
)


@dataclass(frozen=True)
class IncidentExport:
    """One incident as the export writes it, with what left the account meanwhile."""

    incident: Incident
    #: E-mails that left the account from the incident's start to its end (now, if ongoing),
    #: from the Sent folder's counts; ``count`` None when not known (not read then), never 0.
    sent: Touched
    #: When the export was made: the end of an incident still going on.
    now: float


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


def incident_row_of(item: IncidentExport) -> dict[str, str | int | float | bool | list[str] | None]:
    """One incident as a flat row: the keys of ``watchdog incidents --json`` where they match.

    ``first_sent_at`` / ``last_sent_at``: the start of the first and of the last minute in
    which an e-mail left the account (the Sent folder is counted per minute).
    """
    i, sent = item.incident, item.sent
    return {
        "status": i.status.value,
        "start": iso_utc_or_none(i.start),
        "end": iso_utc_or_none(i.end),
        "ongoing": i.ongoing,
        "duration_s": round(i.duration(item.now), 1),
        "diagnoses": [d.value for d in i.diagnoses],
        "canaries_failed": i.canaries_failed,
        "emails_sent_meanwhile": sent.count,
        "first_sent_at": iso_utc_or_none(sent.first_at),
        "last_sent_at": iso_utc_or_none(sent.last_at),
    }


def write_csv(rows: Iterable[CheckResult], out: TextIO) -> int:
    """CSV with a header line; returns the number of checks written."""
    return _csv(COLUMNS, (row_of(r) for r in rows), out)


def write_json(rows: Iterable[CheckResult], out: TextIO) -> int:
    """A JSON array of row objects, written one row at a time."""
    return _json((row_of(r) for r in rows), out)


def write_incidents_csv(rows: Iterable[IncidentExport], out: TextIO) -> int:
    """Incidents as CSV with a header line; the number of incidents written.

    A cell holds one value, so the diagnoses are joined with "; " and ``ongoing`` is written
    ``true`` / ``false`` (Excel reads both as TRUE / FALSE).
    """
    flat = (
        {
            k: "; ".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else v
            for k, v in incident_row_of(item).items()
        }
        for item in rows
    )
    return _csv(INCIDENT_COLUMNS, flat, out)


def write_incidents_json(rows: Iterable[IncidentExport], out: TextIO) -> int:
    """Incidents as a JSON array of objects (diagnoses a list, ``ongoing`` a boolean)."""
    return _json((incident_row_of(item) for item in rows), out)


def _csv(columns: tuple[str, ...], rows: Iterable[Mapping[str, object]], out: TextIO) -> int:
    """RFC 4180 CSV: a header line, then one line per row, absent values as empty fields."""
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
        count += 1
    return count


def _json(rows: Iterable[Mapping[str, object]], out: TextIO) -> int:
    """A JSON array of objects, written one row at a time (years of history need not fit)."""
    out.write("[")
    count = 0
    for row in rows:
        out.write(",\n " if count else "\n ")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


Format = Literal["csv", "json"]


def file_encoding(fmt: Format, platform: str | None = None) -> str:
    """``utf-8-sig`` for a CSV file on Windows (for Excel, see the module doc), else ``utf-8``."""
    windows = (sys.platform if platform is None else platform) == "win32"
    return "utf-8-sig" if fmt == "csv" and windows else "utf-8"


def export_to_file(
    rows: Iterable[_Row],
    path: Path,
    fmt: Format,
    *,
    platform: str | None = None,
    write: Callable[[Iterable[_Row], TextIO], int] | None = None,
) -> int:
    """Write ``rows`` to ``path`` as ``fmt``; the number of rows (checks, incidents) written.

    ``write``: the writer for rows that are not checks (:func:`write_incidents_csv` or
    :func:`write_incidents_json`); checks need none.

    The rows go to ``<path>.partial`` (0600: every check, with addresses and server replies,
    is for this user only), which is then renamed over ``path``. Any failure removes the
    ``.partial`` and raises :class:`WatchdogError` naming the file. Windows refuses to replace
    a file another program holds open (Excel keeps a CSV it shows locked: WinError 5 or 32),
    so a PermissionError there says to close it in Excel.
    """
    from watchdog.storage.atomic_file import PRIVATE, atomic_text_file

    if write is None:
        checks = write_csv if fmt == "csv" else write_json
        write = cast("Callable[[Iterable[_Row], TextIO], int]", checks)
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

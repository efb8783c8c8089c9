"""Every check as CSV or JSON, with stable column names (documented in docs/export.md)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

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


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""The commands that read the history: ``history`` (the newest checks), ``incidents``, ``export``
(CSV or JSON) and ``report`` (one web page).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from watchdog.cli.common import clock, config_from, one_line, result_json, say
from watchdog.core.errors import ConfigError
from watchdog.core.exit_status import ExitStatus
from watchdog.core.humanize import format_duration, parse_since
from watchdog.core.models import CheckResult, Diagnosis, Outcome
from watchdog.core.terminal import safe_text
from watchdog.core.timefmt import iso_utc, iso_utc_or_none
from watchdog.storage.history import History

if TYPE_CHECKING:
    from watchdog.core.incidents import Incident
    from watchdog.storage.export import Format


# -- history ---------------------------------------------------------------------------------------


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog history [-n N] [--json]``."""
    parser.add_argument("-n", "--limit", type=int, default=20, help="how many checks (default 20)")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def cmd_history(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = config_from(args)
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: give a number of checks, 1 or more")
    with History(history_path(config)) as history:
        rows = history.recent(args.limit)
    if args.json:
        say(json.dumps([result_json(r) for r in rows], indent=2))
        return ExitStatus.OK
    if not rows:
        say("No checks yet.")
        return ExitStatus.OK
    header = ("Sent", "Outcome", "Latency", "Folder", "Diagnosis", "Server reply")
    table = [
        (
            clock(r.sent_at, date=True),
            r.outcome.value,
            format_duration(r.latency_s) if r.latency_s is not None else "-",
            r.folder or "-",
            _diagnosis_cell(r),
            one_line(str(r.smtp_reply), 60) if r.smtp_reply else "-",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in table:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return ExitStatus.OK


# -- incidents -------------------------------------------------------------------------------------


def add_incidents_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog incidents [--since DATE] [--json]``."""
    parser.add_argument(
        "--since", metavar="DATE", help="only incidents from this date (YYYY-MM-DD)"
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")


def cmd_incidents(args: argparse.Namespace) -> int:
    from watchdog.core.providers import sender_provider
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = config_from(args)
    provider = sender_provider(config.sender).name
    since = parse_since(args.since)
    with History(history_path(config)) as history:
        incidents = _incidents(history, since)
        now = time.time()
        # E-mails that left the account meanwhile (Sent folder counts; None: not known).
        sent = [history.sent_while_down(i.start, i.end or now)[0] for i in incidents]
    if args.json:
        say(
            json.dumps(
                [
                    {
                        "status": i.status.value,
                        "start": iso_utc_or_none(i.start),
                        "end": iso_utc_or_none(i.end),
                        "ongoing": i.ongoing,
                        "duration_s": round(i.duration(now), 1),
                        "diagnoses": [d.value for d in i.diagnoses],
                        "canaries_failed": i.canaries_failed,
                        "alerts": [
                            {
                                "at": iso_utc_or_none(a.at),
                                "kind": a.kind,
                                "channel": a.channel,
                                "ok": a.ok,
                            }
                            for a in i.alerts
                        ],
                        "person_acted_at": [iso_utc(t) for t in i.person_acted_at],
                        "emails_sent_meanwhile": meanwhile,
                    }
                    for i, meanwhile in zip(incidents, sent, strict=True)
                ],
                indent=2,
            )
        )
        return ExitStatus.OK
    if not incidents:
        say("No incidents: reminders went out every time they were checked.")
        return ExitStatus.OK
    for i, meanwhile in zip(incidents, sent, strict=True):
        end = "ongoing" if i.ongoing else clock(i.end or 0, date=True)
        told = sorted({a.channel for a in i.alerts if a.ok})
        say(
            f"{i.status.value:<8} {clock(i.start, date=True)} -> {end} "
            f"({format_duration(i.duration(now))})"
        )
        why = "; ".join(diagnosis_words(d, provider) for d in i.diagnoses)
        say(f"         why: {why or 'not recorded'}")
        say(f"         canaries failed: {i.canaries_failed}; told: {', '.join(told) or 'nobody'}")
        if meanwhile:
            say(
                f"         e-mails sent meanwhile: {meanwhile} (they may not have arrived; "
                "consider calling those patients)"
            )
        if i.person_acted_at:
            acted = ", ".join(clock(t) for t in i.person_acted_at)
            say(f"         Check now pressed at: {acted}")
    return ExitStatus.OK


def _incidents(history: History, since: float | None) -> list[Incident]:
    """The incidents ``watchdog incidents`` lists and ``export --incidents`` writes."""
    from watchdog.core.incidents import group_incidents, incidents_since

    flips = list(reversed(history.flips(limit=100_000)))
    first = flips[0].at if flips else None
    checks = list(history.iter_checks(first))
    alerts = history.alert_attempts(limit=100_000)
    return incidents_since(group_incidents(flips, checks, alerts), since)


# -- export ----------------------------------------------------------------------------------------


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog export [--format csv|json] [--since DATE] [--incidents] [--output FILE]``."""
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="default: csv")
    parser.add_argument("--since", metavar="DATE", help="only checks from this date (YYYY-MM-DD)")
    parser.add_argument(
        "--incidents",
        action="store_true",
        help="one row per incident instead of per check, with the e-mails sent meanwhile",
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="default: standard output")


def cmd_export(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = config_from(args)
    since = parse_since(args.since)
    with History(history_path(config)) as history:
        if args.incidents:
            count = _export_incidents(history, since, args.format, args.output)
            what = "incidents"
        else:
            count = _export_checks(history, since, args.format, args.output)
            what = "checks"
    if args.output is not None:
        say(f"{count} {what} written to {args.output}", file=sys.stderr)
    return ExitStatus.OK


def _export_checks(history: History, since: float | None, fmt: Format, output: Path | None) -> int:
    """Every check from ``since`` on, to ``output`` or standard output; how many."""
    from watchdog.storage.export import export_to_file, write_csv, write_json

    if output is not None:
        # Beside the target, then renamed (0600; a BOM for Excel on Windows; see export.py).
        return export_to_file(history.iter_checks(since), output, fmt)
    write = write_csv if fmt == "csv" else write_json
    return write(history.iter_checks(since), _export_stdout())


def _export_incidents(
    history: History, since: float | None, fmt: Format, output: Path | None
) -> int:
    """The incidents going on at ``since`` or later, each with the e-mails sent meanwhile."""
    from watchdog.core.batches import Touched
    from watchdog.storage.export import (
        IncidentExport,
        export_to_file,
        write_incidents_csv,
        write_incidents_json,
    )

    now = time.time()
    rows = [
        IncidentExport(i, Touched(*history.sent_while_down(i.start, i.end or now)), now)
        for i in _incidents(history, since)
    ]
    write = write_incidents_csv if fmt == "csv" else write_incidents_json
    if output is not None:
        return export_to_file(rows, output, fmt, write=write)
    return write(rows, _export_stdout())


def _export_stdout() -> TextIO:
    """Standard output for an export, made safe for a terminal.

    On a terminal, server replies in the rows are shown safely; a pipe or a file redirect gets
    the data unchanged.
    """
    out = sys.stdout
    if out.isatty():
        out = cast(TextIO, _TerminalSafeWriter(out))
    return out


class _TerminalSafeWriter(io.TextIOBase):
    """Writes through to ``target`` with :func:`terminal.safe_text` applied to each piece."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(safe_text(text))
        return len(text)


def diagnosis_words(diagnosis: Diagnosis, provider: str = "other") -> str:
    """A diagnosis as the guide's title ("Reminders may be disappearing ..."), not its code."""
    from watchdog.core.guidance import guide_for

    try:
        return guide_for(provider, diagnosis).title
    except Exception:  # a guide that cannot be read must not hide the rest of the listing
        return diagnosis.value


def _diagnosis_cell(r: CheckResult) -> str:
    """The history's Diagnosis column: a check still waiting has none yet, not "unknown"."""
    if r.outcome is Outcome.PENDING:
        return "(waiting)"
    return r.diagnosis.value


# -- report ----------------------------------------------------------------------------------------


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog report [--since DATE] [--output FILE] [--open]``."""
    parser.description = (
        "Write the history as one self-contained web page (safe to e-mail): delivery rate per "
        "day and week, how long test messages took, incidents, why checks failed, the newest "
        "checks."
    )
    parser.add_argument("--since", metavar="DATE", help="only from this date (YYYY-MM-DD)")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write the page (default: report.html in the data folder)",
    )
    parser.add_argument("--open", action="store_true", help="open it in the web browser")


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report and print where it is; 0, or 3 for a configuration problem."""
    from watchdog.config import load_config
    from watchdog.core.providers import sending_limit
    from watchdog.pages.guide import open_in_browser
    from watchdog.pages.report import write_report
    from watchdog.storage.paths import data_dir, history_path

    config = load_config(args.config)
    since = parse_since(args.since)
    limit, provider_name = sending_limit(config.sender)
    target = args.output if args.output is not None else data_dir(config) / "report.html"
    with History(history_path(config)) as history:
        path = write_report(
            history,
            target,
            office=config.office,
            now=time.time(),
            since=since,
            daily_limit=limit,
            provider_name=provider_name,
        )
    say(f"Report written to {path}")
    if args.open and not open_in_browser(path):
        say("No web browser could be opened; open the file above by hand.")
    return ExitStatus.OK

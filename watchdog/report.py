"""The history report: one self-contained HTML file that answers "did our reminders go out?".

Delivery rate per day and per week, a latency chart (inline SVG), the incident timeline,
diagnoses by count and the most recent checks with the servers' replies. No network, no
scripts, no fonts or images from elsewhere: it works when mailed as an attachment, and a
Content-Security-Policy forbids anything else. Every text that came from a server is escaped.

Rendering is pure (:func:`render_report` over :class:`ReportData`); :func:`gather_report` reads
the history with SQL aggregates, so five years of checks every 15 minutes stay fast
(benchmarks/history_5y.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .classifier import describe
from .history import DaySummary, History
from .humanize import format_duration
from .incidents import Incident, group_incidents, incidents_since
from .models import CheckResult, Diagnosis, Status, StatusSnapshot

#: How many of the newest checks the report lists with their replies.
RECENT_CHECKS = 50
#: How many of the newest incidents the timeline lists (all are counted).
TIMELINE_INCIDENTS = 100
#: Days listed one by one in the daily table (the chart shows every day).
DAILY_TABLE_DAYS = 31


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read from the history once."""

    office: str
    generated_at: float
    since: float | None
    status: StatusSnapshot
    days: Sequence[DaySummary]
    diagnoses: Sequence[tuple[Diagnosis, int]]
    incidents: Sequence[Incident]
    recent: Sequence[CheckResult]
    # Per incident (same order): e-mails that left the account meanwhile, from the Sent folder
    # counts (None: not known, the Sent folder was not read then).
    sent_meanwhile: Sequence[int | None] = ()
    # Today's last reminder batch and the test message after it; today's sending against the
    # provider's daily limit (counts and times only; empty without the Sent folder).
    sending_today: Sequence[str] = ()


@dataclass(frozen=True)
class WeekSummary:
    """The checks of one ISO week (Monday to Sunday), summed from its days."""

    label: str  # e.g. "2026-W47 (from 2026-11-16)"
    checks: int
    delivered: int
    judged: int
    problems: int  # junk, late, lost or refused

    @property
    def rate(self) -> float | None:
        return self.delivered / self.judged if self.judged else None


def gather_report(
    history: History,
    *,
    office: str,
    now: float,
    since: float | None = None,
    daily_limit: int | None = None,
    provider_name: str = "the provider",
) -> ReportData:
    """Read what the report needs: aggregates in SQL, light rows for the incidents."""
    from .batch_watch import reminders_today

    facts = history.check_facts(since)
    flips = history.all_flips()
    alerts = list(reversed(history.alert_attempts(limit=-1)))
    incidents = incidents_since(group_incidents(flips, facts, alerts), since)
    return ReportData(
        office=office,
        generated_at=now,
        since=since,
        status=history.status(),
        days=history.daily_summary(since),
        diagnoses=history.diagnosis_counts(since),
        incidents=incidents,
        recent=history.recent(RECENT_CHECKS),
        sent_meanwhile=[
            history.sent_between(i.start, i.end if i.end is not None else now)[0] for i in incidents
        ],
        sending_today=reminders_today(history, now, limit=daily_limit, provider_name=provider_name),
    )


def weekly(days: Iterable[DaySummary]) -> list[WeekSummary]:
    """Days summed into ISO weeks, oldest first."""
    weeks: dict[tuple[int, int], list[DaySummary]] = {}
    for day in days:
        year, week, _ = dt.date.fromisoformat(day.day).isocalendar()
        weeks.setdefault((year, week), []).append(day)
    result = []
    for (year, week), members in weeks.items():
        monday = dt.date.fromisocalendar(year, week, 1)
        result.append(
            WeekSummary(
                label=f"{year}-W{week:02d} (from {monday.isoformat()})",
                checks=sum(d.checks for d in members),
                delivered=sum(d.delivered for d in members),
                judged=sum(d.judged for d in members),
                problems=sum(d.junk + d.late + d.lost + d.refused for d in members),
            )
        )
    return result


# --- rendering ------------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:1.1rem;line-height:1.5;
margin:1.5rem auto;max-width:64rem;padding:0 1rem;color:#111;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid #ccc;
padding:.3rem .5rem;text-align:left;vertical-align:top}td.n,th.n{text-align:right}
td.reply{font-family:ui-monospace,monospace;font-size:.9rem;overflow-wrap:anywhere;
white-space:pre-wrap}.good{color:#0a6a2a}.bad{color:#a30000}.warn{color:#8a5a00}
.status{font-size:1.25rem;padding:.6rem .8rem;border-radius:.4rem;background:#f3f3f3}
.UP{border-left:.5rem solid #1a7f37}.DEGRADED{border-left:.5rem solid #bf8700}
.DOWN{border-left:.5rem solid #cf222e}.UNKNOWN,.PAUSED{border-left:.5rem solid #888}
svg{width:100%;height:auto;border:1px solid #ddd;background:#fcfcfc}
.scroll{max-height:28rem;overflow-y:auto}.muted{color:#555}
"""

_OUTCOME_CLASS = {
    "delivered": "good",
    "junk": "warn",
    "late": "warn",
    "lost": "bad",
    "send_failed": "bad",
    "bounced": "bad",
}


def render_report(data: ReportData) -> str:
    """The whole page. Pure: the same data always gives the same page."""
    title = "Delivery Watchdog report" + (f" - {data.office}" if data.office else "")
    sections = [
        f"<h1>{_e(title)}</h1>",
        _status_section(data),
        _sending_section(data),
        _rates_section(data),
        _latency_section(data),
        _incidents_section(data),
        _diagnoses_section(data),
        _recent_section(data),
        f"<p class='muted'>Made {_when(data.generated_at)} by Delivery Watchdog. Times are "
        "this PC's local time. This page holds no patient information.</p>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _status_section(data: ReportData) -> str:
    s = data.status
    since = f" since {_when(s.since)}" if s.since is not None else ""
    span = "all of the history" if data.since is None else f"from {_when(data.since)}"
    total = sum(d.checks for d in data.days)
    judged = sum(d.judged for d in data.days)
    delivered = sum(d.delivered for d in data.days)
    overall = f"{_pct(delivered / judged)} delivered on time" if judged else "nothing judged yet"
    first = data.days[0].day if data.days else "-"
    last = data.days[-1].day if data.days else "-"
    return (
        f"<p class='status {_e(s.status.value)}'><strong>Status now: "
        f"{_e(s.status.value)}</strong>{_e(since)}. {_e(s.reason)}</p>"
        f"<p>This report covers {_e(span)}: {total} checks from {_e(first)} to {_e(last)}, "
        f"{_e(overall)}; {_count(len(data.incidents), 'incident')}.</p>"
    )


def _sending_section(data: ReportData) -> str:
    """Today's reminders, as the tray shows them: the last batch and the sending budget."""
    if not data.sending_today:
        return ""
    lines = "".join(f"<li>{_e(note)}</li>" for note in data.sending_today)
    return f"<h2>Reminders today</h2><ul>{lines}</ul>"


def _rates_section(data: ReportData) -> str:
    if not data.days:
        return "<h2>Delivery rate</h2><p>No checks yet.</p>"
    strip = _rate_strip(data.days)
    rows = []
    for d in list(data.days)[-DAILY_TABLE_DAYS:][::-1]:
        rows.append(
            f"<tr><td>{_e(d.day)}</td><td class='n'>{d.checks}</td>"
            f"<td class='n {_rate_class(d.rate)}'>{_pct(d.rate)}</td>"
            f"<td class='n'>{d.junk}</td><td class='n'>{d.late}</td><td class='n'>{d.lost}</td>"
            f"<td class='n'>{d.refused}</td><td class='n'>{d.unchecked}</td></tr>"
        )
    week_rows = []
    for w in weekly(data.days)[::-1]:
        week_rows.append(
            f"<tr><td>{_e(w.label)}</td><td class='n'>{w.checks}</td>"
            f"<td class='n {_rate_class(w.rate)}'>{_pct(w.rate)}</td>"
            f"<td class='n'>{w.problems}</td></tr>"
        )
    return (
        "<h2>Delivery rate</h2>"
        "<p>Share of checks whose test message reached the inbox in time. Checks that could "
        "not be judged (this PC offline, test mailbox unreachable) are left out.</p>"
        + strip
        + f"<h3>Per day ({_last_days(min(DAILY_TABLE_DAYS, len(data.days)))} with checks)</h3>"
        "<table><thead><tr><th>Day</th><th class='n'>Checks</th><th class='n'>Delivered</th>"
        "<th class='n'>Junk</th><th class='n'>Late</th><th class='n'>Lost</th>"
        "<th class='n'>Refused</th><th class='n'>Not judged</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table><h3>Per week</h3><div class='scroll'><table><thead><tr><th>Week</th>"
        "<th class='n'>Checks</th><th class='n'>Delivered</th><th class='n'>Problems</th>"
        "</tr></thead><tbody>" + "".join(week_rows) + "</tbody></table></div>"
    )


def _rate_strip(days: Sequence[DaySummary]) -> str:
    """Every day as a thin bar: green for all delivered, amber and red as the rate drops."""
    width, height = 1000, 60
    step = width / len(days)
    bars = []
    for i, d in enumerate(days):
        rate = d.rate
        colour = (
            "#bbb"
            if rate is None
            else "#1a7f37"
            if rate >= 0.99
            else "#bf8700"
            if rate >= 0.9
            else "#cf222e"
        )
        h = height * (rate if rate is not None else 1.0)
        bars.append(
            f"<rect x='{i * step:.2f}' y='{height - h:.1f}' width='{max(step, 0.6):.2f}' "
            f"height='{h:.1f}' fill='{colour}'/>"
        )
    return (
        f"<svg id='rate-chart' viewBox='0 0 {width} {height}' role='img' "
        "aria-labelledby='rate-title rate-desc' preserveAspectRatio='none'>"
        f"<title id='rate-title'>Delivery rate per day, {_e(days[0].day)} to "
        f"{_e(days[-1].day)}</title><desc id='rate-desc'>One bar per day; full height is 100%. "
        "Green: all delivered; amber: 90 to 99%; red: below 90%; grey: nothing judged.</desc>"
        + "".join(bars)
        + "</svg>"
    )


def _latency_section(data: ReportData) -> str:
    points = [(i, d) for i, d in enumerate(data.days) if d.latency_avg is not None]
    if not points:
        return "<h2>How long the test messages took</h2><p>No test message has arrived yet.</p>"
    width, height, left, bottom = 1000, 300, 60, 30
    plot_w, plot_h = width - left - 10, height - bottom - 10
    top = _nice_ceiling(max(d.latency_max or 0.0 for _, d in points))
    n = len(data.days) - 1

    def xy(i: int, seconds: float) -> str:
        x = left + plot_w * (i / n if n else 0.5)  # a single day sits in the middle
        return f"{x:.1f},{10 + plot_h * (1 - min(seconds, top) / top):.1f}"

    avg_line = " ".join(xy(i, d.latency_avg or 0.0) for i, d in points)
    max_line = " ".join(xy(i, d.latency_max or 0.0) for i, d in points)
    # A dot per day as well: a line needs two days, and one day of data must still show.
    dots = "".join(
        f"<circle cx='{xy(i, value).split(',')[0]}' cy='{xy(i, value).split(',')[1]}' r='4' "
        f"fill='{colour}'/>"
        for i, d in points
        for value, colour in ((d.latency_max or 0.0, "#999"), (d.latency_avg or 0.0, "#0550ae"))
    )
    ticks = []
    for fraction in (0.0, 0.5, 1.0):
        y = 10 + plot_h * (1 - fraction)
        ticks.append(
            f"<line x1='{left}' x2='{width - 10}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
            f"<text x='{left - 6}' y='{y + 5:.1f}' text-anchor='end' font-size='14'>"
            f"{_e(format_duration(top * fraction))}</text>"
        )
    first, last = data.days[0].day, data.days[-1].day
    slowest = max(points, key=lambda p: p[1].latency_max or 0.0)[1]
    return (
        "<h2>How long the test messages took</h2>"
        f"<svg id='latency-chart' viewBox='0 0 {width} {height}' role='img' "
        "aria-labelledby='lat-title lat-desc'>"
        f"<title id='lat-title'>Delivery time per day, {_e(first)} to {_e(last)}</title>"
        "<desc id='lat-desc'>Blue line: average time from sending to arrival each day; "
        "grey line: the slowest message of each day.</desc>" + "".join(ticks) + "<polyline "
        f"points='{max_line}' fill='none' stroke='#999' stroke-width='1'/>"
        f"<polyline points='{avg_line}' fill='none' stroke='#0550ae' stroke-width='2'/>"
        + dots
        + f"<text x='{left}' y='{height - 8}' font-size='14'>{_e(first)}</text>"
        f"<text x='{width - 10}' y='{height - 8}' font-size='14' text-anchor='end'>"
        f"{_e(last)}</text></svg>"
        "<p>In words: the slowest test message took "
        f"{_e(format_duration(slowest.latency_max or 0.0))}, on "
        f"{_e(slowest.day)}; on the last day with arrivals the average was "
        f"{_e(format_duration(points[-1][1].latency_avg or 0.0))}.</p>"
    )


def _nice_ceiling(seconds: float) -> float:
    """The chart's top: the smallest of 1, 2 or 5 times a power of ten that holds ``seconds``.

    Scaled to the data (0.11 s -> 0.2 s), so fast checks are not flattened against a fixed
    floor, and the axis labels stay round numbers.
    """
    value = max(seconds, 0.01)
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def _last_days(n: int) -> str:
    """ "the last day" or "the last 7 days": never "the last 1 days"."""
    return "the last day" if n == 1 else f"the last {n} days"


def _incidents_section(data: ReportData) -> str:
    if not data.incidents:
        return "<h2>Incidents</h2><p class='good'>No incidents: reminders went out all along.</p>"
    down = [i for i in data.incidents if i.status is Status.DOWN]
    rows = []
    sent = list(data.sent_meanwhile) or [None] * len(data.incidents)
    newest = list(zip(data.incidents, sent, strict=True))[-TIMELINE_INCIDENTS:][::-1]
    for i, meanwhile in newest:
        end = "ongoing" if i.end is None else _when(i.end)
        diagnoses = ", ".join(d.value for d in i.diagnoses) or "-"
        told = sorted({a.channel for a in i.alerts if a.ok})
        acted = ", ".join(_when(t) for t in i.person_acted_at) or "-"
        css = "bad" if i.status is Status.DOWN else "warn"
        rows.append(
            f"<tr><td class='{css}'>{_e(i.status.value)}</td><td>{_when(i.start)}</td>"
            f"<td>{_e(end)}</td><td>{_e(format_duration(i.duration(data.generated_at)))}</td>"
            f"<td>{_e(diagnoses)}</td><td class='n'>{i.canaries_failed}</td>"
            f"<td class='n'>{'not known' if meanwhile is None else meanwhile}</td>"
            f"<td>{_e(', '.join(told) or 'nobody')}</td><td>{_e(acted)}</td></tr>"
        )
    shown = min(TIMELINE_INCIDENTS, len(data.incidents))
    return (
        "<h2>Incidents</h2>"
        f"<p>Reminders were not going out (DOWN) {_count(len(down), 'time')} and arrived late "
        f"or in junk (DEGRADED) {_count(len(data.incidents) - len(down), 'time')}. "
        f"The newest {shown} first.</p><div class='scroll'><table><thead><tr><th>Status</th>"
        "<th>From</th><th>Until</th><th>How long</th><th>Why</th>"
        "<th class='n'>Test messages lost or refused</th>"
        "<th class='n'>E-mails sent meanwhile (may not have arrived)</th><th>Who was told</th>"
        "<th>Someone pressed Check now</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _diagnoses_section(data: ReportData) -> str:
    if not data.diagnoses:
        return "<h2>Why checks failed</h2><p class='good'>Every check was fine.</p>"
    rows = "".join(
        f"<tr><td>{_e(d.value)}</td><td class='n'>{n}</td><td>{_e(describe(d))}</td></tr>"
        for d, n in data.diagnoses
    )
    return (
        "<h2>Why checks failed</h2><table><thead><tr><th>Diagnosis</th><th class='n'>Checks</th>"
        f"<th>What it means</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _recent_section(data: ReportData) -> str:
    rows = []
    for r in data.recent:
        latency = format_duration(r.latency_s) if r.latency_s is not None else "-"
        reply = str(r.smtp_reply) if r.smtp_reply else ""
        outcome = r.outcome.value
        rows.append(
            f"<tr><td>{_when(r.sent_at)}</td><td class='{_OUTCOME_CLASS.get(outcome, '')}'>"
            f"{_e(outcome)}</td><td>{_e(latency)}</td><td>{_e(r.folder or '-')}</td>"
            f"<td>{_e(r.diagnosis.value)}</td><td class='reply'>{_e(reply)}</td>"
            f"<td class='reply'>{_e(r.detail)}</td></tr>"
        )
    return (
        f"<h2>The newest {len(data.recent)} checks</h2><div class='scroll'><table><thead><tr>"
        "<th>Sent</th><th>Outcome</th><th>Took</th><th>Folder</th><th>Diagnosis</th>"
        "<th>Server reply</th><th>Detail</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _e(text: str) -> str:
    """Escape for HTML text and attribute values (quotes too)."""
    return html.escape(text, quote=True)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _count(n: int, noun: str) -> str:
    """``1 incident``, ``2 incidents``: support reads the page aloud on the phone."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _pct(rate: float | None) -> str:
    if rate is None:
        return "-"
    if 0.999 <= rate < 1.0:
        return ">99.9%"  # never round a loss away to "100%"
    return f"{rate * 100:.1f}%".replace(".0%", "%")


def _rate_class(rate: float | None) -> str:
    if rate is None:
        return ""
    return "good" if rate >= 0.99 else "warn" if rate >= 0.9 else "bad"


# --- the command ----------------------------------------------------------------------------------


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


def run_report(args: argparse.Namespace) -> int:
    """Write the report and print where it is; 0, or 3 for a configuration problem."""
    from .app import data_dir, history_path
    from .config import load_config
    from .guide_page import open_in_browser
    from .humanize import parse_since

    config = load_config(args.config)
    since = parse_since(args.since)
    from .app import sending_limit

    limit, provider_name = sending_limit(config)
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
    print(f"Report written to {path}")
    if args.open and not open_in_browser(path):
        print("No web browser could be opened; open the file above by hand.")
    return 0


def write_report(
    history: History,
    target: Path,
    *,
    office: str,
    now: float,
    daily_limit: int | None,
    provider_name: str,
    since: float | None = None,
) -> Path:
    """The report written to ``target`` (0600); its absolute path.

    The one path for ``watchdog report`` and the tray's History report. ``daily_limit`` and
    ``provider_name`` (``app.sending_limit``) have no default: a caller that left them out
    once gave the tray a page without today's sending budget.
    """
    from .guide_page import write_guide

    data = gather_report(
        history,
        office=office,
        now=now,
        since=since,
        daily_limit=daily_limit,
        provider_name=provider_name,
    )
    return write_guide(target, render_report(data), private=True)

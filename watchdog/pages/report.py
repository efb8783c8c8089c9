"""The history report: one self-contained HTML file that answers "did our reminders go out?".

Delivery rate per day and per week, a latency chart (inline SVG), the incident timeline,
diagnoses by count and the most recent checks with the servers' replies. No network, no
scripts, no fonts or images from elsewhere: it works when mailed as an attachment, and a
Content-Security-Policy forbids anything else. Every text that came from a server is escaped.

Rendering is pure (:func:`render_report` over :class:`ReportData`, through
``templates/report.html.j2`` in the frame, stylesheet and policy it shares with the guide pages:
:mod:`watchdog.pages.frame`, Jinja2 with autoescape); :func:`gather_report` reads
the history with SQL aggregates, so five years of checks every 15 minutes stay fast
(benchmarks/history_5y.py).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchdog.core.classifier import describe
from watchdog.core.humanize import format_duration
from watchdog.core.incidents import Incident, group_incidents, incidents_since
from watchdog.core.models import CheckResult, Diagnosis, Status, StatusSnapshot
from watchdog.storage.history import DaySummary, History

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
    from watchdog.engine.batch_watch import reminders_today

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
            history.sent_while_down(i.start, i.end if i.end is not None else now)[0]
            for i in incidents
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
# The page is templates/report.html.j2 (markup only); here the numbers become what it shows:
# words, percentages, local times and the charts' geometry. Every value is escaped by the
# template (autoescape), so nothing here escapes.

_OUTCOME_CLASS = {
    "delivered": "good",
    "junk": "warn",
    "late": "warn",
    "lost": "bad",
    "send_failed": "bad",
    "bounced": "bad",
}


@dataclass(frozen=True)
class _Bar:
    """One day in the rate strip (SVG user units, already formatted)."""

    x: str
    y: str
    width: str
    height: str
    colour: str


@dataclass(frozen=True)
class _Tick:
    """A line across the latency chart and its label."""

    y: str
    label_y: str
    label: str


@dataclass(frozen=True)
class _Dot:
    cx: str
    cy: str
    colour: str


@dataclass(frozen=True)
class _LatencyChart:
    """The latency chart's geometry and its summary in words."""

    width: int
    height: int
    left: int
    ticks: Sequence[_Tick]
    max_line: str
    avg_line: str
    dots: Sequence[_Dot]
    first: str
    last: str
    slowest: str
    slowest_day: str
    last_average: str


@dataclass(frozen=True)
class _IncidentRow:
    css: str
    status: str
    start: str
    end: str
    took: str
    why: str
    failed: int
    sent_meanwhile: str
    told: str
    acted: str


@dataclass(frozen=True)
class _CheckRow:
    sent: str
    outcome: str
    outcome_class: str
    took: str
    folder: str
    diagnosis: str
    reply: str
    detail: str


def render_report(data: ReportData) -> str:
    """The whole page. Pure: the same data always gives the same page."""
    from watchdog.pages.frame import render_page

    s = data.status
    judged = sum(d.judged for d in data.days)
    delivered = sum(d.delivered for d in data.days)
    down = sum(1 for i in data.incidents if i.status is Status.DOWN)
    return render_page(
        "report.html.j2",
        title="Delivery Watchdog report" + (f" - {data.office}" if data.office else ""),
        page_class="report",
        data=data,
        status=s.status.value,
        status_since=f" since {_when(s.since)}" if s.since is not None else "",
        span="all of the history" if data.since is None else f"from {_when(data.since)}",
        total=sum(d.checks for d in data.days),
        first_day=data.days[0].day if data.days else "-",
        last_day=data.days[-1].day if data.days else "-",
        overall=f"{_pct(delivered / judged)} delivered on time" if judged else "nothing judged yet",
        incident_count=_count(len(data.incidents), "incident"),
        rate_bars=_rate_bars(data.days),
        strip_size=RATE_STRIP_SIZE,
        daily=list(data.days)[-DAILY_TABLE_DAYS:][::-1],
        daily_span=_last_days(min(DAILY_TABLE_DAYS, len(data.days))),
        weeks=weekly(data.days)[::-1],
        pct=_pct,
        rate_class=_rate_class,
        latency=_latency_chart(data.days),
        down_times=_count(down, "time"),
        degraded_times=_count(len(data.incidents) - down, "time"),
        incidents_shown=min(TIMELINE_INCIDENTS, len(data.incidents)),
        incident_rows=_incident_rows(data),
        diagnoses=[(d.value, n, describe(d)) for d, n in data.diagnoses],
        checks=[_check_row(r) for r in data.recent],
        made=_when(data.generated_at),
    )


#: The rate strip's drawing size (SVG user units; the page scales it to its width).
RATE_STRIP_SIZE = (1000, 60)


def _rate_bars(days: Sequence[DaySummary]) -> list[_Bar]:
    """Every day as a thin bar: green for all delivered, amber and red as the rate drops."""
    if not days:
        return []
    width, height = RATE_STRIP_SIZE
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
            _Bar(
                x=f"{i * step:.2f}",
                y=f"{height - h:.1f}",
                width=f"{max(step, 0.6):.2f}",
                height=f"{h:.1f}",
                colour=colour,
            )
        )
    return bars


def _latency_chart(days: Sequence[DaySummary]) -> _LatencyChart | None:
    """Average and slowest delivery time per day; None when no test message has arrived."""
    points = [(i, d) for i, d in enumerate(days) if d.latency_avg is not None]
    if not points:
        return None
    width, height, left, bottom = 1000, 300, 60, 30
    plot_w, plot_h = width - left - 10, height - bottom - 10
    top = _nice_ceiling(max(d.latency_max or 0.0 for _, d in points))
    n = len(days) - 1

    def xy(i: int, seconds: float) -> tuple[str, str]:
        x = left + plot_w * (i / n if n else 0.5)  # a single day sits in the middle
        return f"{x:.1f}", f"{10 + plot_h * (1 - min(seconds, top) / top):.1f}"

    def line(values: Iterable[tuple[int, float]]) -> str:
        return " ".join(",".join(xy(i, v)) for i, v in values)

    # A dot per day as well: a line needs two days, and one day of data must still show.
    dots = [
        _Dot(*xy(i, value), colour=colour)
        for i, d in points
        for value, colour in ((d.latency_max or 0.0, "#999"), (d.latency_avg or 0.0, "#0550ae"))
    ]
    ticks = []
    for fraction in (0.0, 0.5, 1.0):
        y = 10 + plot_h * (1 - fraction)
        ticks.append(_Tick(f"{y:.1f}", f"{y + 5:.1f}", format_duration(top * fraction)))
    slowest = max(points, key=lambda p: p[1].latency_max or 0.0)[1]
    return _LatencyChart(
        width=width,
        height=height,
        left=left,
        ticks=ticks,
        max_line=line((i, d.latency_max or 0.0) for i, d in points),
        avg_line=line((i, d.latency_avg or 0.0) for i, d in points),
        dots=dots,
        first=days[0].day,
        last=days[-1].day,
        slowest=format_duration(slowest.latency_max or 0.0),
        slowest_day=slowest.day,
        last_average=format_duration(points[-1][1].latency_avg or 0.0),
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


def _incident_rows(data: ReportData) -> list[_IncidentRow]:
    """The newest incidents first, at most :data:`TIMELINE_INCIDENTS`."""
    sent = list(data.sent_meanwhile) or [None] * len(data.incidents)
    newest = list(zip(data.incidents, sent, strict=True))[-TIMELINE_INCIDENTS:][::-1]
    return [
        _IncidentRow(
            css="bad" if i.status is Status.DOWN else "warn",
            status=i.status.value,
            start=_when(i.start),
            end="ongoing" if i.end is None else _when(i.end),
            took=format_duration(i.duration(data.generated_at)),
            why=", ".join(d.value for d in i.diagnoses) or "-",
            failed=i.canaries_failed,
            sent_meanwhile="not known" if meanwhile is None else str(meanwhile),
            told=", ".join(sorted({a.channel for a in i.alerts if a.ok})) or "nobody",
            acted=", ".join(_when(t) for t in i.person_acted_at) or "-",
        )
        for i, meanwhile in newest
    ]


def _check_row(r: CheckResult) -> _CheckRow:
    outcome = r.outcome.value
    return _CheckRow(
        sent=_when(r.sent_at),
        outcome=outcome,
        outcome_class=_OUTCOME_CLASS.get(outcome, ""),
        took=format_duration(r.latency_s) if r.latency_s is not None else "-",
        folder=r.folder or "-",
        diagnosis=r.diagnosis.value,
        reply=str(r.smtp_reply) if r.smtp_reply else "",
        detail=r.detail,
    )


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
    ``provider_name`` (``providers.sending_limit``) have no default: a caller that left them out
    once gave the tray a page without today's sending budget.
    """
    from watchdog.pages.guide import write_guide

    data = gather_report(
        history,
        office=office,
        now=now,
        since=since,
        daily_limit=daily_limit,
        provider_name=provider_name,
    )
    return write_guide(target, render_report(data), private=True)

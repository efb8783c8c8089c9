"""The history report: rates per day and week, incidents, escaping, and an empty history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.history_builder import HOSTILE_REPLY, HistoryBuilder, local_noon
from watchdog.core.models import Outcome, Status
from watchdog.pages.report import gather_report, render_report, weekly

NOW = local_noon("2026-11-20") + 3600


@pytest.fixture
def builder(tmp_path: Path) -> Iterator[HistoryBuilder]:
    b = HistoryBuilder(tmp_path / "history.sqlite3")
    yield b
    b.close()


def fill_a_known_fortnight(b: HistoryBuilder) -> None:
    """Mon 2026-11-09 .. Thu 11-19: four checks a day; two bad days; one hostile refusal."""
    for n in range(11):
        day = f"2026-11-{9 + n:02d}"
        noon = local_noon(day)
        outcomes = [Outcome.DELIVERED] * 4
        if day == "2026-11-12":  # a silent drop for half a day
            outcomes = [Outcome.DELIVERED, Outcome.LOST, Outcome.LOST, Outcome.DELIVERED]
        if day == "2026-11-17":  # one in junk, one refused with a hostile reply
            outcomes = [Outcome.DELIVERED, Outcome.JUNK, Outcome.SEND_FAILED, Outcome.DELIVERED]
        for i, outcome in enumerate(outcomes):
            reply = HOSTILE_REPLY if outcome is Outcome.SEND_FAILED else None
            b.add(noon + i * 1800, outcome, latency_s=2.0 + i, reply=reply)


def test_the_rate_per_day_counts_only_what_was_delivered_on_time(builder: HistoryBuilder) -> None:
    fill_a_known_fortnight(builder)
    data = gather_report(builder.history, office="Smile Dental", now=NOW)
    by_day = {d.day: d for d in data.days}
    assert len(by_day) == 11
    assert by_day["2026-11-10"].rate == 1.0
    assert (by_day["2026-11-12"].delivered, by_day["2026-11-12"].lost) == (2, 2)
    assert by_day["2026-11-12"].rate == 0.5
    assert (by_day["2026-11-17"].junk, by_day["2026-11-17"].refused) == (1, 1)
    assert by_day["2026-11-17"].rate == 0.5
    assert by_day["2026-11-10"].latency_avg == pytest.approx(3.5)  # 2, 3, 4, 5 s
    assert by_day["2026-11-10"].latency_max == pytest.approx(5.0)


def test_the_rate_per_week_sums_its_days_monday_to_sunday(builder: HistoryBuilder) -> None:
    fill_a_known_fortnight(builder)
    weeks = weekly(gather_report(builder.history, office="", now=NOW).days)
    assert [w.label for w in weeks] == [
        "2026-W46 (from 2026-11-09)",
        "2026-W47 (from 2026-11-16)",
    ]
    assert (weeks[0].checks, weeks[0].delivered, weeks[0].problems) == (28, 26, 2)
    assert weeks[0].rate == pytest.approx(26 / 28)
    assert (weeks[1].checks, weeks[1].delivered, weeks[1].problems) == (16, 14, 2)


def test_incidents_and_diagnoses_come_from_the_history(builder: HistoryBuilder) -> None:
    fill_a_known_fortnight(builder)
    data = gather_report(builder.history, office="", now=NOW)
    assert [(i.status, i.canaries_failed) for i in data.incidents] == [
        (Status.DOWN, 2),  # the silent drop (DOWN at the first loss, by default)
        # The junk placement; the refused canary was sent while it lasted (the status moves
        # when a check concludes), so it counts there as well as in the DOWN that follows.
        (Status.DEGRADED, 1),
        (Status.DOWN, 1),  # the refusal
    ]
    assert all(i.end is not None for i in data.incidents)
    assert [(d.value, n) for d, n in data.diagnoses] == [
        ("silent_drop", 2),
        ("junk_placement", 1),
        ("sending_limit", 1),
    ]


def test_a_hostile_server_reply_is_shown_as_text_and_never_as_markup(
    builder: HistoryBuilder,
) -> None:
    fill_a_known_fortnight(builder)
    page = render_report(gather_report(builder.history, office="<Smile & Co>", now=NOW))
    assert "<script>" not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    assert "&#34;quoted&#34; &amp; &#39;single&#39; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;Smile &amp; Co&gt;" in page
    assert "<b>bold</b>" not in page


def test_the_page_is_self_contained_and_forbids_anything_from_elsewhere(
    builder: HistoryBuilder,
) -> None:
    fill_a_known_fortnight(builder)
    page = render_report(gather_report(builder.history, office="", now=NOW))
    assert "default-src 'none'" in page
    assert not re.search(r"(src|href)\s*=", page)  # no scripts, images, fonts or links
    assert "http://" not in page and "https://" not in page
    assert page.count("<svg") == 2  # the daily rate strip and the latency chart
    assert page.count("<polyline") == 2
    assert "Per week" in page and "2026-W47" in page


def test_an_empty_history_gives_a_calm_page_without_charts(builder: HistoryBuilder) -> None:
    page = render_report(gather_report(builder.history, office="", now=NOW))
    assert "No checks yet." in page
    assert "No incidents" in page
    assert "<svg" not in page
    assert "Status now: UNKNOWN" in page


def test_since_leaves_out_older_days_but_keeps_an_incident_that_reaches_into_the_range(
    builder: HistoryBuilder,
) -> None:
    fill_a_known_fortnight(builder)
    since = local_noon("2026-11-15") - 12 * 3600
    data = gather_report(builder.history, office="", now=NOW, since=since)
    assert data.days[0].day == "2026-11-15"
    assert [i.status for i in data.incidents] == [Status.DEGRADED, Status.DOWN]


def test_counts_on_the_page_read_as_words_one_incident_two_times(
    builder: HistoryBuilder,
) -> None:
    fill_a_known_fortnight(builder)
    page = render_report(gather_report(builder.history, office="", now=NOW))
    assert "; 3 incidents.</p>" in page
    assert "(DOWN) 2 times and arrived late or in junk (DEGRADED) 1 time." in page


def test_one_day_of_fast_checks_gives_a_readable_chart_with_the_real_slowest_time(
    builder: HistoryBuilder,
) -> None:
    noon = local_noon("2026-11-19")
    for i, latency in enumerate((0.05, 0.11, 0.08)):
        builder.add(noon + i * 1800, Outcome.DELIVERED, latency_s=latency)
    page = render_report(gather_report(builder.history, office="", now=NOW))
    assert "the slowest test message took 0.11 s" in page  # the data, not the axis floor
    assert "0.20 s</text>" in page  # the axis fits the data (0.11 s -> 0.2 s), no 1 s floor
    chart = page[
        page.index("<svg id='latency-chart'") : page.index("</svg>", page.index("latency-chart"))
    ]
    assert chart.count("<circle") == 2  # one day: the dots show what a line cannot
    assert "the last 1 days" not in page and "the last day with checks" in page


def test_each_incident_says_how_many_e_mails_left_meanwhile_or_that_it_is_not_known(
    builder: HistoryBuilder,
) -> None:
    fill_a_known_fortnight(builder)
    data = gather_report(builder.history, office="", now=NOW)
    (first, *_rest) = [i for i in data.incidents if i.status is Status.DOWN]
    midnight = local_noon("2026-11-12") - 12 * 3600
    # The Sent folder was read that day: 5 reminders inside the block, 2 the evening before.
    inside = [first.start + 60 * k for k in range(5)]
    builder.history.record_sent(midnight, [*inside, midnight - 3600, midnight - 1800])
    data = gather_report(builder.history, office="", now=NOW)
    by_start = dict(zip([i.start for i in data.incidents], data.sent_meanwhile, strict=True))
    assert by_start[first.start] == 5
    assert all(v is None for s, v in by_start.items() if s != first.start)  # other days unread
    page = render_report(data)
    assert "E-mails sent meanwhile" in page and "not known" in page


def test_the_report_shows_todays_last_batch_and_sending_against_the_daily_limit(
    builder: HistoryBuilder,
) -> None:
    noon = local_noon("2026-11-20")
    midnight = noon - 12 * 3600
    batch = [noon - 1800 + 60 * (k // 10) for k in range(40)]  # 40 e-mails in four minutes
    builder.history.record_sent(midnight, batch)
    builder.add(noon - 1500, Outcome.DELIVERED, latency_s=2.0)  # the canary after the batch
    data = gather_report(
        builder.history, office="", now=NOW, daily_limit=500, provider_name="Gmail"
    )
    page = render_report(data)
    assert "Reminders today" in page
    assert "Last reminder batch: 40 e-mails sent between 11:30 and 11:33" in page
    assert "the test message after it (11:35) arrived" in page
    assert "41 e-mails have gone out from this account today, of about 500 a day" in page

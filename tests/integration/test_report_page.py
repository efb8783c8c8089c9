"""The history report in a real headless Chromium: charts there, hostile text stays text.

Chromium's own DOM (``--dump-dom``) and a screenshot are checked, not our HTML string. Without
Chromium the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.support.chromium import FLAGS, chromium_path
from tests.support.history_builder import HOSTILE_REPLY, HistoryBuilder, local_noon
from watchdog.core.models import Outcome
from watchdog.pages.report import write_report

GREEN_BAR = (0x1A, 0x7F, 0x37)  # a day with every check delivered, in the rate strip
RED_BAR = (0xCF, 0x22, 0x2E)  # a day below 90 %


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.ids: set[str] = set()
        self.title = ""
        self.text = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.ids.update(v for k, v in attrs if k == "id" and v)
        self._in_title = tag == "title" and "title" not in self.ids and self.tags[tag] == 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text += data


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of checks with a bad day and a hostile refusal, written as the product does."""
    folder = tmp_path_factory.mktemp("report")
    builder = HistoryBuilder(folder / "history.sqlite3")
    try:
        for n in range(21):
            noon = local_noon(f"2026-10-{5 + n:02d}")
            for i in range(6):
                outcome = Outcome.DELIVERED
                if n == 10 and i in (2, 3, 4):
                    outcome = Outcome.LOST
                if n == 15 and i == 1:
                    outcome = Outcome.SEND_FAILED
                reply = HOSTILE_REPLY if outcome is Outcome.SEND_FAILED else None
                builder.add(noon + i * 1800, outcome, latency_s=1.0 + n % 5 + i, reply=reply)
        return write_report(
            builder.history,
            folder / "report.html",
            office="Smile Dental",
            now=local_noon("2026-10-26"),
            daily_limit=None,
            provider_name="the provider",
        )
    finally:
        builder.close()


@pytest.fixture(scope="module")
def seen(report: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[_Dom, Path]:
    """One Chromium run: the DOM after load and a screenshot of the top of the page."""
    png = tmp_path_factory.mktemp("shot") / "report.png"
    profile = tmp_path_factory.mktemp("profile")
    result = subprocess.run(
        [
            chromium_path(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            f"--screenshot={png}",
            "--window-size=1200,1600",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Dom()
    dom.feed(result.stdout)
    dom.close()
    return dom, png


def test_chromium_shows_both_charts_and_every_section(seen: tuple[_Dom, Path]) -> None:
    dom, _ = seen
    assert {"rate-chart", "latency-chart"} <= dom.ids
    assert dom.tags.get("svg") == 2 and dom.tags.get("polyline") == 2
    assert dom.tags.get("rect", 0) == 21  # one bar per day
    for heading in ("Delivery rate", "How long the test messages took", "Incidents"):
        assert heading in dom.text
    assert "Why checks failed" in dom.text and "silent_drop" in dom.text


def test_a_hostile_server_reply_is_shown_as_text_and_never_runs(seen: tuple[_Dom, Path]) -> None:
    dom, _ = seen
    assert HOSTILE_REPLY.text in dom.text  # exactly the server's words, as text
    assert "script" not in dom.tags
    assert "pwned" not in dom.title  # the script would have set the title
    assert dom.title == "Delivery Watchdog report - Smile Dental"


def test_the_screenshot_shows_the_rate_strip_in_its_colours(seen: tuple[_Dom, Path]) -> None:
    _, png = seen
    with Image.open(png) as image:
        assert image.size == (1200, 1600)
        colours = {c for _, c in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert GREEN_BAR in colours  # the good days
    assert RED_BAR in colours  # the day of the silent drop
    assert len(colours) > 20  # text, tables and charts were drawn, not a blank page

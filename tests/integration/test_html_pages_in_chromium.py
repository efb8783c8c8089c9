"""The guide and the report side by side in a real headless Chromium: a script in the office name
stays text in both, and both are drawn with the one shared stylesheet.

Chromium's own DOM (``--dump-dom``) and screenshots are checked, not our HTML string. Without
Chromium the tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.support.chromium import FLAGS, chromium_path
from tests.support.history_builder import HOSTILE_REPLY, HistoryBuilder, local_noon
from watchdog.core.guidance import guide_for
from watchdog.core.models import Diagnosis, Outcome
from watchdog.pages.guide import render_html, write_guide
from watchdog.pages.report import write_report

HOSTILE_OFFICE = "Smile <script>document.title='pwned'</script> Dental"
#: The rule under every h2 in the shared stylesheet (the report's own rule was light grey).
HEADING_RULE = (0x11, 0x11, 0x11)
NOW = local_noon("2026-10-26")


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_title = tag == "title" and "svg" not in self.tags

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@dataclass(frozen=True)
class _Seen:
    dom: _Dom
    png: Path


def _pages(folder: Path) -> dict[str, Path]:
    """Both pages as the product writes them, with the hostile office name."""
    builder = HistoryBuilder(folder / "history.sqlite3")
    try:
        for n in range(7):
            noon = local_noon(f"2026-10-{19 + n:02d}")
            builder.add(noon, Outcome.DELIVERED, latency_s=2.0 + n)
            outcome = Outcome.SEND_FAILED if n == 3 else Outcome.DELIVERED
            reply = HOSTILE_REPLY if outcome is Outcome.SEND_FAILED else None
            builder.add(noon + 1800, outcome, latency_s=3.0, reply=reply)
        report = write_report(
            builder.history,
            folder / "report.html",
            office=HOSTILE_OFFICE,
            now=NOW,
            daily_limit=None,
            provider_name="Gmail",
        )
    finally:
        builder.close()
    page = render_html(
        guide_for("gmail", Diagnosis.SENDER_BLOCKED),
        since=NOW - 5400,
        office=HOSTILE_OFFICE,
        support_contact="Acme IT",
        last_reply=str(HOSTILE_REPLY),
        generated_at=NOW,
    )
    return {"guide": write_guide(folder / "guide.html", page), "report": report}


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, _Seen]:
    chromium = chromium_path()
    folder = tmp_path_factory.mktemp("pages")
    result = {}
    for name, page in _pages(folder).items():
        png = folder / f"{name}.png"
        done = subprocess.run(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={folder / f'profile-{name}'}",
                "--dump-dom",
                f"--screenshot={png}",
                "--window-size=1024,1400",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        dom = _Dom()
        dom.feed(done.stdout)
        dom.close()
        result[name] = _Seen(dom, png)
    return result


@pytest.mark.parametrize("name", ["guide", "report"])
def test_a_script_in_the_office_name_is_shown_as_text_and_never_runs(
    name: str, seen: dict[str, _Seen]
) -> None:
    dom = seen[name].dom
    assert "script" not in dom.tags
    assert HOSTILE_OFFICE in dom.title  # the office's own words, as text


def _full_width_rules(png: Path, colour: tuple[int, int, int]) -> int:
    """Rows where at least half the width is ``colour``: the rules under the headings."""
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        pixels = rgb.load()
        assert pixels is not None
        return sum(
            1
            for y in range(height)
            if sum(1 for x in range(0, width, 2) if pixels[x, y] == colour) > width // 4
        )


@pytest.mark.parametrize("name", ["guide", "report"])
def test_both_pages_are_drawn_with_the_shared_stylesheet(name: str, seen: dict[str, _Seen]) -> None:
    assert _full_width_rules(seen[name].png, HEADING_RULE) >= 2  # two headings at least

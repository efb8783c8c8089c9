"""A browser that does not start is said so, with the file (issue 12, item 16).

The "browsers" are small scripts registered with Python's ``webbrowser`` the way ``xdg-open`` is
on a Linux desktop (a command started in the background), so the real launch path runs: one
that fails at once (no display), one that hands the page on and exits 0, one that stays open.
"""

from __future__ import annotations

import stat
import threading
import webbrowser
from pathlib import Path

import pytest

from tests.faults.rig import open_rig
from tests.servers import MailServers
from watchdog.app import AppControls
from watchdog.notify import Alert, AttemptResult
from watchdog.pages.guide import open_in_browser


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def use_background_browser(monkeypatch: pytest.MonkeyPatch, command: Path) -> None:
    """Make ``command`` the default browser, started in the background like ``xdg-open``."""
    name = "frontdesk-test-browser"
    browsers = {name: [None, webbrowser.BackgroundBrowser([str(command), "%s"])]}
    monkeypatch.setattr(webbrowser, "_browsers", browsers)
    monkeypatch.setattr(webbrowser, "_tryorder", [name])


def test_a_browser_command_that_fails_at_once_counts_as_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "guide.html"
    page.write_text("<p>guide</p>", encoding="utf-8")
    failing = script(tmp_path, "no-display", "echo 'cannot open display' >&2\nexit 1")
    use_background_browser(monkeypatch, failing)
    assert open_in_browser(page) is False


def test_a_browser_command_that_hands_the_page_on_or_stays_open_counts_as_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "guide.html"
    page.write_text("<p>guide</p>", encoding="utf-8")
    seen = tmp_path / "seen"
    handing_on = script(tmp_path, "hand-on", f'echo "$1" > {seen}\nexit 0')
    use_background_browser(monkeypatch, handing_on)
    assert open_in_browser(page) is True
    assert seen.read_text().strip() == page.resolve().as_uri()

    staying = script(tmp_path, "window", "sleep 8")
    use_background_browser(monkeypatch, staying)
    assert open_in_browser(page) is True


class DesktopRecorder:
    """Stands in for the desktop channel (named as it is), keeping what it was given."""

    name = "desktop"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.alerts.append(alert)
        return AttemptResult(self.name, ok=True)


@pytest.mark.parametrize(
    ("action", "what", "file_name"),
    [
        ("show_guidance", "The guidance could not be opened", "guide.html"),
        ("open_history_report", "The history report could not be opened", "report.html"),
    ],
)
def test_from_the_tray_a_browser_that_fails_is_told_on_the_desktop_with_the_file(
    tmp_path: Path,
    servers: MailServers,
    watchdog_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    action: str,
    what: str,
    file_name: str,
) -> None:
    failing = script(tmp_path, "no-display", "exit 1")
    use_background_browser(monkeypatch, failing)
    desktop = DesktopRecorder()
    rig = open_rig(tmp_path, servers, channels=[desktop])
    try:
        rig.app.runner.safe_check(threading.Event())
        rig.recorder.alerts.clear()
        getattr(AppControls(rig.app), action)()
    finally:
        rig.close()
    page = tmp_path / "data" / file_name
    assert page.exists()
    (told,) = desktop.alerts
    assert told.title == what
    assert str(page) in told.message
    assert rig.recorder.alerts == []  # other channels (support's webhooks) are not paged
    assert any(str(page) in r.getMessage() for r in caplog.records)

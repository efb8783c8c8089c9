"""The tray's actions on a real app (real servers, real history): what a click really does.

The only stand-in is the web browser: ``webbrowser.open`` is replaced by a recorder, because no
browser may open during tests; the pages are real files.
"""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path

import pytest

from tests.faults.rig import open_rig
from tests.servers import MailServers
from watchdog.app import AppControls
from watchdog.models import Status


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    urls: list[str] = []

    def record(url: str, *args: object, **kwargs: object) -> bool:
        urls.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", record)
    return urls


def test_open_history_report_writes_the_full_report_privately_and_opens_it(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str], opened: list[str]
) -> None:
    rig = open_rig(tmp_path, servers, office="Smile Dental")
    try:
        rig.app.runner.safe_check(threading.Event())
        AppControls(rig.app).open_history_report()
    finally:
        rig.close()
    report = tmp_path / "data" / "report.html"
    assert opened == [report.resolve().as_uri()]
    assert report.stat().st_mode & 0o777 == 0o600
    page = report.read_text(encoding="utf-8")
    assert "Delivery Watchdog report - Smile Dental" in page
    assert "1 checks from" in page and "id='latency-chart'" in page


def test_show_guidance_opens_the_guide_for_the_current_problem(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str], opened: list[str]
) -> None:
    rig = open_rig(tmp_path, servers)
    try:
        servers.smtp.set_mode("blackhole")
        rig.app.runner.safe_check(threading.Event())
        controls = AppControls(rig.app)
        assert controls.state().status is Status.DOWN
        controls.show_guidance()
    finally:
        rig.close()
    guide = tmp_path / "data" / "guide.html"
    assert opened == [guide.resolve().as_uri()]
    assert "never arrived" in guide.read_text(encoding="utf-8")  # the silent-drop guide


def test_the_tray_is_never_green_while_a_check_waits_long_past_its_deadline(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    from watchdog.models import Canary

    rig = open_rig(tmp_path, servers)
    try:
        rig.app.runner.safe_check(threading.Event())
        controls = AppControls(rig.app)
        assert controls.state().status is Status.UP
        # A canary whose check was cut off: still pending, well past its deadline.
        now = rig.app.clock.now()
        rig.app.history.record_pending(Canary("v1.1.aa.bb", "<x@y>", now - 900, now - 600), now)
        state = controls.state()
        assert state.status is Status.UNKNOWN
        assert "past its deadline" in state.reason
    finally:
        rig.close()

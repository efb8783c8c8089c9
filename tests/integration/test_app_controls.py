"""The tray's actions on a real app (real servers, real history): what a click really does.

The only stand-in is the web browser: ``webbrowser.open`` is replaced by a recorder, because no
browser may open during tests; the pages are real files.
"""

from __future__ import annotations

import re
import threading
import webbrowser
from pathlib import Path

import pytest

import watchdog.pages.guide  # noqa: F401  (imported before `opened` replaces webbrowser.open)
from tests.faults.rig import open_rig
from tests.servers import MailServers
from watchdog.app import AppControls
from watchdog.core.models import Status
from watchdog.core.providers import Provider


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
    from watchdog.core.models import Canary

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


def test_the_tray_report_shows_todays_sending_against_the_daily_limit_like_watchdog_report(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str], opened: list[str]
) -> None:
    """The tray's History report goes through the same path as ``watchdog report``."""
    from watchdog.core.batches import local_midnight

    rig = open_rig(tmp_path, servers, sender={"provider": "gmail"})
    try:
        rig.app.runner.safe_check(threading.Event())
        now = rig.app.clock.now()
        rig.app.history.record_sent(local_midnight(now), [now - 1.0, now])
        AppControls(rig.app).open_history_report()
    finally:
        rig.close()
    page = (tmp_path / "data" / "report.html").read_text(encoding="utf-8")
    # The practice's own domain sent through Gmail: Google Workspace's 2,000 a day.
    assert re.search(
        r"\b3 e-mails have gone out from this account today, of about 2,000 a day that "
        r"Gmail allows",
        page,
    )


def test_the_tray_poll_uses_the_provider_detected_when_the_app_was_wired(
    tmp_path: Path,
    servers: MailServers,
    watchdog_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import watchdog.core.providers

    rig = open_rig(tmp_path, servers, sender={"provider": "gmail"})
    detections: list[str] = []
    detect = watchdog.core.providers.detect_provider

    def counting(smtp_host: str, address: str, *, named: str = "") -> Provider:
        detections.append(smtp_host)
        return detect(smtp_host, address, named=named)

    monkeypatch.setattr(watchdog.core.providers, "detect_provider", counting)
    try:
        controls = AppControls(rig.app)
        states = [controls.state() for _ in range(5)]  # the tray polls every 5 s
    finally:
        rig.close()
    assert [s.provider_name for s in states] == ["Gmail / Google Workspace"] * 5
    assert detections == []


def test_the_tray_tells_the_front_desk_in_plain_words_and_keeps_the_server_s_reply_for_support(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    from watchdog.core.classifier import describe
    from watchdog.core.models import Diagnosis

    rig = open_rig(tmp_path, servers)
    try:
        servers.smtp.set_mode("reject", reply="550 5.4.5 Daily user sending limit exceeded.")
        rig.app.runner.safe_check(threading.Event())
        state = AppControls(rig.app).state()
        stored = rig.app.history.status()
    finally:
        rig.close()
    assert state.status is Status.DOWN and state.diagnosis is Diagnosis.SENDING_LIMIT
    assert state.reason == describe(Diagnosis.SENDING_LIMIT)
    assert "550" not in state.reason and "5.4.5" not in state.reason
    assert "550 5.4.5" in stored.reason  # support still reads the provider's own words


def test_the_wired_loop_tells_the_notifier_of_every_check_it_lets_pass(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    rig = open_rig(tmp_path, servers)
    try:
        assert rig.app.loop.on_check_let_pass == rig.app.notifier.check_let_pass
    finally:
        rig.close()

"""The icon exists and its title tells the truth on X11, with the longest titles, and a tray that
is late is waited for: Xvfb + trayer, pystray's xorg backend (see ``test_tray.py`` for the
helpers).

What a person (and a panel) sees is read back from the X server: the icon window's ``WM_NAME``
(Latin-1, what pystray sets) and ``_NET_WM_NAME`` (UTF-8, set beside it), and its colour.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_tray import (
    ACCOUNT,
    POLL_S,
    TITLE,
    WAIT_S,
    FakeControls,
    bare_x,
    desktop,
    docked_icon,
    drive,
    host,
    icon_window,
    today_at,
    up_state,
    wait_for_colour,
    wait_until,
)
from tests.servers.tray_host import TrayHost
from watchdog.core.controls import TrayState
from watchdog.core.models import Diagnosis, Status
from watchdog.desktop.tray import Tray, create_tray, tray_title

__all__ = ["bare_x", "desktop", "host"]  # fixtures shared with test_tray.py

pytestmark = pytest.mark.timeout(60)

#: A server's reply of several hundred characters, full of characters Latin-1 lacks: before,
#: one of them in the title kept the icon from ever being created.
LONG_REASON = (
    "The outgoing server refused the reminder \u2013 it said \u201c554 5.7.1 Your message "
    "was rejected \u2026 the provider\u2019s policy\u201d \u2014 \u017elu\u0165ou\u010dk\u00fd "
    "k\u016f\u0148 \u65e5\u672c\u8a9e \U0001f4ec "
) * 5


def outage(reason: str = LONG_REASON) -> TrayState:
    return TrayState(
        Status.DOWN,
        since=today_at(10, 2),
        last_check_at=today_at(14, 35),
        reason=reason,
        diagnosis=Diagnosis.MESSAGE_REJECTED,
        account=ACCOUNT,
    )


def names_of(host: TrayHost, window: int) -> tuple[str | None, str | None]:
    """(WM_NAME, _NET_WM_NAME) of ``window`` as X holds them."""
    return host.text_property(window, "WM_NAME"), host.text_property(window, "_NET_WM_NAME")


def shows_titles_of(host: TrayHost, window: int, state: TrayState) -> bool:
    return names_of(host, window) == (tray_title(state, "xorg"), tray_title(state))


def test_a_restart_during_an_outage_with_a_long_reason_shows_the_red_icon_and_its_title(
    desktop: TrayHost,
) -> None:
    assert len(LONG_REASON) > 500
    state = outage()
    tray = create_tray(FakeControls(state), poll_s=POLL_S, tray_wait_s=1.0)
    assert tray is not None, "no icon at a start during an outage"

    def steps(tray: Tray) -> None:
        window = docked_icon(desktop, f"{TITLE}: not getting through since 10:02")
        wait_for_colour(desktop, Status.DOWN, "a red icon on screen")
        wm_name, net_wm_name = names_of(desktop, window)
        assert wm_name == tray_title(state, "xorg")
        assert wm_name is not None and wm_name.endswith("...")
        assert net_wm_name == tray_title(state)
        assert net_wm_name is not None and net_wm_name.endswith("\u2026")

    assert drive(tray, steps) is True


def test_while_running_the_title_follows_the_status_to_a_long_outage_and_back(
    desktop: TrayHost,
) -> None:
    controls = FakeControls(up_state())
    tray = create_tray(controls, poll_s=POLL_S, tray_wait_s=1.0)
    assert tray is not None

    def steps(tray: Tray) -> None:
        window = docked_icon(desktop, f"{TITLE}: getting through")
        controls.set(status=Status.DOWN, since=today_at(10, 2), reason=LONG_REASON)
        wait_for_colour(desktop, Status.DOWN, "a red icon")
        now_down = controls.state()
        wait_until(
            lambda: shows_titles_of(desktop, window, now_down),
            "the title of the outage",
            explain=lambda: f"names: {names_of(desktop, window)}",
        )
        assert desktop.is_viewable(window)

        controls.set(status=Status.UNKNOWN, reason="Watchdog\u2019s password is missing \u2013")
        unknown = controls.state()
        wait_until(
            lambda: shows_titles_of(desktop, window, unknown),
            "the title of the unknown status",
            explain=lambda: f"names: {names_of(desktop, window)}",
        )
        wm_name, _ = names_of(desktop, window)
        assert wm_name is not None
        assert wm_name.startswith(f"{TITLE}: cannot be checked since 10:02")
        assert wm_name.endswith("· Watchdog's password is missing -")

    assert drive(tray, steps) is True


# --- a tray that is not there yet ---------------------------------------------------------------


def test_a_tray_that_comes_after_the_first_wait_is_found_by_the_retries(
    bare_x: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    """At login the panel can come long after the programs started with the session."""
    caplog.set_level(logging.INFO, logger="watchdog.desktop.tray")
    controls = FakeControls(outage())
    tray = create_tray(controls, poll_s=POLL_S, tray_wait_s=0.2, retry_for_s=30.0)
    assert tray is not None, "gave up at once when the tray was not there yet"
    assert any(m.startswith("The tray icon cannot be shown yet (") for m in caplog.messages)
    late = threading.Timer(1.5, bare_x.start_tray)
    late.start()
    try:

        def steps(tray: Tray) -> None:
            window = icon_window(bare_x, f"{TITLE}: not getting through")
            wait_until(lambda: bare_x.is_viewable(window), "the icon docked in the late tray")

        # The looks come 1, 2 and 4 s apart: the tray of 1.5 s is found at the look of 3 s.
        assert drive(tray, steps, visible_within=WAIT_S + 5.0) is True
    finally:
        late.join()
    assert "The system tray is there now; showing the tray icon" in caplog.messages


def test_a_tray_that_never_comes_is_given_up_after_the_bound_and_said_in_the_log(
    bare_x: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchdog.desktop.tray")
    tray = create_tray(FakeControls(up_state()), poll_s=POLL_S, tray_wait_s=0.1, retry_for_s=1.5)
    assert tray is not None
    started = time.monotonic()
    assert tray.run() is False
    assert 1.4 <= time.monotonic() - started < 5.0
    [last] = [m for m in caplog.messages if m.startswith("No system tray is available")]
    assert "(no system tray is running on the X display" in last
    assert "looked 3 times in 1.5 seconds" in last
    assert last.endswith("the watchdog keeps checking in the background.")


def test_a_stop_while_waiting_for_a_tray_ends_run_at_once(bare_x: TrayHost) -> None:
    tray = create_tray(FakeControls(up_state()), poll_s=POLL_S, tray_wait_s=0.1, retry_for_s=60)
    assert tray is not None
    timer = threading.Timer(0.3, tray.stop)
    timer.start()
    started = time.monotonic()
    try:
        assert tray.run() is True
    finally:
        timer.join()
    assert time.monotonic() - started < 3.0


@pytest.fixture
def flaky_icon(desktop: TrayHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """pystray's Icon fails to be created three times (an X server not ready at login): when
    the tray is made, when create_tray looks, and at run()'s first look."""
    pystray = importlib.import_module("pystray")
    real = pystray.Icon
    attempts: list[int] = []

    class FlakyIcon(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            attempts.append(1)
            if len(attempts) <= 3:
                raise ConnectionRefusedError("the X server is not ready")
            super().__init__(*args, **kwargs)

        def __del__(self) -> None:
            if hasattr(self, "_display"):  # the failed ones never got one
                super().__del__()

    FlakyIcon.__module__ = real.__module__  # still "the xorg backend" to the tray
    monkeypatch.setattr(pystray, "Icon", FlakyIcon)
    yield attempts


def test_an_icon_that_could_not_be_created_is_created_on_a_later_try(
    desktop: TrayHost, flaky_icon: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="watchdog.desktop.tray")
    tray = create_tray(FakeControls(outage()), poll_s=POLL_S, tray_wait_s=0.1, retry_for_s=30)
    assert tray is not None and tray.icon is None
    assert any(
        "the tray icon could not be created: ConnectionRefusedError" in m for m in caplog.messages
    )

    def steps(tray: Tray) -> None:
        docked_icon(desktop, f"{TITLE}: not getting through")
        wait_for_colour(desktop, Status.DOWN, "a red icon")

    assert drive(tray, steps) is True
    assert len(flaky_icon) == 4

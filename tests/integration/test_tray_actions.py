"""Where the tray has no menu (pystray's X11 backend), a click on the icon opens a small window
with the menu's actions: Xvfb + trayer, real pointer clicks through XTEST (what ``xdotool click``
sends), the window found by its title as a person would see it.

Helpers and fixtures come from ``test_tray.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_tray import (
    TITLE,
    WAIT_S,
    FakeControls,
    desktop,
    docked_icon,
    drive,
    host,
    in_ci,
    today_at,
    up_state,
    wait_for_colour,
    wait_until,
)
from tests.servers.tray_host import TrayHost, XWindow
from watchdog.core.controls import TrayState
from watchdog.core.models import Diagnosis, Status
from watchdog.desktop import actions_window
from watchdog.desktop.tray import Tray, create_tray, tray_capabilities

__all__ = ["desktop", "host"]  # fixtures shared with test_tray.py

pytestmark = pytest.mark.timeout(60)

WINDOW_TITLE = "Delivery Watchdog"
ACTIONS = [
    "Show guidance",
    "Check now",
    "Pause for 1 hour",
    "Open history report",
    "Open settings",
    "Quit",
]


def outage() -> TrayState:
    return TrayState(
        Status.DOWN,
        since=today_at(10, 2),
        last_check_at=today_at(14, 35),
        reason="The outgoing server refused the reminder \u2013 \u201c554 5.7.1 rejected\u201d",
        diagnosis=Diagnosis.MESSAGE_REJECTED,
        account="frontdesk@example.com",
        notes=(
            "Last reminder batch: 38 e-mails sent between 09:58 and 10:01; the test message "
            "after it (10:02) did not arrive.",
            "412 e-mails have gone out from this account today; Gmail stops at about 500 a day: "
            "send the rest tomorrow.",
        ),
    )


def require_tk() -> None:
    """Skip without Tk for Python (Debian: python3-tk), but fail under ``CI=true``."""
    problem = actions_window.tk_problem()
    if problem is not None:
        if in_ci():
            pytest.fail(f"CI=true and {problem} (apt-get install python3-tk)", pytrace=False)
        pytest.skip(problem)


def make(controls: FakeControls, *, needs_tk: bool = True) -> Tray:
    """A tray whose click opens the actions window (when ``needs_tk``: Tk must be there)."""
    if needs_tk:
        require_tk()
    tray = create_tray(controls, poll_s=0.05, tray_wait_s=1.0)
    assert tray is not None
    return tray


def actions_window_on_screen(host: TrayHost) -> XWindow | None:
    """The viewable window titled "Delivery Watchdog", if there is one."""
    for window, name in host.window_names().items():
        if name == WINDOW_TITLE and host.is_viewable(window):
            return window
    return None


def open_by_clicking_the_icon(host: TrayHost, tray: Tray) -> XWindow:
    host.click(docked_icon(host, TITLE))
    found: list[XWindow] = []

    def on_screen() -> bool:
        window = actions_window_on_screen(host)
        if window is not None:
            found.append(window)
        return window is not None

    wait_until(on_screen, "the actions window on screen", explain=lambda: str(host.window_names()))
    # The X server may map the window a moment before the Tk thread has finished showing it
    # (raise, focus) and says so: wait for that too, with the same generous bound.
    assert tray.actions_window is not None and tray.actions_window.wait_shown(10.0)
    return found[-1]


def window_closed(host: TrayHost, tray: Tray) -> bool:
    """Closed for the tray and for the X server alike (a withdraw reaches X a little later)."""
    window = tray.actions_window
    return window is not None and not window.is_shown() and actions_window_on_screen(host) is None


def press(host: TrayHost, tray: Tray, label: str) -> None:
    """A real click in the middle of the window's button ``label``."""
    assert tray.actions_window is not None
    x, y, width, height = tray.actions_window.button_boxes()[label]
    host.click_at(x + width // 2, y + height // 2)


def test_a_click_on_the_icon_opens_the_window_with_the_status_and_every_action(
    desktop: TrayHost, tmp_path: Path
) -> None:
    controls = FakeControls(outage())
    tray = make(controls)

    def steps(tray: Tray) -> None:
        wait_for_colour(desktop, Status.DOWN, "a red icon")
        open_by_clicking_the_icon(desktop, tray)
        assert tray.actions_window is not None
        assert list(tray.actions_window.button_boxes()) == ACTIONS
        shot = desktop.screenshot(tmp_path / "tray-and-actions.png")
        keep = os.environ.get("WATCHDOG_SCREENSHOTS")
        if keep:  # for a person to look at: WATCHDOG_SCREENSHOTS=/tmp pytest ...
            desktop.screenshot(Path(keep) / "tray-and-actions.png")
        assert shot.stat().st_size > 0

    assert drive(tray, steps) is True
    assert controls.names() == []  # opening the window does nothing by itself


def test_the_window_shows_the_status_line_in_full(desktop: TrayHost) -> None:
    controls = FakeControls(outage())
    tray = make(controls)

    def steps(tray: Tray) -> None:
        open_by_clicking_the_icon(desktop, tray)

    assert drive(tray, steps) is True
    assert tray._headline() == (
        "Reminders from frontdesk@example.com: not getting through since 10:02 · last check 14:35"
    )
    # The whole reason, typographic quotes too; then, after a blank line, the notes of the day.
    assert tray._reason() == outage().reason + "\n\n" + "\n".join(outage().notes)


def test_check_now_in_the_window_calls_the_controls_and_closes_the_window(
    desktop: TrayHost,
) -> None:
    controls = FakeControls(outage())
    tray = make(controls)

    def steps(tray: Tray) -> None:
        open_by_clicking_the_icon(desktop, tray)
        press(desktop, tray, "Check now")
        wait_until(lambda: controls.names() == ["check_now"], "check_now after the press")
        wait_until(lambda: window_closed(desktop, tray), "the window closed")

    assert drive(tray, steps) is True
    assert controls.names() == ["check_now"]


def test_pause_in_the_window_pauses_and_the_next_opening_offers_resume(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make(controls)

    def steps(tray: Tray) -> None:
        open_by_clicking_the_icon(desktop, tray)
        press(desktop, tray, "Pause for 1 hour")
        wait_until(lambda: controls.names() == ["pause"], "pause after the press")
        wait_for_colour(desktop, Status.PAUSED, "a grey icon")
        wait_until(lambda: window_closed(desktop, tray), "the window closed")
        open_by_clicking_the_icon(desktop, tray)
        assert tray.actions_window is not None
        wait_until(
            lambda: "Resume" in tray.actions_window.button_boxes(),  # type: ignore[union-attr]
            "Resume in the window",
        )
        press(desktop, tray, "Resume")
        wait_until(lambda: controls.names() == ["pause", "resume"], "resume after the press")

    assert drive(tray, steps) is True


def test_quit_in_the_window_quits_the_watchdog_and_ends_the_tray(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make(controls)

    def steps(tray: Tray) -> None:
        open_by_clicking_the_icon(desktop, tray)
        press(desktop, tray, "Quit")

    assert drive(tray, steps, steps_stop_it=True) is True
    assert controls.names() == ["quit"]
    wait_until(lambda: actions_window_on_screen(desktop) is None, "no window left", WAIT_S)


def test_the_other_buttons_call_their_controls(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make(controls)
    expected = {
        "Show guidance": "show_guidance",
        "Open history report": "open_history_report",
        "Open settings": "open_settings",
    }

    def steps(tray: Tray) -> None:
        for count, label in enumerate(expected, start=1):
            open_by_clicking_the_icon(desktop, tray)
            press(desktop, tray, label)
            wait_until(lambda n=count: len(controls.names()) == n, f"{label} pressed")  # type: ignore[misc]
            wait_until(lambda: window_closed(desktop, tray), "the window closed")

    assert drive(tray, steps) is True
    assert controls.names() == list(expected.values())


def test_without_tk_a_click_on_the_icon_opens_the_guidance_as_before(
    desktop: TrayHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions_window, "tk_problem", lambda: "no Tk here")
    controls = FakeControls(up_state())
    tray = make(controls, needs_tk=False)

    def steps(tray: Tray) -> None:
        desktop.click(docked_icon(desktop, TITLE))
        wait_until(lambda: controls.names() == ["show_guidance"], "show_guidance after a click")

    assert drive(tray, steps) is True
    assert actions_window_on_screen(desktop) is None


# --- what doctor can say ------------------------------------------------------------------------


def test_capabilities_on_x11_say_there_is_no_menu_and_a_click_opens_the_window(
    desktop: TrayHost,
) -> None:
    capabilities = tray_capabilities()
    assert capabilities.can_show_icon is True
    assert capabilities.has_menu is False
    assert capabilities.problem is None
    assert capabilities.how_actions_are_offered.startswith(
        "This desktop's tray has no menus: a click on the tray icon opens a small "
        "Delivery Watchdog window with Show guidance, Check now"
    )


def test_capabilities_without_tk_say_what_to_install(
    desktop: TrayHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("watchdog.desktop.tray.tk_problem", lambda: "no module named tkinter")
    capabilities = tray_capabilities()
    assert (capabilities.can_show_icon, capabilities.has_menu) == (True, False)
    assert "python3-tk" in capabilities.how_actions_are_offered
    assert "only opens the guidance" in capabilities.how_actions_are_offered


def test_capabilities_without_a_display_say_no_icon_and_no_actions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    capabilities = tray_capabilities()
    assert capabilities.can_show_icon is False
    assert capabilities.problem == (
        "no graphical session: neither DISPLAY nor WAYLAND_DISPLAY is set"
    )
    assert capabilities.how_actions_are_offered.startswith("Without a tray icon")

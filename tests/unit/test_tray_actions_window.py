"""The actions window when Tk cannot open a window: the tray falls back to the guidance.

The window itself, on a real X server, is tested in ``tests/integration/test_tray_actions.py``.
"""

from __future__ import annotations

import logging
import threading

import pytest

from watchdog.core.models import Status
from watchdog.desktop import actions_window
from watchdog.desktop.actions_window import Action, ActionsWindow


def window(pressed: list[str]) -> ActionsWindow:
    return ActionsWindow(
        title="Delivery Watchdog",
        headline=lambda: "Reminders from frontdesk@example.com: getting through",
        reason=lambda: "",
        status=lambda: Status.UP,
        actions=lambda: [Action("Check now", lambda: pressed.append("check_now"))],
    )


def test_when_the_display_refuses_tk_the_fallback_runs_and_it_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DISPLAY", ":2999")  # no X server there
    caplog.set_level(logging.ERROR, logger="watchdog.desktop.actions_window")
    fell_back = threading.Event()
    pressed: list[str] = []
    shown = window(pressed)

    assert shown.open(on_failure=fell_back.set) is True
    assert fell_back.wait(10.0), "the fallback (Show guidance) never ran"
    assert not shown.is_shown()
    assert "The Delivery Watchdog window could not be opened" in caplog.messages
    assert pressed == []
    shown.shut()


def test_without_tk_open_says_so_at_once_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(actions_window, "tk_problem", lambda: "no Tk here")
    before = threading.active_count()
    assert window([]).open() is False
    assert threading.active_count() == before


def test_after_shut_open_does_nothing() -> None:
    shown = window([])
    shown.shut()
    before = threading.active_count()
    assert shown.open() is True
    assert threading.active_count() == before

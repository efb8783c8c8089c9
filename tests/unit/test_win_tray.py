"""The tray on Windows, with a stand-in for pystray's win32 icon (no Windows machine here).

pystray's window procedure calls ``icon._message_handlers[message](wparam, lparam)`` and
returns what the handler returns (0 for a message without one). The stand-in exposes that dict,
``notify`` and a ``run``/``stop`` pair that behave like pystray's (setup on a thread of its own
once the loop is ready).
"""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from watchdog.core.controls import TrayState
from watchdog.core.models import Status
from watchdog.desktop.tray import WM_ENDSESSION, WM_QUERYENDSESSION, Tray
from watchdog.notify import Alert, AlertKind
from watchdog.notify.desktop import DesktopChannel, registered_tray_notifier

#: A safety net against a hang, never a speed assertion.
BOUND_S = 10.0


def fake_pystray(backend: str) -> types.ModuleType:
    """A module that looks like ``pystray`` with the ``backend`` icon class."""

    class MenuItem:
        def __init__(self, text: Any, action: Any, default: bool = False, **_options: Any) -> None:
            self.text, self.action, self.default = text, action, default

    class Menu:
        SEPARATOR = MenuItem("-", None)

        def __init__(self, *items: MenuItem) -> None:
            self.items = items

    class Icon:
        HAS_MENU = True

        def __init__(self, name: str, icon: Any, title: str, menu: Menu) -> None:
            self.name, self.icon, self.title, self.menu = name, icon, title, menu
            self.visible = False
            self.notified: list[tuple[str, str | None]] = []
            self._stopped = threading.Event()
            if backend == "win32":
                self._message_handlers: dict[int, Any] = {0x0400 + 10: lambda wparam, lparam: None}

        def run(self, setup: Any) -> None:
            threading.Thread(target=setup, args=(self,), daemon=True).start()
            self._stopped.wait(BOUND_S)

        def stop(self) -> None:
            self._stopped.set()

        def notify(self, message: str, title: str | None = None) -> None:
            self.notified.append((message, title))

        def update_menu(self) -> None:
            pass

    Icon.__module__ = f"pystray._{backend}"
    module = types.ModuleType("pystray")
    module.Icon = Icon  # type: ignore[attr-defined]
    module.Menu = Menu  # type: ignore[attr-defined]
    module.MenuItem = MenuItem  # type: ignore[attr-defined]
    return module


class Controls:
    """The tray's controls; ``quit`` ends the "loop", which stops the tray as cmd_tray does."""

    def __init__(self) -> None:
        self.quit_called = threading.Event()
        self.tray: Tray | None = None

    def state(self) -> TrayState:
        return TrayState(Status.UP, None, None)

    def quit(self) -> None:
        self.quit_called.set()
        tray = self.tray

        def loop_ends() -> None:  # cmd_tray's run_loop: the loop's end stops the tray
            if tray is not None:
                tray.stop()

        threading.Thread(target=loop_ends, daemon=True).start()

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


class RunningTray:
    """A tray whose ``run()`` goes on in a thread (the main thread's role in the product)."""

    def __init__(self, backend: str) -> None:
        self.controls = Controls()
        self.tray = Tray(self.controls, fake_pystray(backend), poll_s=60.0)
        self.controls.tray = self.tray
        self.returned: list[bool] = []
        self.thread = threading.Thread(target=lambda: self.returned.append(self.tray.run()))

    def start(self) -> None:
        self.thread.start()
        self.wait_until(lambda: self.tray._loop_ready and self.tray.icon.visible)

    def wait_until(self, condition: Any) -> None:
        done = threading.Event()
        for _ in range(int(BOUND_S / 0.01)):
            if condition():
                return
            done.wait(0.01)
        raise AssertionError("the tray never got there")

    def finish(self) -> None:
        self.tray.stop()
        self.thread.join(BOUND_S)


@pytest.fixture
def running_win32_tray() -> Iterator[RunningTray]:
    running = RunningTray("win32")
    running.start()
    yield running
    running.finish()


def test_the_windows_tray_lets_the_session_end_and_stops_everything_when_it_does(
    running_win32_tray: RunningTray,
) -> None:
    handlers = running_win32_tray.tray.icon._message_handlers
    assert handlers[WM_QUERYENDSESSION](0, 0) == 1  # TRUE: pystray alone answered 0

    assert handlers[WM_ENDSESSION](1, 0) == 0
    assert running_win32_tray.controls.quit_called.is_set()  # the loop was asked to stop
    running_win32_tray.thread.join(BOUND_S)
    assert running_win32_tray.returned == [True]  # run() ended as a clean stop


def test_a_cancelled_sign_out_leaves_the_windows_tray_running(
    running_win32_tray: RunningTray,
) -> None:
    handlers = running_win32_tray.tray.icon._message_handlers
    assert handlers[WM_ENDSESSION](0, 0) == 0
    assert not running_win32_tray.controls.quit_called.is_set()
    assert running_win32_tray.thread.is_alive()


def test_while_the_windows_tray_runs_alerts_are_shown_by_its_own_icon(
    running_win32_tray: RunningTray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    tray = running_win32_tray.tray
    alert = Alert(AlertKind.DOWN, Status.DOWN, "Reminders are not going out", "Check the Outbox.")

    result = DesktopChannel().send(alert)

    assert result.ok and result.detail == "shown by the tray icon"
    assert tray.icon.notified == [("Check the Outbox.", "Reminders are not going out")]
    running_win32_tray.finish()
    assert registered_tray_notifier() is None  # gone with the icon
    assert not DesktopChannel(tray_notifier=tray._notify).send(alert).ok  # and says so


@pytest.mark.parametrize("backend", ["gtk", "appindicator", "darwin"])
def test_other_trays_neither_register_a_notifier_nor_touch_window_messages(backend: str) -> None:
    running = RunningTray(backend)
    running.start()
    try:
        assert registered_tray_notifier() is None
        assert not hasattr(running.tray.icon, "_message_handlers")
    finally:
        running.finish()
    assert running.returned == [True]

"""Desktop alerts on Windows, with the platform injected (no Windows machine here).

With the tray running, alerts go through the tray's own icon (pystray's ``icon.notify``): no
second "ghost" icon, the product's name, no thread. Without a tray (``watchdog check``,
``test-alert``), plyer's balloon class runs on a daemon thread of ours: its failure reaches the
result instead of dying in plyer's thread, and the process cannot linger for the balloon. plyer's
Windows module loads Windows' DLLs at import, so a stand-in is put in its place in
``sys.modules``. Linux keeps its D-Bus path (tests/integration/test_desktop_notifications.py).
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from watchdog.core.models import Status
from watchdog.notify import Alert, AlertKind, desktop
from watchdog.notify.desktop import (
    MESSAGE_LIMIT,
    TITLE_LIMIT,
    DesktopChannel,
    register_tray_notifier,
    registered_tray_notifier,
    unregister_tray_notifier,
    utf16_len,
)

BALLOON_MODULE = "plyer.platforms.win.libs.balloontip"
#: A safety net against a hang, never a speed assertion.
BOUND_S = 5.0


def alert(
    title: str = "Reminder e-mails are not going out", message: str = "Check the Outbox."
) -> Alert:
    return Alert(kind=AlertKind.DOWN, status=Status.DOWN, title=title, message=message)


class FakeBalloonTip:
    """plyer's ``WindowsBalloonTip``: records what it was given and whether its icon went."""

    made: ClassVar[list[FakeBalloonTip]] = []
    fail_with: BaseException | None = None
    hold: threading.Event | None = None  # the constructor waits for it (a hung taskbar)

    def __init__(
        self, title: str, message: str, app_name: str, app_icon: str, timeout: int
    ) -> None:
        if FakeBalloonTip.hold is not None:
            FakeBalloonTip.hold.wait(BOUND_S)
        if FakeBalloonTip.fail_with is not None:
            raise FakeBalloonTip.fail_with
        self.kwargs = {
            "title": title,
            "message": message,
            "app_name": app_name,
            "app_icon": app_icon,
            "timeout": timeout,
        }
        self.thread = threading.current_thread()
        self.removed = threading.Event()
        FakeBalloonTip.made.append(self)

    def remove_notify(self) -> None:
        self.removed.set()


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[..., Any]]]:
    """``sys.platform`` is win32, plyer's balloon module is the fake; yields the exit hooks."""
    monkeypatch.setattr(sys, "platform", "win32")
    module = types.ModuleType(BALLOON_MODULE)
    module.WindowsBalloonTip = FakeBalloonTip  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, BALLOON_MODULE, module)
    FakeBalloonTip.made, FakeBalloonTip.fail_with, FakeBalloonTip.hold = [], None, None
    exit_hooks: list[Callable[..., Any]] = []

    def unregister(hook: Callable[..., Any]) -> None:
        while hook in exit_hooks:
            exit_hooks.remove(hook)

    monkeypatch.setattr(atexit, "register", exit_hooks.append)
    monkeypatch.setattr(atexit, "unregister", unregister)
    yield exit_hooks
    if FakeBalloonTip.hold is not None:
        FakeBalloonTip.hold.set()
    for hook in list(exit_hooks):  # end every balloon thread, as the exit would
        hook()


class RecordingTray:
    """A tray notifier: what the tray icon was asked to show."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.shown: list[tuple[str, str]] = []
        self.fail = fail

    def __call__(self, title: str, message: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.shown.append((title, message))


# --- with the tray ------------------------------------------------------------------------------


def test_with_the_tray_running_a_windows_alert_is_shown_by_the_tray_icon_and_plyer_is_not_used(
    windows: list[Callable[..., Any]],
) -> None:
    tray = RecordingTray()
    register_tray_notifier(tray)
    try:
        result = DesktopChannel().send(alert(title="T" * 80, message="word " * 80))
    finally:
        unregister_tray_notifier(tray)

    assert result.ok and result.detail == "shown by the tray icon"
    [(title, message)] = tray.shown
    assert utf16_len(title) <= TITLE_LIMIT and utf16_len(message) <= MESSAGE_LIMIT
    assert FakeBalloonTip.made == []  # no second icon
    assert registered_tray_notifier() is None


def test_an_injected_tray_notifier_is_used_before_the_registered_one(
    windows: list[Callable[..., Any]],
) -> None:
    registered, injected = RecordingTray(), RecordingTray()
    register_tray_notifier(registered)
    try:
        assert DesktopChannel(tray_notifier=injected).send(alert()).ok
    finally:
        unregister_tray_notifier(registered)
    assert injected.shown and not registered.shown


def test_a_tray_icon_that_cannot_show_the_alert_is_recorded_as_a_failure_to_retry(
    windows: list[Callable[..., Any]],
) -> None:
    tray = RecordingTray(fail=RuntimeError("the tray icon is not running"))
    result = DesktopChannel(tray_notifier=tray).send(alert())
    assert not result.ok and not result.permanent
    assert "the tray icon could not show it: the tray icon is not running" in result.detail


def test_unregistering_another_notifier_leaves_the_registered_one_in_place() -> None:
    first, second = RecordingTray(), RecordingTray()
    register_tray_notifier(first)
    try:
        unregister_tray_notifier(second)
        assert registered_tray_notifier() is first
    finally:
        unregister_tray_notifier(first)
    assert registered_tray_notifier() is None


def test_on_linux_a_registered_tray_notifier_is_ignored_and_d_bus_stays_the_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(desktop, "_import_dbus", lambda: types.ModuleType("dbus"))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    tray = RecordingTray()
    register_tray_notifier(tray)
    try:
        result = DesktopChannel().send(alert())
    finally:
        unregister_tray_notifier(tray)
    assert not result.ok and "no desktop session" in result.detail  # the D-Bus path's answer
    assert tray.shown == []


# --- without a tray -----------------------------------------------------------------------------


def test_without_a_tray_a_windows_balloon_is_shown_from_a_daemon_thread_that_removes_its_icon(
    windows: list[Callable[..., Any]],
) -> None:
    result = DesktopChannel(timeout_s=1.0).send(alert())

    assert result.ok and "Windows balloon" in result.detail
    [tip] = FakeBalloonTip.made
    assert tip.kwargs["app_name"] == "Delivery Watchdog"
    assert str(tip.kwargs["app_icon"]).endswith(".ico")
    assert tip.kwargs["timeout"] == 0  # plyer itself never sleeps: our thread keeps the time
    assert tip.thread.daemon and tip.thread is not threading.current_thread()
    assert len(windows) == 1  # the exit hook that lets a balloon still up be seen
    assert tip.removed.wait(BOUND_S)  # after timeout_s, no ghost icon is left
    tip.thread.join(BOUND_S)
    assert windows == []  # and nothing is left to wait for at exit


def test_a_balloon_windows_refuses_is_recorded_as_a_failure_not_as_shown(
    windows: list[Callable[..., Any]],
) -> None:
    FakeBalloonTip.fail_with = Exception("Shell_NotifyIconW failed.")
    result = DesktopChannel().send(alert())
    assert not result.ok and not result.permanent
    assert result.detail == "Windows did not show the notification: Shell_NotifyIconW failed."
    assert windows == []


def test_a_taskbar_that_never_answers_fails_the_balloon_within_the_call_time_limit(
    windows: list[Callable[..., Any]],
) -> None:
    FakeBalloonTip.hold = threading.Event()
    started = time.monotonic()
    result = DesktopChannel(call_timeout_s=0.3).send(alert())
    assert time.monotonic() - started < BOUND_S
    assert not result.ok and "did not show the notification in time" in result.detail
    [balloon_thread] = [t for t in threading.enumerate() if t.name == "watchdog-balloon"]
    assert balloon_thread.daemon  # it cannot keep the process alive either
    FakeBalloonTip.hold.set()
    balloon_thread.join(BOUND_S)


def test_at_exit_a_balloon_still_showing_keeps_the_process_only_briefly_then_goes(
    windows: list[Callable[..., Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop, "BALLOON_EXIT_WAIT_S", 0.2)
    assert DesktopChannel(timeout_s=600.0).send(alert()).ok
    [tip] = FakeBalloonTip.made
    [exit_hook] = windows

    started = time.monotonic()
    exit_hook()
    assert time.monotonic() - started < BOUND_S  # not the balloon's 600 s
    assert tip.removed.is_set()
    assert not tip.thread.is_alive()


def test_without_plyer_a_windows_balloon_is_a_permanent_failure(
    windows: list[Callable[..., Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, BALLOON_MODULE, None)  # an import of it raises ImportError
    result = DesktopChannel().send(alert())
    assert not result.ok and result.permanent and "plyer is not installed" in result.detail

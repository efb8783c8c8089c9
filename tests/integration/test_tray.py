"""The tray icon in a real X system tray: Xvfb + trayer, pystray's xorg backend.

The icon runs on the test's main thread, as pystray demands (``Tray.run``); each test's steps run
in a second thread (:func:`drive`) and talk to the icon the way the desktop does. What the tray
*shows* is read back from the X server (:class:`tests.servers.tray_host.TrayHost`): the icon
window's name is the tooltip, its pixels are the icon, and a click is a real XTEST pointer click.
The menu, which the xorg backend cannot show, is driven through ``icon.menu`` items.

A fake :class:`~watchdog.core.controls.Controls` records every call and changes its state on demand.
Without Xvfb or trayer these tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.servers.tray_host import TrayHost, XWindow, missing_tools
from watchdog.core.controls import TrayState
from watchdog.core.models import Status
from watchdog.desktop.tray import PAUSE_SECONDS, Tray, create_tray, run_tray, tray_backend_problem
from watchdog.desktop.tray_icon import STATUS_COLOURS

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "frontdesk@example.com"
#: How the icon's title (its window's name) starts: it names the office's account.
TITLE = f"Reminders from {ACCOUNT}"
#: Short, so a status change shows within a few tenths of a second.
POLL_S = 0.05
#: A bound against hangs only; every wait returns as soon as its condition holds.
WAIT_S = 5.0

pytestmark = pytest.mark.timeout(30)


def in_ci() -> bool:
    """``CI=true`` (GitHub Actions and most CI systems): missing tools fail instead of skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = WAIT_S,
    explain: Callable[[], str] | None = None,
) -> None:
    """Return as soon as ``condition()`` holds; fail with ``what`` (and ``explain()``) after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = f"; {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(0.01)


# --- a fake watchdog -----------------------------------------------------------------------------


class FakeControls:
    """Records every call; ``set`` changes what ``state()`` answers. Pause/resume act on it."""

    def __init__(self, state: TrayState, *, failing: frozenset[str] = frozenset()) -> None:
        self._state = state
        self._lock = threading.Lock()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failing = failing

    def _record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
        if name in self.failing:
            raise RuntimeError(f"{name} broke on purpose")

    def names(self) -> list[str]:
        with self._lock:
            return [name for name, _args in self.calls if name != "state"]

    def set(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def state(self) -> TrayState:
        self._record("state")
        with self._lock:
            return self._state

    def check_now(self) -> None:
        self._record("check_now")

    def show_guidance(self) -> None:
        self._record("show_guidance")

    def open_history_report(self) -> None:
        self._record("open_history_report")

    def pause(self, seconds: float) -> None:
        self._record("pause", seconds)
        self.set(paused_until=time.time() + seconds)

    def resume(self) -> None:
        self._record("resume")
        self.set(paused_until=None)

    def open_settings(self) -> None:
        self._record("open_settings")

    def quit(self) -> None:
        self._record("quit")


def today_at(hour: int, minute: int) -> float:
    """A Unix time today at a local wall-clock time."""
    now = time.localtime()
    return time.mktime((now.tm_year, now.tm_mon, now.tm_mday, hour, minute, 0, 0, 0, -1))


def up_state() -> TrayState:
    return TrayState(
        Status.UP, since=today_at(14, 5), last_check_at=today_at(14, 35), account=ACCOUNT
    )


# --- the desktop ---------------------------------------------------------------------------------


def require_tools() -> None:
    """Skip without Xvfb or trayer, but fail under ``CI=true``."""
    missing = missing_tools()
    if missing:
        reason = f"not installed: {', '.join(missing)} (apt-get install xvfb trayer)"
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


def on_display(monkeypatch: pytest.MonkeyPatch, host: TrayHost) -> None:
    """This process pointed at ``host``, on pystray's xorg backend."""
    monkeypatch.setenv("DISPLAY", host.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")


@pytest.fixture(scope="module")
def host() -> Iterator[TrayHost]:
    """Xvfb with trayer, once for the module (about 0.1 s to start)."""
    require_tools()
    with TrayHost() as started:
        yield started


@pytest.fixture
def desktop(host: TrayHost, monkeypatch: pytest.MonkeyPatch) -> TrayHost:
    """This process pointed at the tray host."""
    on_display(monkeypatch, host)
    return host


def make_tray(controls: FakeControls, *, tray_wait_s: float = 1.0) -> Tray:
    tray = create_tray(controls, poll_s=POLL_S, tray_wait_s=tray_wait_s)
    assert tray is not None, "create_tray found no tray on the tray host"
    return tray


def drive(
    tray: Tray,
    steps: Callable[[Tray], None],
    *,
    steps_stop_it: bool = False,
    visible_within: float = WAIT_S,
) -> bool:
    """Run ``tray`` on this (main) thread and ``steps`` in another; return what ``run`` returned.

    ``steps`` start once the icon is visible. Unless ``steps_stop_it``, the tray is stopped
    after them; with it, they must end ``run`` themselves (Quit) within :data:`WAIT_S`. A
    failure in ``steps`` is raised here, after the tray has stopped.
    """
    return drive_run(
        tray.run, lambda: tray, steps, steps_stop_it=steps_stop_it, visible_within=visible_within
    )


def drive_run(
    run: Callable[[], bool],
    get_tray: Callable[[], Tray | None],
    steps: Callable[[Tray], None],
    *,
    steps_stop_it: bool = False,
    visible_within: float = WAIT_S,
) -> bool:
    """:func:`drive` for any ``run`` on the main thread whose tray ``get_tray`` finds once made."""
    errors: list[BaseException] = []
    run_returned = threading.Event()

    def body() -> None:
        try:
            wait_until(lambda: get_tray() is not None, "the tray to be made")
            tray = get_tray()
            assert tray is not None
            # The icon may be made later, by run()'s retries.
            wait_until(
                lambda: tray.icon is not None and bool(tray.icon.visible),
                "the icon to be visible",
                timeout=visible_within,
            )
            steps(tray)
            if steps_stop_it and not run_returned.wait(WAIT_S):
                raise AssertionError("the steps did not end run()")
        except BaseException as e:
            errors.append(e)
        finally:
            made = get_tray()
            if made is not None and not run_returned.is_set():
                made.stop()

    thread = threading.Thread(target=body, name="test-steps", daemon=True)
    thread.start()
    try:
        result = run()
    finally:
        run_returned.set()
        thread.join(WAIT_S)
    if errors:
        raise errors[0]
    return result


def item(tray: Tray, text: str) -> Any:
    """The menu item now titled ``text``."""
    items = {entry.text: entry for entry in tray.icon.menu}
    assert text in items, f"no menu item {text!r}; the menu has {list(items)}"
    return items[text]


def click_item(tray: Tray, text: str) -> None:
    """Invoke a menu item as pystray does on a click (the xorg backend cannot show the menu)."""
    item(tray, text)(tray.icon)


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return sum(abs(a - b) for a, b in zip(colour, expected, strict=True)) <= 30


def fill_colour(image: Image.Image) -> tuple[int, int, int]:
    """The most common colour that is neither black (transparent on xorg) nor the white glyph."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    counts: dict[tuple[int, int, int], int] = {}
    for i in range(0, len(data), 3):
        pixel = (data[i], data[i + 1], data[i + 2])
        if max(pixel) > 40 and min(pixel) < 215:
            counts[pixel] = counts.get(pixel, 0) + 1
    assert counts, "the icon shows nothing but black and white"
    return max(counts, key=lambda pixel: counts[pixel])


def icon_window(host: TrayHost, prefix: str) -> XWindow:
    """The icon's window: pystray's xorg backend names it after the tooltip."""
    return host.wait_for_window(lambda name: name.startswith(prefix))


def docked_icon(host: TrayHost, prefix: str) -> XWindow:
    """The icon's window once it is embedded in the tray and on screen (clickable)."""
    window = icon_window(host, prefix)
    wait_until(lambda: host.is_viewable(window), "the icon window to be on screen in the tray")
    return window


def screen_report(host: TrayHost, prefix: str) -> str:
    """What the icon windows named ``prefix...`` show now, for a failure message."""
    parts = []
    for window, name in host.window_names().items():
        if name.startswith(prefix):
            viewable = host.is_viewable(window)
            try:
                colour: object = fill_colour(host.pixels(window)) if viewable else None
            except Exception as e:
                colour = e
            parts.append(f"{hex(window)} {name!r} viewable={viewable} fill={colour}")
    return "screen: " + ("; ".join(parts) or "no such window")


def wait_for_colour(host: TrayHost, status: Status, what: str) -> None:
    """Wait until the icon on screen has ``status``'s colour."""
    wait_until(
        lambda: shows_colour(host, TITLE, status),
        what,
        explain=lambda: f"{screen_report(host, TITLE)}; want {STATUS_COLOURS[status]}",
    )


def shows_colour(host: TrayHost, prefix: str, status: Status) -> bool:
    """Whether the docked icon window named ``prefix...`` is on screen in ``status``'s colour."""
    windows = [w for w, name in host.window_names().items() if name.startswith(prefix)]
    if not windows or not host.is_viewable(windows[0]):
        return False  # X refuses to read an unmapped window (BadMatch)
    try:
        shown = host.pixels(windows[0])
    except Exception:  # unmapped since: pystray's xorg icon asks to be docked on every change
        return False
    return close_to(fill_colour(shown), STATUS_COLOURS[status])


# --- a tray on the desktop -----------------------------------------------------------------------


def test_the_icon_docks_in_the_tray_in_the_status_colour_and_follows_the_status(
    desktop: TrayHost,
) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)

    def steps(tray: Tray) -> None:
        docked_icon(desktop, f"{TITLE}: getting through")
        wait_for_colour(desktop, Status.UP, "a green icon on screen")
        assert close_to(fill_colour(tray.icon.icon), STATUS_COLOURS[Status.UP])

        controls.set(status=Status.DOWN, since=today_at(14, 40), reason="Mail was refused")
        wait_for_colour(desktop, Status.DOWN, "a red icon on screen")
        assert close_to(fill_colour(tray.icon.icon), STATUS_COLOURS[Status.DOWN])

        controls.set(status=Status.DEGRADED)
        wait_for_colour(desktop, Status.DEGRADED, "an amber icon")

    assert drive(tray, steps) is True


def test_the_tooltip_says_the_status_since_when_and_the_last_check(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)
    expected = f"{TITLE}: getting through since 14:05 · last check 14:35"
    later = f"{TITLE}: not getting through since 14:40 · last check 14:45 · Mail was refused"

    def steps(tray: Tray) -> None:
        assert tray.icon.title == expected
        icon_window(desktop, expected)  # what the desktop shows on hover
        controls.set(
            status=Status.DOWN,
            since=today_at(14, 40),
            last_check_at=today_at(14, 45),
            reason="Mail was refused",
        )
        window = icon_window(desktop, later)
        assert desktop.window_names()[window] == later
        assert tray.icon.title == later

    drive(tray, steps)


def test_the_menu_items_call_the_matching_controls(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)

    def steps(tray: Tray) -> None:
        texts = [entry.text for entry in tray.icon.menu if entry.text != "- - - -"]
        assert texts == [
            "Open Delivery Watchdog",
            "Check now",
            "Show guidance",
            "Open history report",
            "Pause for 1 hour",
            "Open settings",
            "Quit",
        ]
        # xorg shows no menu: a click opens the window with the same actions instead.
        assert [entry.text for entry in tray.icon.menu if entry.default] == [
            "Open Delivery Watchdog"
        ]
        for text in ("Check now", "Show guidance", "Open history report", "Open settings"):
            click_item(tray, text)

    drive(tray, steps)
    assert controls.names() == [
        "check_now",
        "show_guidance",
        "open_history_report",
        "open_settings",
    ]


def test_pause_for_an_hour_turns_the_icon_grey_and_the_item_into_resume(
    desktop: TrayHost,
) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)

    def steps(tray: Tray) -> None:
        click_item(tray, "Pause for 1 hour")
        assert ("pause", (PAUSE_SECONDS,)) in controls.calls
        assert item(tray, "Resume")  # at once: the menu pystray rebuilds already says Resume
        window = icon_window(desktop, f"{TITLE}: checks paused until ")
        wait_for_colour(desktop, Status.PAUSED, "a grey icon on screen")
        assert desktop.window_names()[window].endswith("· last check 14:35")

        click_item(tray, "Resume")
        assert item(tray, "Pause for 1 hour")
        icon_window(desktop, f"{TITLE}: getting through since 14:05")
        wait_for_colour(desktop, Status.UP, "green again")

    drive(tray, steps)
    assert controls.names() == ["pause", "resume"]


def test_a_pause_set_elsewhere_reaches_the_menu_after_a_poll(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)

    def steps(tray: Tray) -> None:
        controls.set(paused_until=time.time() + 600)  # e.g. `watchdog pause` from a terminal
        wait_until(
            lambda: [e.text for e in tray.icon.menu if e.text == "Resume"] == ["Resume"],
            "the menu to offer Resume",
        )
        click_item(tray, "Resume")

    drive(tray, steps)
    assert controls.names() == ["resume"]


def test_a_failing_control_is_logged_and_never_reaches_pystray(
    desktop: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    controls = FakeControls(up_state(), failing=frozenset({"check_now", "quit"}))
    tray = make_tray(controls)
    caplog.set_level(logging.ERROR, logger="watchdog.desktop.tray")

    def steps(tray: Tray) -> None:
        click_item(tray, "Check now")  # raises inside; must not raise here
        click_item(tray, "Quit")  # quit() raises; the icon must stop all the same

    assert drive(tray, steps, steps_stop_it=True) is True
    assert controls.names() == ["check_now", "quit"]
    messages = [record.getMessage() for record in caplog.records]
    assert "The tray's Check now action failed" in messages
    assert "The tray's Quit action failed" in messages


def test_a_failing_state_keeps_the_last_icon_and_is_logged_once(
    desktop: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)
    caplog.set_level(logging.ERROR, logger="watchdog.desktop.tray")

    def steps(tray: Tray) -> None:
        controls.failing = frozenset({"state"})
        calls_then = len(controls.calls)
        wait_until(lambda: len(controls.calls) > calls_then + 3, "several polls")
        assert tray.icon.title.startswith(f"{TITLE}: getting through since 14:05")
        controls.failing = frozenset()
        controls.set(status=Status.DOWN)
        wait_until(lambda: tray.icon.title.startswith(f"{TITLE}: not getting"), "recovery")

    drive(tray, steps)
    failures = [r for r in caplog.records if r.getMessage() == "The tray could not read the status"]
    assert len(failures) == 1


def test_quit_tells_the_controls_then_ends_run_which_returns_true(desktop: TrayHost) -> None:
    controls = FakeControls(up_state())
    tray = make_tray(controls)

    def steps(tray: Tray) -> None:
        icon_window(desktop, TITLE)
        click_item(tray, "Quit")

    started = time.monotonic()
    assert drive(tray, steps, steps_stop_it=True) is True
    assert time.monotonic() - started < WAIT_S
    assert controls.names() == ["quit"]
    assert not [name for name in desktop.window_names().values() if name.startswith(TITLE)]


def test_run_tray_blocks_until_quit_and_returns_true(
    desktop: TrayHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    controls = FakeControls(up_state())
    running: list[Tray] = []
    original_run = Tray.run

    def recording_run(self: Tray) -> bool:
        running.append(self)
        return original_run(self)

    monkeypatch.setattr(Tray, "run", recording_run)

    def steps(tray: Tray) -> None:
        click_item(tray, "Show guidance")
        click_item(tray, "Quit")

    def run() -> bool:
        return run_tray(controls, poll_s=POLL_S, tray_wait_s=1.0)

    get_tray = lambda: running[0] if running else None  # noqa: E731
    assert drive_run(run, get_tray, steps, steps_stop_it=True) is True
    assert controls.names() == ["show_guidance", "quit"]


def test_a_signal_handler_can_stop_the_tray(desktop: TrayHost) -> None:
    """What ``watchdog tray`` needs on Ctrl-C and SIGTERM: the handler runs on the icon's thread."""
    controls = FakeControls(up_state())
    tray = make_tray(controls)
    previous = signal.signal(signal.SIGUSR1, lambda _signum, _frame: tray.stop())
    try:

        def steps(tray: Tray) -> None:
            os.kill(os.getpid(), signal.SIGUSR1)

        assert drive(tray, steps, steps_stop_it=True) is True
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert controls.names() == []


def test_a_stop_before_the_icon_runs_is_not_lost(desktop: TrayHost) -> None:
    tray = make_tray(FakeControls(up_state()))
    tray.stop()
    started = time.monotonic()
    assert tray.run() is True
    assert time.monotonic() - started < 1.0


def test_tray_backend_problem_is_none_when_a_tray_is_running(desktop: TrayHost) -> None:
    assert tray_backend_problem() is None


# --- no tray -------------------------------------------------------------------------------------


def test_without_a_display_run_tray_returns_false_at_once_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    caplog.set_level(logging.WARNING, logger="watchdog.desktop.tray")
    controls = FakeControls(up_state())

    started = time.monotonic()
    assert run_tray(controls) is False
    assert time.monotonic() - started < 1.0

    assert caplog.messages == [
        "No system tray is available on this desktop (no graphical session: neither DISPLAY nor"
        " WAYLAND_DISPLAY is set); the watchdog keeps checking in the background."
    ]
    assert tray_backend_problem() == (
        "no graphical session: neither DISPLAY nor WAYLAND_DISPLAY is set"
    )
    assert controls.names() == []


_FRESH_IMPORT = """
import json, logging, time
from watchdog.desktop.tray import run_tray, tray_backend_problem
from watchdog.core.models import Status
from watchdog.core.controls import TrayState

class Controls:
    def state(self):
        return TrayState(Status.UP, None, None)

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())

logging.getLogger().addHandler(Keep(logging.WARNING))
started = time.monotonic()
result = run_tray(Controls())
print(json.dumps({"result": result, "seconds": time.monotonic() - started,
                  "log": records, "problem": tray_backend_problem()}))
"""


def test_when_pystray_cannot_reach_the_display_run_tray_returns_false(tmp_path: Path) -> None:
    """A fresh interpreter: ``import pystray`` itself raises (Xlib), not an ImportError."""
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env.update({"DISPLAY": ":2999", "PYSTRAY_BACKEND": "xorg", "PYTHONPATH": str(ROOT)})
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_IMPORT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["result"] is False
    assert answer["seconds"] < 5.0
    [line] = [m for m in answer["log"] if m.startswith("No system tray is available")]
    assert "(the tray library pystray could not start: " in line
    assert line.endswith("; the watchdog keeps checking in the background.")
    assert answer["problem"].startswith("the tray library pystray could not start: ")


@pytest.fixture
def bare_x(monkeypatch: pytest.MonkeyPatch) -> Iterator[TrayHost]:
    """An X display with no system tray yet (what pystray's xorg backend hangs on)."""
    require_tools()
    with TrayHost(with_tray=False) as bare:
        on_display(monkeypatch, bare)
        yield bare


def test_on_a_display_without_a_tray_run_tray_returns_false_instead_of_hanging(
    bare_x: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="watchdog.desktop.tray")
    started = time.monotonic()
    assert run_tray(FakeControls(up_state()), tray_wait_s=0.3, retry_for_s=0.5) is False
    assert time.monotonic() - started < 3.0
    [line] = caplog.messages
    assert line.startswith(
        "No system tray is available on this desktop (no system tray is running on the X display"
    )
    assert tray_backend_problem() == (
        "no system tray is running on the X display (no owner of _NET_SYSTEM_TRAY_S0)"
    )


def test_a_tray_that_starts_after_the_watchdog_is_waited_for(bare_x: TrayHost) -> None:
    """At login the panel often starts after the programs started with the session."""
    controls = FakeControls(up_state())
    late = threading.Timer(0.3, bare_x.start_tray)
    late.start()
    try:
        tray = create_tray(controls, poll_s=POLL_S, tray_wait_s=WAIT_S)
    finally:
        late.join()
    assert tray is not None

    def steps(tray: Tray) -> None:
        window = icon_window(bare_x, f"{TITLE}: getting through")
        wait_until(lambda: bare_x.is_viewable(window), "the icon docked in the late tray")

    assert drive(tray, steps) is True


def test_after_the_panel_restarts_the_icon_is_back_in_the_new_tray(
    bare_x: TrayHost, caplog: pytest.LogCaptureFixture
) -> None:
    """pystray's xorg backend never docks again by itself; the tray asks the new panel."""
    bare_x.start_tray()
    caplog.set_level(logging.INFO, logger="watchdog.desktop.tray")
    tray = create_tray(FakeControls(up_state()), poll_s=POLL_S, tray_wait_s=1.0)
    assert tray is not None

    def steps(tray: Tray) -> None:
        window = icon_window(bare_x, f"{TITLE}: getting through")
        wait_until(lambda: bare_x.is_viewable(window), "the icon in the first tray")
        bare_x.stop_tray()
        wait_until(lambda: not bare_x.is_viewable(window), "the icon gone with the tray")
        bare_x.start_tray()
        wait_until(lambda: bare_x.is_viewable(window), "the icon in the restarted tray")
        wait_for_colour(bare_x, Status.UP, "the green icon in the restarted tray")

    assert drive(tray, steps) is True
    assert (
        "The tray icon is not in the system tray; asking the tray to take it again"
        in caplog.messages
    )

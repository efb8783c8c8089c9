"""The tray icon: the status at a glance, and the few things the front desk can do about it.

A thin shell over :class:`watchdog.core.controls.Controls`: it never checks anything itself,
it shows what ``controls.state()`` says and calls one Controls method per menu item.

Entry points:

- :func:`run_tray` shows the icon and blocks the calling (main) thread until Quit; it returns
  False at once when this desktop has no graphical session (or pystray cannot start), and
  after :data:`TRAY_RETRY_S` when no tray ever came, so the caller can keep checking headless.
- :func:`create_tray` + :meth:`Tray.run` do the same in two steps, for a caller that needs
  :meth:`Tray.stop` (a signal handler, or the loop ending on its own). ``create_tray`` returns
  within :data:`TRAY_WAIT_S`; a tray that is not there yet (at login the panel often starts
  after the programs of the session) and an icon that could not be created are retried by
  ``run()`` with growing pauses, bounded, each step in the log.
- :func:`tray_title` makes every title the icon gets, for the backend it goes to
  (:data:`TITLE_RULES`): the front desk's words, the office's account, within the backend's
  length and characters.
- :func:`tray_capabilities` (what this desktop can show, in words for ``watchdog doctor``) and
  :func:`tray_backend_problem` (why no tray is possible).

Trays without menus (pystray's ``HAS_MENU`` False: the xorg backend) get the menu's actions
another way: the icon's default action (a left click) opens
:class:`watchdog.desktop.actions_window.ActionsWindow`, a small Tk window on a thread of its
own with the status line and the same actions. Elsewhere the default action is Show guidance.

Threads (pystray's rules, see ``/work/shared/TESTING.md``): ``Icon.run()`` owns the main thread
(macOS requires it). A daemon thread polls ``controls.state()`` every ``poll_s`` seconds and
changes the picture, the tooltip and the menu only when they changed. Where that change runs
depends on the backend (:meth:`Tray._on_ui_thread`):

- Windows and GTK/AppIndicator: from the polling thread, which pystray supports there.
- macOS: AppKit objects may be touched on the main thread only; every change (and the stop)
  is handed to the main run loop with PyObjC's ``AppHelper.callAfter``.
- X11 (pystray's xorg backend): on pystray's loop thread too, see below.

pystray 0.19's xorg backend (Linux without PyGObject) needed the most care; all of this was
seen with Xvfb + trayer in ``tests/integration/test_tray.py``:

- ``import pystray`` raises (Xlib's ``DisplayNameError``, not ImportError) without a display,
  so it is imported lazily and any exception means "no tray".
- With no system tray running, ``run()`` blocks forever behind an invisible icon. We look for
  the tray's selection owner first, waiting :data:`TRAY_WAIT_S` for a panel that starts late,
  then again with growing pauses for up to :data:`TRAY_RETRY_S`.
- It sets the title as the window's ``WM_NAME`` in Latin-1: any other character raised inside
  ``Icon()`` or a title change, and the icon was never created, or kept an old title beside a
  new colour. :func:`tray_title` keeps xorg titles Latin-1; the Unicode title goes to
  ``_NET_WM_NAME``.
- It shares one X connection between threads in python-xlib's threaded mode, which loses
  wake-ups: a request stays unsent, or a thread waits for a lock no thread will release. Seen:
  ``stop()`` not ending ``run()`` (one run in ten), ``visible = True`` and the loop itself
  blocking forever, new pictures never reaching the screen. So pystray's connection is used
  by its loop thread only: every change is queued and run there, and the loop is woken by an
  X message sent over a connection of our own (:class:`_XorgCalls`).
- It asks to be docked on every new picture, and trayer re-embedded the icon each time (once
  leaving it one pixel wide); it never asks again when a panel restarts, and trayer ignored
  the first request one time in ten. We let it ask only while the icon is in no tray, and the
  poller looks every 0.5 s whether the icon's window is still a child of the root window and
  then asks the tray again.
- It never asks X for button presses, so a real left click never reached the default action
  (pystray issue #151); we add ``ButtonPressMask`` to its window.
- It closes its X connection only in ``Icon.__del__``, which raises once the X server is gone;
  :meth:`Tray.run` closes it when the loop is over.

Everywhere: ``Icon.stop()`` before the loop is ready is silently ignored, so :meth:`Tray.stop`
sends exactly one stop, as soon as the loop is ready.

Windows (pystray's win32 backend), see ``/work/shared/WINDOWS.md``:

- While the icon runs, desktop alerts are shown by this icon (``icon.notify``): the tray
  registers :meth:`Tray._notify` with :func:`watchdog.notify.desktop.register_tray_notifier`
  once its loop is ready and unregisters it when the loop ends. plyer would add a second icon
  per alert and name the program that runs us.
- pystray answers 0 to ``WM_QUERYENDSESSION``, so a sign-out or shutdown simply killed the
  process. The tray answers TRUE, and on ``WM_ENDSESSION`` (the session really ends) it asks
  the loop to stop (``controls.quit()``), waits up to :data:`SESSION_END_WAIT_S` for it, and
  stops the icon (:meth:`Tray._on_end_session`).
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import logging
import os
import queue
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from watchdog.core.controls import Controls, TrayState
from watchdog.core.models import Diagnosis, Status
from watchdog.core.textfit import ELLIPSIS, clip_text
from watchdog.desktop.actions_window import Action, ActionsWindow, tk_problem
from watchdog.desktop.tray_icon import draw_icon
from watchdog.notify.desktop import register_tray_notifier, unregister_tray_notifier

__all__ = [
    "DEFAULT_SUBJECT",
    "DEFAULT_TITLE",
    "PAUSE_SECONDS",
    "SESSION_END_WAIT_S",
    "TITLE_RULES",
    "TOOLTIP_MAX_CHARS",
    "TRAY_POLL_S",
    "TRAY_RETRY_S",
    "TitleRule",
    "Tray",
    "TrayCapabilities",
    "create_tray",
    "run_tray",
    "shown_status",
    "tray_backend_problem",
    "tray_capabilities",
    "tray_title",
]

log = logging.getLogger(__name__)

#: The program's name: the actions window's title.
DEFAULT_TITLE = "Delivery Watchdog"

#: What the icon's title starts with when the state names no account.
DEFAULT_SUBJECT = "Reminder e-mails"

#: "Pause for 1 hour".
PAUSE_SECONDS = 3600.0

#: Windows keeps at most 127 UTF-16 code units of a tray tooltip (``szTip[128]``); pystray's
#: ctypes structure raises on a longer one.
TOOLTIP_MAX_CHARS = 127

#: How often the tray asks ``controls.state()`` for the icon, title and menu (seconds).
TRAY_POLL_S = 5.0

#: How long :func:`create_tray` waits for a system tray to appear on X. At login, programs
#: started automatically often run before the panel that holds the tray.
TRAY_WAIT_S = 5.0

#: How long :meth:`Tray.run` keeps looking for a system tray (and retrying to create the icon)
#: before it gives up and the watchdog runs on without an icon. A login's panel can take
#: minutes on a slow PC; looking costs two X requests.
TRAY_RETRY_S = 900.0

#: The pauses between those looks: doubling from the first to the last, then the last.
_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 30.0

#: Windows: how long the ``WM_ENDSESSION`` handler waits for the loop to finish its check.
#: Windows lists a program that takes more than 5 s as "preventing sign-out".
SESSION_END_WAIT_S = 4.0

#: Windows messages (winuser.h): asked whether the session may end; told it ends (or not).
WM_QUERYENDSESSION = 0x0011
WM_ENDSESSION = 0x0016

#: How long run() waits, after the loop, for the polling thread to finish.
_WIND_DOWN_S = 2.0

#: How long the icon may stay outside the tray after a dock request before we ask again (xorg).
_DOCK_GRACE_S = 1.0

#: How often the poller looks whether the icon is still in the tray (xorg).
_XORG_TICK_S = 0.5

_NO_TRAY = (
    "No system tray is available on this desktop (%s); "
    "the watchdog keeps checking in the background."
)


# --- what the icon shows -------------------------------------------------------------------------


def shown_status(state: TrayState) -> Status:
    """The status the icon shows: PAUSED while a pause is set, else ``state.status``."""
    return Status.PAUSED if state.paused_until is not None else state.status


@dataclass(frozen=True)
class TitleRule:
    """What one tray backend can carry as the icon's title (its tooltip).

    ``max_units``: UTF-16 code units kept (what Windows counts). ``encoding``: the only
    characters the backend can send, or None for any Unicode text.
    """

    max_units: int
    encoding: str | None = None


#: Per pystray backend (see :func:`_backend_name`). Why each:
#:
#: - ``win32``: Windows keeps at most 127 UTF-16 code units (``szTip[128]``); pystray's ctypes
#:   structure raises on a longer one.
#: - ``xorg``: pystray sets the title as the window's ``WM_NAME``, a ``STRING`` property, and
#:   python-xlib encodes it as Latin-1: one en dash, curly quote or ellipsis raised
#:   UnicodeEncodeError, and the icon was never created. The full Unicode title goes to
#:   ``_NET_WM_NAME`` beside it.
#: - everywhere else: no hard limit, but a tooltip longer than two lines is not read; the same
#:   127 keeps every desktop's title alike.
TITLE_RULES: dict[str, TitleRule] = {
    "win32": TitleRule(TOOLTIP_MAX_CHARS),
    "xorg": TitleRule(TOOLTIP_MAX_CHARS, "latin-1"),
}
_ANY_BACKEND = TitleRule(TOOLTIP_MAX_CHARS)

#: How much of the reason the actions window shows (about six lines).
_WINDOW_REASON_MAX = 320
_WINDOW_REASON = TitleRule(_WINDOW_REASON_MAX)
#: Notes (last batch, today's sending) in the menu: how many, and how long each line may be.
_MENU_NOTES = 2
_MENU_NOTE = TitleRule(120)

#: Typographic characters and their plain look-alikes, for backends that cannot carry them.
_PLAIN = str.maketrans(
    {
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2015": "-",  # horizontal bar
        "\u2212": "-",  # minus sign
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2026": "...",
        "\u2022": "\u00b7",  # bullet -> middle dot (Latin-1)
        "\u2192": "->",
        "\u2190": "<-",
        "\u20ac": "EUR",
        "\u2009": " ",  # thin space
        "\u202f": " ",  # narrow no-break space (French and some locales' times)
    }
)


def tray_title(
    state: TrayState,
    backend: str = "",
    *,
    fallback_subject: str = DEFAULT_SUBJECT,
    now: float | None = None,
) -> str:
    """The icon's title for ``backend``, in the front desk's words, always safe to set there.

    ``"Reminders from frontdesk@example.com: not getting through since 10:02 · last check
    10:15 · <reason>"``. It names the office's account (``state.account``; without one,
    ``fallback_subject``), says in plain words what happens to the reminders and since when,
    then the last check, then (on a problem) the reason on one line, cut to what the backend
    keeps (:data:`TITLE_RULES`) with an ellipsis, with characters the backend cannot carry
    replaced by plain look-alikes. The one place every title of the icon is made.
    """
    now = time.time() if now is None else now
    rule = TITLE_RULES.get(backend, _ANY_BACKEND)
    subject = f"Reminders from {state.account}" if state.account else fallback_subject
    status = shown_status(state)
    text = f"{subject}: {_what_happens(state, status, now)}"
    if state.last_check_at is not None:
        text += f" · last check {_clock(state.last_check_at, now)}"
    reason = " ".join(state.reason.split())  # one line: X window names and Windows tips
    if reason and status not in (Status.UP, Status.PAUSED):
        text = f"{text} · {reason}"
    return _fit(_encodable(text, rule.encoding), rule)


def _what_happens(state: TrayState, status: Status, now: float) -> str:
    """ "not getting through since 10:02": the status in the front desk's words."""
    if status is Status.PAUSED and state.paused_until is not None:
        return f"checks paused until {_clock(state.paused_until, now)}"
    if status is Status.UNKNOWN and state.since is None and state.last_check_at is None:
        return "not checked yet"
    words = {
        Status.UP: "getting through",
        Status.DOWN: "not getting through",
        Status.DEGRADED: (
            "landing in junk" if state.diagnosis is Diagnosis.JUNK_PLACEMENT else "arriving late"
        ),
        Status.UNKNOWN: "cannot be checked",
        Status.PAUSED: "checks paused",
    }[status]
    if state.since is not None:
        return f"{words} since {_clock(state.since, now)}"
    return words


def _clock(at: float, now: float) -> str:
    """``14:05`` today, ``Mon 14:05`` within six days, else ``12 Mar 14:05`` (local time)."""
    when = time.localtime(at)
    days = abs(_day_number(at) - _day_number(now))
    if days == 0:
        return time.strftime("%H:%M", when)
    if days <= 6:
        return time.strftime("%a %H:%M", when)
    return time.strftime("%d %b %H:%M", when).lstrip("0")


def _day_number(at: float) -> int:
    """Local calendar day as a number, so "another day" follows midnight and not 24 hours."""
    return datetime.date.fromtimestamp(at).toordinal()


def _encodable(text: str, encoding: str | None) -> str:
    """``text`` without control or format characters, and (with ``encoding``) within it.

    Controls go everywhere (a NUL ends a Windows tip early). Characters ``encoding`` lacks
    become their plain look-alike (:data:`_PLAIN`), else their base letter ("ő" -> "o"),
    else "?".
    """
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))
    if encoding is None:
        return kept
    out: list[str] = []
    for char in kept.translate(_PLAIN):
        if _can_encode(char, encoding):
            out.append(char)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(base if base and _can_encode(base, encoding) else "?")
    return "".join(out)


def _can_encode(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _fit(text: str, rule: TitleRule) -> str:
    """``text`` cut to ``rule.max_units`` UTF-16 code units, ending in an ellipsis it can carry."""
    ellipsis = ELLIPSIS if rule.encoding is None or _can_encode(ELLIPSIS, rule.encoding) else "..."
    return clip_text(text, rule.max_units, ellipsis=ellipsis)


@dataclass(frozen=True)
class _View:
    """What the icon shows (was last asked to show); a change touches only the parts that differ."""

    status: Status
    tooltip: str  # what the backend gets (:func:`tray_title` for it)
    paused: bool
    full_title: str = ""  # the same in full Unicode (xorg's ``_NET_WM_NAME``)


# --- finding a tray ------------------------------------------------------------------------------


def tray_backend_problem() -> str | None:
    """Why no tray icon is possible here, in words for ``watchdog doctor``; None when it is.

    Checks, in order: a graphical session on Linux/BSD (``DISPLAY`` or ``WAYLAND_DISPLAY``), that
    pystray imports (it picks and starts a backend at import time), and on the X11 fallback
    backend that a system tray is running right now (no waiting).
    """
    problem = _session_problem()
    if problem is not None:
        return problem
    try:
        pystray = _import_pystray()
    except Exception as e:
        return _import_problem(e)
    if _backend_name(pystray) == "xorg":
        return _xorg_tray_problem(wait_s=0.0)
    return None


def _session_problem() -> str | None:
    if sys.platform in ("win32", "darwin"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "no graphical session: neither DISPLAY nor WAYLAND_DISPLAY is set"


def _import_pystray() -> ModuleType:
    """pystray, imported only now: its import connects to the display and raises without one."""
    return importlib.import_module("pystray")


def _import_problem(error: BaseException) -> str:
    return f"the tray library pystray could not start: {type(error).__name__}: {error}"


def _backend_name(pystray: ModuleType) -> str:
    """``xorg``, ``gtk``, ``appindicator``, ``win32``, ``darwin`` or ``dummy``."""
    module: str = getattr(pystray.Icon, "__module__", "")
    return module.rsplit(".", 1)[-1].lstrip("_")


def _xorg_tray_problem(*, wait_s: float) -> str | None:
    """None once an X system tray (the ``_NET_SYSTEM_TRAY_S<n>`` selection owner) exists.

    Waits up to ``wait_s`` for one to appear. Without one, pystray's xorg backend would run
    behind an invisible icon forever, and the caller would never learn to go on headless.
    """
    try:
        xlib_x = importlib.import_module("Xlib.X")
        xlib_display = importlib.import_module("Xlib.display")
        display: Any = xlib_display.Display()
    except Exception as e:
        return f"the X display could not be opened: {type(e).__name__}: {e}"
    try:
        name = f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}"
        selection = display.intern_atom(name)
        deadline = time.monotonic() + wait_s
        while True:
            if display.get_selection_owner(selection) != xlib_x.NONE:
                return None
            if time.monotonic() >= deadline:
                waited = f" within {wait_s:g} s" if wait_s > 0 else ""
                return f"no system tray is running on the X display (no owner of {name}{waited})"
            time.sleep(0.1)
    except Exception as e:
        return f"the X display could not be queried: {type(e).__name__}: {e}"
    finally:
        display.close()


@dataclass(frozen=True)
class TrayCapabilities:
    """What this desktop can show of the tray, in words ``watchdog doctor`` can print as they are.

    ``how_actions_are_offered`` is one sentence for the reader of ``doctor`` (support): where
    Show guidance, Check now, Pause and Quit are on this desktop, or that they are nowhere.
    ``problem``: why no icon can be shown (None when one can).
    """

    can_show_icon: bool
    has_menu: bool
    how_actions_are_offered: str
    problem: str | None = None


def tray_capabilities() -> TrayCapabilities:
    """The truth about this desktop's tray, for ``watchdog doctor``.

    pystray's X11 backend (xorg: Linux without PyGObject) has no menu; there a click on the
    icon opens the actions window (Tk) instead, so the same actions exist, if Tk can start.
    """
    problem = _session_problem()
    pystray: ModuleType | None = None
    if problem is None:
        try:
            pystray = _import_pystray()
        except Exception as e:
            problem = _import_problem(e)
    if pystray is not None and _backend_name(pystray) == "xorg":
        problem = _xorg_tray_problem(wait_s=0.0)
    has_menu = pystray is not None and bool(getattr(pystray.Icon, "HAS_MENU", True))
    if problem is not None:
        how = (
            "Without a tray icon, Show guidance, Check now, Pause and Quit are not "
            "offered on this desktop; alerts still arrive as notifications."
        )
        return TrayCapabilities(False, has_menu, how, problem)
    if has_menu:
        how = (
            "The tray icon's menu (click or right-click the icon): Show guidance, Check now, "
            "Pause for 1 hour, Open history report, Open settings, Quit."
        )
        return TrayCapabilities(True, True, how)
    missing_tk = tk_problem()
    if missing_tk is None:
        how = (
            "This desktop's tray has no menus: a click on the tray icon opens a small "
            "Delivery Watchdog window with Show guidance, Check now, Pause for 1 hour, "
            "Open history report, Open settings and Quit."
        )
        return TrayCapabilities(True, False, how)
    how = (
        "This desktop's tray has no menus and the window that replaces them cannot open "
        f"({missing_tk}): a click on the icon only opens the guidance. Install Tk for Python "
        "(on Debian and Ubuntu: the package python3-tk) to get Check now, Pause and Quit."
    )
    return TrayCapabilities(True, False, how)


# --- the tray ------------------------------------------------------------------------------------


def run_tray(
    controls: Controls,
    *,
    title: str = DEFAULT_SUBJECT,
    poll_s: float = TRAY_POLL_S,
    tray_wait_s: float = TRAY_WAIT_S,
    retry_for_s: float = TRAY_RETRY_S,
) -> bool:
    """Show the tray icon and block until Quit; False if this desktop has no tray.

    Call it on the main thread (macOS requires it). True means the user chose Quit (after
    ``controls.quit()``) or :meth:`Tray.stop` was called; False means no tray could be shown
    (at once without a graphical session; after ``retry_for_s`` when the tray never came), or
    it ended on its own, and the caller should keep the watchdog running headless. The
    reason is logged: "No system tray is available on this desktop (...); the watchdog keeps
    checking in the background."
    """
    tray = create_tray(
        controls, title=title, poll_s=poll_s, tray_wait_s=tray_wait_s, retry_for_s=retry_for_s
    )
    return tray.run() if tray is not None else False


def create_tray(
    controls: Controls,
    *,
    title: str = DEFAULT_SUBJECT,
    poll_s: float = TRAY_POLL_S,
    tray_wait_s: float = TRAY_WAIT_S,
    retry_for_s: float = TRAY_RETRY_S,
) -> Tray | None:
    """A not yet running :class:`Tray`; None (and the log line) when no tray is possible at all.

    None only for what waiting cannot change: no graphical session, or pystray cannot start.
    A system tray that is not there yet (xorg: waited for ``tray_wait_s`` here), or an icon
    that could not be created, is retried by :meth:`Tray.run` for up to ``retry_for_s``, so
    this returns within ``tray_wait_s`` and the caller can start checking meanwhile.
    ``title``: how the icon's title starts when the state names no account.
    """
    if poll_s <= 0:
        raise ValueError(f"poll_s must be positive, not {poll_s}")
    problem = _session_problem()
    if problem is None:
        try:
            pystray = _import_pystray()
        except Exception as e:
            problem = _import_problem(e)
        else:
            try:
                tray = Tray(controls, pystray, title=title, poll_s=poll_s, retry_for_s=retry_for_s)
            except Exception as e:  # the icon's own failures are retried inside; not these
                problem = f"the tray could not be set up: {type(e).__name__}: {e}"
            else:
                not_yet = tray.showable_problem(wait_s=tray_wait_s)
                if not_yet is not None:
                    log.info(
                        "The tray icon cannot be shown yet (%s); looking again for up to %s",
                        not_yet,
                        _minutes(retry_for_s),
                    )
                return tray
    log.warning(_NO_TRAY, problem)
    return None


def _minutes(seconds: float) -> str:
    """``15 minutes`` / ``1 minute`` / ``20 seconds``: a bound in the log, in words."""
    if seconds >= 60:
        minutes = round(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


class _ClosedDisplay:
    """What pystray's xorg icon holds after :meth:`Tray._release`: closing it does nothing."""

    def close(self) -> None:
        """Already closed."""


class _XorgCalls:
    """Runs calls on pystray's xorg loop thread, woken over an X connection of our own.

    Why: see the module doc. Our connection carries only a ``ClientMessage`` to the icon's
    window (``event_mask=0`` delivers it to pystray's connection, whichever tray holds the
    window) and the poller's two questions; a lock keeps it to one thread at a time. The
    icon's ClientMessage handler is wrapped: our message runs the queued calls, anything else
    (pystray's own messages, XEMBED from the tray) goes on to pystray.
    """

    def __init__(self, icon: Any) -> None:
        xlib_x = importlib.import_module("Xlib.X")
        xlib_display = importlib.import_module("Xlib.display")
        xlib_event = importlib.import_module("Xlib.protocol.event")
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._none = xlib_x.NONE
        self._connection: Any = xlib_display.Display()
        try:
            # The window is gone at the end: a late message earns a BadWindow; ignore it.
            self._connection.set_error_handler(lambda *_args: None)
            atom = self._connection.intern_atom("_DELIVERY_WATCHDOG_CALL")
            self._window = self._connection.create_resource_object("window", icon._window.id)
            self._wake = xlib_event.ClientMessage(
                window=self._window, client_type=atom, data=(32, (0, 0, 0, 0, 0))
            )
            screen = self._connection.get_default_screen()
            self._tray_selection = self._connection.intern_atom(f"_NET_SYSTEM_TRAY_S{screen}")
            pystray_handler = icon._message_handlers.get(xlib_x.ClientMessage)

            def on_client_message(event: Any) -> None:
                if event.client_type == atom:
                    self._run_queued()
                elif pystray_handler is not None:
                    pystray_handler(event)

            icon._message_handlers[xlib_x.ClientMessage] = on_client_message
        except BaseException:
            self._connection.close()
            raise

    def post(self, call: Callable[[], None]) -> None:
        """Queue ``call`` for the loop thread and wake the loop. Safe from any thread."""
        self._calls.put(call)
        with self._lock:
            if self._connection is None:
                return
            try:
                self._window.send_event(self._wake, event_mask=0)
                self._connection.flush()
            except Exception:
                log.debug("Could not wake the tray icon's loop", exc_info=True)

    def _run_queued(self) -> None:
        """On the loop thread: run everything queued so far, in order."""
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                call()
            except Exception:
                log.exception("A change to the tray icon failed")

    def outside_tray(self) -> tuple[bool, bool]:
        """(the icon's window is a child of the root window, a system tray is running).

        (False, True) when it cannot be told, so nothing is retried on a guess.
        """
        with self._lock:
            try:
                if self._connection is None:
                    return False, True
                tree = self._window.query_tree()
                owner = self._connection.get_selection_owner(self._tray_selection)
                return bool(tree.parent.id == tree.root.id), bool(owner != self._none)
            except Exception:
                log.debug("Could not tell whether the tray icon is docked", exc_info=True)
                return False, True

    def close(self) -> None:
        """Close our connection; later posts only queue."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class Tray:
    """One pystray icon bound to ``controls``; build it with :func:`create_tray`.

    ``icon`` is the ``pystray.Icon`` (None until it could be created); its ``menu`` holds the
    items in order: Check now, Show guidance, Open history report, Pause for 1 hour / Resume,
    Open settings, Quit. The default item (a click on the icon where pystray has one) is Show
    guidance where the tray shows menus; where it shows none (``has_menu`` False: pystray's
    X11 backend) it is "Open Delivery Watchdog", which opens the :class:`ActionsWindow` with
    the same actions.
    """

    def __init__(
        self,
        controls: Controls,
        pystray: ModuleType,
        *,
        title: str = DEFAULT_SUBJECT,
        poll_s: float = TRAY_POLL_S,
        retry_for_s: float = TRAY_RETRY_S,
    ) -> None:
        self.controls = controls
        self.title = title
        self.poll_s = poll_s
        self.retry_for_s = retry_for_s
        self.backend = _backend_name(pystray)
        self.has_menu = bool(getattr(pystray.Icon, "HAS_MENU", True))
        self._pystray = pystray

        self._state = self._read_state() or TrayState(Status.UNKNOWN, None, None)
        self._shown = self._view(self._state)  # what the poller last asked the icon to show

        # _stopping: no more icon changes. _stop_requested: run() reports a clean stop.
        self._stopping = threading.Event()
        self._stop_requested = False
        self._wake = threading.Event()
        # Guards the hand-off between stop() and the loop becoming ready (one stop, never lost).
        # Re-entrant: a signal handler calling stop() may interrupt stop() on the same thread.
        self._stop_lock = threading.RLock()
        self._loop_ready = False
        self._stop_sent = False
        self._loop_done = threading.Event()
        self._poller = threading.Thread(
            target=self._poll_loop, name="watchdog-tray-poll", daemon=True
        )
        self._state_failing = False
        self._xorg_calls: _XorgCalls | None = None
        self._dock_asked_at = 0.0
        self._dock_retries = 0

        #: Where the tray shows no menu: the window with the menu's actions (see the class doc).
        self.actions_window: ActionsWindow | None = None
        if not self.has_menu:
            self.actions_window = ActionsWindow(
                title=DEFAULT_TITLE,
                headline=lambda: self._headline(),
                reason=lambda: self._reason(),
                status=lambda: shown_status(self._state),
                actions=self._window_actions,
            )

        self.icon: Any = None
        self._icon_problem: str | None = None
        self._make_icon()

    def _menu(self) -> Any:
        pystray = self._pystray
        menu_item = pystray.MenuItem
        controls = self.controls
        guidance_is_default = self.actions_window is None
        items = [
            menu_item("Check now", self._action("Check now", controls.check_now)),
            menu_item(
                "Show guidance",
                self._action("Show guidance", controls.show_guidance),
                default=guidance_is_default,
            ),
            menu_item(
                "Open history report",
                self._action("Open history report", controls.open_history_report),
            ),
            menu_item(self._pause_text, self._action("Pause", self._toggle_pause)),
            menu_item("Open settings", self._action("Open settings", controls.open_settings)),
            pystray.Menu.SEPARATOR,
            menu_item("Quit", self._action("Quit", self._quit)),
        ]
        # The last batch and today's sending: lines the menu shows above Quit, not to choose.
        items[-2:-2] = [
            menu_item(self._note_text(i), None, enabled=False, visible=self._has_note(i))
            for i in range(_MENU_NOTES)
        ]
        if not guidance_is_default:
            items.insert(
                0,
                menu_item(
                    f"Open {DEFAULT_TITLE}",
                    self._action("Open the actions window", self._open_actions_window),
                    default=True,
                ),
            )
        return pystray.Menu(*items)

    def _make_icon(self) -> bool:
        """Create the pystray icon (and the xorg adaptations) if not yet done; False on failure.

        Why it can fail and be retried: the X server or the tray not answering at login. The
        title it is created with is always one the backend can carry (:func:`tray_title`).
        """
        if self.icon is not None:
            return True
        view = self._view(self._state)
        try:
            icon = self._pystray.Icon(
                "delivery-watchdog",
                icon=draw_icon(view.status),
                title=view.tooltip,
                menu=self._menu(),
            )
        except Exception as e:
            self._icon_problem = f"the tray icon could not be created: {type(e).__name__}: {e}"
            return False
        self.icon = icon
        self._shown = view
        self._icon_problem = None
        if self.backend == "xorg":
            self._adapt_xorg()
            self._set_xorg_unicode_name(view.full_title)
        if self.backend == "win32":
            self._handle_session_end()
        return True

    def showable_problem(self, *, wait_s: float = 0.0) -> str | None:
        """Why the icon cannot be shown right now (None when it can); creates it if needed.

        xorg waits up to ``wait_s`` for a system tray (no other backend can tell).
        """
        if not self._make_icon():
            return self._icon_problem
        if self.backend == "xorg":
            return _xorg_tray_problem(wait_s=wait_s)
        return None

    # --- life cycle ------------------------------------------------------------------------------

    def run(self) -> bool:
        """Show the icon and block until stopped; call on the main thread. See :func:`run_tray`."""
        if not self._wait_until_showable():
            self._stopping.set()
            self._release()
            return self._stop_requested
        if self._stop_requested:
            self._release()
            return True
        failed = False
        try:
            self.icon.run(setup=self._setup)
        except Exception:
            log.exception("The tray icon stopped with an error")
            failed = True
        finally:
            unregister_tray_notifier(self._notify)
            self._loop_done.set()
            self._stopping.set()
            self._wake.set()
            if self._poller.is_alive():
                self._poller.join(timeout=_WIND_DOWN_S)
            if self.actions_window is not None:
                self.actions_window.shut()
            self._release()
        if failed:
            log.warning(_NO_TRAY, "the tray icon failed")
            return False
        if self._stop_requested:
            return True
        log.warning(_NO_TRAY, "the tray icon closed by itself")
        return False

    def _wait_until_showable(self) -> bool:
        """Look for a tray and retry the icon with growing pauses, for up to ``retry_for_s``.

        True once the icon can be shown; False when stopped meanwhile or given up (logged:
        once when it starts waiting, at each look in the debug log, and at the end).
        """
        problem = self.showable_problem()
        if problem is None:
            return True
        deadline = time.monotonic() + self.retry_for_s
        pause = _RETRY_FIRST_S
        looks = 1
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    _NO_TRAY, f"{problem}; looked {looks} times in {_minutes(self.retry_for_s)}"
                )
                return False
            if self._stopping.wait(min(pause, left)):
                return False
            pause = min(pause * 2, _RETRY_MAX_S)
            problem = self.showable_problem()
            looks += 1
            if problem is None:
                log.info("The system tray is there now; showing the tray icon")
                return True
            log.debug("Still no tray icon (%s); looking again in %g s", problem, pause)

    def stop(self) -> None:
        """End :meth:`run` cleanly (it returns True). Safe from any thread and a signal handler.

        Does not call ``controls.quit()``: that is the Quit item's job. Never waits for the
        icon's loop (it may be the very thread calling).
        """
        self._stop_requested = True
        self._stopping.set()
        self._wake.set()
        self._send_stop()

    def _setup(self, icon: Any) -> None:
        """pystray's setup callback, in its own thread once the loop is ready."""
        with self._stop_lock:
            self._loop_ready = True
        if self._stop_requested:
            self._send_stop()
            return
        self._dock_asked_at = time.monotonic()
        self._on_ui_thread(self._show)
        if self.backend == "win32":
            register_tray_notifier(self._notify)
        self._poller.start()

    def _notify(self, title: str, message: str) -> None:
        """Show a desktop alert through this icon (Windows; see the module doc); raise if not up.

        pystray's ``notify`` sets the icon's balloon (``NIF_INFO``: 63/255 characters, which
        the desktop channel already keeps). Called from the checking thread, which pystray
        allows on Windows.
        """
        if self._stopping.is_set() or not self._loop_ready:
            raise RuntimeError("the tray icon is not running")
        self.icon.notify(message, title)

    def _handle_session_end(self) -> None:
        """Windows: sign-out and shutdown stop the watchdog cleanly (see the module doc).

        Adds handlers to pystray's ``icon._message_handlers`` (its window procedure returns
        what a handler returns); skipped, with a debug line, if pystray no longer has them.
        """
        handlers = getattr(self.icon, "_message_handlers", None)
        if not isinstance(handlers, dict):
            log.debug("pystray's win32 icon has no _message_handlers; sign-out is not handled")
            return
        handlers[WM_QUERYENDSESSION] = self._on_query_end_session
        handlers[WM_ENDSESSION] = self._on_end_session

    def _on_query_end_session(self, wparam: int, lparam: int) -> int:
        """``WM_QUERYENDSESSION``: TRUE, the session may end (nothing of ours needs saving)."""
        return 1

    def _on_end_session(self, wparam: int, lparam: int) -> int:
        """``WM_ENDSESSION``: when the session ends (``wparam`` TRUE), stop everything now.

        Windows may end the process as soon as this returns, so the loop is asked to stop here
        and given up to :data:`SESSION_END_WAIT_S` to finish the check in progress (its canary
        stays pending either way); the loop's end stops this tray (``cmd_tray``), which is what
        the wait watches. Then the icon's loop is stopped.
        """
        if not wparam:
            return 0  # another program cancelled the sign-out: carry on
        log.warning("Windows is ending the session; stopping (pending canaries are kept)")
        self._guarded("Quit at sign-out", self.controls.quit)()
        self._stopping.wait(SESSION_END_WAIT_S)
        self.stop()
        return 0

    def _show(self) -> None:
        try:
            self.icon.visible = True
        except Exception:
            log.exception("The tray icon could not be shown")

    def _send_stop(self) -> None:
        """Ask pystray to stop, exactly once and only once its loop is ready."""
        with self._stop_lock:
            if not self._loop_ready or self._stop_sent:
                return  # _setup sends it when the loop becomes ready
            self._stop_sent = True
        try:
            self._on_ui_thread(self.icon.stop)
        except Exception:
            log.exception("The tray icon could not be stopped")

    def _release(self) -> None:
        """xorg: close our connection and pystray's, while the X server surely still runs.

        pystray closes its connection only in ``Icon.__del__``, whenever the garbage collector
        gets there; by then the server may be gone (logout, a test's Xvfb) and ``__del__``
        raises. A stand-in is left for ``__del__`` to close. Closed without python-xlib's final
        flush: the loop is over, nothing is left to send.
        """
        if self._xorg_calls is not None:
            self._xorg_calls.close()
        if self.backend != "xorg":
            return
        display = getattr(self.icon, "_display", None)
        if display is None or isinstance(display, _ClosedDisplay):
            return
        self.icon._display = _ClosedDisplay()
        with contextlib.suppress(Exception):
            display.display.close_internal("client")

    # --- menu ------------------------------------------------------------------------------------

    def _guarded(self, name: str, call: Callable[[], None]) -> Callable[[], None]:
        """``call``, logged instead of raised (into pystray or Tk), then the poller woken."""

        def act() -> None:
            try:
                call()
            except Exception:
                log.exception("The tray's %s action failed", name)
            self._wake.set()

        return act

    def _action(self, name: str, call: Callable[[], None]) -> Callable[[Any, Any], None]:
        """A pystray menu action calling ``call``; no exception ever escapes into pystray."""
        guarded = self._guarded(name, call)

        def act(icon: Any, item: Any) -> None:
            guarded()

        return act

    # --- the actions window (trays without menus) ------------------------------------------------

    def _open_actions_window(self) -> None:
        """The default action where the tray has no menu; the guidance if Tk cannot start."""
        window = self.actions_window
        if window is None or not window.open(on_failure=self._guarded_guidance):
            self._guarded_guidance()

    def _guarded_guidance(self) -> None:
        self._guarded("Show guidance", self.controls.show_guidance)()

    def _window_actions(self) -> list[Action]:
        """The menu's actions, for the window; labels follow the last state read."""
        controls = self.controls
        return [
            Action("Show guidance", self._guarded("Show guidance", controls.show_guidance)),
            Action("Check now", self._guarded("Check now", controls.check_now)),
            Action(self._pause_text(None), self._guarded("Pause", self._toggle_pause)),
            Action(
                "Open history report",
                self._guarded("Open history report", controls.open_history_report),
            ),
            Action("Open settings", self._guarded("Open settings", controls.open_settings)),
            Action("Quit", self._guarded("Quit", self._quit)),
        ]

    def _headline(self) -> str:
        """The window's status line: the icon's title without the reason, in full Unicode."""
        return tray_title(replace(self._state, reason=""), fallback_subject=self.title)

    def _reason(self) -> str:
        """The reason (the icon's title cuts it short), on a problem only.

        Cut at :data:`_WINDOW_REASON_MAX` characters all the same: a server's reply can run to
        pages, and the window must stay small enough to fit the screen beside the tray.
        """
        status = shown_status(self._state)
        notes = "\n".join(self._state.notes)
        if status in (Status.UP, Status.PAUSED):
            return notes
        reason = _fit(_encodable(" ".join(self._state.reason.split()), None), _WINDOW_REASON)
        return f"{reason}\n\n{notes}" if notes else reason  # a blank line: two topics

    def _note_text(self, index: int) -> Callable[[Any], str]:
        """The menu text of note ``index`` (pystray asks each time the menu opens)."""

        def text(_item: Any) -> str:
            notes = self._state.notes
            return _fit(_encodable(notes[index], None), _MENU_NOTE) if index < len(notes) else ""

        return text

    def _has_note(self, index: int) -> Callable[[Any], bool]:
        return lambda _item: index < len(self._state.notes)

    def _paused(self) -> bool:
        return shown_status(self._state) is Status.PAUSED

    def _pause_text(self, item: Any) -> str:
        """The dynamic item: its text and its action both follow the last state read."""
        return "Resume" if self._paused() else "Pause for 1 hour"

    def _toggle_pause(self) -> None:
        if self._paused():
            self.controls.resume()
        else:
            self.controls.pause(PAUSE_SECONDS)
        # Read the state again at once, so the menu pystray rebuilds after this action already
        # says the opposite; the poller then redraws the icon.
        self._state = self._read_state() or self._state

    def _quit(self) -> None:
        try:
            self.controls.quit()
        finally:
            self.stop()

    # --- keeping the icon current ----------------------------------------------------------------

    def _poll_loop(self) -> None:
        """The state every ``poll_s`` (at once when woken); on xorg also the dock every 0.5 s."""
        xorg = self.backend == "xorg"
        next_poll = 0.0
        while not self._stopping.is_set():
            if self._wake.is_set() or time.monotonic() >= next_poll:
                self._wake.clear()  # before reading, so a wake-up meanwhile is kept
                self._refresh()
                next_poll = time.monotonic() + self.poll_s
            timeout = next_poll - time.monotonic()
            if xorg:
                self._keep_docked()
                timeout = min(timeout, _XORG_TICK_S)
            self._wake.wait(max(timeout, 0.0))

    def _refresh(self) -> None:
        """Read the state and have the icon change what differs from what it shows."""
        state = self._read_state()
        if state is None:
            return
        self._state = state
        view = self._view(state)
        shown, self._shown = self._shown, view
        if view == shown:
            return
        picture = draw_icon(view.status) if view.status != shown.status else None
        title = view.tooltip if view.tooltip != shown.tooltip else None
        full_title = view.full_title if view.full_title != shown.full_title else None
        menu = view.paused != shown.paused

        def change() -> None:
            # Each part on its own: a picture that fails must not leave an old title.
            if self._stopping.is_set():
                return
            if picture is not None:
                self._change("picture", lambda: setattr(self.icon, "icon", picture))
            if title is not None:
                self._change("title", lambda: setattr(self.icon, "title", title))
            if full_title is not None and self.backend == "xorg":
                self._set_xorg_unicode_name(full_title)
            if menu:
                self._change("menu", self.icon.update_menu)

        self._on_ui_thread(change)

    def _change(self, what: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            log.exception("The tray icon's %s could not be updated", what)

    def _read_state(self) -> TrayState | None:
        """``controls.state()``, or None when it failed (logged once per run of failures)."""
        try:
            state = self.controls.state()
        except Exception:
            if not self._state_failing:
                log.exception("The tray could not read the status")
            self._state_failing = True
            return None
        self._state_failing = False
        return state

    def _view(self, state: TrayState) -> _View:
        return _View(
            status=shown_status(state),
            tooltip=tray_title(state, self.backend, fallback_subject=self.title),
            full_title=tray_title(state, fallback_subject=self.title),
            paused=shown_status(state) is Status.PAUSED,
        )

    # --- platform details ------------------------------------------------------------------------

    def _on_ui_thread(self, call: Callable[[], None]) -> None:
        """Run ``call`` where the backend wants icon changes made (see the module doc).

        macOS: the main run loop. xorg: pystray's loop thread. Elsewhere: right here.
        """
        if self.backend == "darwin":
            try:
                app_helper: Any = importlib.import_module("PyObjCTools.AppHelper")
            except Exception:
                call()
            else:
                app_helper.callAfter(call)
        elif self._xorg_calls is not None:
            self._xorg_calls.post(call)
        else:
            call()

    def _adapt_xorg(self) -> None:
        """The xorg workarounds of the module doc; each one is skipped if pystray changed."""
        try:
            self._xorg_calls = _XorgCalls(self.icon)
        except Exception:
            log.warning(
                "Could not route tray icon changes through its own thread; it may hang",
                exc_info=True,
            )
        self._let_xorg_see_clicks()
        self._dock_only_when_needed()

    def _keep_docked(self) -> None:
        """xorg: ask the tray again when the icon stayed outside it (see the module doc).

        Waits :data:`_DOCK_GRACE_S` after each request, so a slow tray is not asked twice, and
        asks only while a tray is running (pystray logs an error per failed request). Logged
        once per spell outside the tray.
        """
        if self._xorg_calls is None or self._stopping.is_set():
            return
        outside, tray_running = self._xorg_calls.outside_tray()
        if not outside:
            self._dock_retries = 0
            return
        if not tray_running or time.monotonic() - self._dock_asked_at < _DOCK_GRACE_S:
            return
        self._dock_asked_at = time.monotonic()
        self._dock_retries += 1
        level = logging.INFO if self._dock_retries == 1 else logging.DEBUG
        log.log(level, "The tray icon is not in the system tray; asking the tray to take it again")

        def dock_again() -> None:
            if not self._stopping.is_set():
                self.icon._show()  # on the loop thread: pystray's own dock request

        self._xorg_calls.post(dock_again)

    def _dock_only_when_needed(self) -> None:
        """Make pystray's xorg icon ask the tray to dock it only while it is in no tray.

        pystray 0.19 asks on every new picture; trayer then re-embedded the already embedded
        icon: it blinked, and once trayer left it one pixel wide. ``_dock_window`` runs on
        pystray's loop thread, so asking X over pystray's connection there is safe.
        """
        icon = self.icon
        try:
            original: Callable[[], None] = icon._dock_window
        except AttributeError:
            log.debug("pystray's xorg icon has no _dock_window; leaving it as it is")
            return

        def dock_window() -> None:
            try:
                if icon._systray_manager is not None:
                    tree = icon._window.query_tree()
                    if tree.parent.id != tree.root.id:
                        return  # embedded already: asking again only makes the tray re-embed
            except Exception:
                log.debug("Could not tell whether the tray icon is docked", exc_info=True)
            original()

        icon._dock_window = dock_window

    def _set_xorg_unicode_name(self, text: str) -> None:
        """xorg: the title in full Unicode as ``_NET_WM_NAME`` (UTF-8), beside the Latin-1
        ``WM_NAME`` pystray sets; panels that show tray tooltips read this one first.

        Runs where pystray's connection may be used: before its loop starts, or on its loop
        thread (:meth:`_refresh`'s change).
        """
        try:
            display = self.icon._display
            utf8 = display.intern_atom("UTF8_STRING")
            self.icon._window.change_property(
                display.intern_atom("_NET_WM_NAME"), utf8, 8, text.encode("utf-8")
            )
            display.flush()
        except Exception:
            log.debug("Could not set the tray icon's _NET_WM_NAME", exc_info=True)

    def _let_xorg_see_clicks(self) -> None:
        """Make pystray's X window receive button presses (pystray 0.19 never asks for them)."""
        try:
            xlib_x = importlib.import_module("Xlib.X")
            self.icon._window.change_attributes(
                event_mask=xlib_x.ExposureMask | xlib_x.StructureNotifyMask | xlib_x.ButtonPressMask
            )
            self.icon._display.flush()
        except Exception:
            log.debug("Could not enable clicks on the xorg tray icon", exc_info=True)

"""Desktop notifications: a pop-up on the office PC itself, which must never stop the loop.

Backends, chosen by ``DesktopChannel(backend="auto")``:

- **Linux and other freedesktop systems**: ``org.freedesktop.Notifications.Notify`` on the session
  bus through ``dbus-python`` (the ``desktop`` extra), so the icon, the urgency and the timeout
  arrive; without ``dbus-python``, the ``notify-send`` program (Debian: ``libnotify-bin``) with the
  same icon, urgency and timeout.
- **Windows with the tray icon running** (``watchdog tray``): the tray icon itself, through
  pystray's ``icon.notify`` (:func:`register_tray_notifier`): the balloon comes from the
  product's own icon, no second icon is added and no thread is started.
- **Windows without a tray** (``watchdog check``, ``run``, ``test-alert``): plyer's balloon
  class, on a daemon thread of our own (:func:`_show_windows_balloon`): its failures come back
  to ``send`` within ``call_timeout_s``, its extra icon is removed after ``timeout_s``, and at
  exit the process waits at most :data:`BALLOON_EXIT_WAIT_S` for a balloon still on screen.
- **macOS**: ``plyer``.

Why not plyer on Linux too: it would pick the same two transports, but its ``notify-send`` call
ignores the exit code and has no time limit, drops the icon and the hints and sends timeout 0
(verified with plyer 2.1.0 and dunst: icon ``""``, timeout 0), and if a folder ``/app`` exists it
picks the Flatpak portal and nothing shows. It returns normally in every one of those cases, and
this channel must never report a notification that could not have been shown. Its D-Bus path
uses dbus-python's shared ``SessionBus()``, which stays bound to the first session for the life
of the process (verified: after a new session every call fails with "Connection was
disconnected"); this channel opens a private connection per notification instead.

Rules every backend keeps:

- Title at most :data:`TITLE_LIMIT` (63) and message at most :data:`MESSAGE_LIMIT` (255) UTF-16
  code units, on every platform: the Windows balloon's limits (64/256 with the terminating NUL;
  longer text raises inside plyer's thread, where nobody sees it). :func:`clip_text` cuts at a
  word boundary and adds an ellipsis.
- Most freedesktop daemons read the body as markup. When the daemon advertises ``body-markup``
  (``GetCapabilities``; ``dbus-send`` asks on the notify-send path), ``&``, ``<`` and ``>`` are
  escaped so text can never become markup; a daemon without it (dunst's built-in default) gets
  the text as is, or the staff would read "AT&amp;T". The limits apply to the text before
  escaping, i.e. to what is shown. The summary is plain text by the specification and is never
  escaped; plyer on Windows/macOS shows plain text, so nothing is escaped there.
- The icon is shipped in the package (``watchdog/data/icons``): ``.ico`` for Windows, ``.png``
  elsewhere, in a colour and badge for the status.
- ``send`` never raises and never waits longer than ``call_timeout_s`` (default 5 s) on the
  D-Bus, notify-send and Windows balloon paths, and starts no thread (a Windows balloon
  without a tray: one daemon thread, which can never keep the process alive). Before claiming
  success on a freedesktop system it proves that a session bus answers (a bare SASL handshake
  on its socket), because a missing or hung bus is the common silent failure (a service,
  ``sudo``, an SSH session).

Urgency and timeout: an alert whose status is DOWN (a DOWN alert, or a REMINDER while still down)
is *critical* and stays until dismissed by default (``critical_timeout_s=0``): reminders are not
going out and the front desk may be away from the screen for 30 s; the specification also lets
daemons keep critical notifications regardless of the timeout. Everything else is *normal* and
expires after ``timeout_s`` (30 s).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import html
import importlib
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from watchdog.core.models import Status
from watchdog.core.textfit import ELLIPSIS, clip_text, utf16_len
from watchdog.notify import Alert, AlertKind, AttemptResult

__all__ = [
    "APP_NAME",
    "BALLOON_EXIT_WAIT_S",
    "CALL_TIMEOUT_S",
    "CHANNEL_NAME",
    "DESKTOP_ENTRY",
    "ELLIPSIS",
    "MESSAGE_LIMIT",
    "TITLE_LIMIT",
    "Backend",
    "DesktopChannel",
    "Rendered",
    "TrayNotifier",
    "clip_text",
    "escape_markup",
    "icon_path",
    "icon_stem",
    "one_line",
    "plain_body",
    "probe_session_bus",
    "register_tray_notifier",
    "registered_tray_notifier",
    "session_bus_address",
    "unregister_tray_notifier",
    "utf16_len",
]

log = logging.getLogger(__name__)

CHANNEL_NAME = "desktop"
APP_NAME = "Delivery Watchdog"
#: The ``desktop-entry`` hint: the base name of the ``.desktop`` file, so desktops can group
#: our notifications and let the user silence them by application.
DESKTOP_ENTRY = "delivery-watchdog"

#: Windows balloon limits in UTF-16 code units (64 and 256 including the terminating NUL).
TITLE_LIMIT = 63
MESSAGE_LIMIT = 255
#: The longest any D-Bus or notify-send call may take, so a hung session bus cannot stall the loop.
CALL_TIMEOUT_S = 5.0

Backend = Literal["auto", "dbus", "notify-send", "plyer"]

#: Windows without a tray: the longest the process stays after its work is done, so that a
#: balloon it showed a moment earlier is seen before its icon goes (plyer's own thread kept
#: the process for the whole ``timeout``, 30 s by default).
BALLOON_EXIT_WAIT_S = 10.0

#: Shows ``(title, message)`` through a running tray icon; raises when it cannot.
TrayNotifier = Callable[[str, str], None]

_BUS_NAME = "org.freedesktop.Notifications"
_OBJECT_PATH = "/org/freedesktop/Notifications"
_URGENCY_NORMAL = 1
_URGENCY_CRITICAL = 2
#: D-Bus errors that mean "no notification daemon in this session", not "try again later".
_NO_DAEMON_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.UnknownObject",
        "org.freedesktop.DBus.Error.UnknownMethod",
        "org.freedesktop.DBus.Error.Spawn.ExecFailed",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    }
)
_TIMEOUT_ERRORS = frozenset(
    {
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.Timeout",
        "org.freedesktop.DBus.Error.TimedOut",
    }
)
#: Characters a title or message may not carry: C0/C1 controls except newline and tab (a NUL
#: would end the text early on Windows).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# --- texts ------------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """A title: control characters removed, every run of whitespace (newlines too) one space."""
    return " ".join(_CONTROL.sub("", text).split())


def plain_body(text: str) -> str:
    """A message: control characters removed, Windows line ends made ``\\n``, ends trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in _CONTROL.sub("", text).split("\n")]
    return "\n".join(lines).strip()


def escape_markup(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities, for the body of a daemon that reads markup."""
    return html.escape(text, quote=False)


# --- icons ------------------------------------------------------------------------------------

#: Keeps icon files extracted from a zipped install alive until the process exits: the daemon
#: reads the file *after* ``Notify`` returned, so a temporary copy removed at once would break.
_EXTRACTED = contextlib.ExitStack()
atexit.register(_EXTRACTED.close)


def icon_stem(alert: Alert) -> str:
    """Which icon fits the alert: a coloured badge per status, the plain app icon otherwise."""
    if alert.kind is AlertKind.TEST:
        return "watchdog"
    if alert.kind is AlertKind.RECOVERED:
        return "watchdog-up"
    return {
        Status.DOWN: "watchdog-down",
        Status.DEGRADED: "watchdog-degraded",
        Status.UNKNOWN: "watchdog-unknown",
    }.get(alert.status, "watchdog")


@functools.cache
def icon_path(stem: str = "watchdog", suffix: str = ".png") -> Path | None:
    """The real file of a shipped icon (``.png`` or ``.ico``), or None if it is missing.

    Falls back to the plain ``watchdog`` icon when ``stem`` has no file. In a normal install the
    package data already is a file; from a zip it is extracted once for the process.
    """
    icons = files("watchdog").joinpath("data", "icons")
    for name in (f"{stem}{suffix}", f"watchdog{suffix}"):
        resource = icons.joinpath(name)
        if not resource.is_file():
            continue
        if isinstance(resource, Path):
            return resource.resolve()
        return Path(_EXTRACTED.enter_context(as_file(resource))).resolve()
    log.warning("The notification icon %s%s is missing from the package", stem, suffix)
    return None


# --- the tray icon as the notifier (Windows) ---------------------------------------------------

_tray_lock = threading.Lock()
_tray_notifier: TrayNotifier | None = None


def register_tray_notifier(notifier: TrayNotifier) -> None:
    """Let every :class:`DesktopChannel` on Windows show alerts through ``notifier``.

    ``watchdog/desktop/tray.py`` registers its icon's ``notify`` once the icon is up, and
    unregisters it when the icon stops. Why: plyer adds an icon of its own per alert (a "ghost"
    icon that
    stays until the process ends) and shows our texts under the name of the program that runs
    us ("Python"); the tray's own icon is already there, named and drawn as the product.
    """
    global _tray_notifier
    with _tray_lock:
        _tray_notifier = notifier


def unregister_tray_notifier(notifier: TrayNotifier) -> None:
    """Stop using ``notifier`` (only if it is the one registered; another stays).

    Compared with ``==``, not ``is``: a bound method (``tray._notify``) is a new object at
    every access, equal to the one registered.
    """
    global _tray_notifier
    with _tray_lock:
        if _tray_notifier == notifier:
            _tray_notifier = None


def registered_tray_notifier() -> TrayNotifier | None:
    """The tray's notifier while a tray icon runs in this process, else None."""
    with _tray_lock:
        return _tray_notifier


# --- the channel ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """One alert made ready for any backend."""

    title: str  # clipped, one line
    message: str  # clipped, plain text (escaped later, by the backends that need it)
    critical: bool
    timeout_ms: int  # 0 = until dismissed, -1 = the daemon's default
    stem: str


class _Failure(Exception):
    """A failed attempt, carried up to ``send`` (internal: ``send`` never raises it)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


class DesktopChannel:
    """Shows alerts as desktop notifications; ``send`` never raises and never hangs.

    :param timeout_s: how long a normal notification stays (default 30 s).
    :param critical_timeout_s: how long a critical one (status DOWN) stays; 0 (the default) means
        until dismissed. plyer cannot keep a notification, so there ``timeout_s`` is used.
        A negative value in either means "the desktop's default".
    :param app_name: the application name the desktop shows and groups by.
    :param backend: ``auto`` (D-Bus if ``dbus-python`` imports, else notify-send, on Linux; plyer
        on Windows and macOS), or force ``dbus``, ``notify-send`` or ``plyer`` (tests, support).
    :param call_timeout_s: the most one ``send`` may wait on the session bus or notify-send.
    :param tray_notifier: on Windows, show alerts through this instead of the notifier the
        tray registered (:func:`register_tray_notifier`); tests inject one.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        critical_timeout_s: float = 0.0,
        app_name: str = APP_NAME,
        backend: Backend = "auto",
        call_timeout_s: float = CALL_TIMEOUT_S,
        tray_notifier: TrayNotifier | None = None,
    ) -> None:
        if backend not in ("auto", "dbus", "notify-send", "plyer"):
            raise ValueError(f"unknown desktop notification backend {backend!r}")
        self.timeout_s = timeout_s
        self.critical_timeout_s = critical_timeout_s
        self.app_name = app_name
        self.backend: Backend = backend
        self.call_timeout_s = call_timeout_s
        self.tray_notifier = tray_notifier

    @property
    def name(self) -> str:
        """Always ``desktop``."""
        return CHANNEL_NAME

    def send(self, alert: Alert) -> AttemptResult:
        """Show ``alert``; every failure is logged and returned, nothing is raised."""
        try:
            detail = self._send(alert)
        except _Failure as e:
            failure = e
        except TimeoutError:
            failure = _Failure(
                f"the desktop session did not answer within {self.call_timeout_s:g} s",
                permanent=False,
            )
        except Exception as e:  # the loop must survive any bug or platform surprise down here
            log.exception("Desktop notification failed unexpectedly")
            return AttemptResult(CHANNEL_NAME, ok=False, detail=f"unexpected error: {e!r}")
        else:
            log.debug("Desktop notification shown: %s", detail)
            return AttemptResult(CHANNEL_NAME, ok=True, detail=detail)
        log.warning(
            "Desktop notification not shown (%s): %s",
            "permanent" if failure.permanent else "will retry",
            failure.detail,
        )
        return AttemptResult(
            CHANNEL_NAME, ok=False, detail=failure.detail, permanent=failure.permanent
        )

    # --- rendering ----------------------------------------------------------------------------

    def render(self, alert: Alert) -> Rendered:
        """The texts, urgency, timeout and icon this alert gets, whatever the backend."""
        critical = alert.status is Status.DOWN and alert.kind is not AlertKind.RECOVERED
        seconds = self.critical_timeout_s if critical else self.timeout_s
        return Rendered(
            title=clip_text(one_line(alert.title) or self.app_name, TITLE_LIMIT),
            message=clip_text(plain_body(alert.message), MESSAGE_LIMIT),
            critical=critical,
            timeout_ms=-1 if seconds < 0 else round(seconds * 1000),
            stem=icon_stem(alert),
        )

    def _send(self, alert: Alert) -> str:
        """Send through the chosen backend; return a detail on success, raise ``_Failure``."""
        rendered = self.render(alert)
        deadline = time.monotonic() + self.call_timeout_s
        backend = self._resolve_backend()
        if backend == "plyer":
            tray = self._windows_tray_notifier() if self.backend == "auto" else None
            if tray is not None:
                return _send_tray(tray, rendered)
            return self._send_plyer(rendered, deadline)
        address = session_bus_address()
        if address is None:
            raise _Failure(
                "no desktop session: DBUS_SESSION_BUS_ADDRESS is not set and there is no "
                "$XDG_RUNTIME_DIR/bus, so no notification can be shown (running as a service, "
                "over SSH or as another user?)",
                permanent=True,
            )
        probe_session_bus(address, deadline)
        if backend == "dbus":
            return self._send_dbus(rendered, address, deadline)
        return self._send_notify_send(rendered, address, deadline)

    def _windows_tray_notifier(self) -> TrayNotifier | None:
        """On Windows, the tray icon's notifier (injected, else registered); None elsewhere.

        Linux keeps its D-Bus path (the tray there has no notifications of its own), macOS
        keeps plyer.
        """
        if sys.platform not in ("win32", "cygwin"):
            return None
        return self.tray_notifier or registered_tray_notifier()

    def _resolve_backend(self) -> Literal["dbus", "notify-send", "plyer"]:
        """``auto``: D-Bus, then notify-send, on freedesktop systems; plyer elsewhere."""
        if self.backend != "auto":
            return self.backend
        if sys.platform in ("win32", "cygwin", "darwin"):
            return "plyer"
        if _import_dbus() is not None:
            return "dbus"
        if shutil.which("notify-send"):
            return "notify-send"
        raise _Failure(
            "no way to show desktop notifications: dbus-python is not installed "
            "(pip install 'delivery-watchdog[desktop]') and notify-send is not "
            "(Debian/Ubuntu: apt install libnotify-bin)",
            permanent=True,
        )

    # --- D-Bus ---------------------------------------------------------------------------------

    def _send_dbus(self, rendered: Rendered, address: str, deadline: float) -> str:
        """``Notify`` on a private connection to ``address``, closed again before returning.

        A private connection, because dbus-python's shared ``SessionBus()`` would stay bound to
        the first session it met (a new login, or each test's own bus, would go unseen).
        """
        dbus = _import_dbus()
        if dbus is None:
            raise _Failure(
                "dbus-python is not installed (pip install 'delivery-watchdog[desktop]')",
                permanent=True,
            )
        icon = icon_path(rendered.stem, ".png")
        bus: Any = None
        try:
            # The connection's own Hello has libdbus's 25 s timeout; the probe just showed the
            # bus answering, so that wait is out of reach in practice.
            bus = dbus.bus.BusConnection(address)
            capabilities = bus.call_blocking(
                _BUS_NAME, _OBJECT_PATH, _BUS_NAME, "GetCapabilities", "", (), _remaining(deadline)
            )
            body = rendered.message
            if "body-markup" in [str(c) for c in capabilities]:
                body = escape_markup(body)
            hints = {
                "urgency": dbus.Byte(_URGENCY_CRITICAL if rendered.critical else _URGENCY_NORMAL),
                "desktop-entry": dbus.String(DESKTOP_ENTRY),
            }
            arguments: tuple[Any, ...] = (
                self.app_name,
                0,  # replaces_id: a new notification, never one replacing another
                str(icon or ""),
                rendered.title,
                body,
                [],  # actions: none, no daemon can call us back
                hints,
                rendered.timeout_ms,
            )
            notification_id = bus.call_blocking(
                _BUS_NAME,
                _OBJECT_PATH,
                _BUS_NAME,
                "Notify",
                "susssasa{sv}i",
                arguments,
                _remaining(deadline),
            )
        except dbus.exceptions.DBusException as e:
            raise _dbus_failure(e, self.call_timeout_s) from e
        finally:
            if bus is not None:
                with contextlib.suppress(Exception):
                    bus.close()
        return f"shown over D-Bus (notification {int(notification_id)})"

    # --- notify-send ---------------------------------------------------------------------------

    def _send_notify_send(self, rendered: Rendered, address: str, deadline: float) -> str:
        """Run notify-send with a time limit and read its exit code (plyer ignores both).

        notify-send cannot tell whether the daemon reads markup, so ``dbus-send`` asks first
        (see :func:`_markup_via_dbus_send`).
        """
        program = shutil.which("notify-send")
        if program is None:
            raise _Failure(
                "notify-send is not installed (Debian/Ubuntu: apt install libnotify-bin)",
                permanent=True,
            )
        icon = icon_path(rendered.stem, ".png")
        command = [
            program,
            f"--app-name={self.app_name}",
            f"--urgency={'critical' if rendered.critical else 'normal'}",
            f"--expire-time={rendered.timeout_ms}",
            f"--hint=string:desktop-entry:{DESKTOP_ENTRY}",
        ]
        if icon is not None:
            command.append(f"--icon={icon}")
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
        markup = _markup_via_dbus_send(env, deadline, self.call_timeout_s)
        body = escape_markup(rendered.message) if markup else rendered.message
        # "--" so a title starting with "-" is never read as an option.
        command += ["--", rendered.title, body]
        time_limit = _remaining(deadline)
        try:
            done = _run_tool(command, env, time_limit)
        except subprocess.TimeoutExpired as e:
            raise _Failure(
                f"the notification daemon did not answer within {self.call_timeout_s:g} s "
                "(notify-send was stopped)",
                permanent=False,
            ) from e
        except OSError as e:
            raise _Failure(f"notify-send could not be started: {e}", permanent=True) from e
        if done.returncode != 0:
            raise _tool_failure("notify-send", done.returncode, done.stderr)
        return "shown with notify-send"

    # --- plyer ---------------------------------------------------------------------------------

    def _send_plyer(self, rendered: Rendered, deadline: float) -> str:
        """plyer's ``notification.notify``: Windows balloon, macOS notification centre.

        On Windows plyer's ``notify`` would show the balloon from a non-daemon thread of its
        own that keeps the process alive for ``timeout`` seconds and swallows its errors (too
        long a text, an unreadable icon, no taskbar yet at login), so that path uses plyer's
        balloon class on a thread of ours instead (:func:`_show_windows_balloon`); the texts are
        clipped and the ``.ico`` checked here first all the same. A notification cannot stay
        until dismissed there, so ``timeout_s`` replaces a 0.
        """
        if sys.platform.startswith("linux"):
            # Forced plyer on Linux (tests, support): make its silent failures visible first.
            if os.path.isdir("/app") and not os.path.exists("/.flatpak-info"):
                raise _Failure(
                    "plyer would use the Flatpak portal because a folder /app exists, and "
                    "nothing would show outside Flatpak",
                    permanent=True,
                )
            address = session_bus_address()
            if address is None:
                raise _Failure("no desktop session bus for plyer to use", permanent=True)
            probe_session_bus(address, deadline)
        windows = sys.platform in ("win32", "cygwin")
        try:
            notification = None if windows else importlib.import_module("plyer").notification
        except ImportError as e:
            raise _Failure(f"plyer is not installed: {e}", permanent=True) from e
        icon = icon_path(rendered.stem, ".ico" if windows else ".png")
        if windows and icon is None:
            raise _Failure(
                "the notification icon (.ico) is missing from the package", permanent=True
            )
        seconds = rendered.timeout_ms / 1000 if rendered.timeout_ms > 0 else self.timeout_s
        if windows:
            _show_windows_balloon(
                title=rendered.title,
                message=rendered.message,
                app_name=self.app_name,
                icon=str(icon),
                seconds=max(1.0, seconds),
                deadline=deadline,
            )
            return "shown as a Windows balloon (no tray icon running)"
        assert notification is not None
        try:
            notification.notify(
                title=rendered.title,
                message=rendered.message,
                app_name=self.app_name,
                app_icon=str(icon or ""),
                timeout=max(1, round(seconds)),
            )
        except NotImplementedError as e:
            raise _Failure(
                f"no desktop notification support on this system (plyer: {e}; on macOS plyer "
                "needs pyobjus)",
                permanent=True,
            ) from e
        except Exception as e:  # plyer raises whatever its platform code raises
            raise _Failure(f"plyer failed: {e!r}", permanent=False) from e
        return f"handed to plyer ({sys.platform})"


# --- Windows -----------------------------------------------------------------------------------


def _send_tray(notifier: TrayNotifier, rendered: Rendered) -> str:
    """Show the alert through the running tray icon (its own icon and name, no new thread)."""
    try:
        notifier(rendered.title, rendered.message)
    except Exception as e:
        raise _Failure(f"the tray icon could not show it: {e}", permanent=False) from e
    return "shown by the tray icon"


#: plyer's balloon class, imported only when used (its module loads Windows' DLLs at import).
_BALLOON_MODULE = "plyer.platforms.win.libs.balloontip"


def _show_windows_balloon(
    *, title: str, message: str, app_name: str, icon: str, seconds: float, deadline: float
) -> None:
    """A Windows balloon without a tray icon of ours: shown, or ``_Failure`` by ``deadline``.

    plyer's ``WindowsBalloonTip(timeout=0)`` creates its hidden window and adds its icon with
    the balloon, raising if Windows refuses (``Shell_NotifyIconW`` failed, the ``.ico`` did
    not load). That runs on a *daemon* thread of ours, which reports back before ``deadline``
    and then keeps the icon for ``seconds`` and removes it on the thread that made it. So
    unlike plyer's ``notify``: a failure reaches ``send`` instead of dying unseen in plyer's
    thread, no thread can keep the process alive, and no icon is left behind. At exit the
    process waits at most :data:`BALLOON_EXIT_WAIT_S` for a balloon that is still showing
    (``watchdog test-alert`` would otherwise remove it the moment it appeared).
    """
    try:
        balloon_class: Any = importlib.import_module(_BALLOON_MODULE).WindowsBalloonTip
    except ImportError as e:
        raise _Failure(f"plyer is not installed: {e}", permanent=True) from e
    except Exception as e:  # its Windows DLL definitions failed to load
        raise _Failure(f"plyer's Windows balloons cannot load here: {e!r}", permanent=True) from e
    outcome: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
    done = threading.Event()
    shown_until = time.monotonic() + seconds

    def at_exit() -> None:
        """Keep a balloon still up until its time, at most ``BALLOON_EXIT_WAIT_S``, then end."""
        if thread.is_alive():
            done.wait(max(0.0, min(shown_until - time.monotonic(), BALLOON_EXIT_WAIT_S)))
        done.set()
        thread.join(timeout=1.0)

    def show() -> None:
        try:
            tip = balloon_class(
                title=title, message=message, app_name=app_name, app_icon=icon, timeout=0
            )
        except BaseException as e:  # reported to send(), which words it
            outcome.put(e)
            return
        outcome.put(None)
        done.wait(seconds)
        try:
            tip.remove_notify()
        except Exception:
            log.debug("Could not remove the balloon's icon", exc_info=True)
        # Gone: nothing left to wait for at exit (a long `run` must not collect exit hooks).
        # plyer's own hook (tip.__del__) stays: its hidden window lives until the exit.
        atexit.unregister(at_exit)

    thread = threading.Thread(target=show, name="watchdog-balloon", daemon=True)
    thread.start()
    try:
        error = outcome.get(timeout=_remaining(deadline))
    except queue.Empty:
        done.set()  # if it comes up after all, it goes again at once
        raise _Failure(
            "Windows did not show the notification in time (is the taskbar running?)",
            permanent=False,
        ) from None
    if error is not None:
        raise _Failure(f"Windows did not show the notification: {error}", permanent=False)
    shown_until = time.monotonic() + seconds
    # Registered after plyer's own atexit hook (made in the thread), so it runs before it.
    atexit.register(at_exit)


# --- the session bus --------------------------------------------------------------------------


def session_bus_address() -> str | None:
    """The session bus address: ``DBUS_SESSION_BUS_ADDRESS``, else ``$XDG_RUNTIME_DIR/bus``.

    The second is where systemd puts the user bus; libdbus finds it the same way. Deliberately
    no X11 autolaunch (libdbus's last resort): that starts a new bus nobody shows.
    """
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        bus = Path(runtime, "bus")
        with contextlib.suppress(OSError):
            if bus.is_socket():
                return f"unix:path={bus}"
    return None


def probe_session_bus(address: str, deadline: float) -> None:
    """Prove the bus at ``address`` answers, within ``deadline``; raise ``_Failure`` if not.

    A connect plus the first SASL step (``AUTH EXTERNAL``) on the raw socket, with a socket
    timeout: a missing socket or a dead bus fails at once, a hung one (stopped process, full
    backlog) at the deadline. libdbus would wait 25 s in either library call. Addresses with no
    ``unix:`` part (rare ``tcp:``) are left to the real call.
    """
    targets = [t for t in (_unix_target(entry) for entry in address.split(";")) if t]
    if not targets:
        if address.startswith("disabled:"):
            raise _Failure("the desktop session bus is disabled here", permanent=True)
        return
    problems = []
    for target in targets:
        shown = "@" + target[1:] if target.startswith("\0") else target  # @ = abstract
        try:
            _sasl_hello(target, deadline)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            problems.append(f"nothing listens at {shown}")
        except TimeoutError as e:
            raise _Failure(
                f"the desktop session bus at {shown} did not answer in time (hung?)",
                permanent=False,
            ) from e
        except PermissionError:
            problems.append(f"no permission to use {shown} (another user's session?)")
        except OSError as e:
            problems.append(f"{shown}: {e.strerror or e}")
        except _BusRefused as e:
            problems.append(f"{shown} refused us: {e} (another user's session?)")
    raise _Failure(
        "no desktop session bus is running (" + "; ".join(problems) + "), so no notification "
        "can be shown",
        permanent=True,
    )


class _BusRefused(Exception):
    """The bus answered the SASL step with something other than OK."""


def _unix_target(entry: str) -> str | None:
    """The socket of one ``unix:path=...`` / ``unix:abstract=...`` address entry, else None."""
    transport, _, params = entry.strip().partition(":")
    if transport != "unix":
        return None
    values = dict(p.partition("=")[::2] for p in params.split(",") if "=" in p)
    if "path" in values:
        return _unescape(values["path"])
    if "abstract" in values:
        return "\0" + _unescape(values["abstract"])
    return None


def _unescape(value: str) -> str:
    """D-Bus address values escape bytes as ``%XX``."""
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _sasl_hello(target: str, deadline: float) -> None:
    """Connect to ``target`` and do the ``AUTH EXTERNAL`` step; the bus must say ``OK``."""
    if sys.platform == "win32":  # never reached (plyer there); keeps type checks per platform
        raise _BusRefused("no session bus on Windows")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_remaining(deadline))
        sock.connect(target)
        uid = str(os.getuid()).encode().hex().encode()
        sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
        reply = b""
        while b"\r\n" not in reply:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(256)
            if not chunk:
                raise _BusRefused("it closed the connection")
            reply += chunk
        if not reply.startswith(b"OK "):
            raise _BusRefused(reply.split(b"\r\n", 1)[0].decode(errors="replace"))
        # Leave politely; the bus drops an unfinished handshake on close anyway.
        with contextlib.suppress(OSError):
            sock.sendall(b"CANCEL\r\n")


def _markup_via_dbus_send(env: dict[str, str], deadline: float, call_timeout_s: float) -> bool:
    """Whether the daemon advertises ``body-markup``, asked with ``dbus-send`` (package dbus-bin).

    Escaping for a daemon that shows plain text would show "AT&amp;T" to the staff (dunst's
    built-in default is such a daemon), and not escaping for one that reads markup lets text
    become markup. Without ``dbus-send``, or when it fails oddly, markup is assumed: every
    mainstream daemon reads it. No daemon at all is a permanent failure.
    """
    program = shutil.which("dbus-send")
    if program is None:
        return True
    time_limit = _remaining(deadline)
    command = [
        program,
        "--session",
        "--print-reply",
        # A little under our limit, so dbus-send's own clear "NoReply" usually comes first.
        f"--reply-timeout={max(1, int(time_limit * 900))}",
        f"--dest={_BUS_NAME}",
        _OBJECT_PATH,
        f"{_BUS_NAME}.GetCapabilities",
    ]
    try:
        done = _run_tool(command, env, time_limit)
    except subprocess.TimeoutExpired as e:
        raise _Failure(
            f"the notification daemon did not answer within {call_timeout_s:g} s (dbus-send)",
            permanent=False,
        ) from e
    except OSError:
        return True
    if done.returncode != 0:
        failure = _tool_failure("dbus-send", done.returncode, done.stderr)
        if failure.permanent:
            raise failure
        if any(name in done.stderr for name in _TIMEOUT_ERRORS):
            raise _Failure(
                f"the notification daemon did not answer within {call_timeout_s:g} s",
                permanent=False,
            )
        return True  # some other hiccup: let notify-send try, it reports its own failure
    return '"body-markup"' in done.stdout


def _tool_failure(tool: str, returncode: int, stderr: str) -> _Failure:
    """Word a failed notify-send/dbus-send run; a missing daemon is permanent."""
    said = " ".join(stderr.split()) or "no message"
    if any(name in said for name in _NO_DAEMON_ERRORS):
        return _Failure(
            f"no notification daemon is running in this desktop session ({tool}: {said})",
            permanent=True,
        )
    return _Failure(f"{tool} failed with exit code {returncode}: {said}", permanent=False)


def _run_tool(
    command: list[str], env: dict[str, str], time_limit: float
) -> subprocess.CompletedProcess[str]:
    """Run notify-send or dbus-send the one way both are run.

    No stdin (a tool must never wait for input), output captured as text with undecodable
    bytes replaced (it is only worded into a failure) and a hard time limit. The caller words
    ``subprocess.TimeoutExpired`` and ``OSError``: what they mean differs per tool.
    """
    return subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=time_limit,
        check=False,
    )


def _remaining(deadline: float) -> float:
    """Seconds left until ``deadline``; raises ``TimeoutError`` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the desktop notification time limit passed")
    return left


def _dbus_failure(e: Any, call_timeout_s: float) -> _Failure:
    """Word a ``DBusException``: no daemon is permanent, a timeout or anything else is not."""
    name = str(e.get_dbus_name() or "")
    message = str(e.get_dbus_message() or e)
    if name in _NO_DAEMON_ERRORS:
        return _Failure(
            f"no notification daemon is running in this desktop session ({name}: {message})",
            permanent=True,
        )
    if name in _TIMEOUT_ERRORS:
        return _Failure(
            f"the notification daemon did not answer within {call_timeout_s:g} s ({name})",
            permanent=False,
        )
    return _Failure(f"D-Bus error {name or 'unknown'}: {message}", permanent=False)


@functools.cache
def _import_dbus() -> ModuleType | None:
    """``dbus`` (dbus-python) if it imports here, else None (it is an optional extra)."""
    try:
        return importlib.import_module("dbus")
    except Exception:  # ImportError, or a build against another libdbus failing to load
        return None

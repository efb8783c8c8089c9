"""A real desktop notification daemon, headless: Xvfb + a private D-Bus session bus + dunst.

:class:`NotificationDaemon` starts the three in a throwaway folder and tells what dunst
*received*, so tests never trust what a sender returned (plyer and notify-send can fail
silently)::

    with NotificationDaemon() as daemon:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.env["DBUS_SESSION_BUS_ADDRESS"])
        ...send something...
        [shown] = daemon.received()   # {"summary": ..., "urgency": "critical", ...}

Design choices, each for a pitfall seen with the plain recipe in ``/work/shared/TESTING.md``:

- Xvfb picks its own free display (``-displayfd``), so parallel runs never collide on ``:99``.
- The bus runs from our own config with **no service directories**: nothing is ever
  D-Bus-activated. With the stock session config, a ``dunstctl`` call (or a send) before dunst is
  up makes the bus start a second dunst from ``org.knopwob.dunst.service`` and the first one dies;
  and a "bus without a daemon" (``start_dunst=False``) could not be built at all.
- dunst reads only our config (``-config``, ``XDG_CONFIG_HOME`` in the folder) and never sees
  ``WAYLAND_DISPLAY``, so a developer's own dunstrc or Wayland session cannot change the results.
- dunst 1.9's history has no urgency and no hints. Rules in our config rewrite the ``format`` to
  ``urgency=<u> desktop-entry=<e>`` on its first line, and :meth:`received` reads them back:
  so urgency and the ``desktop-entry`` hint are what dunst itself matched, not a guess.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict

__all__ = ["NotificationDaemon", "NotificationDaemonError", "Received", "missing_tools"]

#: What the helper runs; Debian packages xvfb, dbus (dbus-daemon, dbus-send), dunst
#: (dunst, dunstctl) and libglib2.0-bin (gdbus).
TOOLS = ("Xvfb", "dbus-daemon", "dbus-send", "dunst", "dunstctl", "gdbus")

#: The one desktop-entry value the rules recognise; anything else reads back as "".
WATCHED_DESKTOP_ENTRY = "delivery-watchdog"

_URGENCIES = ("low", "normal", "critical")
_STARTUP_TIMEOUT_S = 10.0
_SCREEN = ("-screen", "0", "640x480x24")

_BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <!-- Written by tests/servers/notification_daemon.py. No servicedir: nothing is activated. -->
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Received(TypedDict):
    """One notification as dunst recorded it (history entry, oldest first)."""

    id: int
    appname: str
    summary: str
    body: str  # exactly as received: markup is *not* rendered here
    icon_path: str
    timeout: int  # milliseconds, as the client's expire_timeout (0 = until dismissed)
    urgency: str  # "low", "normal" or "critical"
    desktop_entry: str  # WATCHED_DESKTOP_ENTRY if that hint arrived, else ""


class NotificationDaemonError(RuntimeError):
    """A part of the headless desktop did not start or answer; the message says which."""


def missing_tools() -> list[str]:
    """The programs this helper needs that are not on ``PATH`` (empty when all are there)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _dunst_config(markup: str) -> str:
    """dunstrc: big history, and rules that write urgency and desktop-entry into ``format``.

    ``markup`` ``full`` (what dunst's shipped ``/etc/xdg/dunst/dunstrc`` sets, and what GNOME,
    KDE and XFCE do) advertises the ``body-markup`` capability; ``no`` (dunst's built-in default)
    does not. ``stack_duplicates`` is off: with it, dunst merges identical notifications into one
    and ``received`` could not count them. Rules apply in order and a later match overrides
    ``format``, so the urgency-only rule comes first and the urgency-plus-desktop-entry rule
    refines it.
    """
    lines = [
        "# Written by tests/servers/notification_daemon.py",
        "[global]",
        f"    markup = {markup}",
        "    stack_duplicates = false",
        "    history_length = 1000",
        "    sticky_history = yes",
        "    enable_posix_regex = false",
    ]
    for urgency in _URGENCIES:
        lines += [
            "",
            f"[watchdog_test_{urgency}]",
            f"    msg_urgency = {urgency}",
            f'    format = "urgency={urgency} desktop-entry=\\n%s\\n%b"',
            "",
            f"[watchdog_test_{urgency}_entry]",
            f"    msg_urgency = {urgency}",
            f'    desktop_entry = "{WATCHED_DESKTOP_ENTRY}"',
            f'    format = "urgency={urgency} desktop-entry={WATCHED_DESKTOP_ENTRY}\\n%s\\n%b"',
        ]
    return "\n".join(lines) + "\n"


class NotificationDaemon:
    """Xvfb, a private session bus and (unless ``start_dunst=False``) dunst, for one test run.

    ``start_dunst=False`` gives a live bus on which nobody owns ``org.freedesktop.Notifications``:
    the "desktop session without a notification daemon" case. ``markup="no"`` gives a daemon
    that shows the body as plain text and does not advertise ``body-markup``.
    """

    def __init__(self, *, start_dunst: bool = True, markup: str = "full") -> None:
        if markup not in ("full", "strip", "no"):
            raise ValueError(f"dunst's markup is full, strip or no, not {markup!r}")
        self.start_dunst = start_dunst
        self.markup = markup
        self.folder: Path | None = None
        self.display = ""
        self.bus_address = ""
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._bus: subprocess.Popen[bytes] | None = None
        self._dunst: subprocess.Popen[bytes] | None = None
        self._seen_up_to = 0
        self._path = os.environ.get("PATH", os.defpath)

    # --- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> NotificationDaemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> NotificationDaemon:
        """Start everything and wait until dunst owns the notification name; return ``self``."""
        missing = missing_tools()
        if missing:
            raise NotificationDaemonError(f"not installed: {', '.join(missing)}")
        # Kept for every later child: a test may empty PATH to hide a tool from the product.
        self._path = os.environ.get("PATH", os.defpath)
        self.folder = Path(tempfile.mkdtemp(prefix="watchdog-notify-"))
        try:
            self._start_xvfb()
            self._start_bus()
            if self.start_dunst:
                self._start_dunst()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop dunst, the bus and Xvfb (in that order) and remove the folder. Idempotent."""
        for attribute in ("_dunst", "_bus", "_xvfb"):
            process: subprocess.Popen[bytes] | None = getattr(self, attribute)
            setattr(self, attribute, None)
            if process is not None:
                _terminate(process)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    @property
    def env(self) -> dict[str, str]:
        """``DISPLAY`` and ``DBUS_SESSION_BUS_ADDRESS`` of this desktop, to set in a test."""
        return {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus_address}

    @property
    def bus_socket(self) -> Path:
        """The bus's socket file."""
        return self._folder / "bus"

    @property
    def dunst_log(self) -> str:
        """What dunst printed so far (for failure messages)."""
        path = self._folder / "dunst.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- what arrived -------------------------------------------------------------------------

    def received(self) -> list[Received]:
        """Every notification dunst got since the last :meth:`clear`, oldest first.

        Closes the displayed ones first: dunst's history holds only closed notifications.
        D-Bus delivers one sender's messages in order and dunst handles them one by one, so a
        ``Notify`` that returned before this call is always in the answer; no sleep needed.
        """
        new = [entry for entry in self._history() if entry["id"] > self._seen_up_to]
        return sorted(new, key=lambda entry: entry["id"])

    def clear(self) -> None:
        """Forget everything received so far: later :meth:`received` calls skip it.

        dunst 1.9 has no "clear history" command (``history-pop`` re-displays an entry), so this
        remembers the highest id seen; dunst's ids only grow.
        """
        seen = self._history()
        self._seen_up_to = max((entry["id"] for entry in seen), default=self._seen_up_to)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """dunst stopped (SIGSTOP) inside the block: the bus answers, the daemon never does."""
        if self._dunst is None:
            raise NotificationDaemonError("dunst is not running")
        self._dunst.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._dunst.send_signal(signal.SIGCONT)

    # --- internals ----------------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise NotificationDaemonError("the notification daemon is not started")
        return self.folder

    def _child_env(self) -> dict[str, str]:
        """This process's environment pointed at our desktop; no Wayland, no user config."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("WAYLAND_DISPLAY", "DBUS_STARTER_ADDRESS")
        }
        env["PATH"] = self._path
        env["XDG_CONFIG_HOME"] = str(self._folder / "config")
        env["XDG_RUNTIME_DIR"] = str(self._folder)
        if self.display:
            env["DISPLAY"] = self.display
        if self.bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def _start_xvfb(self) -> None:
        """Xvfb on a display it picks itself and writes to a pipe (``-displayfd``)."""
        read_end, write_end = os.pipe()
        try:
            with (self._folder / "xvfb.log").open("wb") as log:
                self._xvfb = subprocess.Popen(
                    [
                        self._which("Xvfb"),
                        "-displayfd",
                        str(write_end),
                        "-nolisten",
                        "tcp",
                        *_SCREEN,
                    ],
                    pass_fds=(write_end,),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
            os.close(write_end)
            write_end = -1
            number = _read_line(read_end, "Xvfb", self._folder / "xvfb.log")
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        self.display = f":{number}"

    def _start_bus(self) -> None:
        """A private ``dbus-daemon`` from our config; it prints its address when it listens."""
        config = self._folder / "bus.conf"
        config.write_text(_BUS_CONFIG.format(socket=self.bus_socket), encoding="utf-8")
        with (self._folder / "bus.log").open("wb") as log:
            self._bus = subprocess.Popen(
                [
                    self._which("dbus-daemon"),
                    f"--config-file={config}",
                    "--nofork",
                    "--print-address=1",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._child_env(),
                start_new_session=True,
            )
        assert self._bus.stdout is not None
        self.bus_address = _read_line(
            self._bus.stdout.fileno(), "dbus-daemon", self._folder / "bus.log"
        )

    def _start_dunst(self) -> None:
        """dunst with our config, then ``gdbus wait`` until it owns the notification name."""
        config_dir = self._folder / "config" / "dunst"
        config_dir.mkdir(parents=True)
        config = config_dir / "dunstrc"
        config.write_text(_dunst_config(self.markup), encoding="utf-8")
        with (self._folder / "dunst.log").open("wb") as log:
            self._dunst = subprocess.Popen(
                [self._which("dunst"), "-config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self._child_env(),
                start_new_session=True,
            )
        wait = subprocess.run(
            [
                self._which("gdbus"),
                "wait",
                "--session",
                "--timeout",
                "5",
                "org.freedesktop.Notifications",
            ],
            env=self._child_env(),
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        if wait.returncode != 0 or self._dunst.poll() is not None:
            raise NotificationDaemonError(
                f"dunst did not take org.freedesktop.Notifications (gdbus wait: {wait.returncode} "
                f"{wait.stderr.strip()}); dunst log:\n{self.dunst_log}"
            )

    def _history(self) -> list[Received]:
        """Close what is displayed, then read dunst's whole history."""
        self._dunstctl("close-all")
        raw = json.loads(self._dunstctl("history"))
        entries: list[dict[str, Any]] = raw["data"][0] if raw.get("data") else []
        return [_entry(item) for item in entries]

    def _which(self, program: str) -> str:
        """``program`` found on the PATH this helper started with, not the current one."""
        found = shutil.which(program, path=self._path)
        if found is None:
            raise NotificationDaemonError(f"{program} is not installed")
        return found

    def _dunstctl(self, *args: str) -> str:
        result = subprocess.run(
            [self._which("dunstctl"), *args],
            env=self._child_env(),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if result.returncode != 0:
            raise NotificationDaemonError(
                f"dunstctl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout


def _entry(item: dict[str, Any]) -> Received:
    """One dunst history entry (``{"summary": {"type": "s", "data": ...}, ...}``) made flat."""

    def field(name: str, default: Any = "") -> Any:
        return item.get(name, {}).get("data", default)

    first_line = str(field("message")).split("\n", 1)[0]
    markers = dict(part.partition("=")[::2] for part in first_line.split(" ") if "=" in part)
    return Received(
        id=int(field("id", 0)),
        appname=str(field("appname")),
        summary=str(field("summary")),
        body=str(field("body")),
        icon_path=str(field("icon_path")),
        timeout=int(field("timeout", 0)) // 1000,  # dunst keeps microseconds
        urgency=markers.get("urgency", ""),
        desktop_entry=markers.get("desktop-entry", ""),
    )


def _read_line(fd: int, what: str, log: Path) -> str:
    """Read one line from ``fd`` within the start-up timeout, or fail with ``log``'s content."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        chunk = os.read(fd, 256) if ready else b""
        if not chunk:
            reason = "timed out" if not ready else "exited"
            raise NotificationDaemonError(
                f"{what} {reason} before it was ready; log:\n{log.read_text(errors='replace')}"
            )
        data += chunk
    return data.decode().strip()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after 5 s; close our end of its pipes."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stdout is not None:
        process.stdout.close()

"""A real X system tray, headless: Xvfb plus ``trayer``, and a look at what it shows.

:class:`TrayHost` starts Xvfb on a display it picks itself (``-displayfd``, ``-nolisten tcp``)
and, unless ``with_tray=False``, ``trayer --edge top --SetDockType false`` (the recipe in
``/work/shared/TESTING.md``: under bare Xvfb pystray's xorg backend has nothing to dock into).
It waits until trayer owns the ``_NET_SYSTEM_TRAY_S0`` selection, so a test never races it.

It then reads the screen the way a person would see it, through its own X connection:
:meth:`TrayHost.window_names` (pystray's xorg icon window is named after the icon's title),
:meth:`TrayHost.pixels` (what the docked icon window shows) and :meth:`TrayHost.click` (a real
pointer click through the XTEST extension, not a synthetic event sent to one client)::

    with TrayHost() as host:
        monkeypatch.setenv("DISPLAY", host.display)
        ...start a tray icon titled "Watchdog: UP"...
        window = host.wait_for_window(lambda name: name.startswith("Watchdog"))
        host.click(window)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from PIL import Image

__all__ = ["TOOLS", "TrayHost", "TrayHostError", "XWindow", "missing_tools"]

#: Debian packages xvfb and trayer.
TOOLS = ("Xvfb", "trayer")

_STARTUP_TIMEOUT_S = 10.0
_SCREEN = ("-screen", "0", "640x480x24")

#: An X window id.
XWindow = int


class TrayHostError(RuntimeError):
    """Xvfb or trayer did not start or answer; the message says which, with its log."""


def missing_tools() -> list[str]:
    """The programs this helper needs that are not on ``PATH`` (empty when all are there)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _xlib(name: str) -> Any:
    """A python-xlib module (pystray's own X dependency; it has no type information)."""
    return importlib.import_module(f"Xlib.{name}")


class TrayHost:
    """Xvfb and (unless ``with_tray=False``) trayer for one test module or test."""

    def __init__(self, *, with_tray: bool = True) -> None:
        self.with_tray = with_tray
        self.display = ""
        self.folder: Path | None = None
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._trayer: subprocess.Popen[bytes] | None = None
        self._x: Any = None

    # --- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> TrayHost:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> TrayHost:
        """Start Xvfb (and trayer, waiting until it owns the tray selection); return ``self``."""
        missing = [tool for tool in missing_tools() if self.with_tray or tool != "trayer"]
        if missing:
            raise TrayHostError(f"not installed: {', '.join(missing)}")
        self.folder = Path(tempfile.mkdtemp(prefix="watchdog-tray-"))
        try:
            self._start_xvfb()
            self._x = _xlib("display").Display(self.display)
            if self.with_tray:
                self.start_tray()
        except BaseException:
            self.stop()
            raise
        return self

    def start_tray(self) -> None:
        """Start trayer now (also later, to play a panel that starts after the watchdog)."""
        with (self._folder / "trayer.log").open("ab") as log:
            self._trayer = subprocess.Popen(
                [_which("trayer"), "--edge", "top", "--SetDockType", "false"],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self.env_for_children(),
                start_new_session=True,
            )
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self.tray_running():
            if self._trayer.poll() is not None or time.monotonic() > deadline:
                raise TrayHostError(f"trayer did not take the tray selection; log:\n{self._log()}")
            time.sleep(0.01)

    def stop_tray(self) -> None:
        """Stop trayer (a panel that crashes or restarts) and wait until the tray is gone."""
        process, self._trayer = self._trayer, None
        if process is not None:
            _terminate(process)
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while self.tray_running():
            if time.monotonic() > deadline:
                raise TrayHostError("the tray selection outlived trayer")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop trayer and Xvfb and remove the folder. Idempotent."""
        if self._x is not None:
            with contextlib.suppress(Exception):
                self._x.close()
            self._x = None
        for attribute in ("_trayer", "_xvfb"):
            process: subprocess.Popen[bytes] | None = getattr(self, attribute)
            setattr(self, attribute, None)
            if process is not None:
                _terminate(process)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def env_for_children(self) -> dict[str, str]:
        """This process's environment on our display, with no Wayland to prefer."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        env["DISPLAY"] = self.display
        return env

    # --- what the screen shows ----------------------------------------------------------------

    def tray_running(self) -> bool:
        """Whether someone owns the system tray selection of screen 0 right now."""
        atom = self._x.intern_atom("_NET_SYSTEM_TRAY_S0")
        return bool(self._x.get_selection_owner(atom) != _xlib("X").NONE)

    def window_names(self) -> dict[XWindow, str]:
        """Every named window on the display (WM_NAME), by id."""
        names: dict[XWindow, str] = {}
        for window in self._walk(self._x.screen().root):
            try:
                name = window.get_wm_name()
            except Exception:  # destroyed while we walked
                continue
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            if name:
                names[int(window.id)] = str(name)
        return names

    def wait_for_window(self, matches: Callable[[str], bool], timeout: float = 5.0) -> XWindow:
        """The first window whose name ``matches``; fails after ``timeout`` with what is there."""
        deadline = time.monotonic() + timeout
        while True:
            for window, name in self.window_names().items():
                if matches(name):
                    return window
            if time.monotonic() > deadline:
                raise TrayHostError(f"no such window; named windows: {self.window_names()}")
            time.sleep(0.02)

    def is_viewable(self, window: XWindow) -> bool:
        """Whether ``window`` is mapped with all its ancestors (really on screen)."""
        try:
            attributes = self._resource(window).get_attributes()
        except Exception:
            return False
        return bool(attributes.map_state == _xlib("X").IsViewable)

    def pixels(self, window: XWindow) -> Image.Image:
        """What ``window`` shows, as an RGB image read back from the X server."""
        resource = self._resource(window)
        geometry = resource.get_geometry()
        raw = resource.get_image(
            0, 0, geometry.width, geometry.height, _xlib("X").ZPixmap, 0xFFFFFFFF
        )
        # Depth 24 on a little-endian server: 32 bits per pixel, blue first.
        return Image.frombytes(
            "RGB", (geometry.width, geometry.height), bytes(raw.data), "raw", "BGRX"
        )

    def click(self, window: XWindow, button: int = 1) -> None:
        """Move the pointer into ``window`` and press and release ``button`` (XTEST)."""
        root = self._x.screen().root
        resource = self._resource(window)
        geometry = resource.get_geometry()
        origin = root.translate_coords(resource, 0, 0)
        self.click_at(origin.x + geometry.width // 2, origin.y + geometry.height // 2, button)

    def click_at(self, x: int, y: int, button: int = 1) -> None:
        """Move the pointer to (``x``, ``y``) on the screen and click ``button`` there (XTEST),
        as a person's mouse does (what ``xdotool mousemove x y click 1`` sends)."""
        x_const = _xlib("X")
        xtest = _xlib("ext.xtest")
        xtest.fake_input(self._x, x_const.MotionNotify, x=x, y=y)
        xtest.fake_input(self._x, x_const.ButtonPress, button)
        xtest.fake_input(self._x, x_const.ButtonRelease, button)
        self._x.sync()

    def text_property(self, window: XWindow, name: str) -> str | None:
        """A text property of ``window`` as X holds it: ``WM_NAME`` is Latin-1 (``STRING``),
        ``_NET_WM_NAME`` UTF-8; None when the window has no such property."""
        atom = self._x.intern_atom(name)
        prop = self._resource(window).get_full_property(atom, _xlib("X").AnyPropertyType)
        if prop is None:
            return None
        utf8 = self._x.intern_atom("UTF8_STRING")
        raw = bytes(prop.value)
        return raw.decode("utf-8" if prop.property_type == utf8 else "latin-1")

    def screenshot(self, path: Path) -> Path:
        """The whole screen as a PNG at ``path`` (for a person to look at)."""
        root = self._x.screen().root
        geometry = root.get_geometry()
        raw = root.get_image(0, 0, geometry.width, geometry.height, _xlib("X").ZPixmap, 0xFFFFFFFF)
        image = Image.frombytes(
            "RGB", (geometry.width, geometry.height), bytes(raw.data), "raw", "BGRX"
        )
        image.save(path)
        return path

    # --- internals ----------------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise TrayHostError("the tray host is not started")
        return self.folder

    def _resource(self, window: XWindow) -> Any:
        return self._x.create_resource_object("window", window)

    def _walk(self, window: Any) -> Iterator[Any]:
        yield window
        try:
            children = window.query_tree().children
        except Exception:
            return
        for child in children:
            yield from self._walk(child)

    def _log(self) -> str:
        parts = []
        for name in ("xvfb.log", "trayer.log"):
            path = self._folder / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def _start_xvfb(self) -> None:
        """Xvfb on a display it picks itself and writes to a pipe (``-displayfd``)."""
        read_end, write_end = os.pipe()
        try:
            with (self._folder / "xvfb.log").open("wb") as log:
                self._xvfb = subprocess.Popen(
                    [_which("Xvfb"), "-displayfd", str(write_end), "-nolisten", "tcp", *_SCREEN],
                    pass_fds=(write_end,),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
            os.close(write_end)
            write_end = -1
            number = self._read_line(read_end, "Xvfb")
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        self.display = f":{number}"

    def _read_line(self, fd: int, what: str) -> str:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        data = b""
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            chunk = os.read(fd, 256) if ready else b""
            if not chunk:
                reason = "timed out" if not ready else "exited"
                raise TrayHostError(f"{what} {reason} before it was ready; log:\n{self._log()}")
            data += chunk
        return data.decode().strip()


def _which(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise TrayHostError(f"{program} is not installed")
    return found


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after 5 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

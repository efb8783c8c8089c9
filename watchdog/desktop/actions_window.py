"""A small window with the tray menu's actions, for trays that cannot show a menu.

pystray's X11 backend (``xorg``: Linux without PyGObject) has no menu, only a default action
on a click; yet notifications, guide pages and ``doctor`` send the front desk to "the tray icon
-> Show guidance / Check now / Quit". There a click on the icon opens this window instead: the
status line (the icon's colour, the title in full, the whole reason) and one button per menu
action, in the menu's words. Any action closes it, as choosing from a menu does; so do Escape
and the window's close button.

Threads. Tk is used from one thread only, its own (:meth:`ActionsWindow.open` starts it on the
first click and it lives until :meth:`ActionsWindow.shut`): Tk objects may not be touched from
other threads, and pystray's xorg loop owns the main thread. Other threads only put requests on
a queue that the Tk thread reads every ``refresh_s`` (Tk's ``after``); the status and the
actions are read through callables that only read plain Python values. Actions run in a
short-lived thread of their own, so a slow one (a browser starting) never freezes the window.
No Tk variable, font or image objects are made: each of them would be deleted by Python's
garbage collector in whatever thread it runs, which Tcl aborts on ("async handler deleted by the
wrong thread"); the Tk root is destroyed and collected on the Tk thread.

Tk on macOS would need the main thread; macOS and Windows trays have menus and never open this.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import importlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from watchdog.core.models import Status
from watchdog.desktop.tray_icon import STATUS_COLOURS

__all__ = ["Action", "ActionsWindow", "tk_problem"]

log = logging.getLogger(__name__)

#: How often the Tk thread reads its requests and the status.
REFRESH_S = 0.2

#: How long :meth:`ActionsWindow.shut` waits for the Tk thread to end.
_SHUT_WAIT_S = 2.0

#: Text width in pixels before a line wraps.
_WRAP_PX = 380

#: (x, y, width, height) on the screen.
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Action:
    """One button: its words and what it does (a callable that never raises)."""

    label: str
    run: Callable[[], None]


def tk_problem() -> str | None:
    """Why this Python cannot open Tk windows (None when it can, as far as loading tells)."""
    try:
        importlib.import_module("tkinter")
    except Exception as e:
        return f"Tk for Python cannot be loaded: {type(e).__name__}: {e}"
    return None


class ActionsWindow:
    """The window; every public method is safe from any thread and returns at once."""

    def __init__(
        self,
        *,
        title: str,
        headline: Callable[[], str],
        reason: Callable[[], str],
        status: Callable[[], Status],
        actions: Callable[[], Sequence[Action]],
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.title = title
        self._headline = headline
        self._reason = reason
        self._status = status
        self._actions = actions
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._shut = False
        self._shown = threading.Event()

    # --- for the tray --------------------------------------------------------------------------

    def open(self, on_failure: Callable[[], None] | None = None) -> bool:
        """Show the window (or bring it to the front); False when Tk cannot be loaded at all.

        ``on_failure`` runs (on the Tk thread) when Tk loads but cannot open a window, e.g.
        the display refuses it; the tray then shows the guidance as it did before.
        """
        if tk_problem() is not None:
            return False
        with self._lock:
            if self._shut:
                return True
            self._requests.put(("show", None))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(on_failure,), name="watchdog-actions", daemon=True
                )
                self._thread.start()
        return True

    def close(self) -> None:
        """Hide the window (Tk keeps running for the next click)."""
        self._requests.put(("hide", None))

    def shut(self) -> None:
        """End the Tk thread for good (the tray stops); later :meth:`open` calls do nothing."""
        with self._lock:
            self._shut = True
            thread = self._thread
            if thread is not None:
                self._requests.put(("quit", None))
        if thread is not None and thread is not threading.current_thread():
            thread.join(_SHUT_WAIT_S)

    def is_shown(self) -> bool:
        """Whether the window is on screen now."""
        return self._shown.is_set()

    def wait_shown(self, timeout: float) -> bool:
        """Wait until the window is on screen; False after ``timeout``."""
        return self._shown.wait(timeout)

    def button_boxes(self, timeout: float = 5.0) -> dict[str, Box]:
        """Where each button is on the screen, by its words (for tests that click them)."""
        answer: concurrent.futures.Future[dict[str, Box]] = concurrent.futures.Future()
        self._requests.put(("boxes", answer))
        return answer.result(timeout)

    # --- the Tk thread -------------------------------------------------------------------------

    def _run(self, on_failure: Callable[[], None] | None) -> None:
        try:
            tkinter = importlib.import_module("tkinter")
            root = tkinter.Tk(className="DeliveryWatchdog")
        except Exception:
            log.exception("The Delivery Watchdog window could not be opened")
            with self._lock:
                self._thread = None
            if on_failure is not None:
                on_failure()
            return
        try:
            parts = _Parts(self, root, tkinter)
            root.after(0, parts.tick)
            root.mainloop()
        except Exception:
            log.exception("The Delivery Watchdog window failed")
        finally:
            self._shown.clear()
            with contextlib.suppress(Exception):  # destroyed already
                root.destroy()
            # The Tcl interpreter must be freed here, on its own thread (see the module doc).
            del root
            gc.collect()
            with self._lock:
                self._thread = None


class _Parts:
    """The window's widgets; used on the Tk thread only."""

    def __init__(self, window: ActionsWindow, root: Any, tkinter: Any) -> None:
        self.window = window
        self.root = root
        self.placed = False
        self.actions: list[Action] = []
        ttk = importlib.import_module("tkinter.ttk")

        root.withdraw()
        root.title(window.title)
        root.resizable(False, False)
        root.protocol("WM_DELETE_WINDOW", self.hide)
        root.bind("<Escape>", lambda _event: self.hide())

        frame = ttk.Frame(root, padding=12)
        frame.grid(sticky="nsew")
        top = ttk.Frame(frame)
        top.grid(row=0, column=0, sticky="we")
        self.dot = tkinter.Canvas(top, width=18, height=18, highlightthickness=0)
        self.dot_id = self.dot.create_oval(2, 2, 16, 16, fill="#7d838c", outline="")
        self.dot.grid(row=0, column=0, sticky="n", padx=(0, 8), pady=(2, 0))
        self.headline = ttk.Label(
            top, text="", wraplength=_WRAP_PX, justify="left", font=("TkDefaultFont", 10, "bold")
        )
        self.headline.grid(row=0, column=1, sticky="w")
        self.reason = ttk.Label(frame, text="", wraplength=_WRAP_PX + 26, justify="left")
        self.reason.grid(row=1, column=0, sticky="w", pady=(6, 0))

        buttons = ttk.Frame(frame)
        buttons.grid(row=2, column=0, sticky="we", pady=(10, 0))
        buttons.columnconfigure(0, weight=1)
        self.buttons: list[Any] = []
        for index, action in enumerate(window._actions()):
            button = ttk.Button(buttons, text=action.label, command=self.presser(index))
            button.grid(row=index, column=0, sticky="we", pady=2)
            self.buttons.append(button)
        self.refresh()

    def presser(self, index: int) -> Callable[[], None]:
        def press() -> None:
            self.press(index)

        return press

    def press(self, index: int) -> None:
        """Run the button's action off the Tk thread, and close the window as a menu would."""
        if index >= len(self.actions):
            return
        action = self.actions[index]
        threading.Thread(
            target=action.run, name=f"watchdog-action-{action.label}", daemon=True
        ).start()
        self.hide()

    def hide(self) -> None:
        self.root.withdraw()
        self.window._shown.clear()

    def show(self) -> None:
        self.refresh()
        self.root.update_idletasks()
        if not self.placed:
            self.place_near_pointer()
            self.placed = True
        self.root.deiconify()
        self.root.lift()
        self.root.attributes("-topmost", True)
        try:
            self.root.focus_force()
        except Exception:
            log.debug("The window could not take the focus", exc_info=True)
        self.window._shown.set()

    def place_near_pointer(self) -> None:
        """Just below the pointer (the click on the icon), kept on the screen."""
        root = self.root
        width, height = root.winfo_reqwidth(), root.winfo_reqheight()
        x, y = root.winfo_pointerxy()
        screen_w, screen_h = root.winfo_screenwidth(), root.winfo_screenheight()
        left = max(0, min(x - width // 2, screen_w - width))
        top = y + 16 if y + 16 + height <= screen_h else max(0, y - 16 - height)
        root.geometry(f"+{left}+{top}")

    def refresh(self) -> None:
        """The status line and the buttons' words as they are now."""
        window = self.window
        try:
            headline, reason, status = window._headline(), window._reason(), window._status()
            actions = list(window._actions())
        except Exception:
            log.exception("The Delivery Watchdog window could not read the status")
            return
        self.headline.configure(text=headline)
        self.reason.configure(text=reason)
        if reason:
            self.reason.grid()
        else:
            self.reason.grid_remove()
        self.dot.itemconfigure(self.dot_id, fill=_hex(STATUS_COLOURS[status]))
        for button, action in zip(self.buttons, actions, strict=False):
            if str(button.cget("text")) != action.label:
                button.configure(text=action.label)
        self.actions = actions

    def boxes(self) -> dict[str, Box]:
        self.root.update_idletasks()
        return {
            str(button.cget("text")): (
                button.winfo_rootx(),
                button.winfo_rooty(),
                button.winfo_width(),
                button.winfo_height(),
            )
            for button in self.buttons
        }

    def tick(self) -> None:
        """Every ``refresh_s``: the requests of other threads, then the status."""
        while True:
            try:
                kind, payload = self.window._requests.get_nowait()
            except queue.Empty:
                break
            if kind == "quit":
                self.root.quit()
                return
            if kind == "show":
                self.show()
            elif kind == "hide":
                self.hide()
            elif kind == "boxes":
                try:
                    payload.set_result(self.boxes())
                except Exception as e:
                    payload.set_exception(e)
        if self.window.is_shown():
            self.refresh()
        self.root.after(round(self.window.refresh_s * 1000), self.tick)


def _hex(rgb: tuple[int, int, int]) -> str:
    """``#d62828``: a Tk colour."""
    red, green, blue = rgb
    return f"#{red:02x}{green:02x}{blue:02x}"

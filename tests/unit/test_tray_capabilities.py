"""What each kind of tray offers, without a display: a stand-in for pystray with or without menus.

The real X11 tray (no menus) is tested under Xvfb in ``tests/integration/test_tray_actions.py``;
here the backends this machine cannot run (Windows, macOS, AppIndicator: all with menus).
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from watchdog.core.controls import TrayState
from watchdog.core.models import Status
from watchdog.desktop import tray as tray_module
from watchdog.desktop.tray import Tray, tray_capabilities


def fake_pystray(backend: str, *, has_menu: bool) -> types.ModuleType:
    """A module that looks like ``pystray`` with the given backend to the tray."""

    class MenuItem:
        def __init__(self, text: Any, action: Any, default: bool = False, **_options: Any) -> None:
            self._text, self.action, self.default = text, action, default

        @property
        def text(self) -> str:
            return self._text(self) if callable(self._text) else str(self._text)

    class Menu:
        SEPARATOR = MenuItem("- - - -", None)

        def __init__(self, *items: MenuItem) -> None:
            self.items = items

        def __iter__(self) -> Any:
            return iter(self.items)

    class Icon:
        HAS_MENU = has_menu

        def __init__(self, name: str, icon: Any, title: str, menu: Menu) -> None:
            self.name, self.icon, self.title, self.menu = name, icon, title, menu

    Icon.__module__ = f"pystray._{backend}"
    module = types.ModuleType("pystray")
    module.Icon = Icon  # type: ignore[attr-defined]
    module.Menu = Menu  # type: ignore[attr-defined]
    module.MenuItem = MenuItem  # type: ignore[attr-defined]
    return module


class Controls:
    def state(self) -> TrayState:
        return TrayState(Status.UP, None, None, account="frontdesk@example.com")

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


@pytest.mark.parametrize("backend", ["win32", "darwin", "appindicator", "gtk"])
def test_a_tray_with_menus_offers_the_menu_and_a_click_shows_the_guidance(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pystray = fake_pystray(backend, has_menu=True)
    monkeypatch.setattr(tray_module, "_import_pystray", lambda: pystray)
    monkeypatch.setenv("DISPLAY", ":0")

    capabilities = tray_capabilities()
    assert (capabilities.can_show_icon, capabilities.has_menu) == (True, True)
    assert capabilities.how_actions_are_offered.startswith("The tray icon's menu (click or")

    tray = Tray(Controls(), pystray)
    assert tray.actions_window is None
    assert [item.text for item in tray.icon.menu if item.default] == ["Show guidance"]
    assert tray.icon.title == "Reminders from frontdesk@example.com: getting through"


def test_a_tray_without_menus_opens_the_actions_window_on_a_click() -> None:
    pystray = fake_pystray("dummy", has_menu=False)  # as xorg, without needing an X server
    tray = Tray(Controls(), pystray)
    assert tray.actions_window is not None
    assert [item.text for item in tray.icon.menu if item.default] == ["Open Delivery Watchdog"]
    labels = [action.label for action in tray._window_actions()]
    menu = [item.text for item in tray.icon.menu][1:]
    assert labels == [
        "Show guidance",
        "Check now",
        "Pause for 1 hour",
        "Open history report",
        "Open settings",
        "Quit",
    ]
    # Notes (the last batch, today's sending) are shown, not chosen: empty without a batch.
    assert sorted(labels) == sorted(text for text in menu if text not in ("- - - -", ""))

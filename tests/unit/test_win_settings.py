"""Open settings on Windows, with the platform injected: Notepad when no editor is registered
for ``.toml``, and a config file Notepad saved with a byte order mark still loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_config import GOOD
from watchdog.app import open_in_editor
from watchdog.config import load_config


class Started:
    """Stands in for ``subprocess.Popen``: records the command lines."""

    def __init__(self, fail: OSError | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail = fail

    def __call__(self, command: list[str], *args: Any, **kwargs: Any) -> object:
        if self.fail is not None:
            raise self.fail
        self.commands.append(command)
        return object()


def no_editor_registered(path: Any, operation: str = "open") -> None:
    raise OSError(22, "No application is associated with the specified file for this operation")


def test_on_windows_without_a_toml_editor_the_settings_open_in_notepad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "startfile", no_editor_registered, raising=False)
    started = Started()
    monkeypatch.setattr(subprocess, "Popen", started)
    path = tmp_path / "Dr Müller & Co" / "config.toml"

    assert open_in_editor(path) is True
    assert started.commands == [["notepad.exe", str(path)]]


def test_on_windows_a_registered_toml_editor_is_used_and_notepad_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[Any, str]] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "startfile", lambda p, op: opened.append((p, op)), raising=False)
    started = Started()
    monkeypatch.setattr(subprocess, "Popen", started)

    assert open_in_editor(tmp_path / "config.toml") is True
    assert opened == [(tmp_path / "config.toml", "edit")] and started.commands == []


def test_on_windows_when_notepad_cannot_start_either_it_reports_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "startfile", no_editor_registered, raising=False)
    monkeypatch.setattr(subprocess, "Popen", Started(fail=FileNotFoundError(2, "notepad.exe")))
    assert open_in_editor(tmp_path / "config.toml") is False


def test_a_config_saved_by_notepad_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode("utf-8"))
    config = load_config(path)
    assert config.sender.address == "frontdesk@att.net"

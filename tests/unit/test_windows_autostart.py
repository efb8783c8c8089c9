"""Autostart of the frozen program (PyInstaller), with the platform injected.

The frozen program is its own interpreter: the entry must start *it* with ``tray``, never
``<it> -P -m watchdog tray``, and on Windows the console-less ``watchdogw.exe`` beside it (a
console program at login is a black window that ends the watchdog when closed). Office PCs have
user names with spaces and accents ("Zoë Müller"), and the per-user installer puts the program
under that name's AppData, so every path here has both. The Run values are parsed back with the
Microsoft C runtime's rules, written here independently of the module's quoting.
"""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog.desktop.autostart import (
    FROZEN_WINDOWED_PROGRAM,
    _windows_program,
    enable,
    launch_command,
    render_macos_plist,
    render_windows_run_value,
)

INSTALLED = r"C:\Users\Zoë Müller\AppData\Local\Programs\Delivery Watchdog"
FROZEN_EXE = INSTALLED + r"\watchdog.exe"
WINDOWED_EXE = INSTALLED + "\\" + FROZEN_WINDOWED_PROGRAM
CONFIG = r"C:\Users\Zoë Müller\Documents\Praxis Dr. Núñez & Partner\config.toml"


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend to be the PyInstaller program, which sets ``sys.frozen``."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delenv("WATCHDOG_CONFIG", raising=False)


def windows_argv(command_line: str) -> list[str]:
    """Split a command line as the Microsoft C runtime does (argv of a Windows program).

    Outside quotes, spaces and tabs separate; ``"`` toggles quoting; ``2n`` backslashes before a
    ``"`` become ``n`` and the quote counts, ``2n+1`` become ``n`` and a literal ``"``; other
    backslashes are literal. The first word (the program) takes no escapes: it ends at the
    closing quote.
    """
    text = command_line.strip()
    if text.startswith('"'):
        end = text.index('"', 1)
        argv, i = [text[1:end]], end + 1
    else:
        first = text.split(None, 1)[0]
        argv, i = [first], len(first)
    current: list[str] = []
    in_word = quoted = False
    while i < len(text):
        c = text[i]
        if c == "\\":
            run = len(text) - i - len(text[i:].lstrip("\\"))
            if i + run < len(text) and text[i + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
                in_word = True
                continue
            current.append("\\" * run)
            i += run
            in_word = True
            continue
        if c == '"':
            quoted = not quoted
            in_word = True
        elif c in " \t" and not quoted:
            if in_word:
                argv.append("".join(current))
                current, in_word = [], False
        else:
            current.append(c)
            in_word = True
        i += 1
    if in_word:
        argv.append("".join(current))
    return argv


@pytest.mark.parametrize(
    "args",
    [["tray"], ["two words", 'say "hi"', "trailing\\", "back\\slash", ""], ['a\\\\"b c']],
)
def test_the_command_line_parser_of_these_tests_inverts_subprocess_list2cmdline(
    args: list[str],
) -> None:
    assert windows_argv(r'"C:\x\y.exe" ' + subprocess.list2cmdline(args)) == [r"C:\x\y.exe", *args]


#: These render a Windows entry from another system (a dry run), where nothing is looked up on disk.
not_on_windows = pytest.mark.skipif(
    sys.platform == "win32", reason="renders from another system; see the native tests below"
)


@not_on_windows
def test_the_frozen_windows_program_starts_its_windowless_twin_with_tray(frozen: None) -> None:
    result = enable(dry_run=True, platform="win32", executable=FROZEN_EXE)

    assert result.content == f'"{WINDOWED_EXE}" tray'
    assert windows_argv(result.content) == [WINDOWED_EXE, "tray"]
    assert "-m" not in result.content and "pythonw" not in result.content


@not_on_windows
def test_a_chosen_config_with_spaces_accents_and_an_ampersand_survives_the_run_value(
    frozen: None,
) -> None:
    result = enable(dry_run=True, platform="win32", executable=FROZEN_EXE, config_path=Path(CONFIG))

    assert result.content is not None
    assert windows_argv(result.content) == [WINDOWED_EXE, "tray", "--config", CONFIG]
    assert _windows_program(result.content) == WINDOWED_EXE  # what `status` checks exists
    assert result.note == ""  # well under the length Windows may refuse


def test_a_config_folder_ending_in_a_backslash_keeps_the_closing_quote() -> None:
    command = launch_command(
        Path("C:\\Users\\Zoë Müller\\Watchdog Config\\"),
        platform="win32",
        executable=FROZEN_EXE,
        frozen=True,
    )

    value = render_windows_run_value(command)

    assert windows_argv(value)[-2:] == ["--config", command.config]


def test_without_freezing_the_windows_entry_is_still_python_with_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(sys, "frozen", raising=False)
    python = r"C:\Users\Zoë Müller\AppData\Local\Programs\Python\Python311\python.exe"

    result = enable(dry_run=True, platform="win32", executable=python)

    assert result.content is not None
    assert windows_argv(result.content) == [python, "-P", "-m", "watchdog", "tray"]


def test_the_frozen_macos_launch_agent_runs_the_program_itself(frozen: None) -> None:
    program = "/Applications/Delivery Watchdog/watchdog"

    command = launch_command(platform="darwin", executable=program)
    document = plistlib.loads(render_macos_plist(command, log_dir="/tmp/logs").encode())

    assert document["ProgramArguments"] == [program, "tray"]


def test_the_frozen_linux_entry_runs_the_program_itself_from_its_real_folder(
    frozen: None, tmp_path: Path
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the native Linux case")
    folder = tmp_path / "Zoë Müller" / "delivery watchdog"
    folder.mkdir(parents=True)
    program = folder / "watchdog"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)

    command = launch_command(platform="linux", executable=str(program))

    assert command.argv == [str(program), "tray"]


@pytest.mark.skipif(sys.platform != "win32", reason="looks for watchdogw.exe on a real disk")
@pytest.mark.parametrize("windowed_present", [True, False])
def test_on_windows_the_windowless_program_is_used_only_when_it_is_really_there(
    frozen: None, tmp_path: Path, windowed_present: bool
) -> None:
    folder = tmp_path / "Zoë Müller" / "Delivery Watchdog"
    folder.mkdir(parents=True)
    (folder / "watchdog.exe").write_bytes(b"")
    if windowed_present:
        (folder / FROZEN_WINDOWED_PROGRAM).write_bytes(b"")

    command = launch_command(platform="win32", executable=str(folder / "watchdog.exe"))

    expected = FROZEN_WINDOWED_PROGRAM if windowed_present else "watchdog.exe"
    assert command.argv == [str(folder / expected), "tray"]

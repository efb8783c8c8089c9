"""Autostart at login: the Linux .desktop file for real in a temporary XDG_CONFIG_HOME; the macOS
plist and the Windows Run value through their dry runs (and the plist for real in a temporary
home, pretending to be macOS).

Desktop files are read back with configparser and an Exec parser written here from the Desktop
Entry spec, independently of the module's own, so quoting mistakes cannot cancel out.
"""

from __future__ import annotations

import argparse
import configparser
import os
import plistlib
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog.cli import build_parser
from watchdog.desktop import autostart
from watchdog.desktop.autostart import (
    AutostartError,
    LaunchCommand,
    disable,
    enable,
    launch_command,
    linux_desktop_path,
    render_linux_desktop,
    render_macos_plist,
    render_windows_run_value,
    run_autostart,
    status,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the real autostart tests use the XDG folder"
)


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_CONFIG_HOME and HOME; no WATCHDOG_CONFIG from the developer's shell."""
    config_home = tmp_path / "xdg config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WATCHDOG_CONFIG", raising=False)
    return config_home


def installation(folder: Path, *, script: bool = True) -> str:
    """A fake installation: ``bin/python3`` and (optionally) the ``bin/watchdog`` script."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python3"
    python.write_text("#!/bin/sh\n", encoding="utf-8")
    python.chmod(0o755)
    if script:
        (bin_dir / "watchdog").write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_dir / "watchdog").chmod(0o755)
    return str(python)


def desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return dict(parser["Desktop Entry"])


def exec_argv(value: str) -> list[str]:
    """An Exec value as the Desktop Entry spec defines it: first the general string escapes
    (``\\s \\n \\t \\r \\\\``), then arguments split on spaces, double-quoted ones with ``\\"``,
    ``\\``` ``\\$`` and ``\\\\`` escaped, and ``%%`` for a literal ``%``."""
    unescaped, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            unescaped += {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[value[i + 1]]
            i += 2
        else:
            unescaped += value[i]
            i += 1
    argv: list[str] = []
    i = 0
    while i < len(unescaped):
        if unescaped[i] == " ":
            i += 1
            continue
        arg = ""
        if unescaped[i] == '"':
            i += 1
            while unescaped[i] != '"':
                if unescaped[i] == "\\":
                    assert unescaped[i + 1] in '"`$\\', f"bad escape in {value!r}"
                    i += 1
                arg += unescaped[i]
                i += 1
            i += 1
        else:
            while i < len(unescaped) and unescaped[i] != " ":
                assert unescaped[i] not in "\"'\\><~|&;$*?#()`", f"unquoted reserved in {value!r}"
                arg += unescaped[i]
                i += 1
        argv.append(arg.replace("%%", "%"))
    return argv


def parsed(*argv: str) -> argparse.Namespace:
    """``watchdog autostart ...`` as the command line's own parser reads it."""
    return build_parser(["autostart"]).parse_args(["autostart", *argv])


def cli(*argv: str) -> int:
    """Run ``watchdog autostart ...`` as the command line does (parsed, then its command)."""
    args = parsed(*argv)
    code: int = args.func(args)
    return code


# -- Linux, for real -----------------------------------------------------------------------------


def test_enable_writes_a_desktop_file_that_starts_the_tray(xdg: Path, tmp_path: Path) -> None:
    python = installation(tmp_path / "venv")

    result = enable(executable=python)

    path = xdg / "autostart" / "delivery-watchdog.desktop"
    assert result.changed and result.location == str(path) == str(linux_desktop_path())
    entry = desktop_entry(path)
    assert exec_argv(entry["Exec"]) == [str(tmp_path / "venv" / "bin" / "watchdog"), "tray"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Delivery Watchdog"
    assert entry["Comment"]
    assert entry["Terminal"] == "false"
    assert entry["X-GNOME-Autostart-enabled"] == "true"


def test_the_exec_line_passes_the_config_file_when_one_is_given(xdg: Path, tmp_path: Path) -> None:
    python = installation(tmp_path / "venv")
    config = tmp_path / "office.toml"

    enable(executable=python, config_path=config)

    argv = exec_argv(desktop_entry(linux_desktop_path())["Exec"])
    assert argv[1:] == ["tray", "--config", str(config)]


def test_a_relative_config_path_is_made_absolute_for_the_login_session(
    xdg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = installation(tmp_path / "venv")
    monkeypatch.chdir(tmp_path)

    enable(executable=python, config_path=Path("office.toml"))

    argv = exec_argv(desktop_entry(linux_desktop_path())["Exec"])
    assert argv[-2:] == ["--config", str(tmp_path / "office.toml")]


def test_the_config_file_in_its_default_place_is_not_repeated_in_exec(
    xdg: Path, tmp_path: Path
) -> None:
    python = installation(tmp_path / "venv")
    default = xdg / "delivery-watchdog" / "config.toml"  # platformdirs honours XDG_CONFIG_HOME

    enable(executable=python, config_path=default)

    assert exec_argv(desktop_entry(linux_desktop_path())["Exec"])[1:] == ["tray"]


def test_watchdog_config_from_the_shell_is_written_into_exec_as_the_login_lacks_it(
    xdg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = installation(tmp_path / "venv")
    monkeypatch.setenv("WATCHDOG_CONFIG", str(tmp_path / "from-env.toml"))

    enable(executable=python)

    argv = exec_argv(desktop_entry(linux_desktop_path())["Exec"])
    assert argv[1:] == ["tray", "--config", str(tmp_path / "from-env.toml")]


def test_without_the_console_script_python_runs_the_module_without_the_cwd_on_its_path(
    xdg: Path, tmp_path: Path
) -> None:
    python = installation(tmp_path / "venv", script=False)

    enable(executable=python)

    argv = exec_argv(desktop_entry(linux_desktop_path())["Exec"])
    assert argv == [python, "-P", "-m", "watchdog", "tray"]


def test_the_virtual_environment_symlink_is_kept_not_resolved(xdg: Path, tmp_path: Path) -> None:
    real = installation(tmp_path / "system python", script=False)
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python3").symlink_to(real)

    command = launch_command(executable=str(venv_bin / "python3"))

    assert command.program == str(venv_bin / "python3")


def test_status_says_enabled_after_enable_and_where(xdg: Path, tmp_path: Path) -> None:
    python = installation(tmp_path / "venv")
    enable(executable=python)

    found = status()

    assert found.enabled
    assert found.location == str(linux_desktop_path())
    assert found.command == shlex.join([str(tmp_path / "venv" / "bin" / "watchdog"), "tray"])
    assert found.note == ""
    assert f"Autostart: enabled ({linux_desktop_path()})" in found.describe()


def test_enabling_twice_writes_once_and_changes_nothing_the_second_time(
    xdg: Path, tmp_path: Path
) -> None:
    python = installation(tmp_path / "venv")
    first = enable(executable=python)
    before = linux_desktop_path().read_bytes()
    inode = linux_desktop_path().stat().st_ino

    second = enable(executable=python)

    assert first.changed and not second.changed
    assert linux_desktop_path().read_bytes() == before
    assert linux_desktop_path().stat().st_ino == inode  # not even rewritten
    assert "already enabled" in second.describe()
    assert sorted(p.name for p in linux_desktop_path().parent.iterdir()) == [
        "delivery-watchdog.desktop"
    ]  # no temporary files left behind


def test_enable_again_updates_an_entry_that_points_at_an_old_installation(
    xdg: Path, tmp_path: Path
) -> None:
    enable(executable=installation(tmp_path / "old"))

    result = enable(executable=installation(tmp_path / "new"))

    assert result.changed
    assert exec_argv(desktop_entry(linux_desktop_path())["Exec"])[0] == str(
        tmp_path / "new" / "bin" / "watchdog"
    )


def test_disable_removes_the_file_and_status_says_disabled(xdg: Path, tmp_path: Path) -> None:
    enable(executable=installation(tmp_path / "venv"))
    (linux_desktop_path().parent / "other-app.desktop").write_text("[Desktop Entry]\n")

    result = disable()

    assert result.changed
    assert not linux_desktop_path().exists()
    assert (linux_desktop_path().parent / "other-app.desktop").exists()
    found = status()
    assert not found.enabled and found.command is None
    assert found.describe().startswith("Autostart: disabled")
    assert not disable().changed  # disabling again is fine and says so


def test_disable_leaves_a_desktop_file_that_enable_did_not_write(xdg: Path) -> None:
    path = linux_desktop_path()
    path.parent.mkdir(parents=True)
    path.write_text("[Desktop Entry]\nType=Application\nExec=/opt/custom/watchdog tray -v\n")

    with pytest.raises(AutostartError, match="not written by `watchdog autostart enable`"):
        disable()

    assert path.exists()
    assert "not written by" in status().note


def test_status_notices_when_the_desktop_settings_switched_autostart_off(
    xdg: Path, tmp_path: Path
) -> None:
    enable(executable=installation(tmp_path / "venv"))
    path = linux_desktop_path()
    path.write_text(
        path.read_text().replace(
            "X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"
        )
    )

    found = status()

    assert not found.enabled
    assert "switched off in the desktop's startup settings" in found.note


def test_status_notices_when_the_program_it_starts_has_gone(xdg: Path, tmp_path: Path) -> None:
    python = installation(tmp_path / "venv")
    enable(executable=python)
    (tmp_path / "venv" / "bin" / "watchdog").unlink()

    assert "no longer exists" in status().note


def test_a_dry_run_writes_nothing_and_prints_the_content(
    xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli("enable", "--dry-run")

    out = capsys.readouterr().out
    assert code == 0
    assert not linux_desktop_path().exists()
    assert not (xdg / "autostart").exists()
    assert out.startswith(f"Dry run: nothing was changed.\nWould write {linux_desktop_path()}:\n")
    assert render_linux_desktop(launch_command()) in out + "\n"
    assert "Exec=" in out and " tray" in out


def test_the_cli_enables_reports_and_disables_in_plain_words(
    xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "Front Desk" / "office.toml"
    config.parent.mkdir()
    config.write_text("")

    assert cli("--config", str(config), "enable") == 0
    assert capsys.readouterr().out.startswith(f"Autostart enabled: wrote {linux_desktop_path()}.\n")
    assert exec_argv(desktop_entry(linux_desktop_path())["Exec"])[-2:] == ["--config", str(config)]

    assert cli("status") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Autostart: enabled ({linux_desktop_path()})\nIt runs: ")
    assert f"--config '{config}'" in out

    assert cli("disable", "--dry-run") == 0
    assert capsys.readouterr().out == (
        f"Dry run: nothing was changed.\nWould remove {linux_desktop_path()}.\n"
    )
    assert linux_desktop_path().exists()

    assert cli("disable") == 0
    assert capsys.readouterr().out.startswith(
        f"Autostart disabled: removed {linux_desktop_path()}.\n"
    )
    assert not linux_desktop_path().exists()


def test_the_cli_accepts_only_enable_disable_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert parsed("status").dry_run is False
    assert parsed("enable", "--dry-run").dry_run is True
    with pytest.raises(SystemExit):
        parsed("start")
    assert "invalid choice" in capsys.readouterr().err


def test_an_unsupported_system_exits_with_3_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_autostart("enable", platform="emscripten")

    assert code == 3
    err = capsys.readouterr().err
    assert "not supported on this system (emscripten)" in err
    assert "watchdog tray" in err


# -- Exec quoting --------------------------------------------------------------------------------


def test_paths_with_spaces_are_quoted_in_exec(xdg: Path, tmp_path: Path) -> None:
    python = installation(tmp_path / "My Programs" / "venv")
    config = tmp_path / "Front Desk" / "watchdog.toml"

    enable(executable=python, config_path=config)

    exec_value = desktop_entry(linux_desktop_path())["Exec"]
    script = tmp_path / "My Programs" / "venv" / "bin" / "watchdog"
    assert exec_value == f'"{script}" tray --config "{config}"'
    assert exec_argv(exec_value) == [str(script), "tray", "--config", str(config)]


def test_reserved_characters_in_paths_survive_the_round_trip() -> None:
    odd = [
        '/home/dr smith/it\'s $HOME/`x`/back\\slash/50% "quoted"/a;b&c|d<e>f*g?h#i(j)k~l',
        "/plain/path/100%",
        " leading space",
    ]
    command = LaunchCommand(odd[0], ("tray", odd[1]), config=odd[2])

    content = render_linux_desktop(command, icon="/icons/dr smith/watchdog.png")

    path_text = content.split("Exec=", 1)[1].split("\n", 1)[0]
    assert exec_argv(path_text) == [odd[0], "tray", odd[1], "--config", odd[2]]
    assert autostart.split_desktop_exec(path_text) == command.argv
    assert "Icon=/icons/dr smith/watchdog.png\n" in content


def test_the_spec_examples_for_backslash_and_dollar_are_followed() -> None:
    """The spec: a literal ``\\`` in a quoted argument is ``\\\\\\\\`` in the file, ``$`` is
    ``\\\\$``."""
    content = render_linux_desktop(LaunchCommand("/a b/c\\d$e", ()), icon="")

    assert 'Exec="/a b/c\\\\\\\\d\\\\$e"\n' in content
    assert "Icon=" not in content


def test_a_path_with_a_newline_is_refused() -> None:
    with pytest.raises(AutostartError, match="control characters"):
        render_linux_desktop(LaunchCommand("/opt/x\ny/watchdog", ("tray",)))


def test_the_desktop_file_shows_the_shipped_icon() -> None:
    content = render_linux_desktop(LaunchCommand("/venv/bin/watchdog", ("tray",)))

    icon = content.split("Icon=", 1)[1].split("\n", 1)[0]
    assert Path(icon).is_absolute()
    assert Path(icon).parts[-4:] == ("watchdog", "data", "icons", "watchdog.png")
    assert Path(icon).is_file()


# -- macOS ---------------------------------------------------------------------------------------


def test_the_macos_dry_run_plist_starts_the_tray_at_login(xdg: Path) -> None:
    result = enable(
        dry_run=True,
        platform="darwin",
        executable="/Users/frontdesk/.venv/bin/python3",
        config_path=Path("/Users/frontdesk/Front Desk/watchdog.toml"),
    )

    assert result.dry_run and result.content is not None
    assert result.location.endswith("/Library/LaunchAgents/net.delivery-watchdog.plist")
    plist = plistlib.loads(result.content.encode("utf-8"))
    assert plist["Label"] == "net.delivery-watchdog"
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] is False
    assert plist["ProgramArguments"] == [
        "/Users/frontdesk/.venv/bin/python3",
        "-P",
        "-m",
        "watchdog",
        "tray",
        "--config",
        "/Users/frontdesk/Front Desk/watchdog.toml",
    ]
    logs = str(Path(os.environ["HOME"]) / "Library" / "Logs" / "delivery-watchdog")
    assert plist["StandardOutPath"] == f"{logs}/launchd-stdout.log"
    assert plist["StandardErrorPath"] == f"{logs}/launchd-stderr.log"
    assert not Path(result.location).exists()


def test_the_macos_plist_runs_the_console_script_as_given() -> None:
    command = LaunchCommand("/Users/fd/.local/pipx/venvs/delivery-watchdog/bin/watchdog", ("tray",))

    plist = plistlib.loads(render_macos_plist(command, log_dir="/logs").encode("utf-8"))

    assert plist["ProgramArguments"] == [command.program, "tray"]
    assert plist["StandardOutPath"] == "/logs/launchd-stdout.log"


def test_on_macos_enable_writes_the_launch_agent_and_disable_removes_it(
    xdg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = installation(tmp_path / "venv")
    monkeypatch.setattr(sys, "platform", "darwin")
    agent = tmp_path / "home" / "Library" / "LaunchAgents" / "net.delivery-watchdog.plist"

    assert enable(executable=python).changed
    assert not enable(executable=python).changed

    plist = plistlib.loads(agent.read_bytes())
    assert plist["ProgramArguments"] == [str(tmp_path / "venv" / "bin" / "watchdog"), "tray"]
    assert agent.stat().st_mode & 0o777 == 0o644  # launchd skips group/world-writable plists
    assert (tmp_path / "home" / "Library" / "Logs" / "delivery-watchdog").is_dir()
    assert status().enabled
    assert disable().changed
    assert not agent.exists()
    assert not status().enabled


# -- Windows -------------------------------------------------------------------------------------


def test_the_windows_dry_run_value_is_the_quoted_command_line(
    xdg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = enable(
        dry_run=True,
        platform="win32",
        executable=r"C:\Program Files\Python311\python.exe",
        config_path=Path(r"C:\Users\Front Desk\watchdog.toml"),
    )

    assert result.content == (
        r'"C:\Program Files\Python311\python.exe" -P -m watchdog tray '
        r'--config "C:\Users\Front Desk\watchdog.toml"'
    )
    assert result.location == (
        'the registry value "Delivery Watchdog" in '
        r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"
    )
    assert result.describe().splitlines()[-1] == result.content


def test_the_windows_value_quotes_the_program_even_without_spaces() -> None:
    command = LaunchCommand(r"C:\Python311\pythonw.exe", ("-P", "-m", "watchdog", "tray"))

    assert render_windows_run_value(command) == r'"C:\Python311\pythonw.exe" -P -m watchdog tray'


def test_windows_arguments_are_quoted_as_the_c_runtime_parses_them() -> None:
    args = ("tray", "two words", 'say "hi"', "trailing\\", "back\\slash", "")
    command = LaunchCommand(r"C:\x\watchdog.exe", args)

    value = render_windows_run_value(command)

    assert value == '"C:\\x\\watchdog.exe" ' + subprocess.list2cmdline(list(args))


def test_a_long_windows_command_line_gets_a_warning() -> None:
    result = enable(
        dry_run=True,
        platform="win32",
        executable="C:\\" + "\\".join(["a-rather-long-folder-name"] * 12) + "\\python.exe",
    )

    assert "Windows may not run" in result.note


def test_the_windows_registry_cannot_be_changed_from_another_system() -> None:
    with pytest.raises(AutostartError, match="only be read or changed on Windows"):
        enable(platform="win32")
    with pytest.raises(AutostartError, match="only be read or changed on Windows"):
        status(platform="win32")

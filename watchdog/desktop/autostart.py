"""Start the tray icon at login: ``watchdog autostart enable|disable|status [--dry-run]``.

One entry per system, in the place that system's login reads for the current user, so nothing
needs administrator rights and nothing is installed system-wide:

* Linux (and BSD desktops): an XDG autostart file, ``$XDG_CONFIG_HOME/autostart/
  delivery-watchdog.desktop`` (``~/.config/autostart`` by default).
* macOS: a LaunchAgent, ``~/Library/LaunchAgents/net.delivery-watchdog.plist``.
* Windows: the value "Delivery Watchdog" under ``HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\
  CurrentVersion\\Run``. A shortcut in the Startup folder would need pywin32 (or COM by hand) to
  write a ``.lnk``; a Run value is one ``winreg`` call and shows in Task Manager's Startup tab.

Each entry starts ``watchdog tray`` with this installation's own programs (absolute paths), plus
``--config PATH`` when the configuration is not in the default place. The render functions
return the exact content, so every variant can be shown with ``--dry-run`` (and tested) on any
system; only writing needs the real one. ``disable`` removes only the entry ``enable`` writes.
"""

from __future__ import annotations

import configparser
import contextlib
import ntpath
import os
import plistlib
import posixpath
import re
import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

from watchdog.config import APP_NAME, CONFIG_ENV
from watchdog.core.errors import WatchdogError
from watchdog.core.exit_status import ExitStatus
from watchdog.storage.atomic_file import READABLE_BY_ALL, write_text_atomically

__all__ = [
    "AUTOSTART_ACTIONS",
    "DESKTOP_FILE_NAME",
    "FROZEN_WINDOWED_PROGRAM",
    "LAUNCH_AGENT_LABEL",
    "RUN_KEY",
    "RUN_VALUE_NAME",
    "AutostartAction",
    "AutostartError",
    "AutostartResult",
    "AutostartStatus",
    "AutostartUnsupportedError",
    "LaunchCommand",
    "System",
    "disable",
    "enable",
    "launch_command",
    "linux_desktop_path",
    "macos_plist_path",
    "render_linux_desktop",
    "render_macos_plist",
    "render_windows_run_value",
    "run_autostart",
    "split_desktop_exec",
    "status",
    "system_of",
]

System = Literal["linux", "macos", "windows"]

DISPLAY_NAME = "Delivery Watchdog"
COMMENT = "Checks that the practice's reminder e-mails still arrive"
DESKTOP_FILE_NAME = f"{APP_NAME}.desktop"
LAUNCH_AGENT_LABEL = "net.delivery-watchdog"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE_NAME = "Delivery Watchdog"
#: Where Task Manager's Startup tab records "Disabled" for a Run value (we only read it).
_STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
#: In our .desktop file, so ``disable`` can tell it from one a person wrote by hand.
MARKER_KEY = "X-Delivery-Watchdog-Autostart"
#: launchd appends to these forever: only what the process prints before its own rotating log
#: (``watchdog.log`` in the same folder) is set up ends up here, such as a crash on start.
MACOS_STDOUT_NAME = "launchd-stdout.log"
MACOS_STDERR_NAME = "launchd-stderr.log"
#: The frozen Windows program without a console window (packaging/watchdog.spec builds it).
FROZEN_WINDOWED_PROGRAM = "watchdogw.exe"
#: Windows may ignore longer Run-key command lines; we warn rather than refuse.
_WINDOWS_RUN_VALUE_LIMIT = 260

_SYSTEM_NAMES: dict[System, str] = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}


class AutostartError(WatchdogError):
    """Autostart could not be read or changed; the message says what and where."""


class AutostartUnsupportedError(AutostartError):
    """This operating system has no autostart mechanism we know how to use."""


# -- which system, which program -----------------------------------------------------------------


def system_of(platform: str) -> System:
    """The autostart mechanism for a ``sys.platform`` value, or AutostartUnsupportedError."""
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "macos"
    # The XDG autostart folder is read by every freedesktop.org desktop (GNOME, KDE, Xfce, ...),
    # whatever the kernel underneath.
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly")):
        return "linux"
    raise AutostartUnsupportedError(
        f"Starting at login is not supported on this system ({platform}). Start "
        "`watchdog tray` (or `watchdog run`) with the system's own startup tools instead."
    )


@dataclass(frozen=True)
class LaunchCommand:
    """The program that autostart runs, and its arguments (``--config`` last, when set).

    Paths are strings, not :class:`~pathlib.Path`: a Windows command rendered on Linux for a dry
    run must keep its backslashes.
    """

    program: str
    args: tuple[str, ...]
    config: str | None = None

    @property
    def argv(self) -> list[str]:
        """The whole command line as a list, as for ``subprocess.run``."""
        extra = ["--config", self.config] if self.config is not None else []
        return [self.program, *self.args, *extra]


def launch_command(
    config_path: Path | None = None,
    *,
    platform: str | None = None,
    executable: str | None = None,
    frozen: bool | None = None,
) -> LaunchCommand:
    """What starts the tray at login: this installation's programs, by absolute path.

    ``executable`` is the Python interpreter to start from (default ``sys.executable``). Its
    folder is used as it is, without resolving symlinks: in a virtual environment
    ``.venv/bin/python`` is a symlink to the system's Python, which would lose the environment.

    * Linux/macOS: the ``watchdog`` console script next to the interpreter (pip and pipx put it
      there), else ``python -P -m watchdog``.
    * Windows: ``pythonw.exe -P -m watchdog``. ``watchdog.exe`` is a console program: at login it
      would open a black window for as long as the tray runs, and closing it would end the
      watchdog. So it is only the second choice, before ``python.exe -P -m watchdog``.

    ``-P`` (Python 3.11+) keeps the working directory off ``sys.path``: at login that is the
    home folder (or System32), and a folder there named ``watchdog`` would be imported instead.

    The frozen program (PyInstaller, ``frozen`` defaults to ``sys.frozen``; see
    packaging/watchdog.spec) is its own interpreter: ``executable`` *is* the ``watchdog``
    program, so the entry is ``<it> tray``, with no ``-P -m``. On Windows the installed folder
    also has ``watchdogw.exe``, the same program without a console window, and that one is
    started, for the reason above; only if it is missing from a real installation does
    ``watchdog.exe`` stand in.
    """
    system = system_of(platform or sys.platform)
    exe = executable if executable is not None else sys.executable
    if not exe:
        raise AutostartError(
            "Cannot tell which Python runs the watchdog (sys.executable is empty). "
            "Run `watchdog autostart enable` from the installed `watchdog` command."
        )
    native = system == _native_system()
    if native:
        exe = os.path.abspath(exe)
    paths = ntpath if system == "windows" else posixpath
    folder = paths.dirname(exe)

    def present(name: str) -> str | None:
        candidate = paths.join(folder, name)
        return candidate if native and os.path.isfile(candidate) else None

    module_args: tuple[str, ...] = ("-P", "-m", "watchdog", "tray")
    program: str
    args: tuple[str, ...]
    if frozen if frozen is not None else bool(getattr(sys, "frozen", False)):
        program = exe
        if system == "windows":
            windowed = paths.join(folder, FROZEN_WINDOWED_PROGRAM)
            # A dry run for Windows from elsewhere shows the installed layout.
            if not native or os.path.isfile(windowed):
                program = windowed
        return LaunchCommand(program, ("tray",), _config_argument(config_path, native=native))
    if system == "windows":
        if pythonw := present("pythonw.exe"):
            program, args = pythonw, module_args
        elif script := present("watchdog.exe"):
            program, args = script, ("tray",)
        else:
            program, args = exe, module_args
    elif (script := present("watchdog")) and os.access(script, os.X_OK):
        program, args = script, ("tray",)
    else:
        program, args = exe, module_args
    return LaunchCommand(program, args, _config_argument(config_path, native=native))


def _config_argument(config_path: Path | None, *, native: bool) -> str | None:
    """The ``--config`` value to write, or None when the default place will be found anyway.

    ``$WATCHDOG_CONFIG`` counts as a chosen path: it is set in the shell that runs this command,
    but most likely not in the login session that will start the tray.
    """
    if config_path is None:
        from_env = os.environ.get(CONFIG_ENV)
        if not from_env:
            return None
        config_path = Path(from_env)
    if not native:
        return str(config_path)  # another system's path: keep it exactly as given
    absolute = Path(os.path.abspath(config_path.expanduser()))  # at login the cwd is elsewhere
    if absolute == _default_config_path():
        return None
    return str(absolute)


def _default_config_path() -> Path:
    """The platform's config file, ignoring ``$WATCHDOG_CONFIG`` (unlike default_config_path)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def _native_system() -> System | None:
    try:
        return system_of(sys.platform)
    except AutostartUnsupportedError:
        return None


# -- Linux: an XDG autostart .desktop file -------------------------------------------------------

#: Characters that make the Desktop Entry spec require an Exec argument to be quoted.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
#: Inside a quoted Exec argument these four are escaped with a backslash.
_EXEC_ESCAPED = re.compile(r'(["`$\\])')


def linux_desktop_path() -> Path:
    """``$XDG_CONFIG_HOME/autostart/delivery-watchdog.desktop`` (``~/.config`` if unset).

    A relative ``$XDG_CONFIG_HOME`` is ignored, as the XDG Base Directory spec requires.
    """
    base = os.environ.get("XDG_CONFIG_HOME", "")
    folder = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return folder / "autostart" / DESKTOP_FILE_NAME


def render_linux_desktop(command: LaunchCommand, *, icon: str | None = None) -> str:
    """The exact ``.desktop`` file for ``command``. ``icon`` defaults to the shipped PNG."""
    icon = icon if icon is not None else _shipped_icon()
    exec_line = " ".join(_quote_exec_arg(arg) for arg in command.argv)
    lines = [
        "# Written by `watchdog autostart enable`; `watchdog autostart disable` removes it.",
        "[Desktop Entry]",
        "Type=Application",
        f"Name={DISPLAY_NAME}",
        f"Comment={COMMENT}",
        f"Exec={_escape_desktop_string(exec_line)}",
    ]
    if icon:
        lines.append(f"Icon={_escape_desktop_string(icon)}")
    lines += [
        "Terminal=false",
        # The tray opens no window, so a "starting..." cursor would spin until it timed out.
        "StartupNotify=false",
        "X-GNOME-Autostart-enabled=true",
        f"{MARKER_KEY}=true",
    ]
    return "\n".join(lines) + "\n"


def _quote_exec_arg(arg: str) -> str:
    """One argument of an Exec key, quoted as the Desktop Entry spec says.

    Arguments with a reserved character are put in double quotes, with ``"``, `````, ``$`` and
    ``\\`` escaped by a backslash; ``%`` is doubled everywhere, since ``%f`` and friends are field
    codes. (The whole line then gets the general string escaping, which doubles backslashes once
    more.)
    """
    if any(ord(c) < 0x20 or c == "\x7f" for c in arg if c not in "\t"):
        raise AutostartError(f"Cannot start a program from a path with control characters: {arg!r}")
    arg = arg.replace("%", "%%")
    if arg and not any(c in _EXEC_RESERVED for c in arg):
        return arg
    return '"' + _EXEC_ESCAPED.sub(r"\\\1", arg) + '"'


def _escape_desktop_string(value: str) -> str:
    """The escaping every string value of a desktop file gets (backslash first)."""
    value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    value = value.replace("\r", "\\r")
    return "\\s" + value[1:] if value.startswith(" ") else value


def _unescape_desktop_string(value: str) -> str:
    replacements = {"s": " ", "t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: replacements.get(m.group(1), m.group(0)), value)


def split_desktop_exec(value: str) -> list[str]:
    """The argv of an Exec value as written in the file (the inverse of what we write)."""
    text = _unescape_desktop_string(value)
    argv: list[str] = []
    current: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c in " \t":
            if in_arg:
                argv.append("".join(current))
                current, in_arg = [], False
        elif c == '"':
            quoted = in_arg = True
        else:
            current.append(c)
            in_arg = True
        i += 1
    if in_arg:
        argv.append("".join(current))
    return [arg.replace("%%", "%") for arg in argv]


def _shipped_icon() -> str | None:
    """The absolute path of ``watchdog/data/icons/watchdog.png``, if it is a real file.

    From a zipped install there is no lasting file to point at (an extracted copy would vanish
    with this process), so the desktop shows its generic icon instead.
    """
    resource = resources.files("watchdog").joinpath("data", "icons", "watchdog.png")
    if isinstance(resource, Path) and resource.is_file():
        return str(resource.resolve())
    return None


# -- macOS: a LaunchAgent ------------------------------------------------------------------------


def macos_plist_path() -> Path:
    """``~/Library/LaunchAgents/net.delivery-watchdog.plist``."""
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"


def _macos_log_dir() -> str:
    """macOS's log folder for the app, computed the same way on any system (for dry runs)."""
    import platformdirs.macos

    return platformdirs.macos.MacOS(APP_NAME, appauthor=False).user_log_dir


def render_macos_plist(command: LaunchCommand, *, log_dir: str | None = None) -> str:
    """The exact LaunchAgent plist (XML) for ``command``; ``log_dir`` defaults to macOS's."""
    log_dir = log_dir if log_dir is not None else _macos_log_dir()
    document = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": command.argv,
        "RunAtLoad": True,  # at login: when launchd loads the user's agents
        "KeepAlive": False,  # "Quit" in the tray menu must stay quit until the next login
        # launchd throttles "Background" jobs (CPU, I/O, timers); the tray is an app the user
        # sees, and its checks must run on time.
        "ProcessType": "Interactive",
        "StandardOutPath": posixpath.join(log_dir, MACOS_STDOUT_NAME),
        "StandardErrorPath": posixpath.join(log_dir, MACOS_STDERR_NAME),
    }
    return plistlib.dumps(document, fmt=plistlib.FMT_XML, sort_keys=True).decode("utf-8")


# -- Windows: a Run value in the registry --------------------------------------------------------


def render_windows_run_value(command: LaunchCommand) -> str:
    """The exact command line stored in the Run value, quoted as Windows programs parse it.

    The program and the config path are always in double quotes: an unquoted
    ``C:\\Program Files\\...`` would make Windows try to start ``C:\\Program.exe``.
    """
    parts = [_quote_windows_arg(command.program, always=True)]
    parts += [_quote_windows_arg(arg, always=False) for arg in command.args]
    if command.config is not None:
        parts += ["--config", _quote_windows_arg(command.config, always=True)]
    return " ".join(parts)


def _quote_windows_arg(arg: str, *, always: bool) -> str:
    """Quote for the Microsoft C runtime's rules (those of ``subprocess.list2cmdline``).

    Backslashes are literal except right before a double quote, where they are doubled.
    """
    if not always and arg and not any(c in arg for c in ' \t"'):
        return arg
    out: list[str] = []
    backslashes = 0
    for c in arg:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + c)
        backslashes = 0
    out.append("\\" * (2 * backslashes))
    return '"' + "".join(out) + '"'


def _windows_program(value: str) -> str:
    """The program of a Run value: the first (possibly quoted) word."""
    value = value.strip()
    if value.startswith('"'):
        end = value.find('"', 1)
        return value[1:end] if end > 0 else value[1:]
    return value.split(" ", 1)[0]


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutostartResult:
    """What :func:`enable` or :func:`disable` did, or with ``dry_run`` would do."""

    action: Literal["enable", "disable"]
    system: System
    location: str  # the file's path, or which registry value in which key
    changed: bool  # False: it already was that way, nothing (would have) changed
    dry_run: bool
    content: str | None = None  # enable: the file or registry value written (or to be)
    note: str = ""

    def describe(self) -> str:
        """Plain words for the person at the PC: what was written where (or would be)."""
        lines: list[str] = []
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
            if self.action == "enable" and self.system == "windows":
                lines.append(f"Would set {self.location} to:")
                lines.append(self.content or "")
            elif self.action == "enable":
                lines.append(f"Would write {self.location}:")
                lines.append("")
                lines.append((self.content or "").rstrip("\n"))
            elif self.changed:
                lines.append(f"Would remove {self.location}.")
            else:
                lines.append(f"Autostart is not enabled ({self.location} does not exist).")
        elif self.action == "enable":
            if self.changed:
                lines.append(f"Autostart enabled: wrote {self.location}.")
                lines.append("Delivery Watchdog's tray icon will start at every login.")
            else:
                lines.append(f"Autostart was already enabled: {self.location} is up to date.")
        elif self.changed:
            lines.append(f"Autostart disabled: removed {self.location}.")
            lines.append("A watchdog that is running now keeps running until you quit it.")
        else:
            lines.append(f"Autostart was not enabled ({self.location} does not exist).")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


@dataclass(frozen=True)
class AutostartStatus:
    """Whether the tray starts at login, from where, and with which command."""

    enabled: bool
    system: System
    location: str
    command: str | None = None  # the command line found there, as written
    note: str = ""  # e.g. turned off in the desktop's settings, or the program has gone

    def describe(self) -> str:
        """Plain words: "Autostart: enabled (...)" with the command, or "disabled"."""
        if self.command is None:
            lines = [f"Autostart: disabled ({self.location} does not exist)."]
        else:
            state = "enabled" if self.enabled else "disabled"
            lines = [f"Autostart: {state} ({self.location})", f"It runs: {self.command}"]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


# -- the three backends --------------------------------------------------------------------------


class _Backend(Protocol):
    system: System

    @property
    def location(self) -> str: ...

    def render(self, command: LaunchCommand) -> str: ...

    def read(self) -> str | None: ...

    def write(self, content: str) -> None: ...

    def remove(self) -> None: ...

    def owned(self, content: str) -> bool: ...

    def inspect(self, content: str) -> tuple[str | None, str, bool]:
        """(program, shown command, turned on) of what was found."""
        ...


class _FileBackend:
    """Common to the .desktop file and the plist: a small file written atomically."""

    path: Path

    @property
    def location(self) -> str:
        return str(self.path)

    def read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            raise AutostartError(f"Cannot read {self.path}: {e}") from e

    def write(self, content: str) -> None:
        """Write through a temporary file and a rename, so a power cut leaves old or new."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # launchd ignores a plist that group or others may write; 0644 is what both
            # launchd and desktops expect.
            write_text_atomically(self.path, content, mode=READABLE_BY_ALL)
        except OSError as e:
            raise AutostartError(f"Cannot write {self.path}: {e}") from e

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise AutostartError(f"Cannot remove {self.path}: {e}") from e


class _Desktop(_FileBackend):
    system: System = "linux"

    def __init__(self) -> None:
        self.path = linux_desktop_path()

    def render(self, command: LaunchCommand) -> str:
        return render_linux_desktop(command)

    def _entry(self, content: str) -> dict[str, str]:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep case
        try:
            parser.read_string(content)
        except configparser.Error:
            return {}
        if not parser.has_section("Desktop Entry"):
            return {}
        return dict(parser["Desktop Entry"])

    def owned(self, content: str) -> bool:
        return self._entry(content).get(MARKER_KEY) == "true"

    def inspect(self, content: str) -> tuple[str | None, str, bool]:
        entry = self._entry(content)
        exec_value = entry.get("Exec", "")
        argv = split_desktop_exec(exec_value)
        # Desktops' "Startup Applications" settings switch an entry off with one of these.
        on = entry.get("Hidden") != "true" and entry.get("X-GNOME-Autostart-enabled") != "false"
        # Shown as a shell would take it, easier to read (and to paste) than Exec quoting.
        return (argv[0] if argv else None), shlex.join(argv), on


class _LaunchAgent(_FileBackend):
    system: System = "macos"

    def __init__(self) -> None:
        self.path = macos_plist_path()

    def render(self, command: LaunchCommand) -> str:
        return render_macos_plist(command)

    def write(self, content: str) -> None:
        # launchd does not create missing folders for StandardOutPath/StandardErrorPath.
        with contextlib.suppress(OSError):
            Path(_macos_log_dir()).mkdir(parents=True, exist_ok=True, mode=0o700)
        super().write(content)

    def _document(self, content: str) -> dict[str, object]:
        try:
            document = plistlib.loads(content.encode("utf-8"))
        except Exception:  # plistlib raises several kinds for a damaged file
            return {}
        return document if isinstance(document, dict) else {}

    def owned(self, content: str) -> bool:
        return self._document(content).get("Label") == LAUNCH_AGENT_LABEL

    def inspect(self, content: str) -> tuple[str | None, str, bool]:
        document = self._document(content)
        raw = document.get("ProgramArguments")
        argv = [str(a) for a in raw] if isinstance(raw, list) else []
        on = document.get("Disabled") is not True and document.get("RunAtLoad") is True
        return (argv[0] if argv else None), shlex.join(argv), on


class _RunValue:
    """The Run value in HKEY_CURRENT_USER; its name is ours, so whatever is there is ours."""

    system: System = "windows"
    location = f'the registry value "{RUN_VALUE_NAME}" in HKEY_CURRENT_USER\\{RUN_KEY}'

    def render(self, command: LaunchCommand) -> str:
        return render_windows_run_value(command)

    def owned(self, content: str) -> bool:
        return True

    def inspect(self, content: str) -> tuple[str | None, str, bool]:
        return _windows_program(content), content, not _turned_off_in_task_manager()

    def read(self) -> str | None:
        if sys.platform != "win32":
            raise _not_native("windows")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                value, _kind = winreg.QueryValueEx(key, RUN_VALUE_NAME)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise AutostartError(f"Cannot read {self.location}: {e}") from e
        return value if isinstance(value, str) else str(value)

    def write(self, content: str) -> None:
        if sys.platform != "win32":
            raise _not_native("windows")
        import winreg

        try:
            with winreg.CreateKeyEx(
                winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE
            ) as key:
                winreg.SetValueEx(key, RUN_VALUE_NAME, 0, winreg.REG_SZ, content)
        except OSError as e:
            raise AutostartError(f"Cannot write {self.location}: {e}") from e

    def remove(self) -> None:
        if sys.platform != "win32":
            raise _not_native("windows")
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, RUN_VALUE_NAME)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise AutostartError(f"Cannot remove {self.location}: {e}") from e


def _turned_off_in_task_manager() -> bool:
    """Whether Task Manager's Startup tab has our Run value set to "Disabled".

    Windows keeps that choice in a binary value whose first byte is odd when disabled. Best
    effort: anything unexpected counts as "not turned off".
    """
    if sys.platform != "win32":
        return False
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _STARTUP_APPROVED_KEY) as key:
            data, _kind = winreg.QueryValueEx(key, RUN_VALUE_NAME)
    except OSError:
        return False
    return isinstance(data, bytes) and len(data) > 0 and data[0] & 1 == 1


def _backend(system: System) -> _Backend:
    if system == "linux":
        return _Desktop()
    if system == "macos":
        return _LaunchAgent()
    return _RunValue()


def _not_native(system: System) -> AutostartError:
    return AutostartError(
        f"{_SYSTEM_NAMES[system]} autostart can only be read or changed on {_SYSTEM_NAMES[system]} "
        "itself; use the dry run to see what would be written."
    )


def _require_native(system: System) -> None:
    if system != _native_system():
        raise _not_native(system)


# -- enable, disable, status ---------------------------------------------------------------------


def enable(
    *,
    dry_run: bool = False,
    config_path: Path | None = None,
    platform: str | None = None,
    executable: str | None = None,
) -> AutostartResult:
    """Make the tray start at login; idempotent. With ``dry_run`` only say what would be written.

    ``platform`` is a ``sys.platform`` value (default: this one). A dry run works for any
    platform; really enabling only for this one. ``executable`` see :func:`launch_command`.
    """
    system = system_of(platform or sys.platform)
    backend = _backend(system)
    command = launch_command(config_path, platform=platform, executable=executable)
    content = backend.render(command)
    note = _length_note(system, content)
    if dry_run:
        current = backend.read() if system == _native_system() else None
        return AutostartResult(
            "enable", system, backend.location, current != content, True, content, note
        )
    _require_native(system)
    current = backend.read()
    if current == content:
        return AutostartResult("enable", system, backend.location, False, False, content, note)
    if current is not None and not backend.owned(current):
        note = "\n".join(
            filter(None, [note, "It replaced an entry that Delivery Watchdog had not written."])
        )
    backend.write(content)
    return AutostartResult("enable", system, backend.location, True, False, content, note)


def disable(*, dry_run: bool = False, platform: str | None = None) -> AutostartResult:
    """Stop the tray from starting at login, removing only the entry :func:`enable` writes.

    An entry of the same name that Delivery Watchdog did not write (no marker in a .desktop file,
    another Label in the plist) is left alone, with a note. A running watchdog is not stopped.
    """
    system = system_of(platform or sys.platform)
    _require_native(system)
    backend = _backend(system)
    current = backend.read()
    if current is None:
        return AutostartResult("disable", system, backend.location, False, dry_run)
    if not backend.owned(current):
        raise AutostartError(
            f"{backend.location} was not written by `watchdog autostart enable`, so it was left "
            "alone. Remove it yourself if it should go."
        )
    if not dry_run:
        backend.remove()
    return AutostartResult("disable", system, backend.location, True, dry_run)


def status(*, platform: str | None = None) -> AutostartStatus:
    """Whether the tray starts at login here, where that is set, and the command it runs."""
    system = system_of(platform or sys.platform)
    _require_native(system)
    backend = _backend(system)
    current = backend.read()
    if current is None:
        return AutostartStatus(False, system, backend.location)
    program, shown, on = backend.inspect(current)
    notes: list[str] = []
    if not backend.owned(current):
        notes.append("This entry was not written by `watchdog autostart enable`.")
    if not on:
        notes.append(
            {
                "linux": "It is switched off in the desktop's startup settings.",
                "macos": "launchd will not start it at login (Disabled, or RunAtLoad not set).",
                "windows": "It is switched off in Task Manager's Startup tab; switch it on there.",
            }[system]
        )
    if program is not None and os.path.isabs(program) and not os.path.exists(program):
        notes.append(
            f"The program it starts no longer exists ({program}): run "
            "`watchdog autostart enable` again from the installed watchdog."
        )
    return AutostartStatus(on, system, backend.location, shown, "\n".join(notes))


def _length_note(system: System, content: str) -> str:
    if system == "windows" and len(content) > _WINDOWS_RUN_VALUE_LIMIT:
        return (
            f"Warning: the command is {len(content)} characters long; Windows may not run Run "
            f"entries over {_WINDOWS_RUN_VALUE_LIMIT}. Install to a shorter folder if the tray "
            "does not start at login."
        )
    return ""


# -- the command ---------------------------------------------------------------------------------


#: What ``watchdog autostart`` can do.
AutostartAction = Literal["enable", "disable", "status"]
AUTOSTART_ACTIONS: tuple[AutostartAction, ...] = ("enable", "disable", "status")


def run_autostart(
    action: AutostartAction,
    *,
    dry_run: bool = False,
    config_path: Path | None = None,
    platform: str | None = None,
) -> int:
    """Carry out ``watchdog autostart``; print plain words; return the exit code.

    0 done (or nothing to do), 2 the entry could not be read or written, 3 this system has no
    autostart we support. ``config_path`` (``--config``), when given, is written into the
    entry. ``platform`` is for tests.
    """
    try:
        if action == "enable":
            result = enable(dry_run=dry_run, config_path=config_path, platform=platform)
            print(result.describe())
            _warn_missing_config(config_path, result)
        elif action == "disable":
            print(disable(dry_run=dry_run, platform=platform).describe())
        else:
            print(status(platform=platform).describe())
    except AutostartUnsupportedError as e:
        print(str(e), file=sys.stderr)
        return ExitStatus.CONFIG
    except AutostartError as e:
        print(f"Autostart problem: {e}", file=sys.stderr)
        return ExitStatus.FAILED
    return ExitStatus.OK


def _warn_missing_config(config_path: Path | None, result: AutostartResult) -> None:
    """A tray started without a config can only show a problem: say so while it can be fixed."""
    if result.system != _native_system():
        return
    from watchdog.config import default_config_path

    path = config_path.expanduser() if config_path is not None else default_config_path()
    if not path.exists():
        print(
            f"\nNote: there is no configuration file at {path} yet; create it with "
            "`watchdog setup` (see docs/setup.md) before the next login.",
            file=sys.stderr,
        )

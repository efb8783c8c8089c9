"""Command line: the parser, the table of commands and ``main()``, the one place that maps errors
to exit codes and plain messages.

Each command lives in the module of its family; this table says which:

* :mod:`~watchdog.cli.monitor`: ``check``, ``run``, ``tray``, ``status``, ``test-alert``, ``demo``
* :mod:`~watchdog.cli.records`: ``history``, ``incidents``, ``export``, ``report``
* :mod:`~watchdog.cli.support`: ``setup``, ``doctor``, ``autostart``, ``support-bundle``
* :mod:`~watchdog.cli.advice`: ``guide``, ``explain``

A family module has, per command, ``add_<name>_arguments(parser)`` (when it takes options) and
``cmd_<name>(args) -> int``; it turns the parsed ``argparse.Namespace`` into typed values before
calling the feature code (``watchdog.setup``, ``watchdog.desktop``, ...), which never sees one.
What the commands share (printing safely, loading the config, formatting) is in
:mod:`~watchdog.cli.common`.

Exit codes: :class:`~watchdog.core.exit_status.ExitStatus`, the one table every command uses.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from watchdog import __version__
from watchdog.cli.common import LOG_FORMAT, NoConfigError, say
from watchdog.core.errors import (
    AlreadyRunningError,
    ConfigError,
    SecretError,
    StorageError,
    WatchdogError,
)
from watchdog.core.exit_status import ExitStatus
from watchdog.core.terminal import SafeFormatter, safe_text, utf8_when_redirected

__all__ = ["NoConfigError", "build_parser", "main"]


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--config`` and ``-v`` work before or after the command name.

    On subcommands the defaults are suppressed: argparse would otherwise let the subcommand's
    default overwrite a ``--config`` given before the command name.
    """
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help="config file (default: $WATCHDOG_CONFIG, else the platform's config folder)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if defaults else argparse.SUPPRESS,
        help="more detail (-vv: debug)",
    )


@dataclass(frozen=True)
class _Command:
    """One command: the family module that holds it, and its one-line help.

    The module is imported only when its command runs (or for ``build_parser()`` without
    arguments): ``watchdog check``, run by the scheduler and timed in benchmarks/roundtrip.py,
    must not pay for the set-up wizard's, the doctor's, the bundle's or Jinja2's imports.
    """

    module: str
    help: str
    #: Whether the family module has ``add_<name>_arguments``.
    has_options: bool = True


#: Every command, in the order ``watchdog --help`` lists them.
COMMANDS: dict[str, _Command] = {
    "check": _Command(".monitor", "send one canary now and wait until it arrives"),
    "run": _Command(".monitor", "check on a schedule until stopped", has_options=False),
    "tray": _Command(
        ".monitor", "check in the background with an icon in the system tray", has_options=False
    ),
    "status": _Command(".monitor", "the current status and pending canaries"),
    "history": _Command(".records", "the most recent checks"),
    "incidents": _Command(".records", "periods when reminders did not go out"),
    "export": _Command(".records", "every check as CSV or JSON"),
    "explain": _Command(".advice", "explain an SMTP error pasted from the practice software"),
    "test-alert": _Command(
        ".monitor",
        "send a sample alert on every channel, so staff see what one looks like",
        has_options=False,
    ),
    "guide": _Command(
        ".advice", "open the step-by-step guide for the current problem (or any given one)"
    ),
    "demo": _Command(".monitor", "see the watchdog catch a silent block on local test servers"),
    "setup": _Command(".support", "set up this PC step by step (or scripted with options)"),
    "doctor": _Command(".support", "check settings, passwords, servers and the desktop"),
    "autostart": _Command(".support", "start the tray icon at login (enable, disable, status)"),
    "report": _Command(
        ".records", "write the history as one web page: rates, delivery times, incidents"
    ),
    "support-bundle": _Command(".support", "write one zip file for support (no passwords)"),
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option or its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--config":
            skip = True
        elif not word.startswith("-"):
            return word
    return None


class _Parser(argparse.ArgumentParser):
    """argparse's parser, ending a wrong command line with :attr:`ExitStatus.CONFIG`.

    Why: argparse ends a usage error with 2, which in the one table means "it failed", so a
    scheduler running ``watchdog check --typo`` would read a failed delivery. A wrong option is
    for the support person to fix, like a wrong config key or a wrong set-up option. The
    subcommands' parsers are made of this class too (argparse uses the parent's class).
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.CONFIG, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the module of the command it names is imported."""
    wanted = None if argv is None else _command_of(argv)
    common = _Parser(add_help=False)
    _add_common(common, defaults=False)

    parser = _Parser(
        prog="watchdog",
        description="Delivery Watchdog: proves that the practice's reminder e-mails arrive.",
    )
    _add_common(parser, defaults=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=command.help)
        if argv is None or name == wanted:
            module = importlib.import_module(command.module, __package__)
            function = name.replace("-", "_")
            if command.has_options:
                getattr(module, f"add_{function}_arguments")(p)
            p.set_defaults(func=getattr(module, f"cmd_{function}"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; every error ends here as a plain message and an exit code.

    ``watchdog export | head`` (any command whose reader closes the pipe early) ends quietly:
    the reader has what it wanted, which is no error of ours. The command's own exit code is
    kept when only the last flush met the closed pipe; a pipe closed while the command was still
    writing ends it with 0. Standard output is then pointed at nothing, so Python's flush at exit
    does not print a traceback of its own.
    """
    windowless = _streams_for_windowless_start()
    utf8_when_redirected(sys.stdout, sys.stderr)
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv), windowless)
    except BrokenPipeError:
        _silence_stdout()
        return ExitStatus.OK
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return code


def _run(words: list[str], windowless: bool = False) -> int:
    args = build_parser(words).parse_args(words)
    _setup_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except NoConfigError as e:
        say(str(e), file=sys.stderr)
        return ExitStatus.CONFIG
    except (ConfigError, SecretError) as e:
        _say_error(f"Configuration problem: {e}", windowless)
        return ExitStatus.CONFIG
    except StorageError as e:
        _say_error(f"History problem: {e}", windowless)
        return ExitStatus.CONFIG
    except AlreadyRunningError as e:
        say(str(e), file=sys.stderr)  # no box: a second autostart entry would show one daily
        return ExitStatus.FAILED
    except WatchdogError as e:
        _say_error(f"Error: {e}", windowless)
        return ExitStatus.FAILED
    except KeyboardInterrupt:
        say("Interrupted.", file=sys.stderr)
        return ExitStatus.INTERRUPTED


def _silence_stdout() -> None:
    """Point standard output at the null device, so a closed pipe is not written to again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test's capture): nothing to do
        pass


def _streams_for_windowless_start() -> bool:
    """Give ``print`` and logging somewhere to write when there is no console; True then.

    Under ``pythonw.exe`` / ``watchdogw.exe`` (the autostart at sign-in) ``sys.stdout`` and
    ``sys.stderr`` are None, so a broken config, a storage or keyring error left no trace at
    all. They go to ``console.log`` in the log folder (beside ``watchdog.log``), new at each
    start so it never grows past one run.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return False
    import platformdirs

    from watchdog.config import APP_NAME

    folder = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    stream: TextIO
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stream = open(folder / "console.log", "w", encoding="utf-8", errors="replace", buffering=1)  # noqa: SIM115
    except OSError:
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdout = sys.stdout or stream
    sys.stderr = sys.stderr or stream
    return True


def _say_error(text: str, windowless: bool) -> None:
    """An error that ends the program; without a console on Windows also in a message box,
    the only way the person at the PC learns why no tray icon came."""
    say(text, file=sys.stderr)
    if windowless and sys.platform == "win32":
        import ctypes

        mb_iconerror_setforeground = 0x10 | 0x10000
        ctypes.windll.user32.MessageBoxW(
            None, safe_text(text), "Delivery Watchdog", mb_iconerror_setforeground
        )


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # imapclient logs every command and response at DEBUG: in the practice's inbox that would be
    # bounce bodies and notice headers (patient mail). Our own debug lines say what support
    # needs; the library stays at INFO whatever -v asks.
    logging.getLogger("imapclient").setLevel(max(level, logging.INFO))
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:  # the one basicConfig made: the terminal
            handler.setFormatter(SafeFormatter(LOG_FORMAT))


if __name__ == "__main__":
    sys.exit(main())

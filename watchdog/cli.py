"""Command line: thin subcommands over the app. ``main()`` is the one place that maps errors to
exit codes and plain messages.

Exit codes: :class:`~watchdog.core.exit_status.ExitStatus`, the one table every command uses.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from watchdog import __version__
from watchdog.config import Config, load_config, schedule_warnings
from watchdog.core.errors import (
    AlreadyRunningError,
    ConfigError,
    SecretError,
    StorageError,
    WatchdogError,
)
from watchdog.core.exit_status import ExitStatus
from watchdog.core.humanize import format_duration, parse_since
from watchdog.core.models import (
    AlertAttempt,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    Status,
    StatusSnapshot,
)
from watchdog.core.terminal import SafeFormatter, safe_text, utf8_when_redirected
from watchdog.core.textfit import clip_text
from watchdog.core.timefmt import iso_utc, iso_utc_or_none
from watchdog.storage.history import History

if TYPE_CHECKING:
    from watchdog.core.incidents import Incident
    from watchdog.storage.export import Format

_EXIT_BY_OUTCOME = {
    Outcome.DELIVERED: ExitStatus.OK,
    Outcome.JUNK: ExitStatus.DEGRADED,
    Outcome.LATE: ExitStatus.DEGRADED,
    Outcome.PENDING: ExitStatus.DEGRADED,
}

log = logging.getLogger("watchdog")


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


#: Commands whose modules are imported only when that command runs: ``watchdog check``, run by
#: the scheduler and timed in benchmarks/roundtrip.py, must not pay for the set-up wizard's,
#: the doctor's or the bundle's imports. name -> (module, add-arguments, run, help).
_LAZY_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "setup": (
        ".setup.wizard",
        "add_setup_arguments",
        "run_setup",
        "set up this PC step by step (or scripted with options)",
    ),
    "doctor": (
        ".setup.doctor",
        "add_doctor_arguments",
        "run_doctor",
        "check settings, passwords, servers and the desktop",
    ),
    "autostart": (
        ".desktop.autostart",
        "add_autostart_arguments",
        "run_autostart",
        "start the tray icon at login (enable, disable, status)",
    ),
    "report": (
        ".pages.report",
        "add_report_arguments",
        "run_report",
        "write the history as one web page: rates, delivery times, incidents",
    ),
    "support-bundle": (
        ".setup.support_bundle",
        "add_support_bundle_arguments",
        "run_support_bundle",
        "write one zip file for support (no passwords)",
    ),
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
    """The parser; with ``argv``, only the command it names has its lazy module imported."""
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

    p = sub.add_parser(
        "check", parents=[common], help="send one canary now and wait until it arrives"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", parents=[common], help="check on a schedule until stopped")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "tray", parents=[common], help="check in the background with an icon in the system tray"
    )
    p.set_defaults(func=cmd_tray)

    p = sub.add_parser("status", parents=[common], help="the current status and pending canaries")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("history", parents=[common], help="the most recent checks")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many checks (default 20)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("incidents", parents=[common], help="periods when reminders did not go out")
    p.add_argument("--since", metavar="DATE", help="only incidents from this date (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser("export", parents=[common], help="every check as CSV or JSON")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="default: csv")
    p.add_argument("--since", metavar="DATE", help="only checks from this date (YYYY-MM-DD)")
    p.add_argument(
        "--incidents",
        action="store_true",
        help="one row per incident instead of per check, with the e-mails sent meanwhile",
    )
    p.add_argument("--output", type=Path, metavar="FILE", help="default: standard output")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "explain",
        parents=[common],
        help="explain an SMTP error pasted from the practice software",
        description=(
            "Explain a mail server's refusal in plain words, with the fix. Paste the code and "
            "the text from the practice software's failed test e-mail."
        ),
    )
    p.add_argument(
        "--smtp-code", type=smtp_code_argument, required=True, metavar="CODE", help="e.g. 550"
    )
    p.add_argument(
        "--smtp-message", required=True, metavar="TEXT", help='e.g. "5.4.5 Daily user sending..."'
    )
    p.add_argument(
        "--provider",
        type=provider_argument,
        metavar="NAME",
        help="gmail, outlook, microsoft365, yahoo, att, aol, comcast, icloud or other "
        "(default: the one the error names, e.g. gsmtp, else the config's, else other)",
    )
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "test-alert",
        parents=[common],
        help="send a sample alert on every channel, so staff see what one looks like",
    )
    p.set_defaults(func=cmd_test_alert)

    p = sub.add_parser(
        "guide",
        parents=[common],
        help="open the step-by-step guide for the current problem (or any given one)",
    )
    p.add_argument(
        "--provider", type=provider_argument, metavar="NAME", help="gmail, outlook, ..., other"
    )
    p.add_argument(
        "--diagnosis",
        type=diagnosis_argument,
        metavar="NAME",
        help="e.g. sending_limit, silent_drop, auth_rejected (`watchdog guide --diagnosis x` "
        "lists them all)",
    )
    p.add_argument("--output", type=Path, metavar="FILE", help="where to write the HTML page")
    p.add_argument("--no-open", action="store_true", help="only write the page")
    p.set_defaults(func=cmd_guide)

    p = sub.add_parser(
        "demo", parents=[common], help="see the watchdog catch a silent block on local test servers"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="seconds between checks in the demo (default 2)",
    )
    p.set_defaults(func=cmd_demo)

    for name, (module_name, add_arguments, run, help_text) in _LAZY_COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=help_text)
        if argv is None or name == wanted:
            module = importlib.import_module(module_name, __package__)
            getattr(module, add_arguments)(p)
            p.set_defaults(func=getattr(module, run))
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
        _say(str(e), file=sys.stderr)
        return ExitStatus.CONFIG
    except (ConfigError, SecretError) as e:
        _say_error(f"Configuration problem: {e}", windowless)
        return ExitStatus.CONFIG
    except StorageError as e:
        _say_error(f"History problem: {e}", windowless)
        return ExitStatus.CONFIG
    except AlreadyRunningError as e:
        _say(str(e), file=sys.stderr)  # no box: a second autostart entry would show one daily
        return ExitStatus.FAILED
    except WatchdogError as e:
        _say_error(f"Error: {e}", windowless)
        return ExitStatus.FAILED
    except KeyboardInterrupt:
        _say("Interrupted.", file=sys.stderr)
        return ExitStatus.INTERRUPTED


class NoConfigError(ConfigError):
    """There is no configuration yet: the way on is ``watchdog setup``, not a file to fix."""


def _silence_stdout() -> None:
    """Point standard output at the null device, so a closed pipe is not written to again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test's capture): nothing to do
        pass


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
    _say(text, file=sys.stderr)
    if windowless and sys.platform == "win32":
        import ctypes

        mb_iconerror_setforeground = 0x10 | 0x10000
        ctypes.windll.user32.MessageBoxW(
            None, safe_text(text), "Delivery Watchdog", mb_iconerror_setforeground
        )


def _say(text: object = "", *, file: TextIO | None = None, flush: bool = False) -> None:
    """Print one piece of output, made safe for a terminal first (:func:`terminal.safe_text`).

    Every line the commands print goes through here, because so much of it is written by
    servers: replies, folder names, bounce texts, a webhook's answer, error messages.
    """
    print(safe_text(str(text)), file=file, flush=flush)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=_LOG_FORMAT)
    # imapclient logs every command and response at DEBUG: in the practice's inbox that would be
    # bounce bodies and notice headers (patient mail). Our own debug lines say what support
    # needs; the library stays at INFO whatever -v asks.
    logging.getLogger("imapclient").setLevel(max(level, logging.INFO))
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:  # the one basicConfig made: the terminal
            handler.setFormatter(SafeFormatter(_LOG_FORMAT))


def _log_to_file(verbose: int) -> Path | None:
    """The loop also logs to a rotating file in the platform's log folder, for support.

    Returns the file, or None (with a warning) when the folder cannot be written: logging must
    never stop the watchdog from running.
    """
    import platformdirs

    from watchdog.config import APP_NAME
    from watchdog.storage.logfile import PrivateRotatingFileHandler

    folder = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    path = folder / "watchdog.log"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError as e:
        log.warning("Cannot write the log file %s: %s", path, e)
        return None
    handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    handler.setFormatter(SafeFormatter(_LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, handler.level))
    for stream_handler in root.handlers:
        if stream_handler is not handler and verbose == 0:
            stream_handler.setLevel(logging.WARNING)
    return path


def _config(args: argparse.Namespace) -> Config:
    """The config, or :class:`NoConfigError` pointing to ``watchdog setup`` when there is none."""
    from watchdog.config import default_config_path

    path: Path = args.config or default_config_path()
    if not path.exists():
        given = " --config " + str(args.config) if args.config else ""
        raise NoConfigError(
            f"This PC is not set up yet: there is no configuration at {path}. Run "
            f"`watchdog{given} setup` to set it up (it asks for the accounts step by step and "
            "tests them), or point --config or WATCHDOG_CONFIG at an existing configuration."
        )
    return load_config(args.config)


# -- check ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    config = _config(args)
    with open_app(config) as app:
        report = app.runner.check()
    result = report.result
    code = _EXIT_BY_OUTCOME.get(result.outcome, ExitStatus.FAILED)
    if args.json:
        payload = result_json(result)
        payload["status"] = status_json(report.status)
        payload["exit_code"] = code
        _say(json.dumps(payload, indent=2))
    else:
        _say(describe_check(config, app.provider, result))
        _say(f"Status: {describe_status_line(report.status)}")
        if report.status.status is not Status.UP and report.status.reason:
            _say(f"Why: {report.status.reason}")
    return code


def describe_check(config: Config, provider: str, result: CheckResult) -> str:
    """A plain-words account of one round trip."""
    from watchdog.core.classifier import describe
    from watchdog.core.guidance import short_fix

    lines = [
        f"Delivery check: {config.sender.address} -> {config.seed.address} (provider: {provider})",
    ]
    sent = _clock(result.sent_at)
    reply = result.smtp_reply
    outcome = result.outcome
    if outcome is Outcome.SEND_FAILED or outcome is Outcome.OFFLINE:
        detail = result.detail.replace("\n", "\n      ")  # multi-line server replies
        lines.append(f"  Not sent at {sent}: {detail}")
    else:
        accepted = f" (server said: {reply})" if reply else ""
        lines.append(
            f"  Sent at {sent} through {config.sender.smtp_host}:{config.sender.smtp_port}"
            f"{accepted}"
        )
        if outcome in (Outcome.DELIVERED, Outcome.JUNK, Outcome.LATE):
            lines.append(
                f"  {outcome.value.capitalize()}: found in {result.folder} after "
                f"{format_duration(result.latency_s or 0)}."
            )
        elif outcome is Outcome.LOST:
            lines.append(f"  Not found: {result.detail}")
        elif outcome is Outcome.BOUNCED:
            lines.append(f"  Bounced: {result.detail}")
        elif outcome is Outcome.PENDING:
            lines.append("  Stopped before the deadline; the canary will be looked for later.")
        else:
            lines.append(f"  {result.detail}")
    if result.diagnosis is not Diagnosis.OK:
        lines.append(f"  Diagnosis: {result.diagnosis.value} - {describe(result.diagnosis)}")
        lines.append(f"  What to do: {short_fix(provider, result.diagnosis)}")
    return "\n".join(lines)


# -- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    log_file = _log_to_file(args.verbose)  # first: a broken config must reach the log file
    config = _config(args)

    def show(result: CheckResult, snapshot: StatusSnapshot, flip: Flip | None) -> None:
        _say(f"{_clock(result.sent_at)}  {result.outcome.value:<16} {_short(result)}", flush=True)
        if flip is not None:
            _say(f"    status {flip.from_status} -> {flip.to_status}: {flip.reason}", flush=True)

    with _single_instance(config), open_app(config, listeners=[show]) as app:
        _stop_on_signals(app.loop.stop)
        _say(
            f"Checking {config.sender.address} -> {config.seed.address} every "
            f"{config.schedule.every_minutes:g} min (deadline {config.schedule.deadline_minutes:g}"
            " min). Ctrl-C stops.",
            flush=True,
        )
        if log_file is not None:
            _say(f"Log: {log_file}", flush=True)
        for warning in schedule_warnings(config):
            log.warning("%s", warning)  # on the terminal and in the log file support reads
        app.loop.run()
    _say("Stopped.", flush=True)
    return ExitStatus.OK


def cmd_tray(args: argparse.Namespace) -> int:
    """The loop in a worker thread, the tray icon on the main thread (macOS requires it)."""
    from watchdog.app import AppControls, open_app
    from watchdog.desktop.tray import create_tray

    _log_to_file(args.verbose)  # first: a broken config must reach the log file
    config = _config(args)
    with _single_instance(config), open_app(config) as app:
        tray = create_tray(AppControls(app))

        def stop_everything() -> None:
            app.loop.stop()
            if tray is not None:
                tray.stop()

        _stop_on_signals(stop_everything)

        def run_loop() -> None:
            # Why: if the loop ever ends (stopped or crashed), the icon must not keep
            # showing a status nobody updates any more.
            try:
                app.loop.run()
            finally:
                if tray is not None:
                    tray.stop()

        worker = threading.Thread(target=run_loop, name="watchdog-loop", daemon=True)
        worker.start()
        if tray is None or not tray.run():
            # No tray on this desktop: keep checking in the background until stopped.
            while worker.is_alive():
                worker.join(timeout=1.0)
        app.loop.stop()
        worker.join(timeout=config.schedule.deadline_seconds + 30)
    return ExitStatus.OK


def _stop_on_signals(stop: Callable[[], None]) -> None:
    """Ctrl-C and SIGTERM end the loop cleanly: the check in progress keeps its canary pending."""

    def on_signal(signum: int, _frame: object) -> None:
        log.warning("Stopping (signal %d); pending canaries are kept for the next start.", signum)
        stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _single_instance(config: Config) -> contextlib.AbstractContextManager[object]:
    """One loop per user: a second `run` or `tray` stops with a clear message."""
    from watchdog.desktop.instance_lock import InstanceLock
    from watchdog.storage.paths import data_dir

    lock: contextlib.AbstractContextManager[object] = InstanceLock(
        data_dir(config) / "watchdog.lock"
    )
    return lock


# -- status and history ---------------------------------------------------------------------


def _reminders_today(config: Config, history: History) -> tuple[str, ...]:
    """The last reminder batch and today's sending, as the tray and the report show them.

    Only where the practice's Sent folder is watched (``[sender] imap_host``): counts and times.
    """
    if config.sender_inbox is None:
        return ()
    from watchdog.core.providers import sending_limit
    from watchdog.engine.batch_watch import reminders_today

    limit, provider_name = sending_limit(config.sender)
    return reminders_today(
        history, time.time(), limit=limit, provider_name=provider_name, rules=config.batches
    )


def cmd_status(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = _config(args)
    with History(history_path(config)) as history:
        snapshot = history.status()
        last = history.recent(1)
        pending = history.pending()
        failing = failing_channels(history.alert_attempts(limit=200))
        today = _reminders_today(config, history)
    from watchdog.core.state import overdue_canaries

    overdue = overdue_canaries(
        pending, time.time(), configured_deadline_s=config.schedule.deadline_seconds
    )
    code = ExitStatus.DEGRADED if overdue else ExitStatus.OK
    if args.json:
        _say(
            json.dumps(
                {
                    "status": status_json(snapshot),
                    "unconfirmed": bool(overdue),
                    "overdue": [result_json(p) for p in overdue],
                    "exit_code": code,
                    "last_check": result_json(last[0]) if last else None,
                    "pending": [result_json(p) for p in pending],
                    "reminders_today": list(today),
                    "failing_channels": [
                        {
                            "channel": a.channel,
                            "since": iso_utc(a.at),
                            "detail": a.detail,
                            "permanent": a.permanent,
                        }
                        for a in failing
                    ],
                },
                indent=2,
            )
        )
        return code
    if overdue:
        oldest = overdue[0]
        waiting = (
            f"a check has been waiting since {_clock(oldest.sent_at)}, past its deadline of "
            f"{_clock(oldest.deadline_at)}: the last check may have been cut off (run "
            "`watchdog check`, and see that `watchdog run` or the tray icon is running)"
        )
        _say(f"Status: {describe_status_line(snapshot, unconfirmed=waiting)}")
    else:
        _say(f"Status: {describe_status_line(snapshot)}")
    if snapshot.reason:
        _say(f"Why: {snapshot.reason}")
    for note in today:
        _say(f"Today: {note}")
    if last:
        _say(f"Last check: {_clock(last[0].sent_at)} - {_last_check_words(last[0])}")
    else:
        _say("Last check: none yet (run `watchdog check`).")
    if pending:
        _say(f"Pending canaries: {len(pending)}")
        for p in pending:
            _say(f"  sent {_clock(p.sent_at)}, deadline {_clock(p.deadline_at)}")
    else:
        _say("Pending canaries: none")
    for a in failing:
        fix = " (fix the settings)" if a.permanent else ""
        _say(f"Alert channel {a.channel} failed at {_clock(a.at, date=True)}{fix}: {a.detail}")
    return code


#: How long past its deadline a pending canary may stay before ``status`` stops vouching for the
#: stored status: the check that owns it settles it within moments of the deadline, so a minute
#: covers a slow search; more means the check was cut off (power, logoff, a killed process) or
#: the loop is not running, and the stored UP may be stale.
def failing_channels(attempts: Sequence[AlertAttempt]) -> list[AlertAttempt]:
    """Channels whose newest attempt failed: support must know an alert path is broken."""
    newest: dict[str, AlertAttempt] = {}
    for attempt in attempts:  # newest first
        newest.setdefault(attempt.channel, attempt)
    return [a for a in newest.values() if not a.ok]


def cmd_history(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = _config(args)
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: give a number of checks, 1 or more")
    with History(history_path(config)) as history:
        rows = history.recent(args.limit)
    if args.json:
        _say(json.dumps([result_json(r) for r in rows], indent=2))
        return ExitStatus.OK
    if not rows:
        _say("No checks yet.")
        return ExitStatus.OK
    header = ("Sent", "Outcome", "Latency", "Folder", "Diagnosis", "Server reply")
    table = [
        (
            _clock(r.sent_at, date=True),
            r.outcome.value,
            format_duration(r.latency_s) if r.latency_s is not None else "-",
            r.folder or "-",
            _diagnosis_cell(r),
            _one_line(str(r.smtp_reply), 60) if r.smtp_reply else "-",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    _say("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in table:
        _say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return ExitStatus.OK


# -- autostart and incidents ----------------------------------------------------------------


def cmd_incidents(args: argparse.Namespace) -> int:
    from watchdog.core.providers import sender_provider
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = _config(args)
    provider = sender_provider(config.sender).name
    since = parse_since(args.since)
    with History(history_path(config)) as history:
        incidents = _incidents(history, since)
        now = time.time()
        # E-mails that left the account meanwhile (Sent folder counts; None: not known).
        sent = [history.sent_between(i.start, i.end or now)[0] for i in incidents]
    if args.json:
        _say(
            json.dumps(
                [
                    {
                        "status": i.status.value,
                        "start": iso_utc_or_none(i.start),
                        "end": iso_utc_or_none(i.end),
                        "ongoing": i.ongoing,
                        "duration_s": round(i.duration(now), 1),
                        "diagnoses": [d.value for d in i.diagnoses],
                        "canaries_failed": i.canaries_failed,
                        "alerts": [
                            {
                                "at": iso_utc_or_none(a.at),
                                "kind": a.kind,
                                "channel": a.channel,
                                "ok": a.ok,
                            }
                            for a in i.alerts
                        ],
                        "person_acted_at": [iso_utc(t) for t in i.person_acted_at],
                        "emails_sent_meanwhile": meanwhile,
                    }
                    for i, meanwhile in zip(incidents, sent, strict=True)
                ],
                indent=2,
            )
        )
        return ExitStatus.OK
    if not incidents:
        _say("No incidents: reminders went out every time they were checked.")
        return ExitStatus.OK
    for i, meanwhile in zip(incidents, sent, strict=True):
        end = "ongoing" if i.ongoing else _clock(i.end or 0, date=True)
        told = sorted({a.channel for a in i.alerts if a.ok})
        _say(
            f"{i.status.value:<8} {_clock(i.start, date=True)} -> {end} "
            f"({format_duration(i.duration(now))})"
        )
        why = "; ".join(diagnosis_words(d, provider) for d in i.diagnoses)
        _say(f"         why: {why or 'not recorded'}")
        _say(f"         canaries failed: {i.canaries_failed}; told: {', '.join(told) or 'nobody'}")
        if meanwhile:
            _say(
                f"         e-mails sent meanwhile: {meanwhile} (they may not have arrived; "
                "consider calling those patients)"
            )
        if i.person_acted_at:
            acted = ", ".join(_clock(t) for t in i.person_acted_at)
            _say(f"         Check now pressed at: {acted}")
    return ExitStatus.OK


def _incidents(history: History, since: float | None) -> list[Incident]:
    """The incidents ``watchdog incidents`` lists and ``export --incidents`` writes."""
    from watchdog.core.incidents import group_incidents, incidents_since

    flips = list(reversed(history.flips(limit=100_000)))
    first = flips[0].at if flips else None
    checks = list(history.iter_checks(first))
    alerts = history.alert_attempts(limit=100_000)
    return incidents_since(group_incidents(flips, checks, alerts), since)


# -- export ---------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = _config(args)
    since = parse_since(args.since)
    with History(history_path(config)) as history:
        if args.incidents:
            count = _export_incidents(history, since, args.format, args.output)
            what = "incidents"
        else:
            count = _export_checks(history, since, args.format, args.output)
            what = "checks"
    if args.output is not None:
        _say(f"{count} {what} written to {args.output}", file=sys.stderr)
    return ExitStatus.OK


def _export_checks(history: History, since: float | None, fmt: Format, output: Path | None) -> int:
    """Every check from ``since`` on, to ``output`` or standard output; how many."""
    from watchdog.storage.export import export_to_file, write_csv, write_json

    if output is not None:
        # Beside the target, then renamed (0600; a BOM for Excel on Windows; see export.py).
        return export_to_file(history.iter_checks(since), output, fmt)
    write = write_csv if fmt == "csv" else write_json
    return write(history.iter_checks(since), _export_stdout())


def _export_incidents(
    history: History, since: float | None, fmt: Format, output: Path | None
) -> int:
    """The incidents going on at ``since`` or later, each with the e-mails sent meanwhile."""
    from watchdog.core.batches import Touched
    from watchdog.storage.export import (
        IncidentExport,
        export_to_file,
        write_incidents_csv,
        write_incidents_json,
    )

    now = time.time()
    rows = [
        IncidentExport(i, Touched(*history.sent_between(i.start, i.end or now)), now)
        for i in _incidents(history, since)
    ]
    write = write_incidents_csv if fmt == "csv" else write_incidents_json
    if output is not None:
        return export_to_file(rows, output, fmt, write=write)
    return write(rows, _export_stdout())


def _export_stdout() -> TextIO:
    """Standard output for an export, made safe for a terminal.

    On a terminal, server replies in the rows are shown safely; a pipe or a file redirect gets
    the data unchanged.
    """
    out = sys.stdout
    if out.isatty():
        out = cast(TextIO, _TerminalSafeWriter(out))
    return out


class _TerminalSafeWriter(io.TextIOBase):
    """Writes through to ``target`` with :func:`terminal.safe_text` applied to each piece."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(safe_text(text))
        return len(text)


# -- test-alert and guide -------------------------------------------------------------------


def cmd_test_alert(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    config = _config(args)
    with open_app(config) as app:
        if not app.notifier.channels:
            _say("No alert channels are configured ([alerts] desktop = false, no webhooks).")
            return ExitStatus.CONFIG
        results = app.notifier.send_test()
    for r in results:
        state = "sent" if r.ok else ("FAILED (check the settings)" if r.permanent else "FAILED")
        detail = f": {r.detail}" if r.detail and not r.ok else ""
        _say(f"{r.channel:<24} {state}{detail}")
    return ExitStatus.OK if all(r.ok for r in results) else ExitStatus.FAILED


def cmd_guide(args: argparse.Namespace) -> int:
    from watchdog.pages.guide import open_in_browser, write_guide
    from watchdog.storage.paths import data_dir

    config: Config | None = None
    try:
        config = _config(args)
    except ConfigError:
        # Without a config, a given provider and diagnosis still make a page; the current
        # problem needs the config and its history.
        if args.provider is None or args.diagnosis is None:
            raise
    if args.diagnosis is None:
        assert config is not None
        title, page = _current_guide(config, args.provider)
    else:
        title, page = _guide_for_diagnosis(config, args.provider, args.diagnosis)
    output = args.output or (data_dir(config) / "guide.html")
    # 0600: the page can hold the server's last reply and the office's details (issue 11, 21).
    path = write_guide(output, page, private=True)
    _say(f"Guide: {title}")
    _say(f"Written to {path}")
    if not args.no_open and not open_in_browser(path):
        _say(f"No web browser could be started to show it; open this file by hand: {path}")
    return ExitStatus.OK


def _current_guide(config: Config, provider: str | None) -> tuple[str, str]:
    """The guide for the problem now, the very page the tray's "What to do" opens
    (:func:`app.current_guide_html`); ``provider`` given: as if the config named it."""
    from dataclasses import replace

    from watchdog.app import current_guide_html
    from watchdog.core.clock import SystemClock
    from watchdog.storage.paths import history_path

    if provider is not None:
        config = replace(config, sender=replace(config.sender, provider=provider))
    with History(history_path(config)) as history:
        return current_guide_html(config, history, SystemClock())


def _guide_for_diagnosis(
    config: Config | None, provider_name: str | None, diagnosis: Diagnosis
) -> tuple[str, str]:
    """The guide for a diagnosis asked for (not the current one): no history, no reply.

    The office's name and support contact stay on the page whichever provider or diagnosis was
    asked for: the page is for this office's front desk.
    """
    from watchdog.core.guidance import guide_for
    from watchdog.core.providers import get_provider, sender_provider
    from watchdog.pages.guide import render_html

    if provider_name is not None:
        provider = get_provider(provider_name)
    else:
        assert config is not None
        provider = sender_provider(config.sender)
    guide = guide_for(provider.name, diagnosis)
    page = render_html(
        guide,
        since=None,
        office=config.office if config else "",
        support_contact=config.alerts.support_contact if config else "",
        last_reply=None,
        generated_at=time.time(),
    )
    return guide.title, page


# -- explain --------------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    from watchdog.core.classifier import diagnose_reply, find_rule, parse_smtp_reply
    from watchdog.core.providers import get_provider, sender_provider

    configured = "other"
    if not args.provider:
        try:
            config = _config(args)
            configured = sender_provider(config.sender).name
        except ConfigError:
            pass  # no config is fine here: explain works on any pasted error
    text = _strip_code(args.smtp_code, args.smtp_message)
    # A reply that names its provider is that provider's, whatever the config says: the
    # practice software may send through another account than the one the watchdog checks.
    # --provider, given by the person, is taken as said.
    named = args.provider or provider_named_in_reply(text, configured) or configured
    provider = get_provider(named)
    reply = parse_smtp_reply(args.smtp_code, text)
    diagnosis = diagnose_reply(reply, provider.name)
    rule = find_rule(reply, provider.name)
    summary, fix = practice_software_words(diagnosis, provider.name)
    if args.json:
        _say(
            json.dumps(
                {
                    "diagnosis": diagnosis.value,
                    "provider": provider.name,
                    "provider_name": provider.display_name,
                    "summary": summary,
                    "fix": fix,
                    "smtp_reply": {
                        "code": reply.code,
                        "enhanced": reply.enhanced,
                        "text": reply.text,
                    },
                    "rule": rule.id if rule else None,
                },
                indent=2,
            )
        )
        return ExitStatus.OK
    _say(f"Diagnosis: {diagnosis.value}")
    _say(f"What it means: {summary}")
    _say(f"What to do ({provider.display_name}): {fix}")
    return ExitStatus.OK


def smtp_code_argument(value: str) -> int:
    """``--smtp-code``: a reply code, 200 to 599; a wrong one is a usage error (argparse's)."""
    try:
        code = int(value.strip())
    except ValueError:
        code = 0
    if not 200 <= code <= 599:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an SMTP reply code: give the three-digit number the error starts "
            "with, from 200 to 599 (e.g. 550)"
        )
    return code


def provider_argument(value: str) -> str:
    """``--provider``: one of the known providers; a wrong one is a usage error."""
    from watchdog.core.providers import get_provider

    try:
        return get_provider(value.strip().lower()).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r}: {e}") from None


def diagnosis_argument(value: str) -> Diagnosis:
    """``--diagnosis``: a diagnosis name; a wrong one is a usage error."""
    try:
        return Diagnosis(value.strip().lower())
    except ValueError:
        allowed = ", ".join(d.value for d in Diagnosis)
        raise argparse.ArgumentTypeError(f"{value!r}: use one of {allowed}") from None


#: Families of providers that share their servers' wording: a Yahoo-style code in an AOL or
#: AT&T account's reply is that account's own, not Yahoo's.
_REPLY_FAMILIES: dict[str, frozenset[str]] = {
    "gmail": frozenset({"gmail"}),
    "outlook": frozenset({"outlook", "microsoft365"}),
    "yahoo": frozenset({"yahoo", "aol", "att"}),
    "icloud": frozenset({"icloud"}),
    "comcast": frozenset({"comcast"}),
}

#: What in a reply names the provider that wrote it, e.g. Gmail's "- gsmtp" at the end of every
#: reply, Microsoft's server names, Yahoo's bracketed codes ("[PH01]", "(#AUTH005)").
_REPLY_MARKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gmail", re.compile(r"\bgsmtp\b|support\.google\.com|\bgoogle\.com\b", re.I)),
    ("outlook", re.compile(r"\boutlook\.com\b|\bhotmail\.com\b|\blive\.com\b", re.I)),
    (
        "yahoo",
        re.compile(
            r"\[(?:PH|TS|TSS|GL|BL|DM|IP|SU)\d\d\]|\(#(?:AUTH|MBR|CON)\d+\)"
            r"|\byahoo(?:inc)?\.com\b",
            re.I,
        ),
    ),
    ("icloud", re.compile(r"\bicloud\.com\b|\bme\.com\b|\bapple\.com\b", re.I)),
    ("comcast", re.compile(r"\bcomcast\.net\b|\bxfinity\b", re.I)),
)


def provider_named_in_reply(text: str, configured: str) -> str | None:
    """The provider a reply names ("gsmtp", "outlook.com", "[PH01]"), or None.

    The configured provider is kept when it belongs to the named family (Microsoft 365 for an
    "outlook.com" server name, AOL or AT&T for a Yahoo code): their servers speak alike.
    """
    for family, pattern in _REPLY_MARKS:
        if pattern.search(text):
            return configured if configured in _REPLY_FAMILIES[family] else family
    return None


def practice_software_words(diagnosis: Diagnosis, provider: str) -> tuple[str, str]:
    """What a refusal means and what to do, for an error the practice software showed.

    ``watchdog explain`` is read about the practice's own account: the texts the watchdog uses
    for its own checks speak of "this program", "the keyring for Watchdog" and "the history",
    which do not apply to an error pasted from the practice software.
    """
    from watchdog.core.classifier import describe
    from watchdog.core.guidance import short_fix
    from watchdog.core.providers import get_provider

    info = get_provider(provider)
    where = f" at {info.sign_in_url}" if info.sign_in_url else " in the account's security settings"
    settings = "the practice software's mail settings"
    words: dict[Diagnosis, tuple[str, str]] = {
        Diagnosis.APP_PASSWORD_REQUIRED: (
            "The mail provider no longer accepts the account's normal password from a program "
            "like the practice software; it needs an app password made in the account's "
            "security settings.",
            f"Create an app password{where} and type it into {settings} in place of the "
            "normal password.",
        ),
        Diagnosis.AUTH_REJECTED: (
            "The mail provider did not accept the user name or password in the practice "
            "software's mail settings.",
            f"Check the user name and the password in {settings} (many providers want an app "
            f"password there, made{where}); then send a test e-mail again.",
        ),
        Diagnosis.BASIC_AUTH_DISABLED: (
            "The mail provider has switched off signing in with a password from programs like "
            "the practice software, so it cannot send this way any more.",
            short_fix(provider, diagnosis),
        ),
        Diagnosis.SIGNIN_EXPIRED: (
            "The mail provider no longer accepts the sign-in the practice software uses (it "
            "was withdrawn or the password changed).",
            f"Sign in again in {settings} (or type the new password there).",
        ),
        Diagnosis.MESSAGE_REJECTED: (
            describe(diagnosis),
            "A junk-mail filter refused the message; the error's own words say which rule. "
            "If it keeps happening, ask the provider, or send reminders through a sending "
            "service.",
        ),
        Diagnosis.UNKNOWN: (
            "The mail provider refused the message for a reason not recognised here.",
            "The error's own words say why; if it continues, send them to the provider's support.",
        ),
        Diagnosis.SERVER_UNREACHABLE: (
            "The mail server could not be reached; it may be down, or the server name or port "
            f"in {settings} may be wrong.",
            f"Check the server name and port in {settings}; if they are right, the provider "
            "may be down: try again later.",
        ),
        Diagnosis.WRONG_SERVER_SETTINGS: (
            f"The server and port in {settings} answered, but not as a mail server for "
            "sending, so the port, the server name or the security setting is probably wrong.",
            f"Compare the server name, port and security in {settings} with the provider's "
            "settings page (sending is usually port 465 with SSL or 587 with STARTTLS).",
        ),
        Diagnosis.RELAY_DENIED: (
            describe(diagnosis),
            f"Check in {settings} that signing in is switched on, with the account's own user "
            "name, and that the From address is that account's address.",
        ),
    }
    if diagnosis in words:
        return words[diagnosis]
    return describe(diagnosis), short_fix(provider, diagnosis)


def _strip_code(code: int, text: str) -> str:
    """Pasted errors often repeat the code on every line ("550-5.4.5 ..."): keep the rest."""
    lines = text.replace("\\n", "\n").strip().splitlines()
    prefix = str(code)
    cleaned = []
    for line in lines:
        stripped = line.strip()
        if stripped[:3] == prefix and stripped[3:4] in (" ", "-"):
            stripped = stripped[4:]
        cleaned.append(stripped)
    return "\n".join(cleaned)


# -- demo -----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from watchdog.demo.story import run_demo

    return run_demo(interval_s=args.interval)


# -- formatting -----------------------------------------------------------------------------


def result_json(r: CheckResult) -> dict[str, Any]:
    reply = r.smtp_reply
    return {
        "token": r.token,
        "outcome": r.outcome.value,
        "diagnosis": r.diagnosis.value,
        "sent_at": iso_utc_or_none(r.sent_at),
        "deadline_at": iso_utc_or_none(r.deadline_at),
        "found_at": iso_utc_or_none(r.found_at),
        "latency_s": None if r.latency_s is None else round(r.latency_s, 3),
        "folder": r.folder,
        "smtp_reply": (
            None
            if reply is None
            else {"code": reply.code, "enhanced": reply.enhanced, "text": reply.text}
        ),
        "detail": r.detail,
        "bounce": r.bounce,
    }


def status_json(s: StatusSnapshot) -> dict[str, Any]:
    return {
        "status": s.status.value,
        "since": iso_utc_or_none(s.since),
        "reason": s.reason,
        "diagnosis": s.diagnosis.value if s.diagnosis else None,
        "consecutive_lost": s.consecutive_lost,
        "consecutive_refused": s.consecutive_refused,
    }


def describe_status_line(s: StatusSnapshot, *, unconfirmed: str = "") -> str:
    """``UP since ...``; with ``unconfirmed`` (why the stored status may be stale), never a
    bare status: ``UP (unconfirmed: ...)``."""
    if unconfirmed:
        return f"{s.status.value} (unconfirmed: {unconfirmed})"
    if s.since is None:
        return f"{s.status.value} (no checks yet)"
    return f"{s.status.value} since {_clock(s.since, date=True)}"


def _clock(ts: float, *, date: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", time.localtime(ts))


def _last_check_words(r: CheckResult) -> str:
    """``delivered: INBOX after 2.1 s``; a check still waiting says so and until when, never an
    empty ``pending:``."""
    if r.outcome is Outcome.PENDING:
        return f"waiting for the test message to arrive (deadline {_clock(r.deadline_at)})"
    short = _short(r)
    return f"{r.outcome.value}: {short}" if short else r.outcome.value


def diagnosis_words(diagnosis: Diagnosis, provider: str = "other") -> str:
    """A diagnosis as the guide's title ("Reminders may be disappearing ..."), not its code."""
    from watchdog.core.guidance import guide_for

    try:
        return guide_for(provider, diagnosis).title
    except Exception:  # a guide that cannot be read must not hide the rest of the listing
        return diagnosis.value


def _diagnosis_cell(r: CheckResult) -> str:
    """The history's Diagnosis column: a check still waiting has none yet, not "unknown"."""
    if r.outcome is Outcome.PENDING:
        return "(waiting)"
    return r.diagnosis.value


def _short(r: CheckResult) -> str:
    if r.outcome in (Outcome.DELIVERED, Outcome.JUNK, Outcome.LATE) and r.latency_s is not None:
        return f"{r.folder} after {format_duration(r.latency_s)}"
    return _one_line(r.detail, 100)


def _one_line(text: str, width: int) -> str:
    """``text`` on one line (every run of whitespace one space), clipped to ``width``."""
    return clip_text(" ".join(text.split()), width)


if __name__ == "__main__":
    sys.exit(main())

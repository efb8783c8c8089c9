"""The commands that watch: ``check`` (one round trip now), ``run`` (on a schedule), ``tray``
(the same with an icon), ``status``, ``test-alert`` and ``demo``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.cli.common import (
    LOG_FORMAT,
    clock,
    config_from,
    describe_status_line,
    one_line,
    result_json,
    say,
    status_json,
)
from watchdog.config import Config, schedule_warnings
from watchdog.core.exit_status import ExitStatus
from watchdog.core.humanize import format_duration
from watchdog.core.models import (
    AlertAttempt,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    Status,
    StatusSnapshot,
)
from watchdog.core.terminal import SafeFormatter
from watchdog.core.timefmt import iso_utc
from watchdog.storage.history import History

if TYPE_CHECKING:
    from watchdog.core.batches import BatchCanaryPlan, LearnedDeadline

_EXIT_BY_OUTCOME = {
    Outcome.DELIVERED: ExitStatus.OK,
    Outcome.JUNK: ExitStatus.DEGRADED,
    Outcome.LATE: ExitStatus.DEGRADED,
    Outcome.PENDING: ExitStatus.DEGRADED,
}

log = logging.getLogger("watchdog")


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
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, handler.level))
    for stream_handler in root.handlers:
        if stream_handler is not handler and verbose == 0:
            stream_handler.setLevel(logging.WARNING)
    return path


# -- check -----------------------------------------------------------------------------------------


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog check [--json]``."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_check(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    config = config_from(args)
    with open_app(config) as app:
        report = app.runner.check()
    result = report.result
    code = _EXIT_BY_OUTCOME.get(result.outcome, ExitStatus.FAILED)
    if args.json:
        payload = result_json(result)
        payload["status"] = status_json(report.status)
        payload["exit_code"] = code
        say(json.dumps(payload, indent=2))
    else:
        say(describe_check(config, app.provider, result))
        say(f"Status: {describe_status_line(report.status)}")
        if report.status.status is not Status.UP and report.status.reason:
            say(f"Why: {report.status.reason}")
    return code


def describe_check(config: Config, provider: str, result: CheckResult) -> str:
    """A plain-words account of one round trip."""
    from watchdog.core.classifier import describe
    from watchdog.core.guidance import short_fix

    lines = [
        f"Delivery check: {config.sender.address} -> {config.seed.address} (provider: {provider})",
    ]
    sent = clock(result.sent_at)
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


# -- run -------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    log_file = _log_to_file(args.verbose)  # first: a broken config must reach the log file
    config = config_from(args)

    def show(result: CheckResult, snapshot: StatusSnapshot, flip: Flip | None) -> None:
        say(f"{clock(result.sent_at)}  {result.outcome.value:<16} {_short(result)}", flush=True)
        if flip is not None:
            say(f"    status {flip.from_status} -> {flip.to_status}: {flip.reason}", flush=True)

    with _single_instance(config), open_app(config, listeners=[show]) as app:
        _stop_on_signals(app.loop.stop)
        say(
            f"Checking {config.sender.address} -> {config.seed.address} every "
            f"{config.schedule.every_minutes:g} min (deadline {config.schedule.deadline_minutes:g}"
            " min). Ctrl-C stops.",
            flush=True,
        )
        if log_file is not None:
            say(f"Log: {log_file}", flush=True)
        for warning in schedule_warnings(config):
            log.warning("%s", warning)  # on the terminal and in the log file support reads
        app.loop.run()
    say("Stopped.", flush=True)
    return ExitStatus.OK


def cmd_tray(args: argparse.Namespace) -> int:
    """The loop in a worker thread, the tray icon on the main thread (macOS requires it)."""
    from watchdog.app import AppControls, open_app
    from watchdog.desktop.tray import create_tray

    _log_to_file(args.verbose)  # first: a broken config must reach the log file
    config = config_from(args)
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


# -- status ----------------------------------------------------------------------------------------


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


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog status [--json]``."""
    parser.add_argument("--json", action="store_true", help="print as JSON")


def cmd_status(args: argparse.Namespace) -> int:
    from watchdog.storage.history import History
    from watchdog.storage.paths import history_path

    config = config_from(args)
    with History(history_path(config)) as history:
        snapshot = history.status()
        last = history.recent(1)
        pending = history.pending()
        failing = failing_channels(history.alert_attempts(limit=200))
        today = _reminders_today(config, history)
        deadline, plan = _deadlines(config, history)
    from watchdog.core.state import overdue_canaries

    overdue = overdue_canaries(
        pending, time.time(), configured_deadline_s=config.schedule.deadline_seconds
    )
    code = ExitStatus.DEGRADED if overdue else ExitStatus.OK
    if args.json:
        say(
            json.dumps(
                {
                    "status": status_json(snapshot),
                    "unconfirmed": bool(overdue),
                    "overdue": [result_json(p) for p in overdue],
                    "exit_code": code,
                    "last_check": result_json(last[0]) if last else None,
                    "pending": [result_json(p) for p in pending],
                    "reminders_today": list(today),
                    "deadline": {
                        "seconds": deadline.seconds,
                        "learned": deadline.learned,
                        "reason": deadline.reason,
                    },
                    "after_reminders": None
                    if plan is None
                    else {
                        "suspect_after_s": plan.suspect_after_s,
                        "confirm_within_s": plan.confirm_within_s,
                        "confirmations": plan.confirmations,
                        "false_alarm": plan.false_alarm,
                        "samples": plan.samples,
                    },
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
            f"a check has been waiting since {clock(oldest.sent_at)}, past its deadline of "
            f"{clock(oldest.deadline_at)}: the last check may have been cut off (run "
            "`watchdog check`, and see that `watchdog run` or the tray icon is running)"
        )
        say(f"Status: {describe_status_line(snapshot, unconfirmed=waiting)}")
    else:
        say(f"Status: {describe_status_line(snapshot)}")
    if snapshot.reason:
        say(f"Why: {snapshot.reason}")
    for note in today:
        say(f"Today: {note}")
    say(f"Deadline: {format_duration(deadline.seconds)} ({deadline.reason})")
    if plan is not None:
        say(f"After the reminders: {plan.describe()}")
    elif config.schedule.learn_deadline:
        say(
            "After the reminders: judged like any other canary (too few arrivals known yet, "
            "or none sooner than the deadline)"
        )
    if last:
        say(f"Last check: {clock(last[0].sent_at)} - {_last_check_words(last[0])}")
    else:
        say("Last check: none yet (run `watchdog check`).")
    if pending:
        say(f"Pending canaries: {len(pending)}")
        for p in pending:
            say(f"  sent {clock(p.sent_at)}, deadline {clock(p.deadline_at)}")
    else:
        say("Pending canaries: none")
    for a in failing:
        fix = " (fix the settings)" if a.permanent else ""
        say(f"Alert channel {a.channel} failed at {clock(a.at, date=True)}{fix}: {a.detail}")
    return code


def _deadlines(config: Config, history: History) -> tuple[LearnedDeadline, BatchCanaryPlan | None]:
    """The deadline the next regular canary gets and the plan for the one after the reminders,
    by the runner's own rules (``core.batches``), from the same history."""
    from watchdog.core.batches import (
        DEFAULT_CONFIRM_RULES,
        DEFAULT_DEADLINE_RULES,
        batch_canary_plan,
        deadline_in_force,
    )

    schedule = config.schedule
    window = max(DEFAULT_DEADLINE_RULES.window, DEFAULT_CONFIRM_RULES.window)
    latencies = history.arrival_latencies(window) if schedule.learn_deadline else []
    deadline = deadline_in_force(
        latencies, schedule.deadline_seconds, learn=schedule.learn_deadline
    )
    plan = batch_canary_plan(latencies, schedule.deadline_seconds) if latencies else None
    return deadline, plan


def failing_channels(attempts: Sequence[AlertAttempt]) -> list[AlertAttempt]:
    """Channels whose newest attempt failed: support must know an alert path is broken."""
    newest: dict[str, AlertAttempt] = {}
    for attempt in attempts:  # newest first
        newest.setdefault(attempt.channel, attempt)
    return [a for a in newest.values() if not a.ok]


# -- test-alert ------------------------------------------------------------------------------------


def cmd_test_alert(args: argparse.Namespace) -> int:
    from watchdog.app import open_app

    config = config_from(args)
    with open_app(config) as app:
        if not app.notifier.channels:
            say("No alert channels are configured ([alerts] desktop = false, no webhooks).")
            return ExitStatus.CONFIG
        results = app.notifier.send_test()
    for r in results:
        state = "sent" if r.ok else ("FAILED (check the settings)" if r.permanent else "FAILED")
        detail = f": {r.detail}" if r.detail and not r.ok else ""
        say(f"{r.channel:<24} {state}{detail}")
    return ExitStatus.OK if all(r.ok for r in results) else ExitStatus.FAILED


# -- demo ------------------------------------------------------------------------------------------


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog demo [--interval SECONDS]``."""
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="seconds between checks in the demo (default 2)",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from watchdog.demo.story import run_demo

    return run_demo(interval_s=args.interval)


def _last_check_words(r: CheckResult) -> str:
    """``delivered: INBOX after 2.1 s``; a check still waiting says so and until when, never an
    empty ``pending:``."""
    if r.outcome is Outcome.PENDING:
        return f"waiting for the test message to arrive (deadline {clock(r.deadline_at)})"
    short = _short(r)
    return f"{r.outcome.value}: {short}" if short else r.outcome.value


def _short(r: CheckResult) -> str:
    if r.outcome in (Outcome.DELIVERED, Outcome.JUNK, Outcome.LATE) and r.latency_s is not None:
        return f"{r.folder} after {format_duration(r.latency_s)}"
    return one_line(r.detail, 100)

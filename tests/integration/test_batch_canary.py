"""A canary right after each reminder batch (issue 14), on the real app and real servers.

The test SMTP server keeps a copy of every accepted message in the sender's Sent folder in
Dovecot, as Gmail and Outlook do. A batch of reminders through it is seen by the product's
Sent-folder watch; once the batch has gone quiet the loop asks for a canary at once, and a canary
sent after the batch answers it.
"""

from __future__ import annotations

import smtplib
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.faults.rig import open_rig
from tests.servers import MailServers
from watchdog.core.batches import BatchRules, BudgetState, local_midnight
from watchdog.engine.batch_watch import BatchWatch

pytestmark = pytest.mark.servers

PATIENT = "patient.sentinel@example.org"
SUBJECT = "Your appointment with Dr Sentinel"

#: A batch of at least 5 messages, quiet after 2 s: the shipped rules in seconds, not minutes.
FAST = BatchRules(min_messages=5, max_gap_s=2, quiet_after_s=2, running_canary_every_s=None)


def practice_inbox(servers: MailServers) -> dict[str, object]:
    """``[sender]`` keys for the practice's own inbox (Dovecot user ``sender``, verified TLS)."""
    return {"imap_host": servers.imap_host, "imap_port": servers.imaps_port, "imap_security": "ssl"}


def send_reminders(servers: MailServers, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", servers.smtp_plain_port, timeout=30) as smtp:
        smtp.login(servers.sender_user, servers.sender_password)
        for _ in range(count):
            message = EmailMessage()
            message["From"] = servers.sender_address
            message["To"] = PATIENT
            message["Subject"] = SUBJECT
            message.set_content("See you tomorrow at 9:00.")
            smtp.send_message(message)


def test_a_quiet_batch_gets_a_canary_at_once_and_the_canary_answers_it(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    rig = open_rig(tmp_path, servers, sender=practice_inbox(servers))
    try:
        loop = rig.app.loop
        watch = loop.batch_watch
        assert isinstance(watch, BatchWatch)  # the practice's inbox is configured
        watch.rules = FAST
        loop._check_requested = False  # only the batch may ask for a check here

        servers.smtp.keep_copy(servers.imap_port)
        servers.smtp.set_mode("blackhole")  # the patients' addresses do not exist here
        send_reminders(servers, 8)
        servers.smtp.set_mode("deliver")
        loop._watch_batches()
        assert [b.count for b in watch.batches()] == [8]
        assert loop._check_requested is False  # still running: no canary in the middle

        time.sleep(FAST.quiet_after_s + 0.5)
        watch.next_poll_at = 0.0
        loop._watch_batches()
        assert loop._check_requested is True  # gone quiet, no canary after it: check now

        servers.smtp.keep_copy(None)
        report = rig.app.runner.safe_check(threading.Event())
        assert report is not None and report.result.outcome.value == "delivered"
        loop._check_requested = False
        watch.next_poll_at = 0.0
        loop._watch_batches()
        assert loop._check_requested is False  # the canary after the batch answered it
    finally:
        servers.smtp.keep_copy(None)
        rig.close()
    # Counts and times only: nothing of the reminders is kept or logged by the watch.
    assert all(isinstance(t, float) for t in watch.times)
    log = (tmp_path / "data").glob("**/*")
    for path in log:
        if path.is_file():
            data = path.read_bytes()
            assert PATIENT.encode() not in data and SUBJECT.encode() not in data, path


def test_without_the_practices_inbox_there_is_no_batch_watch(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    rig = open_rig(tmp_path, servers)
    try:
        assert rig.app.loop.batch_watch is None
    finally:
        rig.close()


def test_the_daily_limit_warning_reaches_the_desktop_once_a_day_with_counts_only(
    tmp_path: Path,
    servers: MailServers,
    watchdog_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.integration.test_desktop_notifications import _require_tools
    from tests.servers.notification_daemon import NotificationDaemon
    from watchdog.notify.desktop import DesktopChannel

    _require_tools()
    with NotificationDaemon() as daemon:
        for name, value in daemon.env.items():
            monkeypatch.setenv(name, value)
        rig = open_rig(
            tmp_path, servers, sender=practice_inbox(servers), channels=[DesktopChannel()]
        )
        try:
            app = rig.app
            report = app.runner.safe_check(threading.Event())  # one canary today
            assert report is not None

            def watch() -> BatchWatch:
                """The app's watch, with a small daily limit (the test server has none)."""
                assert app.loop.batch_watch is not None

                def warn(budget: BudgetState) -> None:
                    app.notifier.warn_budget(budget.words)

                return BatchWatch(
                    app.loop.batch_watch.open_inbox,
                    app.clock,
                    rules=FAST,
                    daily_limit=10,
                    provider_name="Gmail",
                    canaries_since=app.history.canaries_since,
                    on_budget_warning=warn,
                )

            servers.smtp.keep_copy(servers.imap_port)
            servers.smtp.set_mode("blackhole")
            send_reminders(servers, 8)  # 8 reminders + 1 canary = 9 of 10
            servers.smtp.set_mode("deliver")
            first = watch()
            first.poll()
            assert first.budget is not None and first.budget.warn
            first.poll()  # the same day: not again
            watch().poll()  # nor after a restart (the history knows it was told)
        finally:
            servers.smtp.keep_copy(None)
            rig.close()
        shown = [n for n in daemon.received() if "daily" in n["summary"]]
    assert len(shown) == 1, shown
    assert shown[0]["summary"] == "E-mails from sender@example.test: close to the daily limit"
    assert "9 e-mails have gone out from this account today" in shown[0]["body"]
    assert "Gmail stops at about 10 a day: send the rest tomorrow" in shown[0]["body"]
    assert PATIENT not in shown[0]["body"] and SUBJECT not in shown[0]["body"]


def test_a_block_during_a_batch_is_told_with_how_many_reminders_went_into_it(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    rig = open_rig(tmp_path, servers, sender=practice_inbox(servers))
    try:
        app = rig.app
        watch = app.loop.batch_watch
        assert watch is not None
        assert app.runner.safe_check(threading.Event()) is not None  # UP before the batch
        # The provider starts swallowing everything: the batch's reminders and the canary.
        servers.smtp.keep_copy(servers.imap_port)
        servers.smtp.set_mode("blackhole")
        send_reminders(servers, 6)
        watch.poll()
        down = app.runner.safe_check(threading.Event())
        assert down is not None and down.status.status.value == "DOWN"
        servers.smtp.keep_copy(None)
        servers.smtp.set_mode("deliver")
        watch.poll()
        up = app.runner.safe_check(threading.Event())
        assert up is not None and up.status.status.value == "UP"
    finally:
        servers.smtp.keep_copy(None)
        rig.close()
    kinds = [a.kind.value for a in rig.alerts]
    assert kinds == ["down", "recovered"], kinds
    for alert in rig.alerts:
        assert "6 reminders sent between" in alert.message, alert.message
        assert "consider calling those patients" in alert.message
        assert PATIENT not in alert.message and SUBJECT not in alert.message


def test_the_tray_shows_the_last_batch_and_the_test_message_after_it(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    from watchdog.app import AppControls

    rig = open_rig(tmp_path, servers, sender=practice_inbox(servers))
    try:
        app = rig.app
        watch = app.loop.batch_watch
        assert watch is not None
        watch.rules = FAST
        controls = AppControls(app)
        assert controls.state().notes == ()  # no batch yet
        servers.smtp.keep_copy(servers.imap_port)
        servers.smtp.set_mode("blackhole")
        send_reminders(servers, 7)
        servers.smtp.set_mode("deliver")
        servers.smtp.keep_copy(None)
        time.sleep(FAST.quiet_after_s + 0.5)
        watch.poll()
        (before,) = controls.state().notes
        assert before.startswith("Last reminder batch: 7 e-mails sent between")
        assert "goes out when the batch is over" in before
        assert app.runner.safe_check(threading.Event()) is not None
        (after,) = controls.state().notes
        assert "the test message after it" in after and after.endswith("arrived.")
    finally:
        servers.smtp.keep_copy(None)
        rig.close()


def test_no_patient_address_or_subject_from_a_batch_reaches_any_output(
    tmp_path: Path,
    servers: MailServers,
    watchdog_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A batch with a sentinel patient: history, report, export, bundle, logs and alerts."""
    import logging
    import zipfile

    from tests.e2e.cli import watchdog

    caplog.set_level(logging.DEBUG)
    rig = open_rig(tmp_path, servers, sender=practice_inbox(servers))
    try:
        app = rig.app
        watch = app.loop.batch_watch
        assert watch is not None
        watch.rules = FAST
        servers.smtp.keep_copy(servers.imap_port)
        servers.smtp.set_mode("blackhole")
        send_reminders(servers, 12)  # a batch by the shipped rules too (10 or more)
        watch.poll()
        assert app.runner.safe_check(threading.Event()) is not None  # lost: DOWN, with counts
        servers.smtp.keep_copy(None)
        servers.smtp.set_mode("deliver")
        watch.poll()
        assert app.runner.safe_check(threading.Event()) is not None  # recovered
        now = app.clock.now()
        assert app.history.sent_between(local_midnight(now), now + 60)[0] == 12  # counts kept
    finally:
        servers.smtp.keep_copy(None)
        rig.close()
    config = tmp_path / "config.toml"
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for args in (
        ("report", "--output", str(outputs / "report.html")),
        ("export", "--format", "json", "--output", str(outputs / "export.json")),
        ("support-bundle", "--output", str(outputs / "bundle.zip")),
    ):
        done = watchdog(*args, env=watchdog_env, config=config)
        assert done.returncode == 0, (args, done.stderr)
        assert PATIENT not in done.stdout + done.stderr
    import json

    done = watchdog("incidents", "--json", env=watchdog_env, config=config)
    (incident,) = json.loads(done.stdout)
    assert incident["emails_sent_meanwhile"] == 12
    status = watchdog("status", env=watchdog_env, config=config)
    assert "Today: Last reminder batch: 12 e-mails sent between" in status.stdout, status.stdout
    assert "the test message after it" in status.stdout
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != config]
    with zipfile.ZipFile(outputs / "bundle.zip") as bundle:
        blobs += [bundle.read(name) for name in bundle.namelist()]
    assert blobs
    for blob in blobs:
        assert PATIENT.encode() not in blob and SUBJECT.encode() not in blob
    # The product's own log lines (the test servers log the reminders they carry, as they may).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("watchdog"))
    said = logged + "".join(f"{a.title} {a.message}" for a in rig.alerts)
    assert "12 reminders sent between" in said  # the alerts did count the batch
    assert PATIENT not in said and SUBJECT not in said


def test_in_office_hours_the_regular_canary_waits_while_nothing_is_sent_and_follows_sending(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    """Office hours, the shipped schedule (every 30 min, every 2 h with no reminders due).

    The loop runs on a simulated clock that starts just after today's midnight (office hours all
    day, every day), behind the real one: the Sent folder (emptied before each test) dates its
    copies by the real clock, so the one e-mail the practice sends comes after our canary.
    """
    from tests.support.clock import FakeClock
    from watchdog.app import AppControls
    from watchdog.core.models import Status
    from watchdog.engine.loop import Plan

    start = local_midnight(time.time()) + 60
    clock = FakeClock(start)
    rig = open_rig(
        tmp_path,
        servers,
        clock=clock,
        sender=practice_inbox(servers),
        every_minutes=30,
        schedule={"quiet_every_minutes": 120},
        alerts={
            "office_hours": "00:00-23:59",
            "office_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
    )
    try:
        app, loop = rig.app, rig.app.loop
        assert loop.batch_watch is not None  # the practice's inbox is configured
        servers.smtp.keep_copy(servers.imap_port)  # our canaries land in Sent too, as at Gmail
        plan = Plan(app.config.schedule.every_seconds, clock.now())

        def run_until(minutes: float) -> list[float]:
            """The loop's turns until ``minutes`` after the start; the canaries' send times."""
            for _ in range(10_000):  # bounded: each turn moves the clock on by what it waits
                if clock.now() >= start + minutes * 60:
                    break
                clock.t = min(start + minutes * 60, clock.t + max(loop.step(plan), 1.0))
            return sorted(r.sent_at - start for r in app.history.iter_checks())

        assert run_until(45) == [0.0]  # the first check, then nothing sent: no canary at 30 min
        assert loop.regular_interval_now() == 7200
        assert loop.batch_watch.sent_since(start) is False  # our own canary was left out
        # Past every_minutes, the quiet interval in force: the tray does not call it stale.
        assert AppControls(app).state().status is Status.UP

        servers.smtp.set_mode("blackhole")  # the patient's address does not exist here
        send_reminders(servers, 1)  # the front desk sends one e-mail
        servers.smtp.set_mode("deliver")
        assert run_until(75) == [0.0, 3600.0]  # at the next slot of the regular schedule
        outcomes = {r.outcome.value for r in app.history.iter_checks()}
        assert outcomes == {"delivered"}
    finally:
        servers.smtp.keep_copy(None)
        rig.close()

"""Runner decisions with the network edges replaced: offline evidence, errors that keep the loop.

The real mail path is tested end to end in tests/e2e; here the probe and the mailbox raise the
exceptions a real network gives, so the decisions about them can be checked one by one.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from watchdog.config import Config, ScheduleConfig, SeedConfig, SenderConfig
from watchdog.core.errors import MailboxError, SendError
from watchdog.core.models import Diagnosis, Outcome, Security, SmtpReply, Status
from watchdog.engine.runner import Runner
from watchdog.mail.mailbox import Found
from watchdog.storage.history import History

KEY = b"k" * 32


class FakeProbe:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        return SmtpReply(250, "2.0.0 OK", "2.0.0")


class FakeMailbox:
    """Holds 'arrived' tokens; or fails to open with ``error``."""

    def __init__(self, clock: FakeClock, error: BaseException | None = None) -> None:
        self.clock = clock
        self.error = error
        self.arrived: dict[str, float] = {}

    def __enter__(self) -> FakeMailbox:
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def search(self, tokens: Sequence[str]) -> dict[str, Found]:
        return {
            t: Found(t, "INBOX", 1, self.arrived[t], self.clock.now(), False)
            for t in tokens
            if t in self.arrived
        }

    def wait_for(
        self, token: str, deadline: float, *, should_stop: Callable[[], bool]
    ) -> Found | None:
        self.clock.t = max(self.clock.t, deadline)
        return self.search([token]).get(token)

    def delete(self, items: Sequence[Found]) -> None:
        for item in list(items):
            self.arrived.pop(item.token, None)


def network_error(
    cls: type[SendError | MailboxError], inner: BaseException, message: str
) -> Exception:
    try:
        raise inner
    except BaseException as e:
        try:
            raise cls(message, network=True) from e
        except Exception as outer:
            return outer
    raise AssertionError("unreachable")


def make_config(tmp_path: Path) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        sender=SenderConfig("a@example.com", "smtp.example.com", 465, Security.SSL, "a"),
        seed=SeedConfig("s@example.com", "imap.example.com", 993, Security.SSL, "s"),
        schedule=ScheduleConfig(every_minutes=1, deadline_minutes=0.5),
    )


def make_runner(
    tmp_path: Path, probe: FakeProbe, mailbox: FakeMailbox, clock: FakeClock, *, route: bool
) -> Runner:
    return Runner(
        config=make_config(tmp_path),
        history=History(tmp_path / "h.sqlite3"),
        probe=probe,
        open_mailbox=lambda: mailbox,
        key=KEY,
        clock=clock,
        has_route=lambda: route,
    )


DNS = socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_both_servers_unresolvable_and_no_route_is_offline_not_a_provider_problem(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    probe = FakeProbe(network_error(SendError, DNS, "smtp dns"))
    mailbox = FakeMailbox(clock, network_error(MailboxError, DNS, "imap dns"))
    report = make_runner(tmp_path, probe, mailbox, clock, route=False).check()
    assert report.result.outcome is Outcome.OFFLINE
    assert report.result.diagnosis is Diagnosis.OFFLINE
    assert report.status.status is Status.UNKNOWN


def test_an_smtp_server_that_refuses_connections_is_not_called_offline(tmp_path: Path) -> None:
    clock = FakeClock()
    probe = FakeProbe(network_error(SendError, ConnectionRefusedError(111, "refused"), "x"))
    mailbox = FakeMailbox(clock, network_error(MailboxError, ConnectionRefusedError(), "y"))
    report = make_runner(tmp_path, probe, mailbox, clock, route=False).check()
    assert report.result.outcome is Outcome.SEND_FAILED
    assert report.result.diagnosis is Diagnosis.SERVER_UNREACHABLE


def test_only_the_smtp_name_failing_while_the_seed_answers_is_that_servers_problem(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    probe = FakeProbe(network_error(SendError, DNS, "smtp dns"))
    report = make_runner(tmp_path, probe, FakeMailbox(clock), clock, route=True).check()
    assert report.result.outcome is Outcome.SEND_FAILED
    assert report.result.diagnosis is Diagnosis.SERVER_UNREACHABLE


def test_a_lost_canary_that_turns_up_later_is_recorded_late_and_counted_once(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    mailbox = FakeMailbox(clock)
    runner = make_runner(tmp_path, FakeProbe(), mailbox, clock, route=True)
    first = runner.check().result
    assert first.outcome is Outcome.LOST
    mailbox.arrived[first.token] = clock.now() + 60  # arrives a minute after its deadline
    clock.t += 120
    second_report = runner.check()
    assert [r.outcome for r in second_report.settled] == [Outcome.LATE]
    row = runner.history.get(first.token)
    assert row is not None and row.outcome is Outcome.LATE
    assert row.latency_s == pytest.approx(90.0)
    assert len(runner.history.recent(10)) == 2


def test_an_unexpected_error_in_a_check_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    runner = make_runner(
        tmp_path, FakeProbe(RuntimeError("boom")), FakeMailbox(clock), clock, route=True
    )
    assert runner.safe_check(threading.Event()) is None
    assert "boom" in caplog.text
    # The canary that was never sent is closed, so it can never count as lost later.
    (row,) = runner.history.recent(1)
    assert (row.outcome, row.diagnosis) == (Outcome.NOT_SENT, Diagnosis.CANNOT_CHECK)
    status = runner.history.status()
    assert status.status is Status.UNKNOWN and "internal error" in status.reason
    runner.probe = FakeProbe()
    mailbox = FakeMailbox(clock)
    runner.open_mailbox = lambda: mailbox
    report = runner.safe_check(threading.Event())
    assert report is not None and report.result.outcome is Outcome.LOST

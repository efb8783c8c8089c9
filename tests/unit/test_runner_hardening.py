"""The runner's promises when things go wrong around it (issue 11).

A canary that never reached the server is never lost; a found canary is deleted only once its
result is stored; a bounce keeps the server's own reply beside it; delay notices and bounces are
read while waiting; a refused password is not retried on every interval; a wrong PC clock is
measured and corrected for. The edges are the fakes of ``test_runner``; the real mail path is
tested in tests/e2e.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import FakeClock
from tests.unit.test_runner import KEY, FakeMailbox, FakeProbe, make_config
from watchdog.core.bounces import Bounce
from watchdog.core.errors import SendError, StorageError
from watchdog.core.models import CheckResult, Diagnosis, Outcome, SmtpReply, Status
from watchdog.engine.loop import Loop
from watchdog.engine.runner import STALE_SEND_S, Runner
from watchdog.mail.mailbox import Found
from watchdog.storage.history import History

QUEUED = SmtpReply(250, "2.0.0 Ok: queued as 4XyZ12abc", "2.0.0")


class Killed(BaseException):
    """The process dies in the middle of a send (power cut, kill -9): nothing after it runs."""


class KilledProbe(FakeProbe):
    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        self.sent.append(message)
        raise Killed()


class QueuedProbe(FakeProbe):
    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        self.sent.append(message)
        return QUEUED


class SenderInbox:
    """The practice's inbox as the runner reads it: bounces and delay notices by token."""

    def __init__(self) -> None:
        self.bounces: dict[str, Bounce] = {}
        self.looks = 0

    def __enter__(self) -> SenderInbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def find_bounces(self, tokens: Sequence[str]) -> dict[str, Bounce]:
        self.looks += 1
        return {t: self.bounces[t] for t in tokens if t in self.bounces}

    def find_notices(
        self, domains: Sequence[str], *, since: float
    ) -> list[tuple[bytes, float | None]]:
        return []


def bounce(token: str, *, action: str, status: str, code: str) -> Bounce:
    return Bounce(
        original_message_id=None,
        canary_token=token,
        status=status,
        action=action,
        diagnostic_code=code,
        remote_mta="seed.example.test",
    )


def runner_for(
    tmp_path: Path,
    probe: FakeProbe,
    mailbox: FakeMailbox,
    clock: FakeClock,
    *,
    inbox: SenderInbox | None = None,
    history: History | None = None,
) -> Runner:
    return Runner(
        config=make_config(tmp_path),
        history=history or History(tmp_path / "h.sqlite3"),
        probe=probe,
        open_mailbox=lambda: mailbox,
        key=KEY,
        clock=clock,
        has_route=lambda: True,
        open_sender_inbox=(lambda: inbox) if inbox is not None else None,
    )


def deliver_everything(mailbox: FakeMailbox, probe: FakeProbe) -> None:
    """Every canary the probe handed over arrives at once (the fake seed's INBOX)."""
    for message in probe.sent:
        mailbox.arrived.setdefault(str(message["X-Watchdog-Canary"]), mailbox.clock.now())


class DeliveringMailbox(FakeMailbox):
    """A seed mailbox where each sent canary arrives as soon as it is looked for."""

    def __init__(self, clock: FakeClock, probe: FakeProbe) -> None:
        super().__init__(clock)
        self.probe = probe
        self.deleted: list[str] = []

    def search(self, tokens: Sequence[str]) -> dict[str, Found]:
        deliver_everything(self, self.probe)
        return super().search(tokens)

    def wait_for(
        self, token: str, deadline: float, *, should_stop: Callable[[], bool]
    ) -> Found | None:
        return self.search([token]).get(token)

    def delete(self, items: Sequence[Found]) -> None:
        items = list(items)
        self.deleted.extend(i.token for i in items)
        super().delete(items)


# -- a canary that never reached the server ------------------------------------------------


def test_a_canary_whose_send_was_killed_is_closed_as_not_sent_without_a_status_change(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    good = QueuedProbe()
    mailbox = DeliveringMailbox(clock, good)
    runner = runner_for(tmp_path, good, mailbox, clock)
    assert runner.check().status.status is Status.UP
    flips_before = len(runner.history.flips())

    runner.probe = KilledProbe()
    with pytest.raises(Killed):
        runner.check()
    (row,) = runner.history.pending()
    assert not row.accepted

    # The next start, long after: a new runner on the same history (a restart).
    clock.t += STALE_SEND_S + 60
    restarted = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    settled = restarted.settle()
    assert [(r.outcome, r.diagnosis) for r in settled] == [(Outcome.NOT_SENT, Diagnosis.UNKNOWN)]
    stored = restarted.history.get(row.token)
    assert stored is not None and stored.outcome is Outcome.NOT_SENT
    assert restarted.history.status().status is Status.UP
    assert len(restarted.history.flips()) == flips_before


def test_a_send_still_under_way_in_another_process_is_left_alone(tmp_path: Path) -> None:
    clock = FakeClock()
    runner = runner_for(tmp_path, KilledProbe(), FakeMailbox(clock), clock)
    with pytest.raises(Killed):
        runner.check()
    clock.t += 30  # a `watchdog check` beside a `watchdog run` that is still connecting
    other = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    assert other.settle() == []
    (row,) = other.history.pending()
    assert row.outcome is Outcome.PENDING


def test_a_killed_send_the_server_had_accepted_after_all_is_settled_from_the_seed(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    killed = KilledProbe()
    runner = runner_for(tmp_path, killed, FakeMailbox(clock), clock)
    with pytest.raises(Killed):
        runner.check()
    clock.t += STALE_SEND_S + 60
    mailbox = DeliveringMailbox(clock, killed)  # it did arrive
    restarted = runner_for(tmp_path, QueuedProbe(), mailbox, clock)
    (result,) = restarted.settle()
    assert result.outcome in (Outcome.DELIVERED, Outcome.LATE)


def test_a_send_cut_by_a_stop_request_is_not_sent_and_changes_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    cancelled = SendError("stopped while connecting", network=True, stage="connect", cancelled=True)
    runner = runner_for(tmp_path, FakeProbe(cancelled), FakeMailbox(clock), clock)
    report = runner.check()
    assert report.result.outcome is Outcome.NOT_SENT
    assert report.flips == ()
    assert runner.history.status().status is Status.UNKNOWN  # as before: no check has run
    (row,) = runner.history.recent(1)
    assert row.outcome is Outcome.NOT_SENT


# -- a result that cannot be stored --------------------------------------------------------


class FailingHistory(History):
    """A history whose writes of final results fail while ``broken`` (lock held, disk full)."""

    broken = False

    def resolve(self, result: CheckResult, now: float, **kwargs: Any) -> bool:
        if self.broken and result.outcome is not Outcome.PENDING:
            raise StorageError("database is locked")
        return super().resolve(result, now, **kwargs)


def test_a_found_canary_whose_result_cannot_be_stored_stays_in_the_seed_and_is_settled_next(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    probe = QueuedProbe()
    mailbox = DeliveringMailbox(clock, probe)
    history = FailingHistory(tmp_path / "h.sqlite3")
    history.broken = True
    runner = runner_for(tmp_path, probe, mailbox, clock, history=history)
    with pytest.raises(StorageError):
        runner.check()
    assert mailbox.deleted == []  # not deleted: the seed still holds the evidence

    # `watchdog check` is one shot: the next process knows nothing of the first one's memory.
    history.broken = False
    clock.t += 60
    again = runner_for(tmp_path, QueuedProbe(), mailbox, clock, history=history)
    settled = again.settle()
    assert [r.outcome for r in settled] == [Outcome.DELIVERED]
    assert mailbox.deleted == [settled[0].token]
    assert all(r.outcome is not Outcome.LOST for r in history.recent(10))


# -- bounces and delay notices -------------------------------------------------------------


class SilentMailbox(FakeMailbox):
    """The canary never arrives; waiting moves the simulated clock to the asked deadline."""


def test_a_bounce_is_found_while_waiting_not_only_at_the_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    probe = QueuedProbe()
    inbox = SenderInbox()

    class BouncingMailbox(SilentMailbox):
        def wait_for(
            self, token: str, deadline: float, *, should_stop: Callable[[], bool]
        ) -> Found | None:
            inbox.bounces[token] = bounce(
                token, action="failed", status="5.1.1", code="smtp; 550 5.1.1 User unknown"
            )
            return super().wait_for(token, deadline, should_stop=should_stop)

    runner = runner_for(tmp_path, probe, BouncingMailbox(clock), clock, inbox=inbox)
    started = clock.t
    report = runner.check()
    assert report.result.outcome is Outcome.BOUNCED
    deadline = runner.config.schedule.deadline_seconds
    assert clock.t - started < deadline / 2  # ended at the first look, not at the deadline


def test_a_bounce_keeps_the_servers_reply_and_invents_no_code(tmp_path: Path) -> None:
    clock = FakeClock()
    inbox = SenderInbox()
    probe = QueuedProbe()

    class PostfixBouncingMailbox(SilentMailbox):
        def wait_for(
            self, token: str, deadline: float, *, should_stop: Callable[[], bool]
        ) -> Found | None:
            inbox.bounces[token] = bounce(
                token,
                action="failed",
                status="5.0.0",
                code="X-Postfix; mail for seed.example.test loops back to myself",
            )
            return super().wait_for(token, deadline, should_stop=should_stop)

    runner = runner_for(tmp_path, probe, PostfixBouncingMailbox(clock), clock, inbox=inbox)
    result = runner.check().result
    assert result.outcome is Outcome.BOUNCED
    row = runner.history.get(result.token)
    assert row is not None
    assert row.smtp_reply == QUEUED  # the queue ID support needs, not a made-up 554
    assert row.bounce is not None and "X-Postfix" in row.bounce and "5.0.0" in row.bounce


def test_a_delay_notice_for_a_full_seed_mailbox_is_our_problem_not_a_silent_drop(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    inbox = SenderInbox()

    class FullSeedMailbox(SilentMailbox):
        def wait_for(
            self, token: str, deadline: float, *, should_stop: Callable[[], bool]
        ) -> Found | None:
            inbox.bounces[token] = bounce(
                token,
                action="delayed",
                status="4.2.2",
                code="smtp; 452 4.2.2 Mailbox is full / Blocks limit exceeded",
            )
            return super().wait_for(token, deadline, should_stop=should_stop)

    runner = runner_for(tmp_path, QueuedProbe(), FullSeedMailbox(clock), clock, inbox=inbox)
    report = runner.check()
    assert report.result.outcome is Outcome.LOST
    assert report.result.diagnosis is Diagnosis.SEED_MAILBOX_FULL
    assert "4.2.2" in report.result.detail
    assert report.status.status is not Status.DOWN


# -- a refused password is not retried on every interval -----------------------------------


def test_scheduled_sign_ins_back_off_after_the_password_is_refused_twice(tmp_path: Path) -> None:
    clock = FakeClock()
    refused = SendError(
        "The server refused at login: 535",
        reply=SmtpReply(535, "5.7.8 Username and Password not accepted", "5.7.8"),
        stage="login",
    )
    runner = runner_for(tmp_path, FakeProbe(refused), FakeMailbox(clock), clock)
    assert runner.check().result.diagnosis is Diagnosis.AUTH_REJECTED
    assert runner.signin_retry_at() is None  # one refusal: the next scheduled check still tries
    runner.check()
    retry_at = runner.signin_retry_at()
    every = runner.config.schedule.every_seconds
    assert retry_at is not None and retry_at >= clock.now() + 2 * every
    runner.check()
    later = runner.signin_retry_at()
    assert later is not None and later - clock.now() > retry_at - clock.now()

    fixed = QueuedProbe()
    runner.probe = fixed
    runner.open_mailbox = lambda: DeliveringMailbox(clock, fixed)
    runner.check()  # "Check now" after the password was fixed
    assert runner.signin_retry_at() is None


def test_the_loop_skips_scheduled_checks_while_backing_off_but_check_now_still_runs(
    tmp_path: Path,
) -> None:
    from watchdog.engine.loop import Plan

    clock = FakeClock()
    runner = runner_for(tmp_path, QueuedProbe(), FakeMailbox(clock), clock)
    runner._refused_signins, runner._refused_at = 3, clock.now()
    loop = Loop(runner, clock)
    plan = Plan(60, clock.now() - 61)  # due
    loop._check_requested = False
    assert loop._due(plan) is False
    loop.request_check()
    assert loop._due(plan) is True


# -- a PC clock that is wrong --------------------------------------------------------------


def test_a_slow_pc_clock_is_measured_and_later_arrivals_are_not_called_late(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    skew = 15 * 60.0  # the mail server's clock is 15 minutes ahead of this PC's

    class SkewedMailbox(FakeMailbox):
        def search(self, tokens: Sequence[str]) -> dict[str, Found]:
            return {
                t: Found(t, "INBOX", 1, self.arrived[t] + skew, self.clock.now(), False)
                for t in tokens
                if t in self.arrived
            }

    probe = QueuedProbe()
    mailbox = SkewedMailbox(clock)

    class Arriving(SkewedMailbox):
        def wait_for(
            self, token: str, deadline: float, *, should_stop: Callable[[], bool]
        ) -> Found | None:
            mailbox.arrived[token] = self.clock.now()
            return mailbox.search([token]).get(token)

    runner = runner_for(tmp_path, probe, Arriving(clock), clock)
    live = runner.check().result
    assert live.outcome is Outcome.DELIVERED
    assert live.clock_skew_s == pytest.approx(skew)
    assert "behind" in live.detail

    # A canary found only after a restart is judged by INTERNALDATE: corrected for the skew.
    runner.open_mailbox = lambda: SilentMailbox(clock)
    runner.check()  # its canary is not seen while watched...
    (pending,) = [r for r in runner.history.recent(5) if r.outcome is Outcome.LOST]
    mailbox.arrived[pending.token] = pending.sent_at + 5  # ...it had arrived in 5 s
    runner.open_mailbox = lambda: mailbox
    clock.t += 60
    settled = {r.token: r for r in runner.settle()}
    result = settled[pending.token]
    assert result.outcome is Outcome.DELIVERED
    assert result.latency_s == pytest.approx(5.0)


# -- a history that cannot be written ------------------------------------------------------


def test_a_history_error_names_the_stale_read_only_wal_and_shm_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root may write anything, so the OS's answer for the stale files is what is replaced."""
    import os

    from watchdog.storage.history import _unwritable_words

    path = tmp_path / "h.sqlite3"
    History(path).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").write_bytes(b"")
    real_access = os.access

    def access(target: Any, mode: int) -> bool:
        if str(target).endswith(("-wal", "-shm")):
            return False
        return real_access(target, mode)

    monkeypatch.setattr(os, "access", access)
    words = _unwritable_words(path)
    assert f"{path}-wal" in words and f"{path}-shm" in words
    assert "do not delete" in words
    monkeypatch.setattr(os, "access", real_access)
    assert _unwritable_words(path) == ""


# -- a check that cannot run is a status (issue 12) ----------------------------------------


def test_a_missing_sender_password_turns_a_green_status_unknown_with_the_reason(
    tmp_path: Path,
) -> None:
    from watchdog.core.errors import SecretError

    clock = FakeClock()
    good = QueuedProbe()
    runner = runner_for(tmp_path, good, DeliveringMailbox(clock, good), clock)
    assert runner.check().status.status is Status.UP

    runner.probe = FakeProbe(SecretError("No sender password is stored for frontdesk"))
    with pytest.raises(SecretError):
        runner.check()
    status = runner.history.status()
    assert status.status is Status.UNKNOWN
    assert status.diagnosis is Diagnosis.CANNOT_CHECK
    assert "No sender password" in status.reason
    assert runner.history.flips(1)[0].to_status is Status.UNKNOWN


def test_a_missing_seed_password_is_unknown_not_up_for_ever(tmp_path: Path) -> None:
    from watchdog.core.errors import SecretError

    class LockedSeed(FakeMailbox):
        def __enter__(self) -> LockedSeed:
            raise SecretError("No seed password is stored for seed")

    clock = FakeClock()
    good = QueuedProbe()
    runner = runner_for(tmp_path, good, DeliveringMailbox(clock, good), clock)
    assert runner.check().status.status is Status.UP
    runner.open_mailbox = lambda: LockedSeed(clock)
    report = runner.check()
    assert report.result.diagnosis is Diagnosis.CANNOT_CHECK
    assert report.status.status is Status.UNKNOWN
    assert "No seed password" in report.status.reason


def test_a_canary_late_because_the_seed_was_full_is_our_problem_not_a_slow_provider(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    inbox = SenderInbox()
    mailbox = FakeMailbox(clock)
    runner = runner_for(tmp_path, QueuedProbe(), mailbox, clock, inbox=inbox)
    lost = runner.check().result
    assert lost.outcome is Outcome.LOST
    inbox.bounces[lost.token] = bounce(
        lost.token, action="delayed", status="4.2.2", code="smtp; 452 4.2.2 Mailbox is full"
    )
    mailbox.arrived[lost.token] = clock.now() + 30  # the seed had room again later
    clock.t += 120
    settled = {r.token: r for r in runner.settle()}
    late = settled[lost.token]
    assert (late.outcome, late.diagnosis) == (Outcome.LATE, Diagnosis.SEED_MAILBOX_FULL)
    assert runner.history.status().status is Status.UNKNOWN  # not "reminders arrive late"


def test_a_password_with_accents_is_a_plain_setup_problem_and_never_shown(tmp_path: Path) -> None:
    """smtplib signs in with ASCII only: the probe says so without the password's text."""
    import smtplib

    from watchdog.config import SenderConfig
    from watchdog.core.models import Security
    from watchdog.mail.probe import SmtpProbe
    from watchdog.signin.credentials import PasswordSignIn

    class Greeting(smtplib.SMTP):
        def __init__(self) -> None:
            super().__init__()
            self.esmtp_features = {"auth": "PLAIN"}
            self.does_esmtp = True

        def ehlo_or_helo_if_needed(self) -> None:
            pass

        def docmd(self, cmd: str, args: str = "") -> tuple[int, bytes]:
            raise AssertionError("nothing may be sent")

    sender = SenderConfig("a@example.com", "smtp.example.com", 465, Security.SSL, "a")
    probe = SmtpProbe(sender, PasswordSignIn("a", lambda: "pässwörd-sëcret"))
    probe._connect = lambda *a, **k: Greeting()  # type: ignore[method-assign]
    with pytest.raises(SendError) as raised:
        probe.send(EmailMessage())
    assert raised.value.diagnosis is Diagnosis.CANNOT_CHECK
    assert "accents" in str(raised.value) and "sëcret" not in str(raised.value)


# -- a deadline learned from this account's arrivals (issue 14) ----------------------------


def test_a_learned_deadline_follows_the_accounts_arrivals_and_never_exceeds_the_setting(
    tmp_path: Path,
) -> None:
    from dataclasses import replace as replaced

    from watchdog.config import ScheduleConfig

    clock = FakeClock()
    good = QueuedProbe()
    runner = runner_for(tmp_path, good, DeliveringMailbox(clock, good), clock)
    runner.config = replaced(
        runner.config,
        schedule=ScheduleConfig(every_minutes=30, deadline_minutes=10, learn_deadline=True),
    )
    assert runner.deadline_seconds() == 600  # too few arrivals yet: the setting
    for _ in range(40):
        runner.check()
        clock.t += 1800
    learned = runner.deadline_seconds()
    assert 120 <= learned < 600  # fast arrivals: a shorter deadline, at least the floor
    result = runner.check().result
    assert result.deadline_at - result.sent_at == pytest.approx(learned)
    runner.config = replaced(
        runner.config,
        schedule=ScheduleConfig(every_minutes=30, deadline_minutes=10, learn_deadline=False),
    )
    assert runner.deadline_seconds() == 600  # off: the setting


# -- a loss under a learned deadline is confirmed by a second canary ------------------------


class TimedMailbox(FakeMailbox):
    """A seed mailbox where each canary arrives after the delay the test sets for it.

    ``delays`` holds the delay of each canary sent next, in order (None: never arrives); a
    canary without one arrives after 2 s. Waiting wakes at the arrival, as IDLE does.
    """

    def __init__(self, clock: FakeClock, probe: FakeProbe) -> None:
        super().__init__(clock)
        self.probe = probe
        self.delays: list[float | None] = []
        self.due: dict[str, float] = {}
        self._seen = 0

    def _post(self) -> None:
        for message in self.probe.sent[self._seen :]:
            token = str(message["X-Watchdog-Canary"])
            delay = self.delays.pop(0) if self.delays else 2.0
            if delay is not None:
                self.due[token] = float(str(message["X-Sent-At"])) + delay
        self._seen = len(self.probe.sent)
        for token, at in list(self.due.items()):
            if at <= self.clock.now():
                self.arrived[token] = at
                del self.due[token]

    def search(self, tokens: Sequence[str]) -> dict[str, Found]:
        self._post()
        return super().search(tokens)

    def wait_for(
        self, token: str, deadline: float, *, should_stop: Callable[[], bool]
    ) -> Found | None:
        self._post()
        at = self.due.get(token, self.arrived.get(token))
        if at is not None and at <= deadline:
            self.clock.t = max(self.clock.t, at)
        else:
            self.clock.t = max(self.clock.t, deadline)
        return self.search([token]).get(token)


class StampingProbe(QueuedProbe):
    """Notes when each canary left, so the test mailbox can time its arrival."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool]) -> SmtpReply:
        message["X-Sent-At"] = repr(self.clock.now())
        return super().send(message, should_stop=should_stop)


def learned_runner(tmp_path: Path) -> tuple[Runner, TimedMailbox, FakeClock]:
    """A runner with 40 fast arrivals behind it: a learned deadline of 2 min under 10."""
    from dataclasses import replace as replaced

    from watchdog.config import ScheduleConfig

    clock = FakeClock()
    probe = StampingProbe(clock)
    mailbox = TimedMailbox(clock, probe)
    runner = runner_for(tmp_path, probe, mailbox, clock)
    runner.config = replaced(
        runner.config, schedule=ScheduleConfig(every_minutes=30, deadline_minutes=10)
    )
    for _ in range(40):
        assert runner.check().result.outcome is Outcome.DELIVERED
        clock.t += 1800
    assert runner.deadline_seconds() == 120  # the floor: learned, and shorter than the setting
    return runner, mailbox, clock


def test_a_canary_past_its_learned_deadline_is_down_only_when_a_second_one_is_lost_too(
    tmp_path: Path,
) -> None:
    runner, mailbox, _clock = learned_runner(tmp_path)
    mailbox.delays = [None, None]
    sent_before = len(mailbox.probe.sent)
    report = runner.check()
    assert len(mailbox.probe.sent) == sent_before + 2
    assert report.result.outcome is Outcome.LOST
    assert report.status.status is Status.DOWN
    first, second = runner.history.recent(2)[::-1]
    assert (first.outcome, second.outcome) == (Outcome.LOST, Outcome.LOST)
    # The episode starts with the first loss, and DOWN came once.
    assert report.status.streak_since == first.sent_at
    assert [f.to_status for f in report.flips] == [Status.DOWN]
    assert report.flips[0].at - first.sent_at == pytest.approx(240)  # two learned deadlines


def test_a_first_canary_that_arrives_during_the_confirmation_raises_no_down(
    tmp_path: Path,
) -> None:
    runner, mailbox, clock = learned_runner(tmp_path)
    mailbox.delays = [150.0, None]  # the first is held 2.5 min; the second never arrives
    report = runner.check()
    assert report.status.status is Status.UP
    assert not report.flips
    first, second = runner.history.recent(2)[::-1]
    assert first.outcome is Outcome.DELIVERED  # within the configured 10 minutes
    assert first.latency_s == pytest.approx(150, abs=1)
    assert second.outcome is Outcome.PENDING  # it now gets the grace the first had
    clock.t += 1800
    mailbox.delays = [2.0]
    later = runner.check()
    assert runner.history.get(second.token).outcome is Outcome.LOST  # type: ignore[union-attr]
    # Missing past the configured deadline it is lost, as without a learned deadline: DOWN,
    # then the new canary's arrival brings the status back.
    assert [f.to_status for f in later.flips] == [Status.DOWN, Status.UP]


def test_a_confirmation_that_arrives_leaves_the_first_to_its_configured_deadline(
    tmp_path: Path,
) -> None:
    runner, mailbox, clock = learned_runner(tmp_path)
    mailbox.delays = [400.0, 2.0]  # held almost 7 minutes; the confirmation is quick
    report = runner.check()
    assert report.result.outcome is Outcome.DELIVERED and report.status.status is Status.UP
    first = runner.history.recent(2)[1]
    assert first.outcome is Outcome.PENDING
    from watchdog.core.state import overdue_canaries

    # Past its learned deadline but not its configured one: not "in doubt" for the tray.
    pending = runner.history.pending()
    assert overdue_canaries(pending, clock.now(), configured_deadline_s=600) == []
    assert overdue_canaries(pending, first.sent_at + 661, configured_deadline_s=600) != []
    clock.t += 1800
    runner.check()
    first = runner.history.get(first.token)  # type: ignore[assignment]
    assert first.outcome is Outcome.DELIVERED and first.latency_s == pytest.approx(400, abs=1)
    assert runner.history.status().status is Status.UP
    assert not any(f.to_status is Status.DOWN for f in runner.history.flips())


def test_while_down_a_lost_canary_is_not_confirmed_again(tmp_path: Path) -> None:
    runner, mailbox, clock = learned_runner(tmp_path)
    mailbox.delays = [None, None]
    assert runner.check().status.status is Status.DOWN
    clock.t += 1800
    sent_before = len(mailbox.probe.sent)
    mailbox.delays = [None]
    report = runner.check()
    assert len(mailbox.probe.sent) == sent_before + 1
    assert report.result.outcome is Outcome.LOST


def test_a_learned_deadline_over_half_the_setting_gives_way_to_the_setting(tmp_path: Path) -> None:
    runner, mailbox, clock = learned_runner(tmp_path)
    # A slow account: arrivals of about 4 minutes teach a deadline near 9; confirmed, a loss
    # would be told after 18 minutes, later than the configured 10: the setting is used.
    mailbox.delays = [240.0] * 60
    for _ in range(60):
        runner.check()
        clock.t += 1800
    assert runner.deadline_seconds() == 600


# -- the canary after the reminders: suspected soon, confirmed by a few at once --------------


def batch_runner(tmp_path: Path) -> tuple[Runner, TimedMailbox, FakeClock, int]:
    """A runner with 120 quick arrivals behind it: enough to judge a batch canary fast.

    Also returns how many canaries confirm a suspected one (three, from 120 arrivals: a tail
    not seen in so few is not trusted to be thin).
    """
    runner, mailbox, clock = learned_runner(tmp_path)
    for _ in range(80):
        assert runner.check().result.outcome is Outcome.DELIVERED
        clock.t += 1800
    plan = runner.batch_canary_plan()
    assert plan is not None and plan.confirmations == 3, plan
    assert plan.down_after_s == 120  # a minute to suspect, a minute to confirm
    return runner, mailbox, clock, plan.confirmations


def test_the_canary_after_the_reminders_is_down_within_its_plan_when_all_vanish(
    tmp_path: Path,
) -> None:
    runner, mailbox, _clock, confirming = batch_runner(tmp_path)
    mailbox.delays = [None] * (1 + confirming)  # the first and every confirming one vanish
    sent_before = len(mailbox.probe.sent)
    report = runner.check(after_reminders=True)
    assert len(mailbox.probe.sent) == sent_before + 1 + confirming
    assert report.status.status is Status.DOWN
    first, lead, *companions = runner.history.recent(1 + confirming)[::-1]
    assert (first.outcome, lead.outcome) == (Outcome.LOST, Outcome.LOST)
    # The others are lost only past their configured deadline (one may still turn up).
    assert [c.outcome for c in companions] == [Outcome.PENDING] * (confirming - 1)
    assert report.status.streak_since == first.sent_at
    assert [f.to_status for f in report.flips] == [Status.DOWN]
    assert report.flips[0].at - first.sent_at == pytest.approx(120)
    assert f"{confirming} canaries sent at once to confirm" in (first.detail or "")


def test_one_confirming_canary_that_arrives_means_mail_flows_and_no_down(tmp_path: Path) -> None:
    runner, mailbox, clock, confirming = batch_runner(tmp_path)
    # Only the last confirming canary comes, half a minute after it left.
    mailbox.delays = [None] * confirming + [30.0]
    report = runner.check(after_reminders=True)
    assert report.status.status is Status.UP
    assert not report.flips
    first, lead, *companions = runner.history.recent(1 + confirming)[::-1]
    assert companions[-1].outcome is Outcome.DELIVERED
    assert (first.outcome, lead.outcome) == (Outcome.PENDING, Outcome.PENDING)
    clock.t += 120  # the next canary, a few minutes on: the first keeps its grace
    mailbox.delays = [2.0]
    assert runner.check().status.status is Status.UP
    assert runner.history.get(first.token).outcome is Outcome.PENDING  # type: ignore[union-attr]
    clock.t += 1800  # past every configured deadline: the others never came
    runner.check()
    assert runner.history.get(first.token).outcome is Outcome.LOST  # type: ignore[union-attr]


def test_a_first_canary_held_past_its_suspicion_that_arrives_raises_no_down(
    tmp_path: Path,
) -> None:
    runner, mailbox, _clock, confirming = batch_runner(tmp_path)
    mailbox.delays = [90.0] + [None] * confirming  # held a minute and a half: slow, not blocked
    report = runner.check(after_reminders=True)
    assert report.status.status is Status.UP and not report.flips
    first = runner.history.recent(1 + confirming)[-1]
    assert first.outcome is Outcome.DELIVERED  # within the configured 10 minutes: in time
    assert first.latency_s == pytest.approx(90, abs=1)


def test_a_scheduled_canary_is_judged_the_usual_way_even_with_a_fast_plan(tmp_path: Path) -> None:
    runner, mailbox, _clock, _confirming = batch_runner(tmp_path)
    mailbox.delays = [None, None]
    sent_before = len(mailbox.probe.sent)
    report = runner.check()  # not after the reminders
    assert len(mailbox.probe.sent) == sent_before + 2  # one confirmation, as before
    assert report.flips[0].at - runner.history.recent(2)[1].sent_at == pytest.approx(240)


def test_with_too_few_arrivals_the_canary_after_the_reminders_is_judged_like_any_other(
    tmp_path: Path,
) -> None:
    runner, mailbox, _clock = learned_runner(tmp_path)  # 40 arrivals: the tail not seen yet
    assert runner.batch_canary_plan() is None
    mailbox.delays = [None, None]
    sent_before = len(mailbox.probe.sent)
    report = runner.check(after_reminders=True)
    assert len(mailbox.probe.sent) == sent_before + 2
    assert report.status.status is Status.DOWN
    assert report.flips[0].at - runner.history.recent(2)[1].sent_at == pytest.approx(240)

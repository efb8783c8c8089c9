"""The notifier: alert texts, every channel tried, every attempt recorded, no repeats."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from watchdog.core.messages import build_alert
from watchdog.core.models import (
    AlertPolicy,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    Status,
    StatusSnapshot,
)
from watchdog.core.providers import all_providers
from watchdog.notify import Alert, AlertKind, AttemptResult
from watchdog.notify.notifier import Notifier
from watchdog.notify.sender import AlertSender
from watchdog.storage.history import History

ALWAYS_OPEN = AlertPolicy(office_days=frozenset(range(7)), office_open_min=0, office_close_min=1440)


class Recorder:
    def __init__(self, name: str, ok: bool = True, explode: bool = False) -> None:
        self.name = name
        self.ok = ok
        self.explode = explode
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.alerts.append(alert)
        if self.explode:
            raise RuntimeError("channel bug")
        return AttemptResult(self.name, self.ok, "" if self.ok else "HTTP 404", not self.ok)


class Beat:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> AttemptResult:
        self.calls.append("start")
        return AttemptResult("heartbeat", True)

    def success(self, note: str = "") -> AttemptResult:
        self.calls.append("success")
        return AttemptResult("heartbeat", True)

    def fail(self, text: str) -> AttemptResult:
        self.calls.append(f"fail:{text}")
        return AttemptResult("heartbeat", True)


def result(outcome: Outcome, diagnosis: Diagnosis, at: float) -> CheckResult:
    return CheckResult("t", at, at + 600, outcome, diagnosis)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Notifier, FakeClock, list[Recorder], Beat]:
    clock = FakeClock()
    channels = [
        Recorder("desktop"),
        Recorder("webhook:slack", ok=False),
        Recorder("boom", explode=True),
    ]
    beat = Beat()
    notifier = Notifier(
        channels=channels,
        history=History(tmp_path / "h.sqlite3"),
        policy=ALWAYS_OPEN,
        clock=clock,
        provider="att",
        provider_display_name="AT&T",
        office="Smile Dental",
        heartbeat=beat,  # type: ignore[arg-type]
    )
    return notifier, clock, channels, beat


def test_a_change_to_down_reaches_every_channel_and_every_attempt_is_recorded(
    setup: tuple[Notifier, FakeClock, list[Recorder], Beat],
) -> None:
    notifier, clock, channels, _ = setup
    down = StatusSnapshot(
        Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP, 2, 0, clock.t - 1800
    )
    flip = Flip(Status.UP, Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP)
    notifier.on_result(result(Outcome.LOST, Diagnosis.SILENT_DROP, clock.t), down, flip)
    assert [len(c.alerts) for c in channels] == [1, 1, 1]
    alert = channels[0].alerts[0]
    assert alert.title == "Reminder e-mails are not going out (AT&T)"
    assert "tray icon" in alert.message and alert.office == "Smile Dental"
    attempts = {a.channel: a for a in notifier.history.alert_attempts()}
    assert attempts["desktop"].ok
    assert not attempts["webhook:slack"].ok and attempts["webhook:slack"].permanent
    assert not attempts["boom"].ok and "channel bug" in attempts["boom"].detail

    # The next failed check changes nothing: no second alert.
    clock.t += 1800
    notifier.on_result(result(Outcome.LOST, Diagnosis.SILENT_DROP, clock.t), down, None)
    assert len(channels[0].alerts) == 1

    # Two hours on, still DOWN: a reminder. Then recovery, which names when it began.
    clock.t += 2 * 3600
    notifier.on_result(result(Outcome.LOST, Diagnosis.SILENT_DROP, clock.t), down, None)
    up = StatusSnapshot(Status.UP, clock.t, "ok", Diagnosis.OK)
    notifier.on_result(
        result(Outcome.DELIVERED, Diagnosis.OK, clock.t),
        up,
        Flip(Status.DOWN, Status.UP, clock.t, "ok", Diagnosis.OK),
    )
    kinds = [a.kind for a in channels[0].alerts]
    assert kinds == [AlertKind.DOWN, AlertKind.REMINDER, AlertKind.RECOVERED]
    assert "may not have arrived" in channels[0].alerts[-1].message


def test_the_heartbeat_is_told_of_each_check_and_its_result(
    setup: tuple[Notifier, FakeClock, list[Recorder], Beat],
) -> None:
    notifier, clock, _, beat = setup
    notifier.before_check()
    notifier.after_check(result(Outcome.DELIVERED, Diagnosis.OK, clock.t))
    notifier.before_check()
    notifier.after_check(result(Outcome.SEND_FAILED, Diagnosis.SENDING_LIMIT, clock.t))
    assert beat.calls == ["start", "success", "start", "fail:send_failed: sending_limit"]


def test_a_test_alert_goes_to_every_channel_and_changes_no_memory(
    setup: tuple[Notifier, FakeClock, list[Recorder], Beat],
) -> None:
    notifier, _, channels, _ = setup
    before = notifier.history.alert_memory()
    results = notifier.send_test()
    assert [r.channel for r in results] == ["desktop", "webhook:slack", "boom"]
    assert channels[0].alerts[0].kind is AlertKind.TEST
    assert notifier.history.alert_memory() == before


@pytest.mark.parametrize("kind", list(AlertKind))
def test_titles_fit_windows_limits_for_every_provider(kind: AlertKind) -> None:
    for provider in all_providers():
        for diagnosis in (Diagnosis.SILENT_DROP, Diagnosis.JUNK_PLACEMENT, Diagnosis.OFFLINE):
            snapshot = StatusSnapshot(Status.DOWN, 1_800_000_000.0, "", diagnosis)
            alert = build_alert(
                kind,
                snapshot,
                provider=provider.name,
                provider_display_name=provider.display_name,
                office="",
                now=1_800_000_100.0,
            )
            assert len(alert.title) <= 63, alert.title
            assert len(alert.message) <= 300, alert.message


def test_check_now_is_answered_once_with_the_result_whatever_it_is(
    setup: tuple[Notifier, FakeClock, list[Recorder], Beat],
) -> None:
    notifier, clock, channels, _ = setup
    notifier.after_check(result(Outcome.DELIVERED, Diagnosis.OK, clock.t))
    assert channels[0].alerts == []  # no one asked
    notifier.announce_next_result()
    notifier.after_check(result(Outcome.DELIVERED, Diagnosis.OK, clock.t))
    notifier.after_check(result(Outcome.DELIVERED, Diagnosis.OK, clock.t))
    assert [a.kind for a in channels[0].alerts] == [AlertKind.RESULT]
    assert channels[0].alerts[0].title.startswith("Check done")


def test_every_alert_the_notifier_builds_names_the_offices_account(tmp_path: Path) -> None:
    """The "Check now" result once left the account out of its title while the others named it."""
    clock = FakeClock()
    channel = Recorder("desktop")
    notifier = Notifier(
        channels=[channel],
        history=History(tmp_path / "h.sqlite3"),
        policy=ALWAYS_OPEN,
        clock=clock,
        provider="att",
        provider_display_name="AT&T",
        account="frontdesk@example.com",
    )
    notifier.history.save_status(StatusSnapshot(Status.UP, clock.t, "", Diagnosis.OK), None)
    notifier.announce_next_result()
    notifier.after_check(result(Outcome.DELIVERED, Diagnosis.OK, clock.t))
    notifier.send_test()
    down = StatusSnapshot(Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP, 2, 0, clock.t)
    flip = Flip(Status.UP, Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP)
    notifier.on_result(result(Outcome.LOST, Diagnosis.SILENT_DROP, clock.t), down, flip)
    kinds = [a.kind for a in channel.alerts]
    assert kinds == [AlertKind.RESULT, AlertKind.TEST, AlertKind.DOWN]
    for alert in channel.alerts[:1] + channel.alerts[2:]:
        assert "frontdesk@example.com" in alert.title, alert.title


# -- delivery through the sender's queue and thread ---------------------------------------------

BOUND_S = 10.0  # only reached when something is broken


class GatedChannel:
    """A channel whose sends wait for the test to open a gate, like a stalled webhook."""

    def __init__(self, name: str = "webhook:stalled") -> None:
        self.name = name
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> AttemptResult:
        self.entered.set()
        assert self.gate.wait(BOUND_S), "the test never opened the gate"
        self.alerts.append(alert)
        return AttemptResult(self.name, True, "accepted")


def queued_notifier(
    tmp_path: Path, channel: GatedChannel, capacity: int = 64
) -> tuple[Notifier, FakeClock]:
    clock = FakeClock()
    notifier = Notifier(
        channels=[channel],
        history=History(tmp_path / "h.sqlite3"),
        policy=ALWAYS_OPEN,
        clock=clock,
        provider="att",
        provider_display_name="AT&T",
        sender=AlertSender(capacity=capacity),
    )
    return notifier, clock


def going_down(clock: FakeClock) -> tuple[CheckResult, StatusSnapshot, Flip]:
    snapshot = StatusSnapshot(
        Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP, 2, 0, clock.t - 1800
    )
    flip = Flip(Status.UP, Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP)
    return result(Outcome.LOST, Diagnosis.SILENT_DROP, clock.t), snapshot, flip


def coming_back(clock: FakeClock) -> tuple[CheckResult, StatusSnapshot, Flip]:
    snapshot = StatusSnapshot(Status.UP, clock.t, "ok", Diagnosis.OK)
    flip = Flip(Status.DOWN, Status.UP, clock.t, "ok", Diagnosis.OK)
    return result(Outcome.DELIVERED, Diagnosis.OK, clock.t), snapshot, flip


def test_a_stalled_channel_holds_no_check_and_the_next_decision_sees_the_alert_in_flight(
    tmp_path: Path,
) -> None:
    channel = GatedChannel()
    notifier, clock = queued_notifier(tmp_path, channel)
    try:
        notifier.on_result(*going_down(clock))  # returns with the webhook still stalled
        assert channel.entered.wait(BOUND_S)
        # The next checks go on meanwhile: still DOWN (no second alert), then back UP.
        clock.t += 600
        lost, down, _ = going_down(clock)
        notifier.on_result(lost, down, None)
        clock.t += 600
        notifier.on_result(*coming_back(clock))
        assert channel.alerts == [] and notifier.history.alert_attempts() == []
        assert notifier.alert_memory().last_kind is AlertKind.RECOVERED
        channel.gate.set()
        assert notifier.flush(BOUND_S)
    finally:
        channel.gate.set()
        notifier.close(BOUND_S)
    assert [a.kind for a in channel.alerts] == [AlertKind.DOWN, AlertKind.RECOVERED]
    recorded = list(reversed(notifier.history.alert_attempts()))
    assert [(a.kind, a.channel, a.ok) for a in recorded] == [
        (AlertKind.DOWN, "webhook:stalled", True),
        (AlertKind.RECOVERED, "webhook:stalled", True),
    ]
    stored = notifier.history.alert_memory()
    assert stored.last_kind is AlertKind.RECOVERED and stored.problem is None


def test_an_alert_dropped_from_a_full_queue_is_recorded_as_not_sent_and_memory_stays_newest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = GatedChannel()
    notifier, clock = queued_notifier(tmp_path, channel, capacity=1)
    try:
        notifier.on_result(*going_down(clock))  # in flight, stalled
        assert channel.entered.wait(BOUND_S)
        clock.t += 600
        notifier.on_result(*coming_back(clock))  # waits in the queue
        clock.t += 600
        with caplog.at_level(logging.WARNING):
            notifier.on_result(*going_down(clock))  # no room: the RECOVERED alert goes
        assert "dropped the oldest, recovered alert" in caplog.text
        channel.gate.set()
        assert notifier.flush(BOUND_S)
    finally:
        channel.gate.set()
        notifier.close(BOUND_S)
    assert [a.kind for a in channel.alerts] == [AlertKind.DOWN, AlertKind.DOWN]
    recorded = {(a.kind, a.ok, a.attempts, a.detail) for a in notifier.history.alert_attempts()}
    assert (
        AlertKind.RECOVERED,
        False,
        0,
        "not sent: too many alerts were waiting to be sent",
    ) in recorded
    assert len(notifier.history.alert_attempts()) == 3
    # The stalled first DOWN finished last among older decisions: its memory did not win.
    stored = notifier.history.alert_memory()
    assert stored.last_kind is AlertKind.DOWN and stored.last_at == clock.t
    assert stored.problem is Status.DOWN


def test_closing_sends_what_waits_and_records_every_attempt(tmp_path: Path) -> None:
    channel = GatedChannel()
    notifier, clock = queued_notifier(tmp_path, channel)
    notifier.on_result(*going_down(clock))
    clock.t += 600
    notifier.on_result(*coming_back(clock))
    channel.gate.set()
    assert notifier.close(BOUND_S)
    assert [a.kind for a in notifier.history.alert_attempts()] == [
        AlertKind.RECOVERED,
        AlertKind.DOWN,
    ]


def test_a_test_alert_through_the_queue_still_answers_for_every_channel(tmp_path: Path) -> None:
    channel = GatedChannel()
    channel.gate.set()
    notifier, _ = queued_notifier(tmp_path, channel)
    try:
        results = notifier.send_test(BOUND_S)
    finally:
        channel.gate.set()
        notifier.close(BOUND_S)
    assert [(r.channel, r.ok) for r in results] == [("webhook:stalled", True)]
    assert [a.kind for a in notifier.history.alert_attempts()] == [AlertKind.TEST]


def test_a_test_alert_names_a_channel_that_did_not_answer_in_time(tmp_path: Path) -> None:
    channel = GatedChannel()  # the gate stays shut: the channel never answers in time
    notifier, _ = queued_notifier(tmp_path, channel)
    try:
        results = notifier.send_test(0.0)
    finally:
        channel.gate.set()
        notifier.close(BOUND_S)
    assert [(r.channel, r.ok, r.attempts) for r in results] == [("webhook:stalled", False, 0)]
    assert "no answer within 0 s" in results[0].detail


def test_closing_the_app_sends_waiting_alerts_before_the_history_closes(tmp_path: Path) -> None:
    """``watchdog check`` and ``test-alert`` leave through ``App.close``: the alert a check
    raised is sent and recorded there, in the history that is closed right after."""
    from watchdog.app import App
    from watchdog.core.providers import get_provider

    channel = GatedChannel()
    notifier, clock = queued_notifier(tmp_path, channel)
    notifier.on_result(*going_down(clock))
    assert channel.entered.wait(BOUND_S)
    app = App(
        config=None,  # type: ignore[arg-type]  # close() needs only the notifier and history
        clock=clock,
        history=notifier.history,
        runner=None,  # type: ignore[arg-type]
        sender_provider=get_provider("att"),
        notifier=notifier,
        loop=None,  # type: ignore[arg-type]
    )
    opener = threading.Timer(0.05, channel.gate.set)  # the endpoint answers while close() waits
    opener.start()
    try:
        app.close()
    finally:
        opener.cancel()
        channel.gate.set()
    with History(tmp_path / "h.sqlite3") as reopened:
        assert [(a.kind, a.ok) for a in reopened.alert_attempts()] == [(AlertKind.DOWN, True)]
        assert reopened.alert_memory().last_kind is AlertKind.DOWN


def test_a_check_let_pass_tells_the_heartbeat_the_status_as_it_is_never_better(
    setup: tuple[Notifier, FakeClock, list[Recorder], Beat], monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier, clock, channels, beat = setup
    up = StatusSnapshot(Status.UP, clock.t, "ok", Diagnosis.OK)
    down = StatusSnapshot(Status.DOWN, clock.t, "2 lost", Diagnosis.SILENT_DROP, 2, 0, clock.t)
    monkeypatch.setattr(notifier.history, "status", lambda: up)
    notifier.check_let_pass("quiet hours")
    monkeypatch.setattr(notifier.history, "status", lambda: down)
    notifier.check_let_pass("quiet hours")
    notifier.sender.close()
    assert beat.calls == ["success", "fail:no check now (quiet hours); still DOWN: 2 lost"]
    assert all(c.alerts == [] for c in channels)  # the heartbeat only: no alert to the office

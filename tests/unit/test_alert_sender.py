"""The alert sender: one thread, in order, bounded, and a clean stop that still sends.

Gates (``threading.Event``) hold a delivery in flight, so every test asserts on what happened
and in which order, never on how long it took. Waits are bounded so a bug fails, not hangs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from watchdog.notify.sender import AlertSender, Delivery, InlineSender

BOUND_S = 10.0  # only reached when something is broken


class Journal:
    """What the deliveries did, in order, and on which thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[str] = []
        self.discarded: list[tuple[str, str]] = []
        self.threads: set[str] = set()

    def delivery(
        self, label: str, *, urgent: bool = False, gate: threading.Event | None = None
    ) -> Delivery:
        def run() -> None:
            if gate is not None:
                assert gate.wait(BOUND_S), "the test never opened the gate"
            with self.lock:
                self.ran.append(label)
                self.threads.add(threading.current_thread().name)

        def discard(reason: str) -> None:
            with self.lock:
                self.discarded.append((label, reason))

        return Delivery(label=label, run=run, urgent=urgent, discard=discard)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def sender() -> Iterator[AlertSender]:
    sender = AlertSender(capacity=3)
    yield sender
    sender.close(BOUND_S)


def started(sender: AlertSender, journal: Journal, label: str) -> threading.Event:
    """Submit a delivery that waits on a gate, and wait until the thread has taken it."""
    gate = threading.Event()
    taken = threading.Event()
    held = journal.delivery(label, gate=gate)

    def run() -> None:
        taken.set()
        held.run()

    sender.submit(Delivery(label=label, run=run, discard=held.discard))
    assert taken.wait(BOUND_S)
    return gate


def test_deliveries_run_in_order_on_one_thread_that_is_not_the_callers(
    sender: AlertSender, journal: Journal
) -> None:
    for label in ("down alert", "heartbeat fail", "recovered alert"):
        sender.submit(journal.delivery(label))
    assert sender.flush(BOUND_S)
    assert journal.ran == ["down alert", "heartbeat fail", "recovered alert"]
    assert journal.threads == {"watchdog-alerts"}


def test_submit_returns_while_a_delivery_is_stuck_and_the_next_waits_its_turn(
    sender: AlertSender, journal: Journal
) -> None:
    gate = started(sender, journal, "stuck webhook")
    sender.submit(journal.delivery("next alert"))  # returns at once: the caller goes on
    assert journal.ran == [] and sender.waiting == 1
    gate.set()
    assert sender.flush(BOUND_S)
    assert journal.ran == ["stuck webhook", "next alert"]


def test_a_full_queue_drops_the_oldest_alert_that_is_not_down_with_a_log_line(
    sender: AlertSender, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    gate = started(sender, journal, "in flight")
    sender.submit(journal.delivery("down alert", urgent=True))
    sender.submit(journal.delivery("heartbeat start"))
    sender.submit(journal.delivery("heartbeat success"))
    with caplog.at_level(logging.WARNING, logger="watchdog.notify.sender"):
        sender.submit(journal.delivery("result alert"))  # one too many: capacity is 3
    assert sender.waiting == 3
    assert journal.discarded == [("heartbeat start", "too many alerts were waiting to be sent")]
    assert "dropped the oldest, heartbeat start" in caplog.text
    gate.set()
    assert sender.flush(BOUND_S)
    assert journal.ran == ["in flight", "down alert", "heartbeat success", "result alert"]


def test_when_only_down_alerts_wait_the_oldest_of_them_goes(
    journal: Journal,
) -> None:
    sender = AlertSender(capacity=1)
    try:
        gate = started(sender, journal, "in flight")
        sender.submit(journal.delivery("first down", urgent=True))
        sender.submit(journal.delivery("second down", urgent=True))
        assert [label for label, _ in journal.discarded] == ["first down"]
        gate.set()
        assert sender.flush(BOUND_S)
        assert journal.ran == ["in flight", "second down"]
    finally:
        sender.close(BOUND_S)


def test_close_sends_everything_queued_before_it_returns(
    sender: AlertSender, journal: Journal
) -> None:
    gate = started(sender, journal, "slow webhook")
    sender.submit(journal.delivery("recovered alert"))
    opener = threading.Timer(0.05, gate.set)  # opens the gate while close() waits
    opener.start()
    try:
        assert sender.close(BOUND_S)
    finally:
        opener.cancel()
    assert journal.ran == ["slow webhook", "recovered alert"]
    assert journal.discarded == []


def test_an_alert_raised_while_closing_is_still_attempted(
    sender: AlertSender, journal: Journal
) -> None:
    gate = started(sender, journal, "last check's alert")

    def raise_during_close() -> None:
        """The loop's last check ends after close() began, and raises one more alert."""
        for _ in range(1000):  # bounded: close() begins at once
            if sender.closing:
                break
            threading.Event().wait(0.01)
        assert sender.closing
        sender.submit(journal.delivery("alert raised while exiting"))
        gate.set()

    raiser = threading.Thread(target=raise_during_close)
    raiser.start()
    assert sender.close(BOUND_S)
    raiser.join(BOUND_S)
    assert journal.ran == ["last check's alert", "alert raised while exiting"]
    assert journal.discarded == []


def test_close_gives_up_at_its_bound_and_tells_what_it_could_not_send(
    sender: AlertSender, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    gate = started(sender, journal, "endpoint that never answers")
    sender.submit(journal.delivery("recovered alert"))
    with caplog.at_level(logging.WARNING, logger="watchdog.notify.sender"):
        assert not sender.close(0.0)
    assert journal.discarded == [
        ("recovered alert", "Watchdog was closing and could not send it within 0 s")
    ]
    assert "still being sent when Watchdog closed" in caplog.text
    gate.set()  # the abandoned delivery ends on its daemon thread


def test_after_close_a_delivery_is_not_run_but_told_why(
    sender: AlertSender, journal: Journal
) -> None:
    assert sender.close(BOUND_S)
    sender.submit(journal.delivery("too late"))
    assert journal.ran == []
    assert journal.discarded == [("too late", "Watchdog was closing")]


def test_a_delivery_that_raises_does_not_stop_the_next(
    sender: AlertSender, journal: Journal
) -> None:
    def explode() -> None:
        raise RuntimeError("bug in a channel")

    sender.submit(Delivery(label="broken", run=explode))
    sender.submit(journal.delivery("next"))
    assert sender.flush(BOUND_S)
    assert journal.ran == ["next"]


def test_the_inline_sender_runs_each_delivery_at_once_on_the_callers_thread(
    journal: Journal,
) -> None:
    inline = InlineSender()
    inline.submit(journal.delivery("now"))
    assert journal.ran == ["now"]
    assert journal.threads == {threading.current_thread().name}
    assert inline.flush() and inline.close()


def test_a_queue_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AlertSender(capacity=0)

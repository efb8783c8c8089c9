"""Alert delivery off the check's thread: a bounded queue and one sender thread.

Why: a webhook that stalls may take a minute (retries with back-off), a desktop notification
daemon may hang, a heartbeat may time out. None of that may delay the next check, so the
notifier hands each delivery to :class:`AlertSender` and returns at once.

The rules it keeps, and why:

* **One thread, first in first out.** Every channel sees alerts in the order they were decided
  (a DOWN is never overtaken by its RECOVERED), and a channel's calls never overlap.
* **Bounded.** At most ``capacity`` deliveries wait. When one more comes, the oldest waiting
  delivery that is not a DOWN alert is dropped, with a log line and a note to its owner (the
  notifier records it in the history as not sent). A DOWN alert is dropped only when every
  waiting delivery is one, which the alert rules make all but impossible (DOWN is sent on the
  change only).
* **Stops cleanly, within a bound.** :meth:`AlertSender.close` lets the thread finish what is
  queued, and what is queued while it finishes (an alert raised as the process exits), until
  the bound passes; what is still waiting then is dropped and told so. The thread is a daemon,
  so a delivery still in flight at the bound cannot keep the process alive.

:class:`InlineSender` has the same interface and runs each delivery at once, on the caller's
thread: for tools and tests that want the old synchronous behaviour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

log = logging.getLogger(__name__)

#: How many deliveries may wait. A check decides at most a few per cycle (heartbeat start,
#: one alert, heartbeat result), so 64 is hours of a dead endpoint, not an everyday number.
QUEUE_CAPACITY: Final = 64

#: How long closing waits for queued deliveries. A webhook with the default settings needs at
#: most about 39 s (3 attempts of 10 s plus grace, back-off of 2 s and 4 s); one-shot commands
#: (``watchdog check``, ``test-alert``) deliver before they exit within this bound.
FLUSH_LIMIT_S: Final = 60.0


@dataclass(frozen=True)
class Delivery:
    """One unit of work for the sender thread.

    ``run`` does the delivery (and records it); it should not raise, and if it does the sender
    logs it and goes on. ``discard`` is called instead of ``run`` when the delivery is dropped
    (a full queue, or closing ran out of time), with the reason in words.
    """

    label: str  # for log lines, e.g. "down alert" or "heartbeat start"; never a secret
    run: Callable[[], None]
    urgent: bool = False  # a DOWN alert: kept over everything else when the queue is full
    discard: Callable[[str], None] | None = None


class Sender(Protocol):
    """Where the notifier hands its deliveries."""

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` (or run it, for :class:`InlineSender`); never blocks on a channel."""
        ...

    def flush(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Wait until nothing is queued or in flight; False if ``timeout_s`` passed first."""
        ...

    def close(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Deliver what is queued within ``timeout_s``, then stop; False if some was dropped."""
        ...


class InlineSender:
    """Runs each delivery at once on the caller's thread (the synchronous behaviour)."""

    def submit(self, delivery: Delivery) -> None:
        _run(delivery)

    def flush(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        return True

    def close(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        return True


class AlertSender:
    """A bounded queue drained by one daemon thread, started on the first delivery."""

    def __init__(self, capacity: int = QUEUE_CAPACITY, *, name: str = "watchdog-alerts") -> None:
        if capacity < 1:
            raise ValueError("the alert queue needs room for at least 1 delivery")
        self._capacity = capacity
        self._name = name
        self._queue: deque[Delivery] = deque()
        self._cond = threading.Condition()
        self._busy = False  # a delivery is in flight
        self._stopping = False  # close() began: the thread ends once the queue is empty
        self._closed = False  # close() is over: nobody will send what comes now
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        """How many deliveries are queued (not counting one in flight)."""
        with self._cond:
            return len(self._queue)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` began (deliveries are still taken until its bound)."""
        with self._cond:
            return self._stopping

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery``; if the queue is full, drop the oldest non-urgent one first."""
        dropped: Delivery | None = None
        with self._cond:
            if self._closed:
                closed = True
            else:
                closed = False
                if len(self._queue) >= self._capacity:
                    dropped = next((d for d in self._queue if not d.urgent), self._queue[0])
                    self._queue.remove(dropped)
                self._queue.append(delivery)
                self._start_thread()
                self._cond.notify_all()
        if closed:
            log.warning("Not sent: %s (Watchdog has stopped sending alerts)", delivery.label)
            _discard(delivery, "Watchdog was closing")
        if dropped is not None:
            log.warning(
                "Too many alerts waiting (%d): dropped the oldest, %s",
                self._capacity,
                dropped.label,
            )
            _discard(dropped, "too many alerts were waiting to be sent")

    def flush(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Wait until the queue is empty and nothing is in flight, at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Send what is queued (and what is queued meanwhile) within ``timeout_s``, then stop.

        What is still waiting at the bound is dropped and its owner told; a delivery still in
        flight is left to its daemon thread. Returns True if everything was sent.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            # Deliveries submitted meanwhile are still taken: an alert raised while the
            # process exits is attempted, within the same bound.
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    break
                self._cond.wait(left)
            self._closed = True
            unsent = list(self._queue)
            self._queue.clear()
            in_flight = self._busy
            self._cond.notify_all()
        for delivery in unsent:
            log.warning("Not sent within %g s of closing: %s", timeout_s, delivery.label)
            _discard(delivery, f"Watchdog was closing and could not send it within {timeout_s:g} s")
        if in_flight:
            log.warning("An alert was still being sent when Watchdog closed; it may not arrive")
        return not unsent and not in_flight

    def _start_thread(self) -> None:
        """Start the sender thread if none runs (called with the lock held)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return  # stopping, and nothing left
                delivery = self._queue.popleft()
                self._busy = True
            try:
                _run(delivery)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _run(delivery: Delivery) -> None:
    try:
        delivery.run()
    except Exception:  # a delivery must not raise; if one does, the next still goes out
        log.exception("Sending %s failed", delivery.label)


def _discard(delivery: Delivery, reason: str) -> None:
    if delivery.discard is None:
        return
    try:
        delivery.discard(reason)
    except Exception:  # e.g. the history already closed: the log line above must do
        log.exception("Could not record that %s was not sent", delivery.label)

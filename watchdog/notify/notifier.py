"""Decides whether people are told, tells them on every channel, and remembers it.

Wired as a runner listener. Every attempt on every channel lands in the history; a channel that
fails never stops the others or the loop.

Deciding happens on the check's thread (it is quick and the next check must see it); sending
does not: each delivery goes to a :class:`~watchdog.notify.sender.Sender`, which in the app is
the bounded queue and thread of :class:`~watchdog.notify.sender.AlertSender`, so a webhook that
stalls for a minute never delays a check. Without one, deliveries run inline (tools, tests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from watchdog.core.clock import Clock
from watchdog.core.messages import build_alert
from watchdog.core.models import (
    AlertAttempt,
    AlertKind,
    AlertMemory,
    AlertPolicy,
    CheckResult,
    Flip,
    Outcome,
    Status,
    StatusSnapshot,
)
from watchdog.core.state import decide_alert
from watchdog.notify import Alert, AttemptResult, Channel
from watchdog.notify.sender import FLUSH_LIMIT_S, Delivery, InlineSender, Sender
from watchdog.storage.history import History

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdog.core.batches import Touched
    from watchdog.notify.heartbeat import Heartbeat

log = logging.getLogger(__name__)

#: Outcomes where mail flows (possibly late or into junk): the heartbeat hears "success".
_FLOWING = (Outcome.DELIVERED, Outcome.LATE, Outcome.JUNK)


class Notifier:
    """Turns status changes into alerts on the configured channels."""

    def __init__(
        self,
        *,
        channels: Sequence[Channel],
        history: History,
        policy: AlertPolicy,
        clock: Clock,
        provider: str,
        provider_display_name: str,
        office: str = "",
        heartbeat: Heartbeat | None = None,
        account: str = "",
        sender: Sender | None = None,
    ) -> None:
        self.channels = list(channels)
        self.history = history
        self.policy = policy
        self.clock = clock
        self.provider = provider
        self.provider_display_name = provider_display_name
        self.office = office
        self.heartbeat = heartbeat
        self.account = account  # the office's sending address: the alert titles name it
        self._announce_next = threading.Event()
        # Where deliveries go: the app's queue and thread, or inline (the caller's thread).
        self.sender: Sender = sender if sender is not None else InlineSender()
        # The alert memory as decided on the check's thread. The history gets it together with
        # the attempts once the alert was sent (a crash before that repeats the alert on the
        # next start, as it should); until then the next decision must see it from here.
        self._memory_lock = threading.Lock()
        self._memory: AlertMemory | None = None
        self._decided = 0  # decisions made (each carries its number into its delivery)
        self._stored = 0  # the newest decision whose memory the history has
        self._budget_told_at: float | None = None  # a budget warning queued at this time
        # How many e-mails a block that began at the first argument may have touched, until the
        # second (History.sent_while_down, where the Sent folder is watched): the recovery
        # alert says how many reminders a block touched.
        self.touched: Callable[[float, float], Touched] | None = None

    # -- runner hooks -----------------------------------------------------------------------

    def before_check(self) -> None:
        """Tell the heartbeat a check starts (Healthchecks measures its duration)."""
        if self.heartbeat is not None:
            self._ping("heartbeat start", self.heartbeat.start)

    def announce_next_result(self) -> None:
        """After "Check now": tell the person the result of the next check, whatever it is."""
        self._announce_next.set()

    def after_check(self, result: CheckResult) -> None:
        """Announce a requested result; ping the heartbeat (success when mail flows, else fail)."""
        if self._announce_next.is_set() and result.outcome is not Outcome.PENDING:
            self._announce_next.clear()
            alert = self._alert(AlertKind.RESULT, self.history.status(), self.clock.now())
            self._post(alert)
        heartbeat = self.heartbeat
        if heartbeat is None or result.outcome is Outcome.PENDING:
            return
        if result.outcome in _FLOWING:
            note = f"{result.outcome.value} in {result.latency_s or 0:.1f} s"
            self._ping("heartbeat success", lambda: heartbeat.success(note))
        else:
            text = f"{result.outcome.value}: {result.diagnosis.value}"
            if result.smtp_reply is not None and result.outcome is not Outcome.LOST:
                text += f" ({result.smtp_reply})"
            self._ping("heartbeat fail", lambda: heartbeat.fail(text))

    def check_let_pass(self, why: str) -> None:
        """A scheduled check was let pass on purpose: the heartbeat hears the status as it is.

        Without this, a night of 2-hour checks or a day whose budget stopped the regular
        checks would look like a dead watchdog to the monitoring service (a false escalation),
        and its period would have to be the longest interval. The ping repeats what the last
        check found, never better: success while mail flows, ``/fail`` while it does not or
        cannot be checked, each with why no check ran.
        """
        heartbeat = self.heartbeat
        if heartbeat is None:
            return
        snapshot = self.history.status()
        if snapshot.status in (Status.UP, Status.DEGRADED):
            note = f"no check now ({why}); the last check found mail flowing"
            self._ping("heartbeat success", lambda: heartbeat.success(note))
        else:
            text = f"no check now ({why}); still {snapshot.status.value}: {snapshot.reason}"
            self._ping("heartbeat fail", lambda: heartbeat.fail(text))

    def on_result(self, result: CheckResult, snapshot: StatusSnapshot, flip: Flip | None) -> None:
        """A runner listener: decide now, send and record on the sender's thread."""
        memory = self.alert_memory()
        now = self.clock.now()
        decided, new_memory = decide_alert(memory, snapshot, flip, self.policy, now)
        if decided is None:
            return
        kind = AlertKind(decided)  # the enum, whether the alert rules give it or its value
        new_memory = replace(new_memory, last_kind=kind)
        previous_since = memory.problem_since if kind is AlertKind.RECOVERED else None
        touched = None
        if self.touched is not None and kind in (
            AlertKind.DOWN,
            AlertKind.REMINDER,
            AlertKind.RECOVERED,
        ):
            touched = self._touched_words(previous_since or snapshot.streak_since, now)
        reply = str(result.smtp_reply) if result.smtp_reply is not None else None
        alert = self._alert(
            kind, snapshot, now, previous_since=previous_since, last_reply=reply, touched=touched
        )
        with self._memory_lock:
            self._memory = new_memory
            self._decided += 1
            decision = self._decided
        self._post(alert, decision=decision, memory=new_memory)

    def alert_memory(self) -> AlertMemory:
        """What people were last told, including a decision whose alert is still being sent.

        Otherwise the history's, read afresh: another process (a one-shot ``watchdog check``)
        may have told people something since.
        """
        with self._memory_lock:
            if self._memory is not None and self._decided > self._stored:
                return self._memory
        return self.history.alert_memory()

    def _alert(
        self,
        kind: AlertKind,
        snapshot: StatusSnapshot,
        now: float,
        *,
        previous_since: float | None = None,
        last_reply: str | None = None,
        touched: str | None = None,
    ) -> Alert:
        """The alert for ``kind``, with what every alert of this notifier carries.

        One place for the provider, the office and the account, so that no kind of alert can
        leave one out (the "Check now" result once lacked the account in its title).
        """
        return build_alert(
            kind,
            snapshot,
            provider=self.provider,
            provider_display_name=self.provider_display_name,
            office=self.office,
            now=now,
            account=self.account,
            previous_since=previous_since,
            last_reply=last_reply,
            touched=touched,
        )

    def _touched_words(self, problem_since: float | None, now: float) -> str | None:
        """How many reminders the block may have touched, in words, or None if not known.

        ``touched`` takes the problem's start and now; the window is the history's one rule
        (:meth:`History.sent_while_down`).
        """
        if self.touched is None or problem_since is None:
            return None
        from watchdog.core.batches import touched_words

        return touched_words(self.touched(problem_since, now))

    # -- sending ----------------------------------------------------------------------------

    def warn_budget(self, words: str) -> bool:
        """Tell people once a day that the account nears its daily limit; False if told already.

        Once a day across restarts: today's budget alerts are looked up in the history, where
        every attempt is recorded (and, for one still being sent, in this notifier). The alert
        memory (which drives DOWN reminders) is untouched.
        """
        from watchdog.core.messages import build_budget_alert

        now = self.clock.now()
        from watchdog.core.batches import local_midnight

        midnight = local_midnight(now)
        if self._budget_told_at is not None and self._budget_told_at >= midnight:
            return False
        told = [
            a
            for a in self.history.alert_attempts(limit=200)
            if a.kind is AlertKind.BUDGET and a.at >= midnight
        ]
        if told:
            return False
        alert = build_budget_alert(
            words,
            self.history.status(),
            provider=self.provider,
            provider_display_name=self.provider_display_name,
            office=self.office,
            now=now,
            account=self.account,
        )
        self._budget_told_at = now
        self._post(alert)
        return True

    def send_test(self, timeout_s: float = FLUSH_LIMIT_S) -> list[AttemptResult]:
        """``watchdog test-alert``: a sample alert on every channel, recorded in the history.

        Waits (at most ``timeout_s``) for the answer of every channel, since the command's
        whole point is to show it; a channel still sending then is reported as such.
        """
        now = self.clock.now()
        snapshot = self.history.status()
        alert = self._alert(AlertKind.TEST, snapshot, now)
        results: list[AttemptResult] = []
        self._post(alert, collect=results)
        self.sender.flush(timeout_s)
        answered = list(results)  # a channel still sending may append to ``results`` later
        named = {r.channel for r in answered}
        for channel in self.channels:
            name = _name_of(channel)
            if name not in named:
                answered.append(
                    AttemptResult(
                        name, False, f"no answer within {timeout_s:g} s; see the log", attempts=0
                    )
                )
        return answered

    def flush(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Wait until every alert and ping handed over so far was sent (at most ``timeout_s``)."""
        return self.sender.flush(timeout_s)

    def close(self, timeout_s: float = FLUSH_LIMIT_S) -> bool:
        """Send what is waiting (within ``timeout_s``) and stop; before the history closes."""
        return self.sender.close(timeout_s)

    # -- delivering (on the sender's thread) -------------------------------------------------

    def _post(
        self,
        alert: Alert,
        *,
        decision: int | None = None,
        memory: AlertMemory | None = None,
        collect: list[AttemptResult] | None = None,
    ) -> None:
        """Hand ``alert`` to the sender: every channel in turn, then one record of it all.

        ``decision`` and ``memory``: the alert memory after a status alert, stored with its
        attempts. An alert that is not about a status change (test, budget, "Check now")
        leaves the memory as it is: it must not make a real problem look told or over.
        """

        def deliver() -> None:
            results = self.send(alert, collect=collect)
            self._record(alert, results, decision, memory)

        def discard(reason: str) -> None:
            results = [
                AttemptResult(_name_of(c), False, f"not sent: {reason}", attempts=0)
                for c in self.channels
            ]
            self._record(alert, results, decision, memory)

        self.sender.submit(
            Delivery(
                label=f"{alert.kind} alert",
                run=deliver,
                urgent=alert.kind is AlertKind.DOWN,
                discard=discard,
            )
        )

    def _ping(self, label: str, ping: Callable[[], AttemptResult]) -> None:
        """Hand a heartbeat ping to the sender; its failures are logged (the service sees them)."""

        def deliver() -> None:
            _log_failure(ping())

        self.sender.submit(Delivery(label=label, run=deliver))

    def _record(
        self,
        alert: Alert,
        results: list[AttemptResult],
        decision: int | None,
        memory: AlertMemory | None,
    ) -> None:
        """Store the attempts; the memory too, unless a newer decision's memory is stored."""
        with self._memory_lock:  # held over the write: an older memory never lands after a newer
            if decision is not None and memory is not None and decision > self._stored:
                self._stored = decision
            else:
                memory = None
            self.history.record_alert(memory, [self._row(alert, r) for r in results])

    def send(
        self, alert: Alert, *, collect: list[AttemptResult] | None = None
    ) -> list[AttemptResult]:
        """Send on every channel now; a failing channel is logged and the rest still get it.

        ``collect``, if given, receives each result as soon as its channel answers.
        """
        results = []
        for channel in self.channels:
            try:
                result = channel.send(alert)
            except Exception as e:  # a channel must not raise; if one does, it is a bug there
                log.exception("Channel %s raised", _name_of(channel))
                result = AttemptResult(_name_of(channel), False, repr(e))
            _log_failure(result)
            results.append(result)
            if collect is not None:
                collect.append(result)
        return results

    def _row(self, alert: Alert, result: AttemptResult) -> AlertAttempt:
        return AlertAttempt(
            at=alert.at,
            kind=alert.kind,
            channel=result.channel,
            ok=result.ok,
            permanent=result.permanent,
            attempts=result.attempts,
            detail=result.detail,
            status=alert.status,
            diagnosis=alert.diagnosis,
        )


def _name_of(channel: Channel) -> str:
    return str(getattr(channel, "name", "?"))


def _log_failure(result: AttemptResult) -> None:
    if not result.ok:
        level = logging.ERROR if result.permanent else logging.WARNING
        log.log(level, "Alert on %s failed: %s", result.channel, result.detail)

"""Decides whether people are told, tells them on every channel, and remembers it.

Wired as a runner listener. Every attempt on every channel lands in the history; a channel that
fails never stops the others or the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..clock import Clock
from ..history import AlertAttempt, History
from ..models import AlertPolicy, CheckResult, Flip, Outcome, StatusSnapshot
from ..state import decide_alert
from . import Alert, AlertKind, AttemptResult, Channel
from .messages import build_alert

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..batches import Touched
    from .heartbeat import Heartbeat

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
        # How many e-mails left the account in a window (the Sent-folder watch, where there is
        # one): the recovery alert says how many reminders a block touched.
        self.touched: Callable[[float, float], Touched] | None = None

    # -- runner hooks -----------------------------------------------------------------------

    def before_check(self) -> None:
        """Tell the heartbeat a check starts (Healthchecks measures its duration)."""
        if self.heartbeat is not None:
            _log_failure(self.heartbeat.start())

    def announce_next_result(self) -> None:
        """After "Check now": tell the person the result of the next check, whatever it is."""
        self._announce_next.set()

    def after_check(self, result: CheckResult) -> None:
        """Announce a requested result; ping the heartbeat (success when mail flows, else fail)."""
        if self._announce_next.is_set() and result.outcome is not Outcome.PENDING:
            self._announce_next.clear()
            alert = build_alert(
                AlertKind.RESULT,
                self.history.status(),
                provider=self.provider,
                provider_display_name=self.provider_display_name,
                office=self.office,
                now=self.clock.now(),
            )
            results = self.send(alert)
            self.history.record_alert(
                self.history.alert_memory(), [self._row(alert, r) for r in results]
            )
        if self.heartbeat is None or result.outcome is Outcome.PENDING:
            return
        if result.outcome in _FLOWING:
            note = f"{result.outcome.value} in {result.latency_s or 0:.1f} s"
            _log_failure(self.heartbeat.success(note))
        else:
            text = f"{result.outcome.value}: {result.diagnosis.value}"
            if result.smtp_reply is not None and result.outcome is not Outcome.LOST:
                text += f" ({result.smtp_reply})"
            _log_failure(self.heartbeat.fail(text))

    def on_result(self, result: CheckResult, snapshot: StatusSnapshot, flip: Flip | None) -> None:
        """A runner listener: decide, send, record."""
        memory = self.history.alert_memory()
        now = self.clock.now()
        kind, new_memory = decide_alert(memory, snapshot, flip, self.policy, now)
        if kind is None:
            return
        previous_since = memory.problem_since if kind == AlertKind.RECOVERED else None
        touched = None
        if self.touched is not None and kind in (
            AlertKind.DOWN,
            AlertKind.REMINDER,
            AlertKind.RECOVERED,
        ):
            touched = self._touched_words(previous_since or snapshot.streak_since, now)
        reply = str(result.smtp_reply) if result.smtp_reply is not None else None
        alert = build_alert(
            AlertKind(kind),
            snapshot,
            provider=self.provider,
            provider_display_name=self.provider_display_name,
            office=self.office,
            now=now,
            account=self.account,
            previous_since=previous_since,
            last_reply=reply,
            touched=touched,
        )
        attempts = self.send(alert)
        self.history.record_alert(new_memory, [self._row(alert, a) for a in attempts])

    def _touched_words(self, problem_since: float | None, now: float) -> str | None:
        """How many reminders the block may have touched, in words, or None if not known.

        The window runs from the send of the last canary that arrived before the problem
        began (anything after it may have been caught) until now.
        """
        if self.touched is None or problem_since is None:
            return None
        from ..batches import touched_words

        start = self.history.last_arrival_before(problem_since) or problem_since
        return touched_words(self.touched(start, now))

    # -- sending ----------------------------------------------------------------------------

    def send(self, alert: Alert) -> list[AttemptResult]:
        """Send on every channel; a failing channel is logged and the rest still get it."""
        results = []
        for channel in self.channels:
            try:
                result = channel.send(alert)
            except Exception as e:  # a channel must not raise; if one does, it is a bug there
                log.exception("Channel %s raised", getattr(channel, "name", channel))
                result = AttemptResult(str(getattr(channel, "name", "?")), False, repr(e))
            _log_failure(result)
            results.append(result)
        return results

    def warn_budget(self, words: str) -> bool:
        """Tell people once a day that the account nears its daily limit; False if told already.

        Once a day across restarts: today's budget alerts are looked up in the history, where
        every attempt is recorded. The alert memory (which drives DOWN reminders) is untouched.
        """
        from .messages import build_budget_alert

        now = self.clock.now()
        from ..batches import local_midnight

        midnight = local_midnight(now)
        told = [
            a
            for a in self.history.alert_attempts(limit=200)
            if a.kind == AlertKind.BUDGET.value and a.at >= midnight
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
        self._send_aside(alert)
        return True

    def send_test(self) -> list[AttemptResult]:
        """``watchdog test-alert``: a sample alert on every channel, recorded in the history."""
        now = self.clock.now()
        snapshot = self.history.status()
        alert = build_alert(
            AlertKind.TEST,
            snapshot,
            provider=self.provider,
            provider_display_name=self.provider_display_name,
            office=self.office,
            now=now,
            account=self.account,
        )
        return self._send_aside(alert)

    def _send_aside(self, alert: Alert) -> list[AttemptResult]:
        """Send an alert that is not about a status change, and record every attempt.

        The alert memory (which drives DOWN reminders and recoveries) stays as it is: a test
        alert or a budget warning must not make a real problem look told or over.
        """
        results = self.send(alert)
        self.history.record_alert(
            self.history.alert_memory(), [self._row(alert, r) for r in results]
        )
        return results

    def _row(self, alert: Alert, result: AttemptResult) -> AlertAttempt:
        return AlertAttempt(
            at=alert.at,
            kind=alert.kind.value,
            channel=result.channel,
            ok=result.ok,
            permanent=result.permanent,
            attempts=result.attempts,
            detail=result.detail,
            status=alert.status,
            diagnosis=alert.diagnosis,
        )


def _log_failure(result: AttemptResult) -> None:
    if not result.ok:
        level = logging.ERROR if result.permanent else logging.WARNING
        log.log(level, "Alert on %s failed: %s", result.channel, result.detail)

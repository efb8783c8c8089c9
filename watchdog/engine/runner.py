"""One check cycle: send a canary, watch for it, settle older ones, decide the status.

A cycle: settle older canaries (late arrivals, restarts), send a new canary, wait for it until its
deadline, record the outcome, evaluate the status. Every error becomes a recorded result or a log
line; nothing here may end the loop except a stop request.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from watchdog.config import Config
from watchdog.core import classifier, state
from watchdog.core.clock import Clock
from watchdog.core.errors import (
    MailboxError,
    SecretError,
    SendError,
    SigninExpiredError,
    StorageError,
    WatchdogError,
)
from watchdog.core.humanize import format_duration
from watchdog.mail.mailbox import Found
from watchdog.storage.history import History

if TYPE_CHECKING:
    from watchdog.core.batches import BatchCanaryPlan
    from watchdog.core.bounces import Bounce
    from watchdog.core.notices import ProviderNotice
    from watchdog.engine.seams import OpenInbox, OpenSeed, Probe, SeedSession
from watchdog.core.models import (
    Canary,
    CheckResult,
    Diagnosis,
    Flip,
    Outcome,
    SmtpReply,
    Status,
    StatusSnapshot,
)
from watchdog.core.tokens import make_token, verify_token
from watchdog.mail.probe import DEFAULT_OVERALL_S, build_canary

log = logging.getLogger(__name__)

#: How long a lost canary is still looked for, to be recorded as late instead.
LATE_WINDOW_S = 24 * 3600.0

#: How far before a lost canary a provider notice still explains it: providers mail the
#: notice when they block, which may be hours before the next canary is tried.
NOTICE_LOOKBACK_S = 24 * 3600.0

#: How often a seed mailbox connection that hung up while waiting is opened again, per canary.
_RECONNECTS = 3

#: A row still ``sending`` after this long belongs to a send that never finished (a power cut,
#: a kill, a logoff): twice the probe's overall limit, so no send can still be under way (the
#: name lookup before it is not guarded). Younger rows may be another process's send in
#: progress (``watchdog check`` beside ``watchdog run``) and are left alone.
STALE_SEND_S = 2 * DEFAULT_OVERALL_S

#: While waiting for a canary, the sender's inbox is looked at for bounces and delay notices
#: first after this long, then at doubling intervals: a bounce comes back within seconds when
#: the seed's server refuses at once, and waiting for the whole deadline would hide it.
_FIRST_BOUNCE_LOOK_S = 5.0
_MAX_BOUNCE_LOOK_S = 120.0

#: After the provider refused the password, scheduled checks wait this long before signing in
#: again, doubling up to the maximum: every refused sign-in counts towards the provider's (and
#: fail2ban's) lockout. "Check now" always tries at once: someone may have fixed the password.
SIGNIN_BACKOFF_MAX_S = 4 * 3600.0

#: A clock difference with the mail server above this is reported and corrected for.
CLOCK_SKEW_NOTICE_S = 120.0

#: How far back a measured clock skew is still trusted for correcting INTERNALDATEs.
_SKEW_MEMORY_S = 7 * 24 * 3600.0

#: Network failure kinds that may mean this PC has no network at all.
_MAYBE_OFFLINE = {
    classifier.NetworkFailure.DNS,
    classifier.NetworkFailure.NO_ROUTE,
    classifier.NetworkFailure.TIMEOUT,
}


@dataclass(frozen=True)
class CycleReport:
    """What one cycle produced: the new canary's result and any status change on the way."""

    result: CheckResult
    status: StatusSnapshot
    flips: tuple[Flip, ...]
    settled: tuple[CheckResult, ...]  # older canaries resolved during this cycle


Listener = Callable[[CheckResult, StatusSnapshot, Flip | None], None]


def has_default_route() -> bool:
    """True when this PC has a route to the internet.

    A UDP ``connect()`` only asks the kernel for a route: no packet is sent. With no route at all
    the PC is offline, whatever the mail servers are doing.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 53))  # TEST-NET-1: routable-looking, never contacted
    except OSError:
        return False
    return True


def _call_all(hooks: Sequence[Callable[..., None]], *args: object) -> None:
    """Call every hook; one that fails is logged and never ends the check or the loop."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            log.exception("A hook failed; the check goes on")


class Runner:
    """Runs checks for one configured pair of accounts."""

    def __init__(
        self,
        *,
        config: Config,
        history: History,
        probe: Probe,
        open_mailbox: OpenSeed,
        key: bytes,
        clock: Clock,
        provider: str = "other",
        has_route: Callable[[], bool] = has_default_route,
        listeners: list[Listener] | None = None,
        open_sender_inbox: OpenInbox | None = None,
        before_check: list[Callable[[], None]] | None = None,
        after_check: list[Callable[[CheckResult], None]] | None = None,
    ) -> None:
        self.config = config
        self.history = history
        self.probe = probe
        self.open_mailbox = open_mailbox
        self.key = key
        self.clock = clock
        self.provider = provider
        self.has_route = has_route
        self.listeners = list(listeners or [])
        self.open_sender_inbox = open_sender_inbox  # bounces arrive there, when configured
        self.before_check = list(before_check or [])  # e.g. the heartbeat's /start ping
        self.after_check = list(after_check or [])  # e.g. the heartbeat's success / fail ping
        # Results that could not be stored (disk full), by token, retried at the next settle:
        # a found canary is already deleted from the seed mailbox, so without this the next
        # check could only call it lost.
        self._unstored: dict[str, CheckResult] = {}
        # Sign-in refusals in a row (auth_rejected) and when the last one was: backs off
        # scheduled checks so Watchdog never locks the account by retrying a wrong password.
        self._refused_signins = 0
        self._refused_at: float | None = None
        # How a deadline is learned from arrivals (batches.DeadlineRules); tests on loopback
        # servers, where canaries arrive in milliseconds, use seconds instead of minutes.
        from watchdog.core.batches import DEFAULT_CONFIRM_RULES, DEFAULT_DEADLINE_RULES

        self.deadline_rules = DEFAULT_DEADLINE_RULES
        # How the canary after a reminder batch is suspected and confirmed (batch_canary_plan).
        self.confirm_rules = DEFAULT_CONFIRM_RULES
        # Canaries past a learned deadline that a confirmation canary is answering for, by
        # token, with the moment (their configured deadline) until which they are not yet lost.
        self._excused: dict[str, float] = {}

    # -- one cycle --------------------------------------------------------------------------

    def check(
        self, *, should_stop: Callable[[], bool] = lambda: False, after_reminders: bool = False
    ) -> CycleReport:
        """Settle older canaries, then send one canary and wait for it until its deadline.

        ``after_reminders``: the canary answers for a reminder batch just sent (or a reminder
        time), the moment a block is most likely; it is judged by the batch canary's plan
        (:meth:`batch_canary_plan`): suspected soon, confirmed by a few canaries at once.
        """
        _call_all(self.before_check)
        plan = self.batch_canary_plan() if after_reminders else None
        if plan is not None:
            log.info("The canary after the reminders is judged fast: %s", plan.describe())
        report = self._cycle(
            should_stop, deadline_s=plan.suspect_after_s if plan else None, plan=plan
        )
        _call_all(self.after_check, report.result)
        return report

    def _cycle(
        self,
        should_stop: Callable[[], bool],
        confirming: Canary | None = None,
        *,
        deadline_s: float | None = None,
        plan: BatchCanaryPlan | None = None,
        companions: int = 0,
    ) -> CycleReport:
        """One canary: settle older ones, send, wait. ``confirming``: this canary confirms that
        one, which missed its learned deadline (see :meth:`_confirm`), with ``companions`` more
        sent right after it. ``deadline_s``: this canary's own (None: :meth:`deadline_seconds`);
        ``plan``: the batch canary's plan, which says how a loss of this one is confirmed."""
        flips: list[Flip] = []
        settled = self.settle(flips)
        canary = self._new_canary(deadline_s)
        deadline_mono = self.clock.monotonic() + (canary.deadline_at - canary.sent_at)
        canary, sent = self._send_canary(canary, should_stop, flips)
        if isinstance(sent, CheckResult):
            return CycleReport(sent, self.history.status(), tuple(flips), tuple(settled))
        extra: list[Canary] = []
        if companions:
            extra = self._send_companions(companions, canary, should_stop, flips)
            # Wait until the last of them is as old as the lead's deadline, not the lead only.
            deadline_mono += max(0.0, extra[-1].sent_at - canary.sent_at) if extra else 0.0
        return self._await(
            canary, sent, deadline_mono, should_stop, flips, settled, confirming, plan, extra
        )

    def _send_canary(
        self, canary: Canary, should_stop: Callable[[], bool], flips: list[Flip]
    ) -> tuple[Canary, SmtpReply | CheckResult]:
        """Record ``canary`` as pending and send it: the server's reply, or the (recorded) result
        of a send that failed. An error of our own is recorded as such and raised."""
        message = build_canary(
            self.config.sender.address, self.config.seed.address, canary.token, canary.sent_at
        )
        canary = replace(canary, message_id=str(message["Message-ID"]))
        self.history.record_pending(canary, self.clock.now())
        log.info("Sending canary %s to %s", canary.token, self.config.seed.address)
        try:
            reply = self.probe.send(message, should_stop=should_stop)
        except SendError as e:
            if e.cancelled:
                # Stopped before the server accepted it: nothing was sent, nothing can be lost.
                self._finish(canary, Outcome.NOT_SENT, Diagnosis.UNKNOWN, detail=str(e))
                return canary, self._result(
                    canary, Outcome.NOT_SENT, Diagnosis.UNKNOWN, detail=str(e)
                )
            result = self._send_failure(canary, e)
        except SigninExpiredError as e:
            # Watchdog's own sign-in, not the practice's mail: recorded, alerted, never a block.
            result = self._result(
                canary, Outcome.SEND_FAILED, Diagnosis.SIGNIN_EXPIRED, detail=str(e)
            )
        except Exception as e:
            # Our problem (a missing password, a locked keyring, a bug), not the provider's: the
            # canary was not sent. The status says so (UNKNOWN, support told once): a check that
            # cannot run must never leave a green "UP" standing. Then the caller reports it.
            result = self._result(
                canary, Outcome.NOT_SENT, Diagnosis.CANNOT_CHECK, detail=_cannot_check_words(e)
            )
            self._store(result, flips)
            raise
        else:
            self.history.mark_accepted(canary.token, reply, self.clock.now())
            return canary, reply
        self._note_signin(result)
        self._store(result, flips)
        return canary, result

    def _send_companions(
        self, count: int, lead: Canary, should_stop: Callable[[], bool], flips: list[Flip]
    ) -> list[Canary]:
        """Up to ``count`` more confirming canaries right after ``lead``, with its deadline.

        Each is an ordinary canary (history, daily budget) excused, like the first, until its
        configured deadline: one that turns up later is an arrival, never lost twice. A send
        that fails is recorded as any failed send is (a refusal is evidence of its own) and
        ends the burst.
        """
        sent: list[Canary] = []
        for _ in range(count):
            canary = self._new_canary(lead.deadline_at - lead.sent_at)
            canary, outcome = self._send_canary(canary, should_stop, flips)
            if isinstance(outcome, CheckResult):
                break
            self._excused[canary.token] = canary.sent_at + self.config.schedule.deadline_seconds
            sent.append(canary)
        return sent

    def _store(self, result: CheckResult, flips: list[Flip]) -> StatusSnapshot:
        """Record ``result``; one that cannot be stored is kept to be stored by the next check."""
        try:
            return self._conclude(result, flips)
        except StorageError:
            if result.outcome is not Outcome.PENDING:
                self._unstored[result.token] = result
            raise

    # -- backing off after a refused sign-in -------------------------------------------------

    def _note_signin(self, result: CheckResult) -> None:
        if result.diagnosis is Diagnosis.AUTH_REJECTED and result.smtp_reply is not None:
            self._refused_signins += 1
            self._refused_at = self.clock.now()
        elif result.outcome is not Outcome.PENDING:
            self._refused_signins = 0
            self._refused_at = None

    def signin_retry_at(self) -> float | None:
        """When a scheduled check may sign in again after refusals (None: no need to wait).

        The wait is the check interval doubled for every refusal after the first, at most
        ``SIGNIN_BACKOFF_MAX_S``: the first retry comes at the normal time (a typo fixed in the
        keyring is picked up), later ones thin out.
        """
        if self._refused_at is None or self._refused_signins < 2:
            return None
        every = float(self.config.schedule.every_seconds)
        wait = min(every * 2.0 ** (self._refused_signins - 1), max(SIGNIN_BACKOFF_MAX_S, every))
        return self._refused_at + wait

    def deadline_seconds(self) -> float:
        """How long the next canary may take: learned from this account's arrivals, or fixed.

        The configured deadline is the upper bound (and the whole rule with ``learn_deadline =
        false``); see ``batches.learned_deadline`` for the percentile, margin and floor. A loss
        under a learned deadline is confirmed by a second canary (:meth:`_confirm`), so it is
        told after two learned deadlines: a learned one is used only while that is sooner than
        the configured one, else learning would make the alert later, not sooner.
        """
        schedule = self.config.schedule
        configured = schedule.deadline_seconds
        if not schedule.learn_deadline:
            return configured
        from watchdog.core.batches import deadline_in_force

        rules = self.deadline_rules
        try:
            latencies = self.history.arrival_latencies(rules.window)
        except StorageError:
            return configured
        return deadline_in_force(latencies, configured, rules).seconds

    def batch_canary_plan(self) -> BatchCanaryPlan | None:
        """How the canary after a batch is judged: suspected soon, confirmed by a few at once.

        None (judged like any other canary) with ``learn_deadline = false``, with too few
        arrivals, or when no plan tells sooner than the configured deadline
        (``batches.batch_canary_plan``).
        """
        if not self.config.schedule.learn_deadline:
            return None
        from watchdog.core.batches import batch_canary_plan

        try:
            latencies = self.history.arrival_latencies(self.confirm_rules.window)
        except StorageError:
            return None
        configured = self.config.schedule.deadline_seconds
        return batch_canary_plan(latencies, configured, self.confirm_rules)

    def _new_canary(self, deadline_s: float | None = None) -> Canary:
        sent_at = self.clock.now()
        token = make_token(self.key, sent_at)
        wait = self.deadline_seconds() if deadline_s is None else deadline_s
        return Canary(token=token, message_id="", sent_at=sent_at, deadline_at=sent_at + wait)

    def _await(
        self,
        canary: Canary,
        reply: SmtpReply,
        deadline_mono: float,
        should_stop: Callable[[], bool],
        flips: list[Flip],
        settled: list[CheckResult],
        confirming: Canary | None = None,
        plan: BatchCanaryPlan | None = None,
        companions: Sequence[Canary] = (),
    ) -> CycleReport:
        """Wait for the accepted canary, record what became of it, and report the cycle.

        A canary that arrives is recorded *before* it is deleted from the seed mailbox: if the
        result cannot be stored (history locked, disk full), the canary stays there and the
        next check settles it from its INTERNALDATE instead of calling it lost.
        """
        started = deadline_mono - (canary.deadline_at - canary.sent_at)
        watch = _Watch(self, canary, reply, started, flips)
        try:
            found = self._watch(canary.token, deadline_mono, should_stop, watch)
        except SecretError as e:
            # Watchdog's own sign-in to the seed: withdrawn (OAuth2) or missing; not the mail's.
            log.warning("Seed mailbox: %s", e)
            expired = isinstance(e, SigninExpiredError)
            result = self._result(
                canary,
                Outcome.SEED_UNREACHABLE,
                Diagnosis.SIGNIN_EXPIRED if expired else Diagnosis.CANNOT_CHECK,
                reply=reply,
                detail=(
                    f"The canary was sent, but the test mailbox could not be checked: {e}"
                    if expired
                    else _cannot_check_words(e)
                ),
            )
        except MailboxError as e:
            log.warning("Seed mailbox: %s", e)
            result = self._result(
                canary,
                Outcome.SEED_UNREACHABLE,
                e.diagnosis or self._mailbox_diagnosis(e),
                reply=reply,
                detail=f"The canary was sent, but the seed mailbox could not be checked: {e}",
            )
        else:
            if watch.stored is not None:
                snapshot = watch.snapshot or self.history.status()
                return CycleReport(watch.stored, snapshot, tuple(flips), tuple(settled))
            result = self._unarrived(canary, reply, found, watch, should_stop)
            if result.outcome is Outcome.LOST and confirming is not None:
                return self._confirmation_missed(
                    confirming, canary, result, flips, settled, companions
                )
            if result.outcome is Outcome.LOST and self._should_confirm(canary, result):
                return self._confirm(canary, should_stop, flips, settled, plan)
        snapshot = self._store(result, flips)
        return CycleReport(result, snapshot, tuple(flips), tuple(settled))

    # -- confirming a loss under a learned deadline ---------------------------------------------

    def _should_confirm(self, canary: Canary, lost: CheckResult) -> bool:
        """Whether a lost canary needs a second canary before anyone is told.

        Only under a learned deadline shorter than the configured one: a rare long hold (a
        provider deferring one message for minutes) would otherwise be a DOWN alert that its
        late arrival then clears (benchmarks/detection.py). Only a silent drop: a delay notice
        or the provider's own notice already says why. At most once per episode: not while the
        status is DOWN or a lost streak runs, and never for the confirmation itself.
        """
        if lost.diagnosis is not Diagnosis.SILENT_DROP:
            return False
        if canary.deadline_at - canary.sent_at >= self.config.schedule.deadline_seconds:
            return False
        try:
            snapshot = self.history.status()
        except StorageError:
            return False
        return snapshot.status is not Status.DOWN and snapshot.consecutive_lost == 0

    def _confirm(
        self,
        first: Canary,
        should_stop: Callable[[], bool],
        flips: list[Flip],
        settled: list[CheckResult],
        plan: BatchCanaryPlan | None = None,
    ) -> CycleReport:
        """Send a second canary at once; the first is lost only if that one is lost too.

        The first stays pending meanwhile, excused until its configured deadline: if it turns
        up, it is settled as an arrival (never lost twice) and no DOWN is called. The second
        canary is an ordinary one (history, daily budget, deadline learned the same way).
        With a batch canary's ``plan``, ``plan.confirmations`` canaries go at once, judged
        after ``plan.confirm_within_s``: DOWN only when none of them nor the first arrived.
        """
        count = plan.confirmations if plan is not None else 1
        log.info(
            "Canary %s has not arrived within %s; %s before anyone is told",
            first.token,
            format_duration(first.deadline_at - first.sent_at),
            f"{count} canaries confirm" if count > 1 else "a second canary confirms",
        )
        self._excused[first.token] = first.sent_at + self.config.schedule.deadline_seconds
        report = self._cycle(
            should_stop,
            confirming=first,
            deadline_s=plan.confirm_within_s if plan is not None else None,
            companions=count - 1,
        )
        return CycleReport(
            report.result,
            report.status,
            (*flips, *report.flips),
            (*settled, *report.settled),
        )

    def _confirmation_missed(
        self,
        first: Canary,
        second: Canary,
        second_lost: CheckResult,
        flips: list[Flip],
        settled: list[CheckResult],
        companions: Sequence[Canary] = (),
    ) -> CycleReport:
        """The confirmation canary missed its deadline too: lost, unless another came meanwhile.

        All lost: the first's loss is recorded first, so the status's streak (and the alert's
        "since") starts with it; the ``companions`` stay pending until their configured
        deadline (one that turns up is an arrival). The first or a companion arrived: mail
        flows, slowly; the second gets the same grace the first had (pending until its
        configured deadline), and no DOWN.
        """
        rows = {c.token: self.history.get(c.token) for c in (first, *companions)}
        row = rows[first.token]
        # The first counts as arrived once it left PENDING (only an arrival moves it, it is
        # excused); a companion only by an arrival (a failed send left it too).
        arrived = row is None or row.outcome is not Outcome.PENDING
        arrived = arrived or any(
            r is not None and r.outcome in (Outcome.DELIVERED, Outcome.LATE, Outcome.JUNK)
            for r in rows.values()
        )
        waiting = {t: r for t, r in rows.items() if r is not None and r.outcome is Outcome.PENDING}
        for token in rows.keys() - waiting.keys():
            self._excused.pop(token, None)  # resolved: no grace to keep
        for token, hit in self._search(list(waiting)).items():
            pending = waiting[token]
            arrival = self._arrival(pending, hit, reply=pending.smtp_reply)
            self._conclude(arrival, flips)
            settled.append(arrival)
            self._delete_found(hit)
            self._excused.pop(token, None)
            arrived = True
        if arrived:
            # Those still missing keep their grace until their configured deadline, the first
            # too when only a companion arrived: a slow canary is not lost at the next check.
            self._excused[second.token] = second.sent_at + self.config.schedule.deadline_seconds
            log.info("A canary arrived meanwhile: no DOWN; the others wait longer")
            result = self._result(
                second, Outcome.PENDING, Diagnosis.UNKNOWN, reply=second_lost.smtp_reply
            )
            return CycleReport(result, self.history.status(), tuple(flips), tuple(settled))
        assert row is not None
        self._excused.pop(first.token, None)
        first_lost = self._lost(
            row,
            row.smtp_reply,
            "The canary did not arrive by its deadline, and "
            + (
                f"the {len(companions) + 1} canaries sent at once to confirm"
                if companions
                else "a second canary sent at once to confirm"
            )
            + " did not arrive either.",
            None,
        )
        self._conclude(first_lost, flips)
        settled.append(first_lost)
        snapshot = self._store(second_lost, flips)
        return CycleReport(second_lost, snapshot, tuple(flips), tuple(settled))

    def _search(self, tokens: Sequence[str]) -> dict[str, Found]:
        """One look for ``tokens`` in the seed mailbox (only those there, and readable now)."""
        if not tokens:
            return {}
        try:
            with self.open_mailbox() as mailbox:
                return mailbox.search(list(tokens))
        except (MailboxError, SecretError) as e:
            log.warning("Could not look for the earlier canaries again: %s", e)
            return {}

    def _delete_found(self, found: Found) -> None:
        if not self.config.seed.delete_found:
            return
        try:
            with self.open_mailbox() as mailbox:
                mailbox.delete([found])
        except (MailboxError, SecretError) as e:
            log.warning("Could not delete a found canary; the next check does: %s", e)

    def _unarrived(
        self,
        canary: Canary,
        reply: SmtpReply,
        found: Found | None,
        watch: _Watch,
        should_stop: Callable[[], bool],
    ) -> CheckResult:
        """The canary did not arrive while watched: bounced, stopped early, or lost."""
        if watch.bounce is not None:
            return self._bounced(canary, watch.bounce, reply)
        if found is None and should_stop():
            # Stopped before the deadline: the canary stays pending and is settled next start.
            return self._result(canary, Outcome.PENDING, Diagnosis.UNKNOWN, reply=reply)
        bounces = self._bounces([canary.token], with_delays=True)
        bounce = bounces.get(canary.token)
        if bounce is not None and bounce.action != "delayed":
            return self._bounced(canary, bounce, reply)
        delay = bounce or watch.delay
        return self._lost(
            canary,
            reply,
            f"The server accepted the canary ({reply.code}) but it did not arrive within "
            f"{format_duration(canary.deadline_at - canary.sent_at)}.",
            self._notice(since=canary.sent_at),
            delay,
        )

    def _watch(
        self,
        token: str,
        deadline_mono: float,
        should_stop: Callable[[], bool],
        watch: _Watch | None = None,
    ) -> Found | None:
        """Wait for ``token`` in the seed mailbox; connect again if the connection is cut.

        IDLE keeps one connection open for the whole deadline, and routers and servers cut
        connections that look idle: a hang-up while waiting is a hiccup, not an unreachable
        mailbox, and calling it one would raise a false alarm. So a connection that was open and
        then hung up is opened again (up to ``_RECONNECTS`` times) while the deadline lasts. A
        mailbox that cannot be opened at all still fails at once.

        The wait runs in slices; between them ``watch`` looks for bounces and delay notices in
        the sender's inbox, so a refusal that comes back in seconds ends the wait in seconds.
        A found canary is stored by ``watch`` before it is deleted.
        """
        reconnects = 0
        while True:
            opened = False
            try:
                with self.open_mailbox() as mailbox:
                    opened = True
                    found = self._wait_in_slices(mailbox, token, deadline_mono, should_stop, watch)
                    if found is not None:
                        if watch is not None:
                            watch.store(found)
                        if self.config.seed.delete_found:
                            mailbox.delete([found])
                    return found
            except MailboxError as e:
                again = (
                    opened
                    and e.network
                    and reconnects < _RECONNECTS
                    and self.clock.monotonic() < deadline_mono
                    and not should_stop()
                )
                if not again:
                    raise
                reconnects += 1
                log.info("The seed mailbox hung up while waiting (%s); connecting again", e)

    def _wait_in_slices(
        self,
        mailbox: SeedSession,
        token: str,
        deadline_mono: float,
        should_stop: Callable[[], bool],
        watch: _Watch | None,
    ) -> Found | None:
        """``wait_for`` until the deadline; with a sender inbox, pausing to look for bounces."""
        if watch is None or self.open_sender_inbox is None:
            return mailbox.wait_for(token, deadline_mono, should_stop=should_stop)
        while True:
            until = min(deadline_mono, watch.next_bounce_look)
            found = mailbox.wait_for(token, until, should_stop=should_stop)
            if found is not None or should_stop() or until >= deadline_mono:
                return found
            if watch.look_for_bounce():
                return None

    def _arrival(
        self,
        canary: Canary | CheckResult,
        found: Found,
        *,
        reply: SmtpReply | None,
        waited_s: float | None = None,
        delay: Bounce | None = None,
    ) -> CheckResult:
        """Classify a canary seen in the seed mailbox: on time or late, inbox or junk.

        Watching live (``waited_s``), the monotonic time waited is the latency: precise, and it
        does not count time the PC slept. Found later, the server's INTERNALDATE says when it came.
        A late canary with a delay notice (``delay``) takes the notice's cause: a late arrival
        because our own seed mailbox was full is Watchdog's set-up problem, not a slow provider.
        """
        skew: float | None = None
        skew_words = ""
        if waited_s is not None:
            latency = max(0.0, waited_s)
            arrived = canary.sent_at + latency
            late = latency > canary.deadline_at - canary.sent_at
            if found.arrived_at is not None:
                # INTERNALDATE is the server's clock; seen_at is ours, a moment after arrival.
                skew = found.arrived_at - found.seen_at
                if abs(skew) > CLOCK_SKEW_NOTICE_S:
                    skew_words = " " + _skew_words(skew)
                    log.warning("%s", skew_words.strip())
        else:
            if found.arrived_at is not None:
                arrived = found.arrived_at
                known_skew = self._known_skew()
                if known_skew is not None:
                    arrived -= known_skew  # the server's clock, told in this PC's time
                    skew_words = " " + _skew_words(known_skew) + " Times were corrected for it."
            else:
                arrived = found.seen_at
            latency = max(0.0, arrived - canary.sent_at)
            # Late is judged by the configured deadline too: a learned (shorter) one only says
            # how soon a missing canary is suspected and confirmed; a 4-minute arrival under a
            # 10-minute setting is not news for the practice.
            late = arrived > max(
                canary.deadline_at, canary.sent_at + self.config.schedule.deadline_seconds
            )
        if late:
            outcome, diagnosis = Outcome.LATE, Diagnosis.DELAYED
            detail = (
                f"The canary arrived after {format_duration(latency)}, later than the deadline."
            )
            if delay is not None:
                from watchdog.core.bounces import diagnose_delay

                diagnosis = diagnose_delay(delay, self.provider) or diagnosis
                detail += f" A server had reported: {delay.describe()}."
        elif found.is_junk:
            outcome, diagnosis = Outcome.JUNK, Diagnosis.JUNK_PLACEMENT
            detail = f"The canary arrived after {format_duration(latency)}, but in the junk folder."
        else:
            outcome, diagnosis = Outcome.DELIVERED, Diagnosis.OK
            detail = f"The canary arrived in {found.folder} after {format_duration(latency)}."
        return replace(
            self._result(
                canary,
                outcome,
                diagnosis,
                reply=reply,
                found_at=arrived,
                latency_s=latency,
                folder=found.folder,
                detail=detail + skew_words,
            ),
            clock_skew_s=skew,
        )

    def _known_skew(self) -> float | None:
        """The mail server's clock minus ours, when it was measured recently and matters."""
        try:
            skew = self.history.clock_skew(since=self.clock.now() - _SKEW_MEMORY_S)
        except StorageError:
            return None
        return skew if skew is not None and abs(skew) > CLOCK_SKEW_NOTICE_S else None

    def _bounces(self, tokens: list[str], *, with_delays: bool = False) -> dict[str, Bounce]:
        """Bounces of these canaries in the sender's inbox (none if not configured).

        Failures only, unless ``with_delays``: a "delayed" notice is not a refusal (the canary
        may still arrive), but its cause shapes the diagnosis of a canary that does not.
        A failure wins over a delay notice for the same canary.
        """
        if self.open_sender_inbox is None or not tokens:
            return {}
        try:
            with self.open_sender_inbox() as inbox:
                found = inbox.find_bounces(tokens)
        except (MailboxError, SecretError) as e:
            log.warning("Could not look for bounces in the sender's inbox: %s", e)
            return {}
        kept = {t: b for t, b in found.items() if b.action in (None, "failed")}
        if with_delays:
            for token, bounce in found.items():
                if bounce.action == "delayed":
                    kept.setdefault(token, bounce)
        return kept

    def _notice(self, *, since: float) -> ProviderNotice | None:
        """The provider's latest notice about blocked sending, from the sender's inbox.

        Looked for only once a canary is lost, and from a while before it was sent: a
        provider often mails the notice when it blocks, before our canary is even tried.
        """
        from watchdog.core.notices import latest_notice, notice_domains, read_notice

        domains = notice_domains(self.provider)
        if self.open_sender_inbox is None or not domains:
            return None
        try:
            with self.open_sender_inbox() as inbox:
                found = inbox.find_notices(domains, since=since - NOTICE_LOOKBACK_S)
        except (MailboxError, SecretError) as e:
            log.warning("Could not look for provider notices in the sender's inbox: %s", e)
            return None
        notices = (read_notice(h, self.provider, received_at=at) for h, at in found)
        return latest_notice(n for n in notices if n is not None)

    def _lost(
        self,
        canary: Canary | CheckResult,
        reply: SmtpReply | None,
        detail: str,
        notice: ProviderNotice | None,
        delay: Bounce | None = None,
    ) -> CheckResult:
        """A lost canary: a silent drop, unless a delay notice or the provider says why.

        A delay notice (``Action: delayed``) means a server still holds the canary and says
        why (4.2.2: our seed mailbox is full; 4.7.1: greylisted): that cause, not a silent
        drop, is the diagnosis.
        """
        if delay is not None:
            from watchdog.core.bounces import diagnose_delay

            cause = diagnose_delay(delay, self.provider)
            if cause is not None:
                words = delay.diagnostic_code or delay.status or "no reason given"
                return self._result(
                    canary,
                    Outcome.LOST,
                    cause,
                    reply=reply,
                    detail=f"{detail} A server reported it is still trying to deliver it"
                    + (f" ({delay.remote_mta})" if delay.remote_mta else "")
                    + f": {words}",
                    bounce=delay.describe(),
                )
        if notice is None:
            return self._result(
                canary, Outcome.LOST, Diagnosis.SILENT_DROP, reply=reply, detail=detail
            )
        return self._result(
            canary,
            Outcome.LOST,
            notice.diagnosis,
            reply=reply,
            detail=f"{detail} The provider sent the practice {notice.describe()}.",
        )

    def _bounced(
        self, canary: Canary | CheckResult, bounce: Bounce, reply: SmtpReply | None
    ) -> CheckResult:
        """A bounce beats "lost": it says why, in the provider's own words.

        The submission server's own final reply (``reply``, with the queue ID support needs)
        stays the check's reply; the bounce's status and text are kept beside it, and no SMTP
        code is made up for a bounce that gave none (``X-Postfix; ...``).
        """
        from watchdog.core.bounces import diagnose_bounce

        words = bounce.diagnostic_code or bounce.status or "no reason given"
        return self._result(
            canary,
            Outcome.BOUNCED,
            diagnose_bounce(bounce, self.provider, about_canary=True),
            reply=reply,
            detail=(
                "The server accepted the canary, then a bounce came back to the sender"
                + (f" from {bounce.remote_mta}" if bounce.remote_mta else "")
                + f": {words}"
            ),
            bounce=bounce.describe(),
        )

    def _send_failure(self, canary: Canary, error: SendError) -> CheckResult:
        """Diagnose a failed send; call it offline only with evidence that it is this PC."""
        failure = classifier.network_failure_of(error)
        if error.diagnosis is not None:
            # The probe knew what went wrong (wrong port, STARTTLS missing, a server that
            # trickled or flooded) and said it in plain words.
            return self._result(
                canary, Outcome.SEND_FAILED, error.diagnosis, reply=error.reply, detail=str(error)
            )
        if error.reply is not None:
            diagnosis = classifier.diagnose_canary_reply(error.reply, self.provider)
            detail = f"The outgoing server refused the canary: {error.reply}"
        elif failure is not None:
            diagnosis = classifier.diagnose_network(failure)
            sender = self.config.sender
            words = classifier.network_words(failure, sender.smtp_host, sender.smtp_port)
            detail = f"The canary could not be sent: {words}. ({error})"
            if failure in _MAYBE_OFFLINE:
                seed_failure = self._seed_network_failure()
                both_dns = (
                    failure is classifier.NetworkFailure.DNS
                    and seed_failure is classifier.NetworkFailure.DNS
                )
                verdict = classifier.diagnose_both_unreachable(
                    failure,
                    seed_failure,
                    internet_probe_failed=both_dns or not self.has_route(),
                )
                if verdict is Diagnosis.OFFLINE:
                    return self._result(
                        canary,
                        Outcome.OFFLINE,
                        Diagnosis.OFFLINE,
                        detail=(
                            "This PC cannot reach the internet: neither mail server answered. "
                            "This is not a problem of the mail provider."
                        ),
                    )
        else:
            diagnosis = Diagnosis.UNKNOWN
            detail = str(error)
        return self._result(
            canary, Outcome.SEND_FAILED, diagnosis, reply=error.reply, detail=detail
        )

    def _seed_network_failure(self) -> classifier.NetworkFailure | None:
        """How the seed mailbox fails to connect, if it does (None: it answered)."""
        try:
            with self.open_mailbox():
                return None
        except MailboxError as e:
            return classifier.network_failure_of(e)
        except SecretError:
            return None

    def _mailbox_diagnosis(self, error: MailboxError) -> Diagnosis:
        failure = classifier.network_failure_of(error)
        if failure is not None and classifier.diagnose_network(failure) is Diagnosis.TLS_ERROR:
            return Diagnosis.TLS_ERROR
        return Diagnosis.SEED_UNREACHABLE

    def _result(
        self,
        canary: Canary | CheckResult,
        outcome: Outcome,
        diagnosis: Diagnosis,
        *,
        reply: SmtpReply | None = None,
        found_at: float | None = None,
        latency_s: float | None = None,
        folder: str | None = None,
        detail: str = "",
        bounce: str | None = None,
    ) -> CheckResult:
        return CheckResult(
            bounce=bounce,
            token=canary.token,
            sent_at=canary.sent_at,
            deadline_at=canary.deadline_at,
            outcome=outcome,
            diagnosis=diagnosis,
            found_at=found_at,
            latency_s=latency_s,
            folder=folder,
            smtp_reply=reply,
            detail=detail,
        )

    def _finish(self, canary: Canary, outcome: Outcome, diagnosis: Diagnosis, detail: str) -> None:
        self.history.resolve(
            self._result(canary, outcome, diagnosis, detail=detail), self.clock.now()
        )

    def after_sleep(self, slept_s: float, asleep_from: float) -> int:
        """The PC slept: give canaries in flight the time back, so none is lost for the nap.

        Returns how many deadlines moved. They are looked for again by the next check.
        """
        moved = self.history.extend_deadlines(after=asleep_from, by=slept_s)
        log.info("The PC slept %.0f s; %d pending canaries get that time back", slept_s, moved)
        return moved

    def _conclude(self, result: CheckResult, flips: list[Flip]) -> StatusSnapshot:
        """Record the result and move the status; PENDING changes nothing yet."""
        now = self.clock.now()
        if result.outcome is Outcome.PENDING:
            return self.history.status()
        if not self.history.resolve(result, now):
            return self.history.status()  # already settled elsewhere: never count twice
        snapshot, flip = state.evaluate(self.history.status(), result, self.config.policy, now)
        self.history.save_status(snapshot, flip)
        if flip is not None:
            log.info("Status %s -> %s: %s", flip.from_status, flip.to_status, flip.reason)
            flips.append(flip)
        _call_all(self.listeners, result, snapshot, flip)
        return snapshot

    # -- settling older canaries ------------------------------------------------------------

    def settle(self, flips: list[Flip] | None = None) -> list[CheckResult]:
        """Resolve canaries from earlier cycles: arrived (on time or late), or lost.

        Runs before each new canary and at start-up, so a canary in flight across a restart is
        matched, and a lost one that turns up later is recorded as late, never counted twice.
        """
        flips = flips if flips is not None else []
        now = self.clock.now()
        waiting = self.history.awaiting(since=now - LATE_WINDOW_S)
        # A send younger than STALE_SEND_S may still be under way in another process.
        waiting = [r for r in waiting if r.accepted or now - r.sent_at > STALE_SEND_S]
        stored = self._store_again([r.token for r in waiting], flips)
        waiting = [r for r in waiting if r.token not in {s.token for s in stored}]
        if not waiting:
            return stored
        tokens = [r.token for r in waiting if verify_token(self.key, r.token)]
        settled: list[CheckResult] = []
        try:
            with self.open_mailbox() as mailbox:
                found = mailbox.search(tokens)
                settled = self._settle_found(waiting, found, now, flips)
                # Deleted only once their results are stored: a result that could not be stored
                # raised above, and its canary stays in the seed for the next check to find.
                gone = [found[r.token] for r in settled if r.token in found]
                if gone and self.config.seed.delete_found:
                    mailbox.delete(gone)
        except (MailboxError, SecretError) as e:
            log.warning("Could not look for earlier canaries: %s", e)
            return [*stored, *self._close_unsent(waiting, {r.token for r in settled})]
        return [*stored, *settled]

    def _settle_found(
        self,
        waiting: list[CheckResult],
        found: dict[str, Found],
        now: float,
        flips: list[Flip],
    ) -> list[CheckResult]:
        """Results for earlier canaries: arrived, bounced, lost, or never sent."""
        unsent = [r for r in waiting if not r.accepted and r.token not in found]
        waiting = [r for r in waiting if r.accepted or r.token in found]
        overdue = [r for r in waiting if r.token not in found and now > r.deadline_at]
        # Found ones past their deadline too: a delay notice explains a late arrival.
        late = [r for r in waiting if r.token in found and now > r.deadline_at]
        bounces = self._bounces([r.token for r in (*overdue, *late)], with_delays=True)
        failed = {t for t, b in bounces.items() if b.action != "delayed"}
        unexplained = [
            r for r in overdue if r.token not in failed and r.outcome is not Outcome.LOST
        ]
        notice = self._notice(since=min(r.sent_at for r in unexplained)) if unexplained else None
        settled = self._close_unsent(unsent, set())
        for old in waiting:
            hit = found.get(old.token)
            result: CheckResult | None = None
            if hit is not None:
                delay = bounces.get(old.token)
                delay = delay if delay is not None and delay.action == "delayed" else None
                result = self._arrival(old, hit, reply=old.smtp_reply, delay=delay)
            elif old.token in failed:
                result = self._bounced(old, bounces[old.token], old.smtp_reply)
            elif (
                old.outcome is not Outcome.LOST
                and now > old.deadline_at
                and now > self._excused.get(old.token, now - 1)
            ):
                # An excused canary (a confirmation answers for it) waits out its configured
                # deadline before it is called lost.
                self._excused.pop(old.token, None)
                result = self._lost(
                    old,
                    old.smtp_reply,
                    "The canary did not arrive by its deadline.",
                    notice,
                    bounces.get(old.token),
                )
            if result is not None:
                self._conclude(result, flips)
                settled.append(result)
        return settled

    def _close_unsent(self, rows: list[CheckResult], skip: set[str]) -> list[CheckResult]:
        """Close rows whose send never reached the server's acceptance: not sent, not lost.

        No status change and no alert: a power cut, a logoff or a kill during the send says
        nothing about the provider.
        """
        closed = []
        for row in rows:
            if row.accepted or row.token in skip:
                continue
            result = self._result(
                row,
                Outcome.NOT_SENT,
                Diagnosis.UNKNOWN,
                detail="Watchdog stopped before the outgoing server accepted this canary "
                "(the PC was shut down, or Watchdog was ended while sending): nothing was sent.",
            )
            if self.history.resolve(result, self.clock.now()):
                log.info("Canary %s was never sent; closed without a status change", row.token)
                closed.append(result)
        return closed

    def _store_again(self, tokens: list[str], flips: list[Flip]) -> list[CheckResult]:
        """Store results that could not be stored before; still failing, they wait again."""
        stored = []
        for token in tokens:
            result = self._unstored.pop(token, None)
            if result is None:
                continue
            try:
                self._conclude(result, flips)
            except StorageError:
                self._unstored[token] = result
                raise
            log.info("Stored the earlier result of canary %s: %s", token, result.outcome.value)
            stored.append(result)
        return stored

    def safe_check(
        self, stop: threading.Event, *, after_reminders: bool = False
    ) -> CycleReport | None:
        """One check; any error is logged and the loop goes on."""
        try:
            return self.check(should_stop=stop.is_set, after_reminders=after_reminders)
        except (StorageError, SecretError, WatchdogError) as e:
            log.error("Check failed: %s", e)
        except Exception:
            log.exception("Unexpected error during a check; the loop goes on")
        return None


class _Watch:
    """What happens while one accepted canary is waited for: bounce looks and storing it.

    Kept apart from the seed mailbox loop so that loop stays about the seed: this object knows
    when to look in the sender's inbox next, what it found there, and stores an arrival before
    the seed mailbox deletes it.
    """

    def __init__(
        self,
        runner: Runner,
        canary: Canary,
        reply: SmtpReply,
        started: float,
        flips: list[Flip],
    ) -> None:
        self.runner = runner
        self._flips = flips
        self.canary = canary
        self.reply = reply
        self.started = started  # monotonic, when the send began
        self._interval = _FIRST_BOUNCE_LOOK_S
        self.next_bounce_look = runner.clock.monotonic() + self._interval
        self.bounce: Bounce | None = None  # a failure bounce: the wait ends
        self.delay: Bounce | None = None  # a delay notice: the wait goes on
        self.stored: CheckResult | None = None
        self.snapshot: StatusSnapshot | None = None

    def look_for_bounce(self) -> bool:
        """Look in the sender's inbox once; True when a failure bounce ends the wait."""
        token = self.canary.token
        found = self.runner._bounces([token], with_delays=True).get(token)
        self._interval = min(self._interval * 2, _MAX_BOUNCE_LOOK_S)
        self.next_bounce_look = self.runner.clock.monotonic() + self._interval
        if found is None:
            return False
        if found.action == "delayed":
            self.delay = found
            return False
        self.bounce = found
        return True

    def store(self, found: Found) -> None:
        """Record the arrival (and move the status) before the canary is deleted."""
        runner = self.runner
        waited = runner.clock.monotonic() - self.started
        result = runner._arrival(
            self.canary, found, reply=self.reply, waited_s=waited, delay=self.delay
        )
        runner._note_signin(result)
        self.snapshot = runner._store(result, self._flips)
        self.stored = result


def _skew_words(skew_s: float) -> str:
    """The clock difference with the mail server, in plain words."""
    direction = "behind" if skew_s > 0 else "ahead of"
    return (
        f"This PC's clock is about {format_duration(abs(skew_s))} {direction} the mail "
        "server's; set the PC's date and time to be set automatically."
    )


def _cannot_check_words(error: Exception) -> str:
    """Why Watchdog could not check, for the status line and support."""
    if isinstance(error, SecretError):
        return f"Watchdog cannot check: {error}"
    return (
        "Watchdog cannot check because of an internal error "
        f"({type(error).__name__}: {error}); support should look at the log."
    )

"""Fault matrix, delivery side: temporary refusals, late, duplicate and forged canaries.

Same five checks as every fault test (``docs/reliability.md``); here the servers answer, and the
question is whether the product counts each canary once and only its own canaries.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from tests.faults.rig import FaultRig, status_of
from tests.servers import INBOX, MailServers
from watchdog.core.models import Diagnosis, Outcome, Status

MakeRig = Callable[..., FaultRig]

_TOKEN = re.compile(rb"X-Watchdog-Canary: (\S+)")


def test_a_temporary_refusal_then_success_is_recorded_once_and_recovers(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    servers.smtp.set_mode("tempfail", times=1)
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.RATE_LIMITED,
    )
    assert report.result.smtp_reply is not None and report.result.smtp_reply.code == 451
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    # The provider really did refuse: told once, then told it is over.
    assert [a.kind.value for a in rig.alerts] == ["down", "recovered"]


def test_a_canary_delayed_past_its_deadline_is_late_and_never_counted_lost_twice(
    servers: MailServers, make_rig: MakeRig
) -> None:
    # A policy that forgives one loss, so that counting the same loss twice would show as DOWN.
    rig = make_rig(deadline_minutes=0.025, policy={"down_after_lost": 2})  # 1.5 s
    servers.smtp.set_mode("delay", seconds=2.5)
    first = rig.check()
    assert (first.result.outcome, first.result.diagnosis) == (
        Outcome.LOST,
        Diagnosis.SILENT_DROP,
    )
    # Before it arrives, the next check must not count the same loss again: with
    # down_after_lost = 2 a second count would turn the status DOWN as a silent drop.
    servers.smtp.set_mode("deliver")
    between = rig.check()
    assert between.settled == ()
    assert rig.row(first.result.token).outcome is Outcome.LOST
    deadline = time.monotonic() + 5
    while servers.smtp.pending_deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    assert servers.dovecot.wait_for_count(servers.seed_user, INBOX, 1) == 1
    after = rig.assert_back_up()
    assert [(r.token, r.outcome) for r in after.settled] == [(first.result.token, Outcome.LATE)]
    late = rig.row(first.result.token)
    assert (late.outcome, late.diagnosis) == (Outcome.LATE, Diagnosis.DELAYED)
    assert late.latency_s is not None and late.latency_s > 1.5
    assert all(f.to_status is not Status.DOWN for f in rig.history.flips())
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_a_canary_delivered_twice_counts_once_and_both_copies_are_removed(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    servers.smtp.set_mode("duplicate")
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (Outcome.DELIVERED, Diagnosis.OK)
    # Nothing of the canary stays behind to fill the seed mailbox.
    assert servers.dovecot.count(servers.seed_user, INBOX) == 0
    second = rig.check()  # the second copy is not a new arrival either
    assert second.settled == ()
    assert status_of(rig) is Status.UP
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()
    assert rig.alerts == []


def _forge_copies(servers: MailServers, done: threading.Event) -> None:
    """Put look-alikes of the canary the server swallowed into the seed mailbox.

    One keeps version, time and nonce but has a wrong signature; the other carries the real
    token with one character more (IMAP header search matches substrings).
    """
    [message] = servers.smtp.wait_for_received(1)
    match = _TOKEN.search(message.content)
    assert match is not None
    token = match.group(1)
    wrong_mac = token[:-1] + (b"0" if token[-1:] != b"0" else b"1")
    for fake in (wrong_mac, token + b"0"):
        servers.dovecot.deliver(servers.seed_user, message.content.replace(token, fake))
    done.set()


def test_forged_canaries_with_wrong_signatures_never_count_as_delivered(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig(policy={"down_after_lost": 1})
    servers.smtp.set_mode("blackhole")  # the real canary is swallowed ...
    forged = threading.Event()
    threading.Thread(target=_forge_copies, args=(servers, forged), daemon=True).start()
    report = rig.check()  # ... and only the forgeries arrive
    assert forged.is_set()
    assert servers.dovecot.count(servers.seed_user, INBOX) == 2
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.LOST,
        Diagnosis.SILENT_DROP,
    )
    assert status_of(rig) is Status.DOWN
    servers.smtp.set_mode("deliver")
    after = rig.assert_back_up()
    assert after.settled == ()  # the lost canary is looked for again; the forgeries do not match
    assert rig.row(report.result.token).outcome is Outcome.LOST
    assert servers.dovecot.count(servers.seed_user, INBOX) == 2  # forgeries are left alone
    rig.assert_one_row_per_canary()


def test_a_full_seed_mailbox_is_our_problem_unknown_not_down_and_never_the_providers(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    rig.check()  # UP first, so the change is visible
    servers.smtp.set_mode(
        "reject",
        reply="552 5.2.2 The email account that you tried to reach is over quota",
        stage="rcpt",
    )
    first = rig.check()
    assert (first.result.outcome, first.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SEED_MAILBOX_FULL,
    )
    assert first.status.status is Status.UNKNOWN
    second = rig.check()
    assert second.result.diagnosis is Diagnosis.SEED_MAILBOX_FULL
    assert status_of(rig) is Status.UNKNOWN
    rig.assert_no_provider_blame()
    # Told once, addressed to support, and nothing says reminders stopped.
    assert [a.kind.value for a in rig.alerts] == ["unknown"]
    assert "test mailbox is full" in rig.alerts[0].title
    assert "Reminders are not affected" in rig.alerts[0].message
    servers.smtp.set_mode("deliver")
    rig.assert_back_up()
    rig.assert_one_row_per_canary()

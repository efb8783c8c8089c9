"""Fault matrix, network side: servers down, unresolvable names, bad certificates, stalls, cuts.

Each test runs the product in-process against the real Dovecot and aiosmtpd (through a
:class:`~tests.servers.proxy.FaultProxy` where the fault needs one) and checks the five points of
``docs/reliability.md``: the loop goes on, the diagnosis, one history row per canary, no alert
that blames the provider for a fault of ours or of the network, and UP once the fault is gone.
"""

from __future__ import annotations

import datetime
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.rig import FaultRig, smtp_timeout, status_of
from tests.servers import MailServers, SubmissionServer, make_certificates
from tests.servers.proxy import FaultProxy
from watchdog.core.models import Diagnosis, Outcome, Status

MakeRig = Callable[..., FaultRig]
MakeProxy = Callable[[int], FaultProxy]


def test_an_smtp_server_that_is_down_is_unreachable_not_the_providers_block(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    smtp = make_proxy(servers.smtp_starttls_port)
    rig = make_rig(sender={"smtp_port": smtp.port})
    smtp.down()
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SERVER_UNREACHABLE,
    )
    assert "refused the connection" in report.result.detail
    assert [a.diagnosis for a in rig.alerts] == [Diagnosis.SERVER_UNREACHABLE]
    smtp.up()
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_an_imap_server_that_is_down_leaves_the_status_unknown_and_the_canary_is_matched_later(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    imap = make_proxy(servers.imaps_port)
    rig = make_rig(seed={"imap_port": imap.port})
    imap.down()
    first = rig.check()
    assert (first.result.outcome, first.result.diagnosis) == (
        Outcome.SEED_UNREACHABLE,
        Diagnosis.SEED_UNREACHABLE,
    )
    assert status_of(rig) is Status.UNKNOWN
    imap.up()
    second = rig.assert_back_up()
    # The canary sent while the mailbox was down did arrive: matched now, on time.
    assert [r.token for r in second.settled] == [first.result.token]
    assert rig.row(first.result.token).outcome is Outcome.DELIVERED
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_both_loopback_servers_down_is_server_unreachable_not_offline(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    """Refused connections prove the network works: the PC is not offline (see classifier)."""
    smtp = make_proxy(servers.smtp_starttls_port)
    imap = make_proxy(servers.imaps_port)
    rig = make_rig(sender={"smtp_port": smtp.port}, seed={"imap_port": imap.port})
    smtp.down()
    imap.down()
    report = rig.check()
    assert report.result.outcome is Outcome.SEND_FAILED
    assert report.result.diagnosis is Diagnosis.SERVER_UNREACHABLE
    smtp.up()
    imap.up()
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_a_server_name_that_does_not_resolve_is_a_dns_failure_in_plain_words(
    tmp_path: Path, servers: MailServers, make_rig: MakeRig
) -> None:
    # RFC 6761: ".invalid" never resolves; the resolver answers NXDOMAIN (or nothing, offline).
    broken = make_rig(sender={"smtp_host": "smtp.example.invalid"})
    report = broken.check()
    assert report.result.outcome is Outcome.SEND_FAILED
    assert report.result.diagnosis is Diagnosis.SERVER_UNREACHABLE  # the seed mailbox answered
    assert "could not be found (DNS)" in report.result.detail
    broken.assert_one_row_per_canary()
    broken.assert_no_provider_blame()
    broken.close()
    # The name is corrected in the settings and the product restarted on the same history.
    fixed = make_rig()
    fixed.assert_back_up()
    assert len(fixed.rows()) == 2


@pytest.fixture
def bad_certificate_server(servers: MailServers) -> Iterator[Callable[..., SubmissionServer]]:
    """``start(names=..., not_after=...)``: a second submission server with such a certificate.

    It delivers into the same Dovecot; the product is given its (otherwise valid) CA, so only
    the name or the dates are wrong.
    """
    started: list[tuple[SubmissionServer, Path]] = []

    def start(**certificate: object) -> SubmissionServer:
        folder = Path(tempfile.mkdtemp(prefix="watchdog-badcert-"))
        certificates = make_certificates(folder, **certificate)  # type: ignore[arg-type]
        server = SubmissionServer(
            {servers.sender_user: servers.sender_password}, certificates, servers.lmtp_port
        )
        server.start()
        started.append((server, folder))
        return server

    yield start
    for server, folder in started:
        server.stop()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


_YESTERDAY = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)


@pytest.mark.parametrize(
    "certificate",
    [
        pytest.param({"names": ("mail.other.test",)}, id="wrong-name"),
        pytest.param(
            {"not_before": _YESTERDAY - datetime.timedelta(days=30), "not_after": _YESTERDAY},
            id="expired",
        ),
        pytest.param(None, id="unknown-ca"),
    ],
)
def test_a_certificate_for_the_wrong_name_expired_or_from_an_unknown_ca_is_a_tls_error(
    servers: MailServers,
    make_rig: MakeRig,
    bad_certificate_server: Callable[..., SubmissionServer],
    certificate: dict[str, object] | None,
) -> None:
    if certificate is None:
        # The real server, but the product is not told about the test CA.
        sender: dict[str, object] = {"ca_file": None}
    else:
        bad = bad_certificate_server(**certificate)
        sender = {"smtp_port": bad.starttls_port, "ca_file": bad.certificates.ca_file}
    broken = make_rig(sender=sender)
    report = broken.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.TLS_ERROR,
    )
    assert "security certificate of 127.0.0.1 is not valid" in report.result.detail
    broken.assert_one_row_per_canary()
    broken.assert_no_provider_blame()
    broken.close()
    fixed = make_rig()  # a proper certificate: the product restarted on the same history
    fixed.assert_back_up()


def test_an_smtp_server_that_never_greets_times_out_as_unreachable(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    smtp = make_proxy(servers.smtp_starttls_port)
    rig = make_rig(sender={"smtp_port": smtp.port})
    smtp_timeout(rig, 1.0)
    smtp.stall()
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SERVER_UNREACHABLE,
    )
    assert "did not answer in time" in report.result.detail
    smtp.forward()
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_an_smtp_server_that_stalls_after_data_times_out_as_unreachable(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    smtp_timeout(rig, 1.0)
    servers.smtp.set_mode("stall", seconds=5)
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SERVER_UNREACHABLE,
    )
    assert "did not answer in time" in report.result.detail
    servers.smtp.set_mode("deliver")
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_a_connection_cut_in_the_middle_of_data_is_a_failed_send_and_nothing_arrives(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    # Plain SMTP on loopback, so the proxy can see the message go by and cut inside it.
    smtp = make_proxy(servers.smtp_plain_port)
    rig = make_rig(smtp_security="none", sender={"smtp_port": smtp.port})
    smtp.cut_when_client_sends(b"X-Watchdog-Canary:")
    report = rig.check()
    assert smtp.cuts == 1
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SERVER_UNREACHABLE,
    )
    assert servers.smtp.received == []  # the server never saw the end of the message
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_a_server_that_drops_the_connection_after_data_is_a_failed_send(
    servers: MailServers, make_rig: MakeRig
) -> None:
    rig = make_rig()
    servers.smtp.set_mode("drop")
    report = rig.check()
    assert (report.result.outcome, report.result.diagnosis) == (
        Outcome.SEND_FAILED,
        Diagnosis.SERVER_UNREACHABLE,
    )
    servers.smtp.set_mode("deliver")
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()


def test_an_imap_connection_cut_during_idle_is_reopened_and_the_canary_still_counts(
    servers: MailServers, make_rig: MakeRig, make_proxy: MakeProxy
) -> None:
    # Plain IMAP on loopback, so the proxy sees the IDLE command and cuts right after it.
    imap = make_proxy(servers.imap_port)
    rig = make_rig(imap_security="none", seed={"imap_port": imap.port})
    servers.smtp.set_mode("delay", seconds=1.0)  # the canary comes while we IDLE
    imap.cut_when_client_sends(b" IDLE\r\n")
    report = rig.check()
    assert imap.cuts == 1
    assert (report.result.outcome, report.result.diagnosis) == (Outcome.DELIVERED, Diagnosis.OK)
    assert rig.alerts == []  # a hiccup, not a problem anyone is told about
    servers.smtp.set_mode("deliver")
    rig.assert_back_up()
    rig.assert_one_row_per_canary()
    rig.assert_no_provider_blame()

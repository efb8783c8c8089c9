"""Proof that the real Postfix fixture (tests/servers/postfix.py) says and does what it should.

Only smtplib and imapclient talk to it here, TLS verified against the test CA. Every reply,
bounce and delay notice is compared with tests/fixtures/postfix_replies.tsv, which other tests
(and the classifier's tables) read as the real words of Postfix 3.7 + Dovecot 2.3.
"""

from __future__ import annotations

import csv
import email
import email.policy
import smtplib
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path

import pytest

from tests.servers import HOST, SEED_USER, SENDER_USER
from tests.servers.postfix import (
    FULL_DEFER_USER,
    FULL_USER,
    GHOST_USER,
    GREYLIST_DOMAIN,
    OUTSIDE_ADDRESS,
    QUARANTINE_FOLDER,
    QUARANTINE_USER,
    REJECT_DOMAIN,
    SPAM_FOLDER,
    SPAM_USER,
    UNKNOWN_USER,
    PostfixServers,
    find_postfix,
    process_alive,
    running_postfix,
    start_postfix_servers,
    wait_until,
)

pytestmark = pytest.mark.servers

REPLIES = Path(__file__).resolve().parents[1] / "fixtures" / "postfix_replies.tsv"

#: A bounce comes back within a second on loopback; a delay notice after delay_warning (3 s)
#: plus a retry or two. Generous bounds for a slow CI machine.
BOUNCE_WAIT_S = 30.0


@pytest.fixture(scope="module")
def postfix() -> Iterator[PostfixServers]:
    yield from running_postfix()


@pytest.fixture
def servers(postfix: PostfixServers) -> PostfixServers:
    postfix.reset()
    return postfix


def expected(message_start: str) -> tuple[str, str]:
    """(code, message) of the one row of postfix_replies.tsv whose message starts so."""
    with REPLIES.open(encoding="utf-8", newline="") as table:
        rows = [
            r
            for r in csv.DictReader(table, delimiter="\t")
            if r["message"].startswith(message_start)
        ]
    assert len(rows) == 1, f"{len(rows)} rows start with {message_start!r}"
    return rows[0]["code"], rows[0]["message"]


@dataclass(frozen=True)
class Reply:
    stage: str  # MAIL, RCPT or DATA: the command the reply answers
    code: int
    text: str


def message_to(recipient: str, sender: str = "sender@example.test") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"fixture test {uuid.uuid4().hex}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    message.set_content("A test message from tests/integration/test_postfix_server.py.\n")
    return message.as_bytes(policy=email.policy.SMTP)


def submit(
    servers: PostfixServers,
    recipient: str,
    *,
    user: str | None = SENDER_USER,
    mail_from: str = "sender@example.test",
    port: int | None = None,
) -> Reply:
    """One message by hand (MAIL, RCPT, DATA), so the final reply is kept whole."""
    with smtplib.SMTP(HOST, port or servers.postfix.ports.plain, timeout=15) as client:
        client.ehlo("client.example.test")
        if user is not None:
            client.login(user, servers.users[user])
        code, text = client.mail(mail_from)
        if code != 250:
            return Reply("MAIL", code, text.decode())
        code, text = client.rcpt(recipient)
        if code not in (250, 251):
            return Reply("RCPT", code, text.decode())
        code, text = client.data(message_to(recipient, mail_from))
        return Reply("DATA", code, text.decode())


def queue_id(reply: Reply) -> str:
    """The queue ID from ``250 2.0.0 Ok: queued as 4F2B9210C7A``."""
    assert (reply.stage, reply.code) == ("DATA", 250), reply
    assert reply.text.startswith("2.0.0 Ok: queued as "), reply
    return reply.text.rsplit(" ", 1)[1]


def reports_in(servers: PostfixServers, user: str) -> list[Message]:
    """Delivery status notifications in ``user``'s INBOX, parsed."""
    return [
        email.message_from_bytes(raw, policy=email.policy.compat32)
        for raw in servers.dovecot.messages(user)
        if b"message/delivery-status" in raw
    ]


def report_for(servers: PostfixServers, queue: str) -> Message:
    """The notice about the message with Postfix queue ID ``queue``, waiting for it."""
    found: list[Message] = []

    def arrived() -> bool:
        found[:] = [m for m in reports_in(servers, SENDER_USER) if _queue_id_of(m) == queue]
        return bool(found)

    assert wait_until(arrived, BOUNCE_WAIT_S), f"no notice for {queue}:\n{log_tail(servers)}"
    assert len(found) == 1
    return found[0]


def _queue_id_of(report: Message) -> str | None:
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            per_message = part.get_payload(0)
            assert isinstance(per_message, Message), per_message
            return str(per_message["X-Postfix-Queue-ID"])
    return None


def recipient_fields(report: Message) -> Message:
    """The per-recipient block of a delivery status notification."""
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            assert isinstance(blocks, list) and len(blocks) == 2, blocks
            per_recipient = blocks[1]
            assert isinstance(per_recipient, Message), per_recipient
            return per_recipient
    raise AssertionError("no message/delivery-status part")


def unfold(value: str | None) -> str:
    return " ".join((value or "").split())


def log_tail(servers: PostfixServers) -> str:
    return servers.postfix.log_text()[-3000:]


# -- delivered ------------------------------------------------------------------------------


def test_a_signed_in_submission_is_queued_with_its_id_and_lands_in_the_seed_inbox(
    servers: PostfixServers,
) -> None:
    reply = submit(servers, servers.address(SEED_USER))
    assert len(queue_id(reply)) >= 8
    assert servers.dovecot.wait_for_count(SEED_USER, "INBOX", 1, timeout=10) == 1


def test_starttls_is_required_before_sign_in_and_verifies_against_the_test_ca(
    servers: PostfixServers,
) -> None:
    with smtplib.SMTP(HOST, servers.postfix.ports.starttls, timeout=15) as client:
        client.ehlo("client.example.test")
        assert not client.has_extn("auth"), "AUTH offered before STARTTLS"
        code, text = client.mail("sender@example.test")
        assert (code, text) == (530, b"5.7.0 Must issue a STARTTLS command first")
        client.starttls(context=servers.certificates.client_context())
        client.ehlo("client.example.test")
        client.login(SENDER_USER, servers.users[SENDER_USER])
        assert client.sendmail("sender@example.test", [servers.address(SEED_USER)], b"x") == {}
    assert servers.dovecot.wait_for_count(SEED_USER, "INBOX", 1, timeout=10) == 1


def test_the_implicit_tls_port_greets_inside_verified_tls(servers: PostfixServers) -> None:
    context = servers.certificates.client_context()
    with smtplib.SMTP_SSL(HOST, servers.postfix.ports.ssl, context=context, timeout=15) as client:
        client.ehlo("client.example.test")
        assert client.has_extn("auth")
        client.login(SENDER_USER, servers.users[SENDER_USER])


@pytest.mark.parametrize(
    ("user", "folder"), [(SPAM_USER, SPAM_FOLDER), (QUARANTINE_USER, QUARANTINE_FOLDER)]
)
def test_a_sieve_rule_files_the_message_into_a_folder_that_is_not_special_use_junk(
    servers: PostfixServers, user: str, folder: str
) -> None:
    queue_id(submit(servers, servers.address(user)))
    assert servers.dovecot.wait_for_count(user, folder, 1, timeout=10) == 1
    assert servers.dovecot.count(user, "INBOX") == 0
    with servers.dovecot.imap(user) as client:
        flags = {name: f for f, _d, name in client.list_folders()}
    assert b"\\Junk" not in flags[folder]  # Debian's stock Dovecot marks only "Junk"
    assert b"\\Junk" in flags["Junk"]


def test_the_header_stripping_port_removes_watchdog_headers_and_keeps_the_message_id(
    servers: PostfixServers,
) -> None:
    raw = b"X-Watchdog-Canary: token-1\r\n" + message_to(servers.address(SEED_USER))
    with servers.submission(port=servers.postfix.ports.strip_header) as client:
        assert client.sendmail("sender@example.test", [servers.address(SEED_USER)], raw) == {}
    assert servers.dovecot.wait_for_count(SEED_USER, "INBOX", 1, timeout=10) == 1
    (delivered,) = servers.dovecot.messages(SEED_USER)
    assert b"X-Watchdog-" not in delivered
    message_id = email.message_from_bytes(raw)["Message-ID"]
    assert email.message_from_bytes(delivered)["Message-ID"] == message_id


# -- refused in the SMTP conversation -----------------------------------------------------------


def test_an_unknown_recipient_is_refused_at_rcpt_with_5_1_1(servers: PostfixServers) -> None:
    reply = submit(servers, servers.address(UNKNOWN_USER))
    code, text = expected("5.1.1 <nosuchuser@example.test>: Recipient address rejected")
    assert (reply.stage, str(reply.code), reply.text) == ("RCPT", code, text)


def test_an_unauthenticated_client_gets_relay_access_denied(servers: PostfixServers) -> None:
    reply = submit(servers, OUTSIDE_ADDRESS, user=None, mail_from="frontdesk@clinic.test")
    code, text = expected("5.7.1 <someone@elsewhere.test>: Relay access denied")
    assert (reply.stage, str(reply.code), reply.text) == ("RCPT", code, text)


def test_an_unauthenticated_client_using_a_users_address_is_told_it_is_not_logged_in(
    servers: PostfixServers,
) -> None:
    reply = submit(servers, servers.address(SEED_USER), user=None)
    code, text = expected("5.7.1 <sender@example.test>: Sender address rejected: not logged")
    assert (reply.stage, str(reply.code), reply.text) == ("RCPT", code, text)


def test_a_from_address_of_another_user_is_refused_as_not_owned(servers: PostfixServers) -> None:
    reply = submit(servers, servers.address(SEED_USER), mail_from="seed@example.test")
    code, text = expected("5.7.1 <seed@example.test>: Sender address rejected: not owned")
    assert (reply.stage, str(reply.code), reply.text) == ("RCPT", code, text)


def test_the_rate_limited_port_refuses_a_second_message_within_the_minute(
    servers: PostfixServers,
) -> None:
    port = servers.postfix.ports.rate_limited
    replies = [submit(servers, servers.address(SEED_USER), port=port) for _ in range(2)]
    code, text = expected("4.7.1 Error: too much mail from 127.0.0.1")
    # The first may itself be over the limit if an earlier test used this port this minute.
    assert (replies[-1].stage, str(replies[-1].code), replies[-1].text) == ("MAIL", code, text)
    other_port = submit(servers, servers.address(SEED_USER))
    assert other_port.code == 250, "the limit must hold on its own port only"


def test_a_wrong_password_is_refused_with_535(servers: PostfixServers) -> None:
    code, text = expected("5.7.8 Error: authentication failed")
    with smtplib.SMTP(HOST, servers.postfix.ports.plain, timeout=15) as client:
        client.ehlo("client.example.test")
        answer = client.docmd("AUTH", "PLAIN AHNlbmRlcgB3cm9uZw==")  # \0sender\0wrong
    assert (str(answer[0]), answer[1].decode()) == (code, text)


# -- accepted, then a bounce or a delay notice to the sender's own mailbox ------------------------


@pytest.mark.parametrize(
    ("recipient", "lenient_port", "status", "message_start"),
    [
        (GHOST_USER, False, "5.1.1", "5.1.1 <ghost@example.test> User doesn't exist"),
        (FULL_USER, False, "5.2.2", "5.2.2 <full@example.test> Quota exceeded"),
    ],
)
def test_a_recipient_dovecot_refuses_bounces_to_the_sender_with_lmtps_words(
    servers: PostfixServers, recipient: str, lenient_port: bool, status: str, message_start: str
) -> None:
    port = servers.postfix.ports.accept_unlisted if lenient_port else None
    queue = queue_id(submit(servers, servers.address(recipient), port=port))
    fields = recipient_fields(report_for(servers, queue))
    code, text = expected(message_start)
    assert fields["Action"] == "failed"
    assert fields["Status"] == status
    assert unfold(fields["Diagnostic-Code"]) == f"smtp; {code} {text}"


def test_an_unknown_recipient_on_the_lenient_port_is_accepted_then_bounced_with_5_1_1(
    servers: PostfixServers,
) -> None:
    port = servers.postfix.ports.accept_unlisted
    queue = queue_id(submit(servers, servers.address(UNKNOWN_USER), port=port))
    fields = recipient_fields(report_for(servers, queue))
    assert (fields["Action"], fields["Status"]) == ("failed", "5.1.1")
    assert unfold(fields["Diagnostic-Code"]) == (
        "smtp; 550 5.1.1 <nosuchuser@example.test> User doesn't exist: nosuchuser@example.test"
    )


def test_a_full_mailbox_that_defers_sends_a_4_2_2_delay_notice_and_keeps_the_message(
    servers: PostfixServers,
) -> None:
    queue = queue_id(submit(servers, servers.address(FULL_DEFER_USER)))
    report = report_for(servers, queue)
    assert report["Subject"] == "Delayed Mail (still being retried)"
    fields = recipient_fields(report)
    code, text = expected("4.2.2 <fulldefer@example.test> Quota exceeded")
    assert (fields["Action"], fields["Status"]) == ("delayed", "4.2.2")
    assert unfold(fields["Diagnostic-Code"]) == f"smtp; {code} {text}"
    assert servers.postfix.queue_size() >= 1  # still being retried, not bounced


def test_a_bounce_from_postfix_itself_has_an_x_postfix_diagnostic_and_no_reply_code(
    servers: PostfixServers,
) -> None:
    # Signed in, to a domain outside example.test, on the port that does not check recipients
    # at RCPT: accepted, then the error transport bounces it. Nothing leaves the machine.
    queue = queue_id(submit(servers, OUTSIDE_ADDRESS, port=servers.postfix.ports.accept_unlisted))
    fields = recipient_fields(report_for(servers, queue))
    code, text = expected("no delivery outside example.test")
    assert code == ""
    assert (fields["Action"], fields["Status"]) == ("failed", "5.7.1")
    assert unfold(fields["Diagnostic-Code"]) == f"X-Postfix; {text}"
    assert fields["Remote-MTA"] is None


def test_a_greylisting_remote_mx_makes_postfix_send_a_4_7_1_delay_notice(
    servers: PostfixServers,
) -> None:
    queue = queue_id(submit(servers, f"someone@{GREYLIST_DOMAIN}"))
    report = report_for(servers, queue)
    assert report["Subject"] == "Delayed Mail (still being retried)"
    fields = recipient_fields(report)
    code, text = expected("4.7.1 <someone@greylist.test>: Recipient address rejected: Grey")
    assert (fields["Action"], fields["Status"]) == ("delayed", "4.7.1")
    assert fields["Remote-MTA"] == "dns; 127.0.0.1"
    assert unfold(fields["Diagnostic-Code"]) == f"smtp; {code} {text}"


def test_a_remote_mx_refusal_comes_back_as_a_bounce_with_the_remote_reply(
    servers: PostfixServers,
) -> None:
    queue = queue_id(submit(servers, f"someone@{REJECT_DOMAIN}"))
    fields = recipient_fields(report_for(servers, queue))
    code, text = expected("5.7.1 <someone@reject.test>: Recipient address rejected: Message")
    assert (fields["Action"], fields["Status"]) == ("failed", "5.7.1")
    assert fields["Remote-MTA"] == "dns; 127.0.0.1"
    assert unfold(fields["Diagnostic-Code"]) == f"smtp; {code} {text}"


# -- the fixture itself ---------------------------------------------------------------------------


def test_every_row_of_the_replies_table_names_known_diagnoses() -> None:
    from watchdog.core.models import Diagnosis

    with REPLIES.open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    assert len(rows) >= 12
    for row in rows:
        Diagnosis(row["diagnosis"])
        Diagnosis(row["canary_diagnosis"])
        assert row["provider"] == "postfix"
        assert "Postfix 3.7 test fixture" in row["source"]


def test_a_stopped_instance_leaves_no_master_running_and_no_folder() -> None:
    from tests.servers.postfix import postfix_unavailable_reason

    reason = postfix_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    started = start_postfix_servers()
    master, root = started.postfix.pid, started.postfix.root
    assert master is not None and process_alive(master)
    status = subprocess.run(
        [str(find_postfix()), "-c", str(started.postfix.config_directory), "status"],
        capture_output=True,
        check=False,
    )
    assert status.returncode == 0
    started.stop()
    assert not process_alive(master)
    assert not root.exists()

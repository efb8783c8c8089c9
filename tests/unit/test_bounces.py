"""Reading delivery status notifications (RFC 3464) that come back to the sending account."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from watchdog.core.bounces import (
    Bounce,
    bounce_reply,
    diagnose_bounce,
    diagnose_delay,
    parse_bounce,
    status_meaning,
)
from watchdog.core.models import Diagnosis

CANARY_ID = "<canary-7f3a@smileclinic.com>"
TOKEN = "wd-7f3a9c21"
PATIENT_TEXT = "Dear Ms Patient, your cleaning is on Tuesday at 10:00."


def original(*, canary: bool = True) -> EmailMessage:
    """The message that bounced: a canary, or a real reminder to a patient."""
    msg = EmailMessage()
    msg["From"] = "frontdesk@smileclinic.com"
    msg["To"] = "seed@outlook.com" if canary else "patient@example.net"
    msg["Subject"] = "Delivery check" if canary else "Your appointment"
    msg["Message-ID"] = CANARY_ID if canary else "<reminder-1@smileclinic.com>"
    if canary:
        msg["X-Watchdog-Canary"] = TOKEN
    msg.set_content("Delivery check, please ignore." if canary else PATIENT_TEXT)
    return msg


def fields(**headers: str) -> Message:
    """One block of delivery-status fields; underscores in names become dashes."""
    block = Message()
    for name, value in headers.items():
        block[name.replace("_", "-")] = value
    return block


def dsn(
    *recipients: Message,
    returned: EmailMessage | None = None,
    headers_only: bool = False,
    human: str = "Delivery has failed.",
    report_type: str = "delivery-status",
    reporter: str = "dns; googlemail.com",
) -> bytes:
    """A multipart/report built the way providers build them."""
    report = MIMEMultipart("report", report_type=report_type)
    report["From"] = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>"
    report["To"] = "frontdesk@smileclinic.com"
    report["Subject"] = "Delivery Status Notification (Failure)"
    report.attach(MIMEText(human))
    status = MIMEBase("message", "delivery-status")
    status.set_payload([fields(Reporting_MTA=reporter), *recipients])
    report.attach(status)
    if returned is not None:
        if headers_only:
            headers = "".join(f"{k}: {v}\n" for k, v in returned.items())
            report.attach(MIMEText(headers, "rfc822-headers"))
        else:
            report.attach(MIMEMessage(returned))
    return report.as_bytes()


def gmail_message_blocked() -> bytes:
    """Gmail accepted the canary, then blocked it itself (support.google.com/mail/answer/69585)."""
    return dsn(
        fields(
            Final_Recipient="rfc822; seed@outlook.com",
            Action="failed",
            Status="5.7.1",
            Diagnostic_Code=(
                "smtp; Message rejected. See https://support.google.com/mail/answer/69585 for "
                "more information."
            ),
            Last_Attempt_Date="Tue, 02 Jun 2026 10:00:03 -0700 (PDT)",
        ),
        returned=original(),
        human=(
            "Message blocked\n\nYour message to seed@outlook.com has been blocked. See technical "
            "details below for more information."
        ),
    )


def microsoft_ndr() -> bytes:
    """Exchange Online refused to send: the tenant is blocked; it returns the headers only."""
    return dsn(
        fields(
            Final_Recipient="rfc822;seed@gmail.com",
            Action="failed",
            Status="5.7.708",
            Diagnostic_Code=(
                "smtp;550 5.7.708 Service unavailable. Access denied, traffic not accepted from "
                "this IP. For more information please go to "
                "http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) "
                "[BN8NAM12FT052.eop-nam12.prod.protection.outlook.com]"
            ),
        ),
        returned=original(),
        headers_only=True,
        reporter="dns;BN8PR04MB6289.namprd04.prod.outlook.com",
        human="Your message couldn't be delivered.",
    )


def test_a_gmail_message_blocked_notice_is_read_as_a_rejected_canary() -> None:
    bounce = parse_bounce(gmail_message_blocked())
    assert bounce == Bounce(
        original_message_id=CANARY_ID,
        canary_token=TOKEN,
        status="5.7.1",
        action="failed",
        diagnostic_code=(
            "Message rejected. See https://support.google.com/mail/answer/69585 for more "
            "information."
        ),
        remote_mta=None,
        diagnostic_type="smtp",
    )
    assert diagnose_bounce(bounce, "gmail") is Diagnosis.MESSAGE_REJECTED


def test_a_microsoft_ndr_with_only_the_returned_headers_names_the_canary() -> None:
    bounce = parse_bounce(microsoft_ndr())
    assert bounce is not None
    assert bounce.canary_token == TOKEN
    assert bounce.original_message_id == CANARY_ID
    assert bounce.status == "5.7.708"
    assert bounce.diagnostic_code is not None
    assert bounce.diagnostic_code.startswith("550 5.7.708 Service unavailable.")
    assert diagnose_bounce(bounce, "microsoft365") is Diagnosis.SENDER_BLOCKED


def test_a_remote_reply_folded_over_several_lines_is_read_as_one_reply() -> None:
    folded = (
        "smtp; 550-5.7.1 [203.0.113.7      12] Our system has detected that this\n"
        "    550-5.7.1 message is likely unsolicited mail. To reduce the amount of spam\n"
        "    550-5.7.1 sent to Gmail, this message has been blocked. q16si3475662wrs.311 - gsmtp"
    )
    raw = dsn(
        fields(
            Final_Recipient="rfc822; seed@gmail.com",
            Action="failed",
            Status="5.7.1",
            Remote_MTA="dns; gmail-smtp-in.l.google.com",
            Diagnostic_Code=folded,
        ),
        returned=original(),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.remote_mta == "gmail-smtp-in.l.google.com"
    assert bounce.diagnostic_code is not None
    assert "\n" not in bounce.diagnostic_code
    assert bounce.diagnostic_code.startswith("550-5.7.1 [203.0.113.7 12] Our system")
    assert diagnose_bounce(bounce, "gmail") is Diagnosis.MESSAGE_REJECTED


def test_nothing_of_the_returned_message_is_kept_but_its_id_and_canary_header() -> None:
    raw = dsn(
        fields(Action="failed", Status="5.7.1", Diagnostic_Code="smtp; 550 5.7.1 spam"),
        returned=original(canary=False),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.canary_token is None
    assert bounce.original_message_id == "<reminder-1@smileclinic.com>"
    kept = repr(bounce)
    assert "Tuesday" not in kept
    assert "Your appointment" not in kept


def test_a_bounce_of_a_real_reminder_keeps_no_patient_address() -> None:
    raw = dsn(
        fields(
            Final_Recipient="rfc822; patient@example.net",
            Action="failed",
            Status="5.1.1",
            Diagnostic_Code="smtp; 550 5.1.1 <patient@example.net>: Recipient address rejected",
        ),
        returned=original(canary=False),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.diagnostic_code == "550 5.1.1 <<address>>: Recipient address rejected"
    assert "patient@" not in repr(bounce)


def test_a_canary_bounce_keeps_the_seed_address_for_support() -> None:
    raw = dsn(
        fields(
            Action="failed",
            Status="5.1.1",
            Diagnostic_Code="smtp; 550 5.1.1 <seed@outlook.com>: Recipient address rejected",
        ),
        returned=original(),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.diagnostic_code == "550 5.1.1 <seed@outlook.com>: Recipient address rejected"


def test_a_delay_notice_means_the_canary_may_still_arrive() -> None:
    raw = dsn(
        fields(
            Final_Recipient="rfc822; seed@yahoo.com",
            Action="Delayed",
            Status="4.7.0",
            Diagnostic_Code=(
                "smtp; 421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to "
                "unexpected volume or user complaints - 4.16.55.1"
            ),
        ),
        returned=original(),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.action == "delayed"
    assert diagnose_bounce(bounce, "gmail") is Diagnosis.DELAYED


def test_the_failed_recipient_is_reported_when_others_were_delivered() -> None:
    raw = dsn(
        fields(Final_Recipient="rfc822; a@example.org", Action="delivered", Status="2.0.0"),
        fields(
            Final_Recipient="rfc822; seed@gmail.com",
            Action="failed",
            Status="5.4.5",
            Diagnostic_Code="smtp; 550 5.4.5 Daily user sending quota exceeded.",
        ),
        returned=original(),
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert (bounce.action, bounce.status) == ("failed", "5.4.5")
    assert diagnose_bounce(bounce, "gmail") is Diagnosis.SENDING_LIMIT


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        (
            "5.7.1",
            "smtp; 554 5.7.1 [CS01] Message rejected due to local policy",
            "message_rejected",
        ),
        ("5.1.8", None, "sender_blocked"),  # no words: the status stands in
        ("5.7.1 (delivery not authorized)", None, "unknown"),  # 5.7.1 alone does not say why
        (
            "5.0.0",
            "X-Postfix; host mx.example.net said: 550 5.7.1 rejected as spam",
            "message_rejected",
        ),
        (None, "smtp; 535 5.7.8 Authentication credentials invalid", "auth_rejected"),
        (None, None, "unknown"),
    ],
    ids=["words", "status-only", "status-with-comment", "postfix-said", "no-status", "nothing"],
)
def test_a_failure_is_read_from_the_remote_reply_and_its_status(
    status: str | None, diagnostic: str | None, expected: str
) -> None:
    headers = {"Action": "failed"}
    if status is not None:
        headers["Status"] = status
    if diagnostic is not None:
        headers["Diagnostic_Code"] = diagnostic
    bounce = parse_bounce(dsn(fields(**headers), returned=original()))
    assert bounce is not None
    assert diagnose_bounce(bounce, "other") is Diagnosis(expected)


def test_a_status_comment_is_dropped() -> None:
    raw = dsn(fields(Action="failed", Status="5.7.1 (delivery not authorized)"))
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.status == "5.7.1"
    assert bounce.canary_token is None
    assert bounce.original_message_id is None


def test_an_ordinary_message_is_not_a_bounce() -> None:
    assert parse_bounce(original().as_bytes()) is None


def test_a_read_receipt_is_not_a_bounce() -> None:
    raw = dsn(fields(Action="failed"), report_type="disposition-notification")
    assert parse_bounce(raw) is None


def test_a_report_without_delivery_status_fields_is_not_a_bounce() -> None:
    report = MIMEMultipart("report", report_type="delivery-status")
    report.attach(MIMEText("Delivery has failed."))
    assert parse_bounce(report.as_bytes()) is None


def test_garbage_is_not_a_bounce() -> None:
    assert parse_bounce(b"\x00\xff not mail at all") is None
    assert parse_bounce(b"") is None


def test_a_bounce_of_a_canary_from_a_full_mailbox_is_the_seeds_problem() -> None:
    about_canary = Bounce(
        original_message_id="<c@x>",
        canary_token="abc",
        status="5.2.2",
        action="failed",
        diagnostic_code="552 5.2.2 The email account that you tried to reach is over quota.",
        remote_mta="mx.google.com",
    )
    assert diagnose_bounce(about_canary, "gmail") is Diagnosis.SEED_MAILBOX_FULL
    about_a_patient = Bounce(**{**about_canary.__dict__, "canary_token": None})
    assert diagnose_bounce(about_a_patient, "gmail") is Diagnosis.RECIPIENT_MAILBOX_FULL


# --- real MTAs' notices: Postfix's bounces and delay notices, the seed's own problems -----------


def postfix_notice(
    *, action: str, status: str, diagnostic: str, remote: str | None = "dns; 127.0.0.1"
) -> Bounce:
    """A Postfix 3.7 notice about a canary (failed or delayed), read back."""
    recipient = {
        "Final_Recipient": "rfc822; seed@example.test",
        "Original_Recipient": "rfc822;seed@example.test",
        "Action": action,
        "Status": status,
        "Diagnostic_Code": diagnostic,
    }
    if remote is not None:
        recipient["Remote_MTA"] = remote
    raw = dsn(
        fields(**recipient),
        returned=original(),
        headers_only=True,
        reporter="dns; mail.smileclinic.test",
        human="This is the mail system at host mail.smileclinic.test.",
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    return bounce


def test_a_canary_bounced_because_the_seed_address_is_unknown_is_a_setup_problem() -> None:
    bounce = postfix_notice(
        action="failed",
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <seed@example.test> User doesn't exist: seed@example.test",
    )
    assert diagnose_bounce(bounce, "other") is Diagnosis.SEED_ADDRESS_UNKNOWN


def test_a_postfix_bounce_without_a_reply_code_is_read_by_its_status_and_words() -> None:
    bounce = postfix_notice(
        action="failed",
        status="5.1.1",
        diagnostic=(
            "X-Postfix; host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <seed@example.test>: "
            "Recipient address rejected: User unknown in virtual mailbox table"
        ),
    )
    assert bounce.diagnostic_type == "x-postfix"
    assert diagnose_bounce(bounce, "other") is Diagnosis.SEED_ADDRESS_UNKNOWN


def test_a_bounce_matched_to_a_canary_by_message_id_gets_the_canary_view() -> None:
    """A relay may strip our header; the caller that matched the Message-ID says so."""
    stripped = Bounce(
        original_message_id=CANARY_ID,
        canary_token=None,
        status="5.1.1",
        action="failed",
        diagnostic_code="550 5.1.1 <<address>>: Recipient address rejected: User unknown",
        remote_mta=None,
        diagnostic_type="smtp",
    )
    assert diagnose_bounce(stripped, "other") is Diagnosis.RECIPIENT_UNKNOWN
    assert diagnose_bounce(stripped, "other", about_canary=True) is (Diagnosis.SEED_ADDRESS_UNKNOWN)


def test_a_full_seed_mailbox_bounce_is_the_seeds_problem_and_a_patients_is_theirs() -> None:
    bounce = postfix_notice(
        action="failed",
        status="5.2.2",
        diagnostic="smtp; 552 5.2.2 <seed@example.test> Quota exceeded (mailbox for user is full)",
    )
    assert diagnose_bounce(bounce, "other") is Diagnosis.SEED_MAILBOX_FULL
    assert diagnose_bounce(bounce, "other", about_canary=False) is (
        Diagnosis.RECIPIENT_MAILBOX_FULL
    )


# --- the remote server's reply, kept apart from the submission server's --------------------------


def test_a_quoted_smtp_reply_is_returned_with_its_code_status_and_lines() -> None:
    bounce = postfix_notice(
        action="failed",
        status="5.7.1",
        diagnostic=(
            "smtp; 550-5.7.1 [203.0.113.7 12] Our system has detected that this\n"
            "    550-5.7.1 message is likely unsolicited mail. q16si3475662wrs.311 - gsmtp"
        ),
    )
    reply = bounce_reply(bounce)
    assert reply is not None
    assert (reply.code, reply.enhanced) == (550, "5.7.1")
    assert reply.text == (
        "5.7.1 [203.0.113.7 12] Our system has detected that this\n"
        "5.7.1 message is likely unsolicited mail. q16si3475662wrs.311 - gsmtp"
    )


@pytest.mark.parametrize(
    ("status", "diagnostic"),
    [
        ("5.0.0", "X-Postfix; host mx.example.net said: 550 5.7.1 rejected as spam"),
        ("5.0.0", "X-Postfix; mail for example.test loops back to myself"),
        ("5.7.1", "smtp; Message rejected. See https://support.google.com/mail/answer/69585"),
        ("5.4.7", None),
    ],
    ids=["postfix-said", "postfix-own-words", "smtp-without-code", "status-only"],
)
def test_a_bounce_without_a_real_reply_code_gets_no_invented_one(
    status: str, diagnostic: str | None
) -> None:
    headers = {"Action": "failed", "Status": status}
    if diagnostic is not None:
        headers["Diagnostic_Code"] = diagnostic
    bounce = parse_bounce(dsn(fields(**headers), returned=original()))
    assert bounce is not None
    assert bounce_reply(bounce) is None
    assert f"status {status}" in bounce.describe()


def test_the_description_names_the_status_its_meaning_the_reporter_and_the_words() -> None:
    bounce = postfix_notice(
        action="failed",
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <seed@example.test> User doesn't exist: seed@example.test",
    )
    assert bounce.describe() == (
        "delivery failed, status 5.1.1 (bad destination mailbox address), reported by "
        "127.0.0.1: 550 5.1.1 <seed@example.test> User doesn't exist: seed@example.test"
    )
    bare = Bounce(None, None, None, None, None, None)
    assert bare.describe() == "delivery notice: no reason given"


@pytest.mark.parametrize(
    ("status", "meaning"),
    [
        ("5.1.1", "bad destination mailbox address"),
        ("4.2.2", "mailbox full"),
        ("4.4.1", "no answer from host"),
        ("5.7.1", "delivery not authorized, message refused"),
        ("5.7.139", "security or policy"),
        ("4.9.9", None),
        ("5.7", None),
        ("not a status", None),
    ],
)
def test_a_status_is_named_in_rfc_3463_words(status: str, meaning: str | None) -> None:
    assert status_meaning(status) == meaning


# --- delay notices: the late or lost canary's cause ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        (
            "4.2.2",
            "smtp; 452 4.2.2 <seed@example.test> Quota exceeded (mailbox for\n    user is full)",
            Diagnosis.SEED_MAILBOX_FULL,
        ),
        (
            "4.2.2",
            "smtp; 452-4.2.2 The email account that you tried to reach is over quota. Please\n"
            "    452-4.2.2 direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
            Diagnosis.SEED_MAILBOX_FULL,
        ),
        (
            "4.1.1",
            "smtp; 450 4.1.1 <seed@example.test>: Recipient address rejected: unverified address: "
            "host mx.example.test[192.0.2.1] said: 550 5.1.1 User unknown",
            Diagnosis.SEED_ADDRESS_UNKNOWN,
        ),
        (
            "4.2.0",
            "smtp; 450 4.2.0 <seed@example.test>: Recipient address rejected: Greylisted, see "
            "http://postgrey.schweikert.ch/help/example.test.html",
            Diagnosis.DELAYED,
        ),
        (
            "4.7.1",
            "smtp; 451 4.7.1 Please try again later",
            Diagnosis.DELAYED,
        ),
        (
            "4.7.0",
            "smtp; 421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to "
            "unexpected volume or user complaints - 4.16.55.1",
            Diagnosis.RATE_LIMITED,
        ),
        (
            "4.7.1",
            "smtp; 450 4.7.1 Error: too much mail from 203.0.113.7",
            Diagnosis.RATE_LIMITED,
        ),
        (
            "4.4.1",
            "X-Postfix; connect to mx.example.test[192.0.2.1]:25: Connection timed out",
            Diagnosis.DELAYED,
        ),
        ("4.4.2", "X-Postfix; lost connection with mx.example.test[192.0.2.1]", Diagnosis.DELAYED),
        ("4.4.1", None, Diagnosis.DELAYED),
        ("4.0.0", "smtp; 451 Something odd happened", None),
        ("4.3.0", None, None),
    ],
    ids=[
        "dovecot-quota",
        "gmail-over-quota",
        "seed-unverified-unknown",
        "postgrey",
        "try-again-later",
        "yahoo-tss04",
        "postfix-anvil",
        "connect-timed-out",
        "lost-connection",
        "no-answer-status-only",
        "unknown-words",
        "unknown-status",
    ],
)
def test_a_delay_notice_names_the_cause_of_a_late_or_lost_canary(
    status: str, diagnostic: str | None, expected: Diagnosis | None
) -> None:
    headers = {"Action": "delayed", "Status": status}
    if diagnostic is not None:
        headers["Diagnostic_Code"] = diagnostic
    bounce = parse_bounce(dsn(fields(**headers), returned=original()))
    assert bounce is not None
    assert diagnose_delay(bounce, "other") is expected


def test_only_a_delay_notice_is_read_as_a_delay() -> None:
    bounce = postfix_notice(
        action="failed",
        status="4.4.1",
        diagnostic="X-Postfix; connect to mx.example.test[192.0.2.1]:25: Connection timed out",
    )
    assert diagnose_delay(bounce, "other") is None
    delayed = postfix_notice(
        action="delayed",
        status="4.4.1",
        diagnostic="X-Postfix; connect to mx.example.test[192.0.2.1]:25: Connection timed out",
    )
    assert delayed.describe().startswith("delivery delayed, still being tried, status 4.4.1 (no")

"""Real Postfix 3.7.11 notices about canaries, read as Watchdog reads them (issue 11: 6, 10, 12).

Each notice below was produced by Debian 12's Postfix 3.7.11 on loopback, delivering through LMTP
into Dovecot 2.3.19 with its quota plugin, and copied verbatim from the sender's mailbox:
a seed address Dovecot does not know (bounced 5.1.1), a full seed mailbox (bounced 5.2.2), a full
seed mailbox on a server that only defers (quota_full_tempfail = yes: a "Delayed Mail" notice with
4.2.2), and a receiving server that does not answer (connection refused: a delay notice with
4.4.1 and Postfix's own words). Addresses and host names are the test's own.
"""

from __future__ import annotations

import pytest

from watchdog.core.bounces import (
    Bounce,
    bounce_reply,
    diagnose_bounce,
    diagnose_delay,
    parse_bounce,
)
from watchdog.core.models import Diagnosis

UNKNOWN_SEED_BOUNCE = b"""\
Return-Path: <>
Delivered-To: frontdesk@example.test
Received: from mail.smileclinic.test ([127.0.0.1])
	by vm with LMTP
	id 8aT0Ol7QFGvLIwAAg+zDdQ
	(envelope-from <>)
	for <frontdesk@example.test>; Sun, 06 Dec 2026 03:02:55 +0000
Received: by mail.smileclinic.test (Postfix)
	id E865C23E3E6; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@smileclinic.test>
Subject: Undelivered Mail Returned to Sender
To: frontdesk@example.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="C731923E22E.1796526174/mail.smileclinic.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20261206030254.E865C23E3E6@mail.smileclinic.test>

This is a MIME-encapsulated message.

--C731923E22E.1796526174/mail.smileclinic.test
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.smileclinic.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nosuchuser@example.test>: host 127.0.0.1[127.0.0.1] said: 550 5.1.1
    <nosuchuser@example.test> User doesn't exist: nosuchuser@example.test (in
    reply to RCPT TO command)

--C731923E22E.1796526174/mail.smileclinic.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.smileclinic.test
X-Postfix-Queue-ID: C731923E22E
X-Postfix-Sender: rfc822; frontdesk@example.test
Arrival-Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Final-Recipient: rfc822; nosuchuser@example.test
Original-Recipient: rfc822;nosuchuser@example.test
Action: failed
Status: 5.1.1
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: smtp; 550 5.1.1 <nosuchuser@example.test> User doesn't exist:
    nosuchuser@example.test

--C731923E22E.1796526174/mail.smileclinic.test
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <frontdesk@example.test>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	by mail.smileclinic.test (Postfix) with ESMTP id C731923E22E
	for <nosuchuser@example.test>; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: frontdesk@example.test
To: nosuchuser@example.test
Subject: Delivery check
Message-ID: <canary-0@smileclinic.test>
X-Watchdog-Canary: wd-token-0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit
MIME-Version: 1.0
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.

--C731923E22E.1796526174/mail.smileclinic.test--
"""

FULL_SEED_BOUNCE = b"""\
Return-Path: <>
Delivered-To: frontdesk@example.test
Received: from mail.smileclinic.test ([127.0.0.1])
	by vm with LMTP
	id IQfQAV/QFGvYIwAAg+zDdQ
	(envelope-from <>)
	for <frontdesk@example.test>; Sun, 06 Dec 2026 03:02:55 +0000
Received: by mail.smileclinic.test (Postfix)
	id 003D523E3EE; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@smileclinic.test>
Subject: Undelivered Mail Returned to Sender
To: frontdesk@example.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="CBA4A23E23F.1796526174/mail.smileclinic.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20261206030255.003D523E3EE@mail.smileclinic.test>

This is a MIME-encapsulated message.

--CBA4A23E23F.1796526174/mail.smileclinic.test
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.smileclinic.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<fullseed@example.test>: host 127.0.0.1[127.0.0.1] said: 552 5.2.2
    <fullseed@example.test> Quota exceeded (mailbox for user is full) (in reply
    to end of DATA command)

--CBA4A23E23F.1796526174/mail.smileclinic.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.smileclinic.test
X-Postfix-Queue-ID: CBA4A23E23F
X-Postfix-Sender: rfc822; frontdesk@example.test
Arrival-Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Final-Recipient: rfc822; fullseed@example.test
Original-Recipient: rfc822;fullseed@example.test
Action: failed
Status: 5.2.2
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: smtp; 552 5.2.2 <fullseed@example.test> Quota exceeded
    (mailbox for user is full)

--CBA4A23E23F.1796526174/mail.smileclinic.test
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <frontdesk@example.test>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	by mail.smileclinic.test (Postfix) with ESMTP id CBA4A23E23F
	for <fullseed@example.test>; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: frontdesk@example.test
To: fullseed@example.test
Subject: Delivery check
Message-ID: <canary-1@smileclinic.test>
X-Watchdog-Canary: wd-token-1
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit
MIME-Version: 1.0
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.
Delivery check, please ignore.

--CBA4A23E23F.1796526174/mail.smileclinic.test--
"""

FULL_SEED_DELAY = b"""\
Return-Path: <>
Delivered-To: frontdesk@example.test
Received: from mail.smileclinic.test ([127.0.0.1])
	by vm with LMTP
	id QAUuAF/QFGvBIwAAg+zDdQ
	(envelope-from <>)
	for <frontdesk@example.test>; Sun, 06 Dec 2026 03:02:55 +0000
Received: by mail.smileclinic.test (Postfix)
	id F307323E3EC; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@smileclinic.test>
Subject: Delayed Mail (still being retried)
To: frontdesk@example.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="D06BD23E242.1796526174/mail.smileclinic.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20261206030254.F307323E3EC@mail.smileclinic.test>

This is a MIME-encapsulated message.

--D06BD23E242.1796526174/mail.smileclinic.test
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.smileclinic.test.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 0 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<fullseedtemp@example.test>: host 127.0.0.1[127.0.0.1] said: 452 4.2.2
    <fullseedtemp@example.test> Quota exceeded (mailbox for user is full) (in
    reply to end of DATA command)

--D06BD23E242.1796526174/mail.smileclinic.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.smileclinic.test
X-Postfix-Queue-ID: D06BD23E242
X-Postfix-Sender: rfc822; frontdesk@example.test
Arrival-Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Final-Recipient: rfc822; fullseedtemp@example.test
Original-Recipient: rfc822;fullseedtemp@example.test
Action: delayed
Status: 4.2.2
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: smtp; 452 4.2.2 <fullseedtemp@example.test> Quota exceeded
    (mailbox for user is full)
Will-Retry-Until: Fri, 11 Dec 2026 03:02:54 +0000 (UTC)

--D06BD23E242.1796526174/mail.smileclinic.test
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <frontdesk@example.test>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	by mail.smileclinic.test (Postfix) with ESMTP id D06BD23E242
	for <fullseedtemp@example.test>; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: frontdesk@example.test
To: fullseedtemp@example.test
Subject: Delivery check
Message-ID: <canary-2@smileclinic.test>
X-Watchdog-Canary: wd-token-2
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit
MIME-Version: 1.0
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

--D06BD23E242.1796526174/mail.smileclinic.test--
"""

NO_ANSWER_DELAY = b"""\
Return-Path: <>
Delivered-To: frontdesk@example.test
Received: from mail.smileclinic.test ([127.0.0.1])
	by vm with LMTP
	id IKwaAF/QFGu8IwAAg+zDdQ
	(envelope-from <>)
	for <frontdesk@example.test>; Sun, 06 Dec 2026 03:02:55 +0000
Received: by mail.smileclinic.test (Postfix)
	id EC36323E22E; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: Mail Delivery System <MAILER-DAEMON@smileclinic.test>
Subject: Delayed Mail (still being retried)
To: frontdesk@example.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="D4D2823E243.1796526174/mail.smileclinic.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20261206030254.EC36323E22E@mail.smileclinic.test>

This is a MIME-encapsulated message.

--D4D2823E243.1796526174/mail.smileclinic.test
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.smileclinic.test.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 0 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<seed@slow.test>: connect to 127.0.0.1[127.0.0.1]:24299: Connection refused

--D4D2823E243.1796526174/mail.smileclinic.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.smileclinic.test
X-Postfix-Queue-ID: D4D2823E243
X-Postfix-Sender: rfc822; frontdesk@example.test
Arrival-Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

Final-Recipient: rfc822; seed@slow.test
Original-Recipient: rfc822;seed@slow.test
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to 127.0.0.1[127.0.0.1]:24299: Connection
    refused
Will-Retry-Until: Fri, 11 Dec 2026 03:02:54 +0000 (UTC)

--D4D2823E243.1796526174/mail.smileclinic.test
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <frontdesk@example.test>
Received: from [127.0.0.1] (localhost [127.0.0.1])
	by mail.smileclinic.test (Postfix) with ESMTP id D4D2823E243
	for <seed@slow.test>; Sun,  6 Dec 2026 03:02:54 +0000 (UTC)
From: frontdesk@example.test
To: seed@slow.test
Subject: Delivery check
Message-ID: <canary-3@smileclinic.test>
X-Watchdog-Canary: wd-token-3
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit
MIME-Version: 1.0
Date: Sun,  6 Dec 2026 03:02:54 +0000 (UTC)

--D4D2823E243.1796526174/mail.smileclinic.test--
"""


def read(raw: bytes) -> Bounce:
    bounce = parse_bounce(raw.replace(b"\n", b"\r\n"))  # as IMAP hands it over
    assert bounce is not None
    return bounce


def test_a_real_bounce_for_an_unknown_seed_address_is_a_setup_problem() -> None:
    bounce = read(UNKNOWN_SEED_BOUNCE)
    assert (bounce.action, bounce.status, bounce.canary_token) == ("failed", "5.1.1", "wd-token-0")
    assert bounce.diagnostic_type == "smtp"
    assert diagnose_bounce(bounce, "other") is Diagnosis.SEED_ADDRESS_UNKNOWN
    reply = bounce_reply(bounce)
    assert reply is not None
    assert (reply.code, reply.enhanced) == (550, "5.1.1")
    assert "User doesn't exist" in reply.text
    assert bounce.describe().startswith(
        "delivery failed, status 5.1.1 (bad destination mailbox address), reported by 127.0.0.1: "
        "550 5.1.1 <nosuchuser@example.test> User doesn't exist"
    )


def test_a_real_bounce_from_a_full_seed_mailbox_is_the_seeds_problem() -> None:
    bounce = read(FULL_SEED_BOUNCE)
    assert (bounce.action, bounce.status) == ("failed", "5.2.2")
    assert diagnose_bounce(bounce, "other") is Diagnosis.SEED_MAILBOX_FULL
    reply = bounce_reply(bounce)
    assert reply is not None and (reply.code, reply.enhanced) == (552, "5.2.2")
    assert diagnose_delay(bounce, "other") is None  # a failure, not a delay


@pytest.mark.parametrize(
    ("raw", "status", "expected", "quoted_code"),
    [
        (FULL_SEED_DELAY, "4.2.2", Diagnosis.SEED_MAILBOX_FULL, 452),
        (NO_ANSWER_DELAY, "4.4.1", Diagnosis.DELAYED, None),
    ],
    ids=["full-seed-only-defers", "receiving-server-does-not-answer"],
)
def test_a_real_delay_notice_names_the_cause_of_the_late_canary(
    raw: bytes, status: str, expected: Diagnosis, quoted_code: int | None
) -> None:
    bounce = read(raw)
    assert (bounce.action, bounce.status) == ("delayed", status)
    assert bounce.canary_token is not None  # Postfix returns the headers: our token is there
    assert diagnose_delay(bounce, "other") is expected
    reply = bounce_reply(bounce)
    assert (reply.code if reply else None) == quoted_code  # X-Postfix words: no code invented
    assert bounce.describe().startswith(f"delivery delayed, still being tried, status {status}")

"""The practice's submission server: the product's fault-injecting SMTP server, over Dovecot.

The server itself is :class:`watchdog.demo.fault_smtp.FaultSmtpServer`, the one ``watchdog demo``
runs too; see its ``set_mode`` for the faults. Here it gets the test CA's certificate (so all
three listeners start: STARTTLS like 587, implicit TLS like 465, plain for
``security = "none"``), the test users for AUTH, and a mailbox that delivers into Dovecot over
LMTP, so the product's mailbox side sees exactly what a real relay would have delivered.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping

from watchdog.demo.fault_smtp import (
    TEMPFAIL_REPLY,
    FaultSmtpServer,
    ReceivedMessage,
    Submission,
    delivery_status_notification,
    format_reply,
)

from .tls import TestCertificates

# Re-exported for the tests that import them from here (``tests.servers`` too).
__all__ = [
    "TEMPFAIL_REPLY",
    "LmtpMailbox",
    "ReceivedMessage",
    "SubmissionServer",
    "delivery_status_notification",
    "format_reply",
]


class LmtpMailbox:
    """Delivers over LMTP to Dovecot, where each recipient's local part names the user.

    Needs no mailbox passwords. A folder becomes a ``+Folder`` detail, which Dovecot's LMTP
    files into that folder (how ``junk`` mode reaches the Junk folder).
    """

    def __init__(self, lmtp_port: int) -> None:
        self.lmtp_port = lmtp_port

    def deliver(self, submission: Submission, folder: str | None) -> None:
        """Deliver to every recipient, or raise naming them and the LMTP error."""
        detail = f"+{folder}" if folder else ""
        recipients = [rcpt.partition("@")[0] + detail for rcpt in submission.rcpt_tos]
        try:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=10) as lmtp:
                refused = lmtp.sendmail(submission.mail_from, recipients, submission.content)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
        except (OSError, smtplib.SMTPException) as e:
            raise RuntimeError(f"LMTP delivery to {recipients} failed: {e!r}") from e


class SubmissionServer(FaultSmtpServer):
    """The fault-injecting server with TLS and AUTH PLAIN/LOGIN against ``users``, into Dovecot.

    ``users`` maps SMTP login names to passwords; with ``oauth_introspect``, AUTH XOAUTH2 too.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        certificates: TestCertificates,
        lmtp_port: int,
        *,
        hostname: str = "127.0.0.1",
        oauth_introspect: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(
            LmtpMailbox(lmtp_port),
            users=users,
            tls_context=certificates.server_context(),
            oauth_introspect=oauth_introspect,
            hostname=hostname,
        )
        self.certificates = certificates
        self.lmtp_port = lmtp_port

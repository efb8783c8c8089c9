"""Build the canary message and hand it to the practice's outgoing server with smtplib.

I/O only: what the server said is kept whole in ``SendError`` for the classifier to read.
``_connect()`` is the one network seam.
"""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import socket
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from .config import SenderConfig
from .credentials import SignIn
from .errors import SendError
from .models import Security, SmtpReply
from .tls import client_context

CANARY_HEADER = "X-Watchdog-Canary"

#: CRLF line ends; headers folded only past 200 characters (RFC 5322 allows 998), because the
#: standard 78 splits the subject's encoded dash into an odd empty encoded word.
_WIRE_POLICY = email.policy.SMTP.clone(max_line_length=200)

# Lines under 78 characters and ASCII only, so the body travels as plain 7bit text.
_BODY = """\
This is an automated delivery check sent by Delivery Watchdog
on behalf of {sender}.

It proves that e-mail from this account still reaches its destination.
It contains no patient information and needs no action.
If you received it by mistake, you can delete it.
"""


def build_canary(
    sender_address: str, seed_address: str, token: str, sent_at: float
) -> EmailMessage:
    """The canary: one recipient, a plain subject and body, and the token in its own header."""
    msg = EmailMessage()
    msg["From"] = sender_address
    msg["To"] = seed_address
    msg["Subject"] = f"Delivery check from {sender_address} \u2013 no action needed"
    msg["Date"] = format_datetime(datetime.fromtimestamp(sent_at, UTC).astimezone())
    domain = sender_address.rpartition("@")[2] or None
    msg["Message-ID"] = f"<{token}@{domain or 'localhost'}>"  # found again if X- is stripped
    msg[CANARY_HEADER] = token
    # RFC 3834: tells vacation responders and Exchange not to answer a machine.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(_BODY.format(sender=sender_address))
    return msg


def _reply_of(code: int, text: bytes | str) -> SmtpReply:
    from .classifier import parse_smtp_reply

    reply: SmtpReply = parse_smtp_reply(code, text)
    return reply


class SmtpProbe:
    """Sends canaries through one outgoing account."""

    def __init__(self, sender: SenderConfig, signin: SignIn, *, timeout: float = 30.0) -> None:
        self.sender = sender
        self.signin = signin
        self.timeout = timeout

    def _connect(self) -> smtplib.SMTP:
        """Open, secure and greet a connection; the only place that touches the network."""
        s = self.sender
        context = client_context(s.ca_file)
        connection: smtplib.SMTP
        # smtplib would otherwise call socket.getfqdn(), which can stall for seconds on an office
        # PC with broken reverse DNS; the plain host name is a fine EHLO name for submission.
        local_hostname = socket.gethostname() or "localhost"
        if s.security is Security.SSL:
            connection = smtplib.SMTP_SSL(
                s.smtp_host,
                s.smtp_port,
                local_hostname=local_hostname,
                timeout=self.timeout,
                context=context,
            )
        else:
            connection = smtplib.SMTP(
                s.smtp_host, s.smtp_port, local_hostname=local_hostname, timeout=self.timeout
            )
        try:
            connection.ehlo()
            if s.security is Security.STARTTLS:
                connection.starttls(context=context)
                connection.ehlo()
        except BaseException:
            connection.close()
            raise
        return connection

    def _transmit(self, connection: smtplib.SMTP, message: EmailMessage) -> SmtpReply:
        """MAIL, RCPT, DATA by hand, so the server's final reply is kept (sendmail drops it)."""
        to_addr = str(message["To"])
        code, text = connection.mail(self.sender.address)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, text, self.sender.address)
        code, text = connection.rcpt(to_addr)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to_addr: (code, text)})
        code, text = connection.data(message.as_bytes(policy=_WIRE_POLICY))
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        # The message was already accepted; a rude goodbye changes nothing.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.quit()
        return _reply_of(code, text)

    def send(self, message: EmailMessage) -> SmtpReply:
        """Hand ``message`` to the server; return its final reply or raise ``SendError``."""
        stage = "connect"
        try:
            connection = self._connect()
            try:
                stage = "login"
                self.signin.smtp(connection)
                stage = "send"
                return self._transmit(connection, message)
            finally:
                connection.close()
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            raise SendError(
                f"The server refused the recipient: {code}",
                reply=_reply_of(code, text),
                stage=stage,
            ) from e
        except smtplib.SMTPResponseException as e:
            raise SendError(
                f"The server refused at {stage}: {e.smtp_code}",
                reply=_reply_of(e.smtp_code, e.smtp_error),
                stage=stage,
            ) from e
        except smtplib.SMTPNotSupportedError as e:
            raise SendError(
                f"The server does not support what is needed at {stage}: {e}", stage=stage
            ) from e
        except smtplib.SMTPServerDisconnected as e:
            raise SendError(
                f"The server closed the connection at {stage}", network=True, stage=stage
            ) from e
        except (TimeoutError, OSError, ssl.SSLError) as e:
            raise SendError(
                f"Could not talk to {self.sender.smtp_host}:{self.sender.smtp_port} at {stage}: "
                f"{type(e).__name__}: {e}",
                network=True,
                stage=stage,
            ) from e
        except smtplib.SMTPException as e:
            raise SendError(f"SMTP error at {stage}: {e}", stage=stage) from e

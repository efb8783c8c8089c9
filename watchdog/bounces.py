"""Read delivery status notifications (bounces) that come back to the sending account.

Some providers accept a message and only later mail the sender a notice that it was blocked
(Gmail's "Message blocked"). Such a notice is an RFC 3464 report: a ``multipart/report`` with
``report-type=delivery-status``, carrying machine-readable fields and the returned message or its
headers. Pure functions over bytes; only the standard ``email`` package.

Privacy: a bounce of a real reminder carries a patient's message. Nothing of the returned
message is kept but its Message-ID and our canary header, and when the bounce is not about a
canary, e-mail addresses are removed from the diagnostic text.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from .classifier import diagnose_canary_reply, diagnose_reply, parse_smtp_reply
from .models import Diagnosis, SmtpReply

#: The header the sender puts on every canary; read back from the returned message.
CANARY_HEADER = "X-Watchdog-Canary"

_MAX_FIELD = 2000  # a diagnostic longer than this is noise; keep the history row small


@dataclass(frozen=True)
class Bounce:
    """What a delivery status notification says about one returned message."""

    original_message_id: str | None
    canary_token: str | None  # None: the bounce is about some other message
    status: str | None  # RFC 3463 status, e.g. "5.7.1"
    action: str | None  # failed, delayed, delivered, relayed or expanded
    diagnostic_code: str | None  # the remote server's words, without the "smtp;" type
    remote_mta: str | None  # the server that gave them, without the "dns;" type


def parse_bounce(raw: bytes) -> Bounce | None:
    """The Bounce in ``raw``, or None when it is not an RFC 3464 delivery status notification.

    Notices in free text only (old qmail, some ISPs) are not recognised: their wording varies too
    much to read safely, and a canary that does not arrive is caught anyway.
    """
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = msg.get_param("report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    fields: Message | None = None
    returned: Message | None = None
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status" and fields is None:
            fields = _recipient_fields(part)
        elif kind == "message/rfc822" and returned is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                returned = inner[0]
        elif kind == "text/rfc822-headers" and returned is None:
            returned = HeaderParser().parsestr(_text_of(part))
    if fields is None:
        return None
    token = _header(returned, CANARY_HEADER)
    diagnostic = _typed_value(fields.get("Diagnostic-Code"))
    if diagnostic is not None and token is None:
        diagnostic = _EMAIL_ADDRESS.sub("<address>", diagnostic)
    action = _header(fields, "Action")
    return Bounce(
        original_message_id=_header(returned, "Message-ID") or _header(msg, "In-Reply-To"),
        canary_token=token,
        status=_status(_header(fields, "Status")),
        action=action.lower() if action else None,
        diagnostic_code=diagnostic,
        remote_mta=_typed_value(fields.get("Remote-MTA")),
    )


def diagnose_bounce(b: Bounce, provider: str) -> Diagnosis:
    """What the bounce means, read with the same rules as a refusal while sending.

    ``delayed`` notices mean the message is still queued and may yet arrive, so they are
    ``delayed`` whatever the reason; positive notices are ``ok``. For a failure the remote
    server's reply decides; its status field stands in when the reply lacks a code.
    """
    if b.action == "delayed":
        return Diagnosis.DELAYED
    if b.action in ("delivered", "relayed", "expanded"):
        return Diagnosis.OK
    status_class = int(b.status[0]) if b.status else None
    reply_text = b.diagnostic_code or ""
    match = _LEADING_CODE.match(reply_text)
    if match:
        code = int(match.group(1))
        reply_text = reply_text[match.end() :]
    elif status_class in _CODE_FOR_CLASS:
        code = _CODE_FOR_CLASS[status_class]
    else:
        return Diagnosis.UNKNOWN
    # "550-5.7.1 first line 550-5.7.1 second line": back into lines, as smtplib gives them.
    reply_text = _CONTINUATION.sub("\n", reply_text).strip()
    reply = parse_smtp_reply(code, reply_text)
    if reply.enhanced is None and b.status and b.status[0] == str(code)[0]:
        reply = SmtpReply(reply.code, reply.text, b.status)
    if b.canary_token is not None:  # about our canary: its recipient is our seed mailbox
        return diagnose_canary_reply(reply, provider)
    return diagnose_reply(reply, provider)


# --- internals ----------------------------------------------------------------------------------

_EMAIL_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LEADING_CODE = re.compile(r"^\s*([245]\d\d)(?:[ -]|$)")
_CONTINUATION = re.compile(r"\s+[245]\d\d[ -](?=[245]\.\d{1,3}\.\d{1,3})")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
#: A reply code to stand for a status class when the diagnostic has none (RFC 5321 generics).
_CODE_FOR_CLASS = {2: 250, 4: 451, 5: 554}


def _recipient_fields(part: Message) -> Message | None:
    """The per-recipient block to report: the first failure, else the first delay, else any.

    A canary has one recipient; a real reminder may have several, and a failure matters most.
    """
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return None
    recipients = [b for b in blocks if isinstance(b, Message) and ("Action" in b or "Status" in b)]
    for wanted in ("failed", "delayed"):
        for block in recipients:
            if str(block.get("Action", "")).strip().lower() == wanted:
                return block
    return recipients[0] if recipients else None


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


def _header(msg: Message | None, name: str) -> str | None:
    if msg is None:
        return None
    value = msg.get(name)
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:_MAX_FIELD] or None


def _typed_value(raw: object) -> str | None:
    """``smtp; 550 ...`` -> ``550 ...``: the RFC 3464 type before the semicolon is dropped."""
    if raw is None:
        return None
    text = " ".join(str(raw).split())
    kind, semicolon, rest = text.partition(";")
    if semicolon and re.fullmatch(r"[A-Za-z][\w-]*", kind.strip()):
        text = rest.strip()
    return text[:_MAX_FIELD] or None


def _status(raw: str | None) -> str | None:
    """``5.7.1 (delivery not authorized)`` -> ``5.7.1``."""
    if raw is None:
        return None
    match = _STATUS.search(raw)
    return match.group(0) if match else None

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

from watchdog.core.classifier import (
    diagnose_canary_reply,
    diagnose_reply,
    flatten_reply_text,
    parse_smtp_reply,
)
from watchdog.core.models import Diagnosis, SmtpReply
from watchdog.core.providers import OTHER
from watchdog.core.tokens import CANARY_HEADER

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
    # The Diagnostic-Code's type, lower case: "smtp" when the words are a server's SMTP reply,
    # "x-postfix" and the like when the reporting server wrote them itself (no reply code).
    diagnostic_type: str | None = None

    def describe(self) -> str:
        """The bounce in one line for a history detail: what happened, the status and its
        meaning, who said it and their words, e.g. ``delivery failed, status 5.1.1 (bad
        destination mailbox address), reported by mx.example.net: 550 5.1.1 <seed@...> User
        unknown``. The words are the server's own and may be long (at most 2,000 characters);
        the submission server's reply to our send is not part of it.
        """
        what = {
            "failed": "delivery failed",
            "delayed": "delivery delayed, still being tried",
            "delivered": "delivered",
            "relayed": "passed on to a server that sends no notices",
            "expanded": "delivered and forwarded",
        }.get(self.action or "", "delivery notice")
        parts = [what]
        if self.status:
            meaning = status_meaning(self.status)
            parts.append(f"status {self.status}" + (f" ({meaning})" if meaning else ""))
        text = ", ".join(parts)
        if self.remote_mta:
            text += f", reported by {self.remote_mta}"
        return f"{text}: {self.diagnostic_code or 'no reason given'}"


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
    diagnostic_type, diagnostic = _typed_parts(fields.get("Diagnostic-Code"))
    if diagnostic is not None and token is None:
        diagnostic = _EMAIL_ADDRESS.sub("<address>", diagnostic)
    action = _header(fields, "Action")
    return Bounce(
        original_message_id=_header(returned, "Message-ID") or _header(msg, "In-Reply-To"),
        canary_token=token,
        status=_status(_header(fields, "Status")),
        action=action.lower() if action else None,
        diagnostic_code=diagnostic,
        remote_mta=_typed_parts(fields.get("Remote-MTA"))[1],
        diagnostic_type=diagnostic_type,
    )


def diagnose_bounce(b: Bounce, provider: str, *, about_canary: bool | None = None) -> Diagnosis:
    """What the bounce means, read with the same rules as a refusal while sending.

    ``delayed`` notices mean the message is still queued and may yet arrive, so they are
    ``delayed`` whatever the reason (:func:`diagnose_delay` reads their cause); positive notices
    are ``ok``. For a failure the remote server's reply decides; its status field stands in when
    the reply lacks a code.

    ``about_canary``: whether the returned message is one of our canaries. By default it is when
    the bounce quotes our canary header; a caller that matched the bounce to a canary another way
    (its Message-ID, when a relay stripped our header) says so. About a canary the rules'
    ``canary_diagnosis`` applies: its only recipient is our own seed mailbox, so "user unknown"
    is ``seed_address_unknown`` and "mailbox full" ``seed_mailbox_full``, set-up problems.
    """
    if b.action == "delayed":
        return Diagnosis.DELAYED
    if b.action in ("delivered", "relayed", "expanded"):
        return Diagnosis.OK
    reply = _reply_to_read(b)
    if reply is None:
        return Diagnosis.UNKNOWN
    canary = b.canary_token is not None if about_canary is None else about_canary
    if canary:
        return diagnose_canary_reply(reply, provider)
    return diagnose_reply(reply, provider)


def bounce_reply(b: Bounce) -> SmtpReply | None:
    """The remote server's SMTP reply quoted by the bounce, or None when it quotes none.

    Only a Diagnostic-Code of type ``smtp`` (or ``lmtp``) that starts with a reply code is a
    server's reply (``smtp; 550 5.1.1 <seed@...>: User unknown``). ``X-Postfix; ...`` is the
    reporting server's own words, and a bounce without a Diagnostic-Code carries only a status:
    no reply code is invented for them (the status and words are in :meth:`Bounce.describe`).
    Continuation lines (``550-5.7.1 ... 550 5.7.1 ...``) become lines again, as smtplib gives
    them. This is the *remote* server's reply; the submission server's own reply to our send
    (with its queue ID) is a different one and stays the check's reply.
    """
    if b.diagnostic_type not in _SMTP_TYPES or b.diagnostic_code is None:
        return None
    parsed = _leading_reply(b.diagnostic_code)
    if parsed is None:
        return None
    return parse_smtp_reply(*parsed)


def diagnose_delay(b: Bounce, provider: str = OTHER) -> Diagnosis | None:
    """What a delay notice (``Action: delayed``) says about a late or lost canary, or None.

    A provider that cannot deliver at once keeps the message and retries, and may tell the
    sender so. The notice names why, and the why decides:

    - the seed mailbox is full (4.2.2, "over quota") -> ``seed_mailbox_full``; the seed address is
      unknown -> ``seed_address_unknown``: Watchdog's own set-up, never the provider;
    - the receiving server says the sender goes too fast ("too many", "rate limit", "unexpected
      volume") -> ``rate_limited``;
    - greylisting, "try again later", "deferred", or the receiving server not answering (4.4.x:
      no answer from host, bad connection, connection timed out or refused) -> ``delayed``: the
      provider accepted the canary and is still trying, which is not a silent drop;
    - anything else, or a notice that is not a delay -> None (the caller keeps its diagnosis).

    Pure; the caller chooses which notice belongs to which canary. :meth:`Bounce.describe` gives
    the words for the detail.
    """
    if b.action != "delayed":
        return None
    words = flatten_reply_text(b.diagnostic_code or "")
    reply = _reply_to_read(b)
    if reply is not None:
        about_seed = diagnose_canary_reply(reply, provider)
        if about_seed in (Diagnosis.SEED_MAILBOX_FULL, Diagnosis.SEED_ADDRESS_UNKNOWN):
            return about_seed
    if _GREYLISTED.search(words):
        return Diagnosis.DELAYED
    if _TOO_FAST.search(words):
        return Diagnosis.RATE_LIMITED
    status = b.status or ""
    if status.startswith("4.4.") or _STILL_TRYING.search(words):
        return Diagnosis.DELAYED
    return None


def status_meaning(status: str) -> str | None:
    """RFC 3463's name for an enhanced status code, e.g. ``5.2.2`` -> ``mailbox full``.

    Codes RFC 3463 does not name get their subject (``5.7.139`` -> ``security or policy``);
    None for what is not a status code. Support-facing words, for history details.
    """
    match = re.fullmatch(r"([245])\.(\d{1,3})\.(\d{1,3})", status.strip())
    if match is None:
        return None
    subject, detail = match.group(2), match.group(3)
    return _STATUS_NAMES.get(f"{subject}.{detail}") or _SUBJECT_NAMES.get(subject)


# --- internals ----------------------------------------------------------------------------------

#: Diagnostic-Code types whose text is a server's reply with its code (RFC 3464 section 2.3.6).
_SMTP_TYPES = frozenset({"smtp", "lmtp"})
_GREYLISTED = re.compile(r"grey ?list|gray ?list", re.IGNORECASE)
_TOO_FAST = re.compile(
    r"too many|too much mail|rate ?limit|too fast|throttl|slow down|unusual rate|unexpected volume",
    re.IGNORECASE,
)
_STILL_TRYING = re.compile(
    r"try (again )?later|come back later|deferr?ed|temporar(y|ily)|timed? ?out|no answer|"
    r"connection (refused|reset|lost|closed)|lost connection|(host|network) (is )?unreachable|"
    r"no route to host|host not found|name service error|will (be )?retr(y|ied)",
    re.IGNORECASE,
)
#: RFC 3463 section 3: subject.detail -> name. The class digit (4 or 5) says temporary or not.
_STATUS_NAMES = {
    "0.0": "other undefined status",
    "1.0": "other address status",
    "1.1": "bad destination mailbox address",
    "1.2": "bad destination system address",
    "1.3": "bad destination mailbox address syntax",
    "1.4": "destination mailbox address ambiguous",
    "1.5": "destination address valid",
    "1.6": "destination mailbox has moved",
    "1.7": "bad sender's mailbox address syntax",
    "1.8": "bad sender's system address",
    "2.0": "other or undefined mailbox status",
    "2.1": "mailbox disabled, not accepting messages",
    "2.2": "mailbox full",
    "2.3": "message length exceeds administrative limit",
    "2.4": "mailing list expansion problem",
    "3.0": "other or undefined mail system status",
    "3.1": "mail system full",
    "3.2": "system not accepting network messages",
    "3.3": "system not capable of selected features",
    "3.4": "message too big for system",
    "3.5": "system incorrectly configured",
    "4.0": "other or undefined network or routing status",
    "4.1": "no answer from host",
    "4.2": "bad connection",
    "4.3": "directory server failure",
    "4.4": "unable to route",
    "4.5": "mail system congestion",
    "4.6": "routing loop detected",
    "4.7": "delivery time expired",
    "5.0": "other or undefined protocol status",
    "5.1": "invalid command",
    "5.2": "syntax error",
    "5.3": "too many recipients",
    "5.4": "invalid command arguments",
    "5.5": "wrong protocol version",
    "6.0": "other or undefined media error",
    "6.1": "media not supported",
    "6.2": "conversion required and prohibited",
    "6.3": "conversion required but not supported",
    "6.4": "conversion with loss performed",
    "6.5": "conversion failed",
    "7.0": "other or undefined security status",
    "7.1": "delivery not authorized, message refused",
    "7.2": "mailing list expansion prohibited",
    "7.3": "security conversion required but not possible",
    "7.4": "security features not supported",
    "7.5": "cryptographic failure",
    "7.6": "cryptographic algorithm not supported",
    "7.7": "message integrity failure",
}
_SUBJECT_NAMES = {
    "0": "other",
    "1": "addressing",
    "2": "mailbox",
    "3": "mail system",
    "4": "network or routing",
    "5": "mail delivery protocol",
    "6": "message content or media",
    "7": "security or policy",
}
_EMAIL_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LEADING_CODE = re.compile(r"^\s*([245]\d\d)(?:[ -]|$)")
_CONTINUATION = re.compile(r"\s+[245]\d\d[ -](?=[245]\.\d{1,3}\.\d{1,3})")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
#: A reply code to stand for a status class when the diagnostic has none (RFC 5321 generics),
#: only to run the rules on the words; never shown or stored.
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


def _typed_parts(raw: object) -> tuple[str | None, str | None]:
    """``smtp; 550 ...`` -> (``smtp``, ``550 ...``): RFC 3464's type before the semicolon, apart."""
    if raw is None:
        return None, None
    text = " ".join(str(raw).split())
    kind, semicolon, rest = text.partition(";")
    type_name = None
    if semicolon and re.fullmatch(r"[A-Za-z][\w-]*", kind.strip()):
        type_name, text = kind.strip().lower(), rest.strip()
    return type_name, text[:_MAX_FIELD] or None


def _leading_reply(words: str) -> tuple[int, str] | None:
    """(code, text as smtplib gives it) when ``words`` start with a reply code, else None."""
    match = _LEADING_CODE.match(words)
    if match is None:
        return None
    # "550-5.7.1 first line 550-5.7.1 second line": back into lines, as smtplib gives them.
    text = _CONTINUATION.sub("\n", words[match.end() :]).strip()
    return int(match.group(1)), text


def _reply_to_read(b: Bounce) -> SmtpReply | None:
    """A reply to run the rules on: the quoted reply, else the words under the status's class.

    Only for reading; the code stood in for the class is never shown or stored (see
    :func:`bounce_reply` for the reply that is).
    """
    words = b.diagnostic_code or ""
    status_class = int(b.status[0]) if b.status else None
    parsed = _leading_reply(words)
    if parsed is not None:
        code, text = parsed
    elif status_class in _CODE_FOR_CLASS:
        code, text = _CODE_FOR_CLASS[status_class], _CONTINUATION.sub("\n", words).strip()
    else:
        return None
    reply = parse_smtp_reply(code, text)
    if reply.enhanced is None and b.status and b.status[0] == str(code)[0]:
        reply = SmtpReply(reply.code, reply.text, b.status)
    return reply


def _status(raw: str | None) -> str | None:
    """``5.7.1 (delivery not authorized)`` -> ``5.7.1``."""
    if raw is None:
        return None
    match = _STATUS.search(raw)
    return match.group(0) if match else None

"""Turn what the mail servers said, or failed to say, into a Diagnosis.

Pure functions, no I/O. SMTP replies are matched against ordered rules kept in
``watchdog/data/reply_patterns.toml`` so support can teach the product a new reply without a
release of code. Network failures are read from the exception (and what caused it).
"""

from __future__ import annotations

import enum
import errno
import functools
import imaplib
import re
import smtplib
import socket
import ssl
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from watchdog.core import tables
from watchdog.core.models import Diagnosis, SmtpReply
from watchdog.core.providers import OTHER, all_providers
from watchdog.core.tables import DataFileError

_DATA_FILE = "reply_patterns.toml"

# --- SMTP replies -------------------------------------------------------------------------------

#: RFC 3463 status at the start of a line, after an optional echo of the reply code ("550-").
_ENHANCED = re.compile(r"^\s*(?:\d{3}[ -])?([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def parse_smtp_reply(code: int, text: str | bytes) -> SmtpReply:
    """Build an SmtpReply from what smtplib hands over (code, and the lines after it).

    Bytes are decoded as UTF-8 with bad bytes replaced: a reply is evidence to keep, never a
    reason to crash. The whole text is kept. The enhanced status code is taken from the first
    line only when its class digit agrees with the reply code: a disagreeing one is a server bug,
    and trusting it could turn a permanent refusal into a temporary one.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return SmtpReply(code=code, text=text, enhanced=_enhanced_of(code, text))


def _enhanced_of(code: int, text: str) -> str | None:
    first_line = text.split("\n", 1)[0]
    match = _ENHANCED.match(first_line)
    if match is None or str(code)[:1] != match.group(1):
        return None
    return ".".join(match.groups())


@dataclass(frozen=True)
class ReplyRule:
    """One ordered rule of reply_patterns.toml; every condition given must hold."""

    id: str
    diagnosis: Diagnosis
    why: str
    pattern: re.Pattern[str] | None = None
    providers: frozenset[str] = frozenset()
    code_classes: frozenset[int] = frozenset()
    codes: frozenset[int] = frozenset()
    enhanced: tuple[str, ...] = ()
    # The diagnosis when the reply is about one of our canaries, if it differs: the canary's
    # only recipient is our own seed mailbox ("recipient mailbox full" means the seed is full).
    canary_diagnosis: Diagnosis | None = None

    def matches(self, reply: SmtpReply, provider: str, flat_text: str) -> bool:
        """True when ``reply`` (from ``provider``, text flattened) meets every condition."""
        if self.providers and provider not in self.providers:
            return False
        if self.code_classes and reply.code // 100 not in self.code_classes:
            return False
        if self.codes and reply.code not in self.codes:
            return False
        if self.enhanced:
            status = reply.enhanced
            if status is None or not any(_status_within(status, p) for p in self.enhanced):
                return False
        return self.pattern is None or self.pattern.search(flat_text) is not None


def _status_within(status: str, prefix: str) -> bool:
    """``5.7.139`` is within ``5.7`` and ``5.7.139``, but not within ``5.7.1``."""
    return status == prefix or status.startswith(prefix + ".")


def diagnose_reply(
    reply: SmtpReply, provider: str = OTHER, *, rules: Sequence[ReplyRule] | None = None
) -> Diagnosis:
    """What an outgoing server's reply means, by meaning rather than exact wording.

    A positive reply (2xx, 3xx) is ``ok`` whatever its words. Otherwise the first matching rule
    decides (the shipped rules unless ``rules`` is given). A reply no rule knows is ``unknown``,
    for 4xx as for 5xx: a temporary refusal is called ``rate_limited`` only when its words say the
    sender goes too fast, since a server fault also answers 4xx. The caller keeps the full text.
    """
    rule = find_rule(reply, provider, rules=rules)
    if rule is not None:
        return rule.diagnosis
    if 200 <= reply.code < 400:
        return Diagnosis.OK
    return Diagnosis.UNKNOWN


def diagnose_canary_reply(reply: SmtpReply, provider: str = OTHER) -> Diagnosis:
    """:func:`diagnose_reply` for a refusal of one of our canaries.

    The canary has one recipient, our own seed mailbox, so a rule about the recipient (its
    ``canary_diagnosis``) says something about Watchdog's set-up, not the practice's mail.
    """
    rule = find_rule(reply, provider)
    if rule is not None and rule.canary_diagnosis is not None:
        return rule.canary_diagnosis
    return diagnose_reply(reply, provider)


def find_rule(
    reply: SmtpReply, provider: str = OTHER, *, rules: Sequence[ReplyRule] | None = None
) -> ReplyRule | None:
    """The rule that decides ``reply``, or None (positive replies never match a rule).

    Support uses the rule's ``id`` to see why a reply was read the way it was.
    """
    if 200 <= reply.code < 400:
        return None
    if reply.enhanced is None:
        # An SmtpReply built by hand may lack the status its text carries.
        enhanced = _enhanced_of(reply.code, reply.text)
        if enhanced is not None:
            reply = SmtpReply(reply.code, reply.text, enhanced)
    flat = flatten_reply_text(reply.text)
    for rule in _packaged_rules() if rules is None else rules:
        if rule.matches(reply, provider, flat):
            return rule
    return None


_LINE_PREFIX = re.compile(r"^\s*(?:\d{3}[ -])?(?:[245]\.\d{1,3}\.\d{1,3}(?![\d.]))?\s*")


def flatten_reply_text(text: str) -> str:
    """One line of words: each line's echoed code and status removed, whitespace collapsed.

    Providers wrap long replies and repeat the status on every line ("...go to\\n5.4.5 sending
    limits"), which would split the phrases the rules look for.
    """
    lines = (_LINE_PREFIX.sub("", line) for line in text.replace("\r", "").split("\n"))
    return " ".join(" ".join(lines).split())


def load_reply_rules(text: str, source: str = _DATA_FILE) -> tuple[ReplyRule, ...]:
    """Parse and check a reply_patterns.toml document; DataFileError names the rule and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataFileError(f"{source}: not valid TOML: {e}") from e
    raw_rules = doc.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise DataFileError(f"{source}: no [[rule]] tables")
    spec = _rule_spec(frozenset(p.name for p in all_providers()))
    rules = tuple(_parse_rule(r, i, source, spec) for i, r in enumerate(raw_rules))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DataFileError(f"{source}: rule ids used twice: {', '.join(duplicates)}")
    return rules


_STATUS_PREFIX = re.compile(r"^[245](\.\d{1,3}){1,2}$")


def _rule_spec(known_providers: frozenset[str]) -> tables.Spec:
    """What each key of a ``[[rule]]`` may hold (the file's header comment says what it means)."""
    return {
        "id": tables.text(),
        "diagnosis": tables.member(Diagnosis),
        "canary_diagnosis": tables.member(Diagnosis).optional(),
        "why": tables.text(must="must say what the rule is for"),
        "text": tables.regex().optional(),
        "providers": tables.names(sorted(known_providers), non_empty=False).optional(()),
        "code_class": tables.integers(lambda c: c in (4, 5), "must list 4 and/or 5").optional(
            frozenset()
        ),
        "codes": tables.integers(
            lambda c: 400 <= c <= 599, "must be refusal codes from 400 to 599"
        ).optional(frozenset()),
        "enhanced": tables.texts(
            non_empty=False, must='must list status codes like "5.7" or "5.7.1"'
        ).optional(()),
    }


def _parse_rule(raw: Any, index: int, source: str, spec: tables.Spec) -> ReplyRule:
    rule_id = raw.get("id") if isinstance(raw, dict) else None
    named = isinstance(rule_id, str) and rule_id
    where = f"{source}: rule {rule_id!r}" if named else f"{source}: rule {index + 1}"
    table = tables.read_table(raw, spec, where)
    enhanced: tuple[str, ...] = table["enhanced"]
    if any(not _STATUS_PREFIX.match(e) for e in enhanced):
        raise DataFileError(
            f'{where} enhanced = {list(enhanced)!r} must list status codes like "5.7" or "5.7.1"'
        )
    if table["text"] is None and not table["codes"] and not enhanced:
        raise DataFileError(f"{where} needs text, codes or enhanced, or it would match everything")
    return ReplyRule(
        id=table["id"],
        diagnosis=table["diagnosis"],
        why=table["why"],
        pattern=table["text"],
        providers=frozenset(table["providers"]),
        code_classes=table["code_class"],
        codes=table["codes"],
        enhanced=enhanced,
        canary_diagnosis=table["canary_diagnosis"],
    )


@functools.cache
def _packaged_text() -> str:
    return resources.files("watchdog").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")


@functools.cache
def _packaged_rules() -> tuple[ReplyRule, ...]:
    """The shipped rules, read once per process."""
    return load_reply_rules(_packaged_text())


def packaged_rules() -> tuple[ReplyRule, ...]:
    """The rules shipped in the package, in order."""
    return _packaged_rules()


# --- plain words --------------------------------------------------------------------------------


@functools.cache
def _descriptions() -> dict[Diagnosis, str]:
    table = tomllib.loads(_packaged_text()).get("descriptions", {})
    found = {d: table.get(d.value) for d in Diagnosis}
    missing = [d.value for d, text in found.items() if not isinstance(text, str) or not text]
    if missing:
        raise DataFileError(f"{_DATA_FILE}: [descriptions] lacks {', '.join(missing)}")
    return {d: str(text) for d, text in found.items()}


def describe(diagnosis: Diagnosis) -> str:
    """One plain sentence for the front desk: what is wrong, without mail-server jargon."""
    return _descriptions()[diagnosis]


# --- network failures ---------------------------------------------------------------------------


class NetworkFailure(enum.StrEnum):
    """How a connection to a mail server failed before any reply was read."""

    DNS = "dns"  # the server's name did not resolve
    REFUSED = "refused"  # the machine answered: nothing listens on that port
    TIMEOUT = "timeout"  # no answer in time
    NO_ROUTE = "no_route"  # this PC has no way to that network
    RESET = "reset"  # the connection was cut after it was made
    TLS_CERTIFICATE = "tls_certificate"  # the server's certificate was not trusted
    TLS = "tls"  # the secure connection could not be set up for another reason


_DNS_ERRNOS = frozenset(
    getattr(socket, name)
    for name in ("EAI_NONAME", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_ADDRFAMILY")
    if hasattr(socket, name)
)
_NO_ROUTE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ENETUNREACH",
        "EHOSTUNREACH",
        "ENETDOWN",
        "EHOSTDOWN",
        "WSAENETUNREACH",
        "WSAEHOSTUNREACH",
        "WSAENETDOWN",
        "WSAEHOSTDOWN",
    )
    if hasattr(errno, name)
)


def network_failure_of(exc: BaseException) -> NetworkFailure | None:
    """The kind of network failure behind ``exc``, or None if it is not one.

    Our own errors wrap the real one (``raise ... from e``) and smtplib/imaplib wrap socket
    errors, so the whole ``__cause__``/``__context__`` chain is read. A cut connection
    (SMTPServerDisconnected, imaplib's abort, EOF) is weak evidence: if a more precise cause such
    as a timeout sits further down the chain, that cause wins.
    """
    weak: NetworkFailure | None = None
    for link in _chain(exc):
        kind = _kind_of(link)
        if kind is NetworkFailure.RESET and not isinstance(link, ConnectionError):
            weak = weak or kind
        elif kind is not None:
            return kind
    return weak


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything that caused it, outermost first, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        pending.extend(e for e in (link.__cause__, link.__context__) if e is not None)


def _kind_of(exc: BaseException) -> NetworkFailure | None:
    # Order matters: the ssl errors are OSErrors, and a certificate error is an ssl error.
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NetworkFailure.TLS_CERTIFICATE
    if isinstance(exc, ssl.SSLError):
        return NetworkFailure.TLS
    if isinstance(exc, socket.gaierror):
        # EAI_SERVICE, EAI_FAMILY ... are mistakes in the call, not an unresolvable name.
        return NetworkFailure.DNS if exc.errno in _DNS_ERRNOS else None
    if isinstance(exc, ConnectionRefusedError):
        return NetworkFailure.REFUSED
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return NetworkFailure.TIMEOUT
    if isinstance(exc, ConnectionError):  # reset, aborted, broken pipe
        return NetworkFailure.RESET
    if isinstance(exc, smtplib.SMTPServerDisconnected | EOFError):
        return NetworkFailure.RESET  # before OSError: smtplib's errors are OSErrors
    if isinstance(exc, OSError):
        codes = {exc.errno, getattr(exc, "winerror", None)}
        return NetworkFailure.NO_ROUTE if codes & _NO_ROUTE_ERRNOS else None
    if isinstance(exc, imaplib.IMAP4.abort) and not isinstance(exc, imaplib.IMAP4.readonly):
        return NetworkFailure.RESET  # "readonly" subclasses abort but is a mailbox state
    return None


#: Each network failure in plain words; the technical error follows in brackets for support.
#: One wording for a failed canary and for ``watchdog doctor``.
NETWORK_WORDS = {
    NetworkFailure.DNS: "the server name {host} could not be found (DNS)",
    NetworkFailure.REFUSED: "{host} port {port} refused the connection (nothing listens there)",
    NetworkFailure.TIMEOUT: "{host} port {port} did not answer in time",
    NetworkFailure.NO_ROUTE: "there is no network route to {host}",
    NetworkFailure.RESET: "{host} port {port} closed the connection unexpectedly",
    NetworkFailure.TLS_CERTIFICATE: "the security certificate of {host} is not valid",
    NetworkFailure.TLS: "a secure connection to {host} port {port} failed",
}


def network_words(failure: NetworkFailure, host: str, port: int) -> str:
    """A network failure as a sentence fragment naming the server."""
    return NETWORK_WORDS[failure].format(host=host, port=port)


def diagnose_network(failure: NetworkFailure) -> Diagnosis:
    """``tls_error`` for the two TLS kinds, ``server_unreachable`` for the rest."""
    if failure in (NetworkFailure.TLS, NetworkFailure.TLS_CERTIFICATE):
        return Diagnosis.TLS_ERROR
    return Diagnosis.SERVER_UNREACHABLE


#: Kinds that look the same whether the server or this PC is cut off.
_SILENT_KINDS = frozenset({NetworkFailure.DNS, NetworkFailure.NO_ROUTE, NetworkFailure.TIMEOUT})


def diagnose_both_unreachable(
    smtp: NetworkFailure | None,
    imap: NetworkFailure | None,
    *,
    internet_probe_failed: bool,
) -> Diagnosis:
    """One diagnosis for a check in which the outgoing server, the test mailbox, or both failed.

    ``offline`` blames this PC, so it needs all of: both servers failed, both failures are of the
    kinds an unplugged PC produces (name not resolved, no route, no answer), and an independent
    probe of the internet failed too. Two providers being down together is rare; one being down
    while the office is online is not, and calling that "offline" would send the staff to check
    their cable while the provider is at fault. A refused connection or a TLS failure means a
    server answered, so the network works and that server's diagnosis stands.

    Otherwise the outgoing side decides when it failed, because it is what stops reminders; a
    failure of the test mailbox alone is ``seed_unreachable`` (``tls_error`` when it is TLS, since
    the fix is the same on either side). Neither failing is ``ok``.
    """
    if smtp in _SILENT_KINDS and imap in _SILENT_KINDS and internet_probe_failed:
        return Diagnosis.OFFLINE
    if smtp is not None:
        return diagnose_network(smtp)
    if imap is not None:
        tls = diagnose_network(imap) is Diagnosis.TLS_ERROR
        return Diagnosis.TLS_ERROR if tls else Diagnosis.SEED_UNREACHABLE
    return Diagnosis.OK

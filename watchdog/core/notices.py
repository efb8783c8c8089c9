"""Provider notices: a provider's own message to the practice saying it blocked sending.

Some providers say nothing over SMTP (the canary is accepted and silently dropped) but mail the
account a notice: Microsoft 365's "User restricted from sending email" alert, the Microsoft
account team's "unusual sign-in activity", Google's "Critical security alert". When a canary is
lost, such a notice tells *why*, so the guide can say what to do instead of "it vanished".

Rules live in ``data/provider_notices.toml``. Pure functions over header bytes.

Why only headers: a practice's inbox holds patient mail, and phishing copies these notices.
So only From, Subject, Date and Authentication-Results of messages from the provider's own
domains are read, a notice never raises an alert on its own (it only explains a lost canary),
and nothing from its body, links included, is ever shown or kept.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import parseaddr, parsedate_to_datetime
from functools import cache
from importlib import resources
from typing import Any

from watchdog.core import tables
from watchdog.core.models import Diagnosis
from watchdog.core.providers import all_providers
from watchdog.core.tables import DataFileError

_DATA_FILE = "provider_notices.toml"
_MAX_SUBJECT = 200  # a subject is a line; anything longer is cut for the history row
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: Authentication-Results verdicts that make a message a forgery, whatever its From says.
_FORGED = re.compile(r"\b(dkim|dmarc)\s*=\s*fail\b", re.IGNORECASE)


#: The error a malformed notice file raises (the one data-file error, kept under its old name).
NoticeRulesError = DataFileError


@dataclass(frozen=True)
class NoticeRule:
    """One kind of provider notice and the diagnosis it stands for."""

    id: str
    providers: tuple[str, ...]  # empty: any provider
    from_domains: tuple[str, ...]
    subject: re.Pattern[str]
    diagnosis: Diagnosis
    why: str

    def applies_to(self, provider: str) -> bool:
        """True when the rule is for this provider (or for every provider)."""
        return not self.providers or provider in self.providers


@dataclass(frozen=True)
class ProviderNotice:
    """A notice found in the practice's inbox: only what identifies it, never its body."""

    rule_id: str
    diagnosis: Diagnosis
    sender_domain: str
    subject: str
    received_at: float | None

    def describe(self) -> str:
        """One line for the history row and the guide."""
        return f'a notice from {self.sender_domain}: "{self.subject}"'


def parse_notice_rules(doc: Mapping[str, Any], source: str = _DATA_FILE) -> tuple[NoticeRule, ...]:
    """The rules of a parsed TOML document; a clear error for anything malformed.

    Every key is checked by the one table reader (:mod:`watchdog.core.tables`): an unknown key
    or provider name is refused, because a typo such as ``provider =`` would otherwise make a
    rule apply to every provider.
    """
    raw_rules = doc.get("notice")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise DataFileError(f"{source}: expected one or more [[notice]] tables")
    spec = {
        "id": tables.text(must="must be a non-empty string"),
        "providers": tables.names(_known_providers()).optional(()),
        "from_domains": tables.texts(),
        "subject": tables.regex(),
        "diagnosis": tables.member(Diagnosis),
        "why": tables.text(allow_empty=True).optional(""),
    }
    rules: list[NoticeRule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules, start=1):
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        named = isinstance(rule_id, str) and rule_id
        where = f"{source}: notice {rule_id!r}" if named else f"{source}: notice #{index}"
        table = tables.read_table(raw, spec, where)
        if table["id"] in seen:
            raise DataFileError(f"{where}: the id is used twice")
        seen.add(table["id"])
        rules.append(
            NoticeRule(
                id=table["id"],
                providers=table["providers"],
                from_domains=tuple(d.lower().strip(".") for d in table["from_domains"]),
                subject=table["subject"],
                diagnosis=table["diagnosis"],
                why=table["why"],
            )
        )
    return tuple(rules)


def _known_providers() -> tuple[str, ...]:
    return tuple(p.name for p in all_providers())


@cache
def notice_rules() -> tuple[NoticeRule, ...]:
    """The rules shipped in the package."""
    text = resources.files("watchdog").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return parse_notice_rules(tomllib.loads(text))


def notice_domains(provider: str, rules: Iterable[NoticeRule] | None = None) -> tuple[str, ...]:
    """The sender domains worth searching for this provider (empty: none of its notices known)."""
    domains: list[str] = []
    for rule in notice_rules() if rules is None else rules:
        if rule.applies_to(provider):
            domains.extend(d for d in rule.from_domains if d not in domains)
    return tuple(domains)


def read_notice(
    headers: bytes,
    provider: str,
    *,
    received_at: float | None = None,
    rules: Iterable[NoticeRule] | None = None,
) -> ProviderNotice | None:
    """The notice these message headers are, or None.

    ``headers`` is the header block only (the caller never fetches bodies).
    """
    msg = email.message_from_bytes(headers, policy=email.policy.compat32)
    for verdict in msg.get_all("Authentication-Results") or []:
        if _FORGED.search(str(verdict)):
            return None
    _, address = parseaddr(_decoded(msg.get("From")))
    domain = address.rpartition("@")[2].lower().strip(".")
    if not domain or "@" not in address:
        return None
    subject = _decoded(msg.get("Subject"))
    for rule in notice_rules() if rules is None else rules:
        if not rule.applies_to(provider) or not _domain_matches(domain, rule.from_domains):
            continue
        if rule.subject.search(subject):
            return ProviderNotice(
                rule_id=rule.id,
                diagnosis=rule.diagnosis,
                sender_domain=domain,
                subject=subject[:_MAX_SUBJECT],
                received_at=received_at if received_at is not None else _date(msg.get("Date")),
            )
    return None


def latest_notice(notices: Iterable[ProviderNotice]) -> ProviderNotice | None:
    """The most recent notice: the provider's latest word wins."""
    ordered = sorted(notices, key=lambda n: n.received_at or 0.0)
    return ordered[-1] if ordered else None


# --- internals ----------------------------------------------------------------------------------


def _domain_matches(domain: str, wanted: Iterable[str]) -> bool:
    """``accounts.google.com`` matches ``google.com``; ``evilgoogle.com`` does not."""
    return any(domain == w or domain.endswith("." + w) for w in wanted)


def _decoded(raw: object) -> str:
    """A header as one line of text: RFC 2047 words decoded, control characters removed."""
    if raw is None:
        return ""
    text = str(raw)
    with contextlib.suppress(LookupError, ValueError, UnicodeDecodeError):
        text = str(make_header(decode_header(text)))  # undecodable: keep the raw words
    return " ".join(_CONTROL.sub(" ", text).split())


def _date(raw: object) -> float | None:
    if raw is None:
        return None
    try:
        return parsedate_to_datetime(str(raw)).timestamp()
    except (TypeError, ValueError, IndexError):
        return None

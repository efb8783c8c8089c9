"""Canary tokens: unique, and signed with a local key so a forged or replayed message can't count.

A token looks like ``v1.1764300000.6f1c2a9e0b7d.5a0d...``: version, send time (whole seconds),
a random nonce and an HMAC-SHA256 over the rest. Only this PC's key can make a valid one; a replayed
old canary is valid but already resolved in the history, so it is never counted twice.

Pure: the key is read and made by :mod:`watchdog.storage.canary_key`, at the edge.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

#: The header that carries a canary's signed token (the Message-ID carries it too, for relays
#: that strip unknown headers). One name for the probe, the mailbox, bounces and the Sent folder.
CANARY_HEADER = "X-Watchdog-Canary"

_VERSION = "v1"
# 96 bits of HMAC and 48 of nonce: ample against forgery, and the whole header line stays under
# 78 characters, so it is never folded (some IMAP servers search folded headers badly).
_MAC_HEX = 24
_NONCE_BYTES = 6


def make_token(key: bytes, sent_at: float, nonce: bytes | None = None) -> str:
    """A new signed token for a canary sent at ``sent_at``."""
    nonce_hex = (nonce or secrets.token_bytes(_NONCE_BYTES)).hex()
    body = f"{_VERSION}.{int(sent_at)}.{nonce_hex}"
    return f"{body}.{_mac(key, body)}"


def verify_token(key: bytes, token: str) -> bool:
    """True when ``token`` was made with ``key`` (constant-time comparison)."""
    body, _, mac = token.strip().rpartition(".")
    if not body.startswith(f"{_VERSION}.") or len(mac) != _MAC_HEX:
        return False
    return hmac.compare_digest(mac, _mac(key, body))


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).hexdigest()[:_MAC_HEX]


#: A token as it appears in text: version, seconds, hex nonce, hex MAC. A valid dot-atom, so a
#: canary's Message-ID can be ``<token@sender-domain>``.
_TOKEN_TEXT = re.compile(rf"{_VERSION}\.[0-9]{{1,12}}\.[0-9a-f]{{2,64}}\.[0-9a-f]{{{_MAC_HEX}}}")
_MESSAGE_ID = re.compile(r"<([^<>@\s]+)@[^<>@\s]+>")


def token_of_message_id(value: str) -> str | None:
    """The token a Message-ID carries as its whole local part, or None.

    Exact only: ``<x-v1.…@d>`` or ``<v1.….more@d>`` carry no token. The caller still checks the
    token is one it waits for, and the runner verifies its signature.
    """
    match = _MESSAGE_ID.fullmatch(" ".join(value.split()))
    if match is None:
        return None
    local = match.group(1)
    return local if _TOKEN_TEXT.fullmatch(local) else None

"""The one home of the rules for values a person types or writes: one line, an e-mail address, a
server name.

Every reader of such a value uses these functions, so they cannot disagree: the config reader
(``config``), the writer of the config file (``config_writer``) and the set-up prompts and options
(``setup_console``). A value set-up accepts therefore always loads, and a value the config refuses
is refused at the prompt already, with the same words.

Each ``*_problem`` function returns the words that follow the value in the caller's message
(``'x' is not an e-mail address like name@example.com``), or None when the value is fine; the
caller adds the file and key, or the option, so the person reads where, what and what is allowed.
Pure and small: no I/O, only the standard library (``check`` imports it at start).
"""

from __future__ import annotations

import ipaddress
import unicodedata

__all__ = [
    "SINGLE_LINE_WORDS",
    "RefusedValue",
    "address_problem",
    "control_character",
    "host_problem",
    "is_ip_address",
    "single_line_problem",
]

#: Why a value with a control character is refused, in the words every such error uses.
SINGLE_LINE_WORDS = "must be a single line without control characters"


class RefusedValue(ValueError):
    """A value refused by one of these rules, naming the setting (``key``) it was meant for.

    Why a type of its own: whoever shows the error (set-up names the command-line option) reads
    the key from here instead of taking the message apart.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key = key
        self.problem = problem


def control_character(value: str) -> str | None:
    """The first control or line-breaking character in ``value`` as ``U+000A``, else None.

    Why: these values end up in mail headers (address, office name), SMTP and IMAP commands
    (user names, hosts, folders), HTTP requests (webhook addresses) and log lines. A CR/LF there
    could add a header such as ``Bcc:`` or a protocol command; other control characters (NUL,
    ESC, C1 controls such as U+0085, the Unicode line and paragraph separators U+2028 / U+2029)
    have no place in any of them either. A tab is allowed: it is plain whitespace that cannot
    start a header or a command, and an office name may hold one (addresses and server names
    refuse all whitespace on their own).
    """
    for c in value:
        if c != "\t" and unicodedata.category(c) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(c):04X}"
    return None


def single_line_problem(value: str) -> str | None:
    """``must be a single line without control characters (found U+2028)``, or None."""
    bad = control_character(value)
    return None if bad is None else f"{SINGLE_LINE_WORDS} (found {bad})"


def address_problem(value: str) -> str | None:
    """Why ``value`` cannot be used as an e-mail address here, or None when it can.

    The one rule for addresses: the config's ``[sender]`` / ``[seed] address`` and setup's
    prompts and options all use it, so setup never accepts what the config then refuses.

    Why ASCII only: the canary goes out without SMTPUTF8, so a non-ASCII address can never be
    sent (smtplib refuses it, and a server without SMTPUTF8 would too): every check would fail
    for our own reason. A domain with accents has a plain ``xn--`` spelling, proposed here.
    """
    single_line = single_line_problem(value)
    if single_line is not None:
        return single_line
    local, at, domain = value.rpartition("@")
    space = next((c for c in value if c.isspace()), None)
    if space is not None:
        return f"is not an e-mail address like name@example.com (it contains {_spoken(space)})"
    if not at or not local or ("." not in domain and domain != "localhost"):
        return "is not an e-mail address like name@example.com"
    if any(c in value for c in "<>,;\"'()"):
        return "must be the bare address, like name@example.com"
    if not value.isascii():
        first = next(c for c in value if not c.isascii())
        hint = "ask the provider for the account's plain address"
        if local.isascii():
            try:
                plain_domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                pass
            else:
                hint = f"write the domain in its plain form: {local}@{plain_domain}"
        return (
            f"contains {first!r} (U+{ord(first):04X}): only ASCII addresses can be used, "
            f"because mail with other characters in an address cannot be sent here; {hint}"
        )
    return None


def host_problem(value: str) -> str | None:
    """Why ``value`` cannot be a server name or IP address here, or None (config and setup)."""
    single_line = single_line_problem(value)
    if single_line is not None:
        return single_line
    spaced = any(c.isspace() for c in value)
    if not value or spaced or "/" in value or (":" in value and not is_ip_address(value)):
        return "must be a server name like smtp.example.com"
    return None


def is_ip_address(value: str) -> bool:
    """True for a plain IPv4 or IPv6 address (no brackets, no port)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _spoken(space: str) -> str:
    """A whitespace character as a person names it: ``a space``, ``a tab (U+0009)``."""
    if space == " ":
        return "a space"
    if space == "\t":
        return "a tab (U+0009)"
    return f"a space character (U+{ord(space):04X})"


#: Inside the office: this PC, the private ranges of RFC 1918 and RFC 4193, and link-local.
#: Spelled out rather than ``ipaddress``'s ``is_private``, which also counts documentation,
#: benchmarking and reserved ranges (203.0.113.0/24, 198.18.0.0/15, 240.0.0.0/4 ...): those are
#: no office network, and a network that routes them is not one to send a password across.
_OFFICE_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def is_office_address(ip: str) -> bool:
    """True for loopback, private-range and link-local addresses: inside the office network.

    Takes the address a socket actually reached (``getpeername()``), so every way of writing a
    host (``2130706433``, ``0x7f.1``, ``::ffff:127.0.0.1``, a name) is judged by where it went.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _OFFICE_NETWORKS)

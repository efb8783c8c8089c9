"""Write the configuration file that ``watchdog setup`` produced.

:func:`render_config` turns the answers into TOML text with the documented keys and comments (the
same layout as docs/configuration.md), so the support person who opens the file later reads what
each line is for. :func:`write_config_file` checks the text with the same parser the watchdog
uses, then writes it atomically and readable only by its owner.

There is deliberately no password field anywhere here: passwords and OAuth2 tokens live in the OS
keyring or the environment, never in a file this module writes. The one OAuth2 value that is
written, ``oauth_client_secret``, belongs to a Google "Desktop app" client, which Google itself
treats as not confidential (it ships in every installed copy); it is no secret of the practice.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from watchdog.config import (
    DEFAULT_DEADLINE_MINUTES,
    DEFAULT_EVERY_MINUTES,
    GOOGLE_AUTHORITY,
    GOOGLE_SCOPES,
    MICROSOFT_AUTHORITY,
    MICROSOFT_SCOPES,
    Config,
    OAuthSettings,
    SeedConfig,
    SenderConfig,
    load_config,
    parse_config,
)
from watchdog.core.errors import ConfigError
from watchdog.core.inputs import RefusedValue, single_line_problem
from watchdog.storage.atomic_file import PRIVATE, write_text_atomically

#: Where comments start (0-based column), as in docs/configuration.md.
_COMMENT_COLUMN = 33


@dataclass(frozen=True)
class ConfigValues:
    """Everything ``watchdog setup`` asks for; no password, by design.

    The accounts are the config's own records (the keys ``[sender]`` and ``[seed]`` will hold;
    only those set-up asks for are written), so the writer and the reader share one model.
    """

    sender: SenderConfig
    seed: SeedConfig
    every_minutes: float = DEFAULT_EVERY_MINUTES
    deadline_minutes: float = DEFAULT_DEADLINE_MINUTES
    office: str = ""
    support_contact: str = ""


def toml_string(value: str, *, key: str = "value") -> str:
    """``value`` as a TOML basic string; :class:`RefusedValue` (naming ``key``) for a line break.

    Quotes and backslashes are escaped, a tab becomes ``\\t``. A line break or another control
    character is refused rather than escaped: in a host or an address it could smuggle mail
    headers or protocol commands. The rule is the config reader's own
    (:func:`inputs.single_line_problem`), so nothing is written that the reader then refuses.
    """
    problem = single_line_problem(value)
    if problem is not None:
        raise RefusedValue(key, f"= {value!r} {problem}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{escaped}"'


def toml_number(value: float, *, key: str = "value") -> str:
    """``30`` or ``0.5``: whole numbers without a needless ``.0``, as a person would write them."""
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise RefusedValue(key, f"must be a number above 0, not {value!r}")
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def render_config(values: ConfigValues) -> str:
    """The config file for ``values``: the documented keys, commented, optional ones shown off.

    Raises :class:`RefusedValue` naming the key for a value TOML could not hold safely (a line
    break) or a port or number out of range; everything else is left to
    :func:`validate_config_text`.
    """
    s, d = values.sender, values.seed
    lines = [
        "# Delivery Watchdog configuration, written by `watchdog setup`.",
        "# Every key is explained in docs/configuration.md. Passwords are never in this file:",
        '# they are in the system keyring (service "delivery-watchdog") or, on a PC without one,',
        "# in the environment variables WATCHDOG_SENDER_PASSWORD and WATCHDOG_SEED_PASSWORD.",
        '# OAuth2 sign-ins (auth = "oauth2") are kept only in the keyring (docs/oauth.md).',
        "",
        _line("office", toml_string(values.office, key="office"), "optional, shown in messages"),
        "",
        _line("[sender]", "", "the practice's outgoing account: the one the reminders go through"),
        _line("address", toml_string(s.address, key="[sender] address")),
        _line("smtp_host", toml_string(s.smtp_host, key="[sender] smtp_host")),
        _line("smtp_port", _port(s.smtp_port, "[sender] smtp_port")),
        _line(
            "security",
            toml_string(s.security.value),
            'ssl | starttls | none ("none" only on the LAN)',
        ),
        _line(
            "username",
            toml_string(s.username, key="[sender] username"),
            "empty: the server needs no AUTH",
        ),
        _ca_line(s.ca_file, "[sender] ca_file"),
        *_auth_lines(s.oauth, "sender"),
        "# The practice's own inbox, searched for bounces of canaries (optional; read only):",
        '# imap_host = "imap.example.com"',
        "# imap_port = 993",
        '# imap_security = "ssl"',
        '# imap_username = ""             # empty: the same as username (and the same password)',
        "",
        _line("[seed]", "", "the mailbox the canaries go to"),
        _line("address", toml_string(d.address, key="[seed] address")),
        _line("imap_host", toml_string(d.imap_host, key="[seed] imap_host")),
        _line("imap_port", _port(d.imap_port, "[seed] imap_port")),
        _line("security", toml_string(d.security.value), "ssl | starttls | none"),
        _line("username", toml_string(d.username, key="[seed] username")),
        _ca_line(d.ca_file, "[seed] ca_file"),
        *_auth_lines(d.oauth, "seed"),
        "# delete_found = true            # delete canaries once found (default true)",
        '# junk_folders = ["Quarantine"]  # extra junk folder names, besides \\Junk and the usual',
        "",
        "[schedule]",
        _line(
            "every_minutes",
            toml_number(values.every_minutes, key="[schedule] every_minutes"),
            "fractions allowed (0.5 = 30 s)",
        ),
        _line(
            "deadline_minutes",
            toml_number(values.deadline_minutes, key="[schedule] deadline_minutes"),
            'a canary not found by then is "lost"; found later it is "late"',
        ),
        "",
        "# [policy]                       # optional",
        "# down_after_lost = 1            # lost canaries in a row before DOWN",
        "# down_after_refusals = 1        # refused sends in a row before DOWN",
        "",
    ]
    if values.support_contact:
        contact = toml_string(values.support_contact, key="[alerts] support_contact")
        lines += [
            _line("[alerts]", "", "who is told, and how (docs/escalation.md)"),
            _line("support_contact", contact, "shown in alerts and guides"),
            "",
        ]
    else:
        lines += [
            "# [alerts]                       # who is told, and how (docs/escalation.md)",
            '# support_contact = "Acme IT, 555-0100"  # shown in alerts and guides',
            "",
        ]
    return "\n".join(lines)


def _line(key: str, value: str, comment: str = "") -> str:
    """``key = value`` (or a ``[table]`` header) with the comment at the documented column."""
    text = key if key.startswith("[") else f"{key} = {value}"
    if not comment:
        return text
    if len(text) < _COMMENT_COLUMN - 1:
        return f"{text.ljust(_COMMENT_COLUMN)}# {comment}"
    return f"{text}  # {comment}"


def _port(value: int, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise RefusedValue(key, f"must be a whole number from 1 to 65535, not {value!r}")
    return str(value)


def _ca_line(ca_file: Path | None, key: str) -> str:
    """The CA as an absolute path, so the file stays valid wherever it was typed from."""
    if ca_file is None:
        return '# ca_file = "office-ca.pem"      # a private CA (PEM); relative to this file'
    return _line(
        "ca_file", toml_string(str(ca_file.expanduser().resolve()), key=key), "a private CA (PEM)"
    )


def _auth_lines(oauth: OAuthSettings | None, section: str) -> list[str]:
    """``auth`` and the ``oauth_*`` keys; defaults (authority, scopes) are left out.

    ``oauth_provider`` is always written, even where the server's name would tell: a relay or a
    custom server name must not change which sign-in service the tokens belong to.
    """
    if oauth is None:
        return ['# auth = "password"             # or "oauth2": a Microsoft or Google sign-in']

    def key(name: str) -> str:
        return f"[{section}] {name}"

    lines = [
        _line("auth", '"oauth2"', "tokens in the system keyring (docs/oauth.md)"),
        _line("oauth_provider", toml_string(oauth.provider, key=key("oauth_provider"))),
        _line(
            "oauth_client_id",
            toml_string(oauth.client_id, key=key("oauth_client_id")),
            "your own app registration",
        ),
    ]
    if oauth.client_secret:
        lines.append(
            _line(
                "oauth_client_secret",
                toml_string(oauth.client_secret, key=key("oauth_client_secret")),
                "Google desktop client: not confidential",
            )
        )
    default_authority = MICROSOFT_AUTHORITY if oauth.provider == "microsoft" else GOOGLE_AUTHORITY
    if oauth.authority != default_authority:
        authority = toml_string(oauth.authority, key=key("oauth_authority"))
        lines.append(_line("oauth_authority", authority))
    default_scopes = MICROSOFT_SCOPES if oauth.provider == "microsoft" else GOOGLE_SCOPES
    if tuple(oauth.scopes) != default_scopes:
        scopes = ", ".join(toml_string(v, key=key("oauth_scopes")) for v in oauth.scopes)
        lines.append(_line("oauth_scopes", f"[{scopes}]"))
    return lines


def validate_config_text(text: str, path: Path) -> Config:
    """Parse ``text`` as if it were the file at ``path``; ConfigError (file + key) if it is bad.

    The same checks the watchdog runs at start, so setup can never write a file it would refuse.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # a bug here: render_config must always produce TOML
        raise ConfigError(f"is not valid TOML: {e}", path=str(path)) from e
    return parse_config(raw, path)


#: The keys set-up asks about (and so writes, or leaves out on purpose): a re-run replaces them.
#: Every other key of an existing config (webhooks, office hours, the policy, the practice's
#: inbox, junk folders, reminder times, the data folder) is kept as it was.
_ASKED = {
    "": {"office"},
    "sender": {"address", "smtp_host", "smtp_port", "security", "username", "ca_file", "auth"},
    "seed": {"address", "imap_host", "imap_port", "security", "username", "ca_file", "auth"},
    "schedule": {"every_minutes", "deadline_minutes"},
    "alerts": {"support_contact"},
}


def keep_unasked(old_text: str, new_text: str) -> str:
    """``new_text`` with every key of ``old_text`` that set-up does not ask about, kept as it was.

    tomlkit keeps the old values' comments and layout. The OAuth2 keys go with ``auth`` (they
    belong to the sign-in set-up chose). An old file that is not TOML has nothing to keep.
    """
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        old = tomlkit.parse(old_text)
    except TOMLKitError:
        return new_text
    new = tomlkit.parse(new_text)
    for key, value in old.items():
        asked = _ASKED.get(key)
        if key in _ASKED[""]:
            continue
        if asked is None or not isinstance(value, dict):
            if key not in new:
                new[key] = value
            continue
        if key not in new:
            new[key] = tomlkit.table()
        table = new[key]
        for name, item in value.items():
            if name in asked or name.startswith("oauth_") or name in table:
                continue
            table[name] = item
    return tomlkit.dumps(new)


def write_config_file(path: Path, text: str, *, overwrite: bool = False) -> Config:
    """Check ``text``, write it to ``path`` atomically with mode 0600, and load it back.

    Raises FileExistsError when ``path`` exists and ``overwrite`` is false, and ConfigError when
    the text would not load; in both cases nothing is written. The file is first written under a
    temporary name in the same folder and then renamed over ``path``, so a crash or a full disk
    never leaves half a config behind. 0600 because the file names the accounts and their servers.
    """
    path = path.expanduser()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists")
    if path.exists():
        # A re-run replaces what it asked about and keeps the rest (webhooks, the policy...).
        text = keep_unasked(path.read_text(encoding="utf-8-sig"), text)
    validate_config_text(text, path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomically(path, text, mode=PRIVATE)
    return load_config(path)

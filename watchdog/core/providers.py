"""Which mail provider an account belongs to, and that provider's presets.

The facts live in ``watchdog/data/providers.toml`` so support can correct a host name or a page
address without touching code. The file ships inside the package and is read once per process.
"""

from __future__ import annotations

import enum
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, TypeVar

from watchdog.core.models import Security

#: The name detection falls back to; it must be the last table of the data file.
OTHER = "other"

_DATA_FILE = "providers.toml"

_E = TypeVar("_E", bound=enum.StrEnum)


class SignIn(enum.StrEnum):
    """Which kind of password another mail program (like this one) must use."""

    APP_PASSWORD = "app_password"  # a password made for one program, needs 2-step sign-in
    SECURE_MAIL_KEY = "secure_mail_key"  # AT&T's name for an app password
    THIRD_PARTY_ACCESS = "third_party_access"  # normal password, after a setting is switched on
    OAUTH2_ONLY = "oauth2_only"  # no password works at all; a sign-in window is needed
    PASSWORD = "password"  # the normal password


class OAuth(enum.StrEnum):
    """Whether Watchdog can sign in to the provider through a sign-in page (OAuth2), and whose.

    The one place that says which servers use which OAuth2 service: a server belongs to a
    provider by the same rules as :func:`detect_provider`, so the sign-in service and the
    provider the guides and reply rules use can never disagree.
    """

    GOOGLE = "google"
    MICROSOFT = "microsoft"
    #: OAuth2 for mail is offered only to apps the provider approved one by one (Yahoo's mail
    #: scopes need Yahoo's approval; AOL and AT&T mail run on Yahoo's servers): Watchdog signs
    #: in with the app password or secure mail key instead.
    APPROVED_APPS_ONLY = "approved_apps_only"
    NONE = "none"


class ImapUserName(enum.StrEnum):
    """What to type as the user name when opening the mailbox."""

    ADDRESS = "address"  # the whole e-mail address
    LOCAL_PART = "local_part"  # the part before the @ (iCloud)


@dataclass(frozen=True)
class ServerPreset:
    """A server the provider documents for other mail programs."""

    host: str
    port: int
    security: Security


@dataclass(frozen=True)
class Provider:
    """One mail provider: its presets, how to recognise it, and how to sign in to it."""

    name: str
    display_name: str
    smtp: ServerPreset | None
    imap: ServerPreset | None
    smtp_hosts: tuple[str, ...]
    host_domains: tuple[str, ...]
    domains: tuple[str, ...]
    sign_in: SignIn
    sign_in_url: str
    sign_in_note: str
    sending_limits: str
    imap_username: ImapUserName
    #: The published number of messages (recipients) a day, None when not published.
    daily_limit: int | None = None
    #: The same for an account at the practice's own domain (Google Workspace), when it differs.
    daily_limit_own_domain: int | None = None
    #: The OAuth2 sign-in the provider offers to programs like this one.
    oauth: OAuth = OAuth.NONE

    @property
    def oauth_service(self) -> str:
        """``google`` / ``microsoft`` when Watchdog can sign in here with OAuth2, else ""."""
        if self.oauth in (OAuth.GOOGLE, OAuth.MICROSOFT):
            return self.oauth.value
        return ""

    def daily_limit_for(self, address: str) -> int | None:
        """The daily sending limit that applies to ``address``, None when unknown.

        An address at one of the provider's own ``domains`` (gmail.com) is a personal account;
        any other domain sent through the provider's server is a business one (Workspace).
        """
        domain = _normalise(address.rpartition("@")[2])
        if self.daily_limit_own_domain is not None and domain not in self.domains:
            return self.daily_limit_own_domain
        return self.daily_limit

    def imap_user(self, address: str) -> str:
        """The IMAP user name for ``address`` under this provider's rule."""
        address = address.strip()
        if self.imap_username is ImapUserName.LOCAL_PART:
            return address.rpartition("@")[0] or address
        return address


def get_provider(name: str) -> Provider:
    """The provider called ``name`` (case-insensitive); ValueError names the known ones."""
    catalogue = _catalogue()
    try:
        return catalogue.by_name[name.strip().lower()]
    except KeyError:
        known = ", ".join(catalogue.by_name)
        raise ValueError(f"unknown mail provider {name!r}; known: {known}") from None


def all_providers() -> list[Provider]:
    """Every provider in display order, ``other`` last."""
    return list(_catalogue().by_name.values())


def detect_provider(smtp_host: str, address: str, *, named: str = "") -> Provider:
    """Recognise the provider from the outgoing server's name and the sender's address.

    The server decides when it is known, because the server is what enforces the limits and
    writes the replies: a practice's own domain sent through smtp.gmail.com is Gmail, and through
    smtp.office365.com is Microsoft 365. A known name matches exactly first, then by DNS zone
    (``mail.att.net`` under ``att.net``), the longest zone winning.

    The sender's domain decides only when no server is given yet (the setup screen proposing
    presets). A server we do not know, such as a transactional mail service or the office's own
    relay, gives ``other`` even for a gmail.com sender: that server, not Gmail, sets the limits,
    and Gmail's advice would mislead.

    ``named`` (the config's ``[sender] provider``) overrides all of this: support knows best
    when a provider's server goes by a name we do not know.
    """
    catalogue = _catalogue()
    if named:
        return get_provider(named)
    host = _normalise(smtp_host)
    if host:
        by_host = catalogue.by_host.get(host) or catalogue.by_zone(host)
        return by_host or catalogue.by_name[OTHER]
    domain = _normalise(address.rpartition("@")[2]) if "@" in address else ""
    return catalogue.by_domain.get(domain, catalogue.by_name[OTHER])


class SenderSettings(Protocol):
    """The ``[sender]`` settings that tell the provider (``config.SenderConfig`` has them)."""

    @property
    def smtp_host(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def provider(self) -> str: ...


def sender_provider(sender: SenderSettings) -> Provider:
    """The sending account's provider: :func:`detect_provider` on its ``[sender]`` settings.

    Called once where a config is wired (``app.open_app``, or once per command that has no
    app) and passed along from there: the answer cannot change while the config does not.
    """
    return detect_provider(sender.smtp_host, sender.address, named=sender.provider)


def oauth_service_for(host: str, provider_name: str = "") -> str:
    """``microsoft`` / ``google``: the OAuth2 service an account on ``host`` signs in with.

    Read from the provider data, so it is the service of the provider :func:`detect_provider`
    finds for ``host`` (an IMAP server too: ``imap.gmail.com`` lies in Gmail's zone). A named
    provider (``[sender] provider``, or the one chosen in setup) decides when it has an OAuth2
    service; otherwise the server does, so an account named "other" on smtp.office365.com still
    signs in with Microsoft. "" when neither tells: the config must then say
    ``oauth_provider``.
    """
    if provider_name:
        service = get_provider(provider_name).oauth_service
        if service:
            return service
    if not _normalise(host):
        return ""
    return detect_provider(host, "").oauth_service


def parse_providers(doc: Mapping[str, Any], source: str = _DATA_FILE) -> tuple[Provider, ...]:
    """Build and check providers from a parsed TOML document (the data file, or a test's).

    Raises ValueError naming ``source``, the table and the key, because the reader is whoever
    edited the file.
    """
    providers = tuple(_parse_one(name, table, source) for name, table in doc.items())
    if not providers or providers[-1].name != OTHER:
        raise ValueError(f"{source}: the last table must be [{OTHER}], the fallback")
    _check_unique(providers, source)
    return providers


# --- internals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    by_name: dict[str, Provider]
    by_host: dict[str, Provider]
    zones: tuple[tuple[str, Provider], ...]  # longest zone first
    by_domain: dict[str, Provider]

    def by_zone(self, host: str) -> Provider | None:
        for zone, provider in self.zones:
            if host == zone or host.endswith("." + zone):
                return provider
        return None


@functools.cache
def _catalogue() -> _Catalogue:
    """Read the shipped data file once; it cannot change while the process runs."""
    text = resources.files("watchdog").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return _index(parse_providers(tomllib.loads(text)))


def _index(providers: tuple[Provider, ...]) -> _Catalogue:
    """The lookups detection and the OAuth2 service read, built from the one provider list."""
    zones = [(zone, p) for p in providers for zone in p.host_domains]
    zones.sort(key=lambda item: len(item[0]), reverse=True)
    return _Catalogue(
        by_name={p.name: p for p in providers},
        by_host={h: p for p in providers for h in p.smtp_hosts},
        zones=tuple(zones),
        by_domain={d: p for p in providers for d in p.domains},
    )


def _normalise(name: str) -> str:
    """DNS names compare without case and without a trailing root dot."""
    return name.strip().lower().rstrip(".")


_KEYS = {
    "display_name",
    "smtp",
    "imap",
    "smtp_hosts",
    "host_domains",
    "domains",
    "sign_in",
    "sign_in_url",
    "sign_in_note",
    "sending_limits",
    "imap_username",
    "daily_limit",
    "daily_limit_own_domain",
    "oauth",
}


def _parse_one(name: str, table: Any, source: str) -> Provider:
    where = f"{source}: [{name}]"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    smtp = _server(table.get("smtp"), f"{where} smtp")
    imap = _server(table.get("imap"), f"{where} imap")
    if name != OTHER and (smtp is None or imap is None):
        raise ValueError(f"{where} needs both smtp and imap presets")
    return Provider(
        name=name,
        display_name=_text(table, "display_name", where),
        smtp=smtp,
        imap=imap,
        smtp_hosts=_names(table, "smtp_hosts", where),
        host_domains=_names(table, "host_domains", where),
        domains=_names(table, "domains", where),
        sign_in=_choice(SignIn, table, "sign_in", where),
        sign_in_url=_text(table, "sign_in_url", where, allow_empty=name == OTHER),
        sign_in_note=_text(table, "sign_in_note", where),
        sending_limits=_text(table, "sending_limits", where),
        imap_username=_choice(ImapUserName, table, "imap_username", where),
        daily_limit=_limit(table, "daily_limit", where),
        daily_limit_own_domain=_limit(table, "daily_limit_own_domain", where),
        oauth=_choice(OAuth, {"oauth": OAuth.NONE.value, **table}, "oauth", where),
    )


def _limit(table: dict[str, Any], key: str, where: str) -> int | None:
    """A daily sending limit: a whole number of messages, or absent when not published."""
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} {key} = {value!r} must be a whole number of messages, 1 or more")
    return value


def _server(raw: Any, where: str) -> ServerPreset | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"host", "port", "security"}:
        raise ValueError(f"{where} must be {{ host = ..., port = ..., security = ... }}")
    host, port, security = raw["host"], raw["port"], raw["security"]
    if not isinstance(host, str) or not host or host != _normalise(host):
        raise ValueError(f"{where} host = {host!r} must be a lower-case server name")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{where} port = {port!r} must be a whole number from 1 to 65535")
    # A preset always crosses the internet, so an unencrypted one would send a password in clear.
    if security not in (Security.SSL.value, Security.STARTTLS.value):
        raise ValueError(f'{where} security = {security!r} must be "ssl" or "starttls"')
    return ServerPreset(host=host, port=port, security=Security(security))


def _text(table: dict[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = table.get(key)
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        raise ValueError(f"{where} {key} must be text")
    return value


def _names(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} {key} must be a list of names")
    for v in value:
        if v != _normalise(v) or "@" in v or " " in v:
            raise ValueError(f"{where} {key}: {v!r} must be a lower-case DNS name")
    return tuple(value)


def _choice(kind: type[_E], table: dict[str, Any], key: str, where: str) -> _E:
    value = table.get(key)
    for member in kind:
        if member.value == value:
            return member
    allowed = ", ".join(m.value for m in kind)
    raise ValueError(f"{where} {key} = {value!r} must be one of {allowed}")


def _check_unique(providers: tuple[Provider, ...], source: str) -> None:
    """A host, zone or domain listed twice would make detection depend on file order."""
    for attribute in ("smtp_hosts", "host_domains", "domains"):
        owner: dict[str, str] = {}
        for p in providers:
            for value in getattr(p, attribute):
                if value in owner:
                    raise ValueError(
                        f"{source}: {attribute} {value!r} is listed for both "
                        f"[{owner[value]}] and [{p.name}]"
                    )
                owner[value] = p.name
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: a provider name is used twice")


def short_provider_name(display_name: str) -> str:
    """``Outlook.com / Hotmail / Live`` -> ``Outlook.com``; keeps titles short."""
    return display_name.split(" / ")[0].split(" (")[0].strip() or "mail"


def sending_limit(
    sender: SenderSettings, provider: Provider | None = None
) -> tuple[int | None, str]:
    """The sending account's published daily limit (None: unknown) and its provider's short name.

    ``provider``: the one already detected for ``sender`` (``App.sender_provider``), if the
    caller has it; a command without an app leaves it out and it is detected here once.
    """
    if provider is None:
        provider = sender_provider(sender)
    return provider.daily_limit_for(sender.address), short_provider_name(provider.display_name)

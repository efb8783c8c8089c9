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
from typing import Any, Protocol

from watchdog.core import tables
from watchdog.core.models import Security
from watchdog.core.tables import DataFileError

#: The name detection falls back to; it must be the last table of the data file.
OTHER = "other"

_DATA_FILE = "providers.toml"


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

    Raises :class:`~watchdog.core.tables.DataFileError` (a ValueError) naming ``source``, the
    table, the key and the value, because the reader is whoever edited the file.
    """
    providers = tuple(_parse_one(name, table, source) for name, table in doc.items())
    if not providers or providers[-1].name != OTHER:
        raise DataFileError(f"{source}: the last table must be [{OTHER}], the fallback")
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


def _server_spec() -> tables.Spec:
    """A preset server: the config's server-name rule, a port, and encryption.

    Why only ssl or starttls: a preset always crosses the internet, so an unencrypted one would
    send a password in clear.
    """
    return {
        "host": tables.lower_case_host(),
        "port": tables.integer(1, 65535),
        "security": tables.choice(
            (Security.SSL.value, Security.STARTTLS.value), must='must be "ssl" or "starttls"'
        ),
    }


def _provider_spec(name: str, where: str) -> tables.Spec:
    """What each key of a provider's table may hold (the file's header comment says what)."""
    limit = tables.integer(1, must="must be a whole number of messages, 1 or more")
    return {
        "display_name": tables.text(),
        "smtp": tables.server(f"{where} smtp", _server_spec()).optional(),
        "imap": tables.server(f"{where} imap", _server_spec()).optional(),
        "smtp_hosts": tables.dns_names(),
        "host_domains": tables.dns_names(),
        "domains": tables.dns_names(),
        "sign_in": tables.member(SignIn),
        "sign_in_url": tables.text(allow_empty=name == OTHER),
        "sign_in_note": tables.text(),
        "sending_limits": tables.text(),
        "imap_username": tables.member(ImapUserName),
        "daily_limit": limit.optional(),
        "daily_limit_own_domain": limit.optional(),
        "oauth": tables.member(OAuth).optional(OAuth.NONE),
    }


def _parse_one(name: str, table: Any, source: str) -> Provider:
    where = f"{source}: [{name}]"
    checked = tables.read_table(table, _provider_spec(name, where), where)
    smtp, imap = _server(checked["smtp"]), _server(checked["imap"])
    if name != OTHER and (smtp is None or imap is None):
        raise DataFileError(f"{where} needs both smtp and imap presets")
    return Provider(
        name=name,
        display_name=checked["display_name"],
        smtp=smtp,
        imap=imap,
        smtp_hosts=checked["smtp_hosts"],
        host_domains=checked["host_domains"],
        domains=checked["domains"],
        sign_in=checked["sign_in"],
        sign_in_url=checked["sign_in_url"],
        sign_in_note=checked["sign_in_note"],
        sending_limits=checked["sending_limits"],
        imap_username=checked["imap_username"],
        daily_limit=checked["daily_limit"],
        daily_limit_own_domain=checked["daily_limit_own_domain"],
        oauth=checked["oauth"],
    )


def _server(checked: dict[str, Any] | None) -> ServerPreset | None:
    """The preset from its table, already checked against :func:`_server_spec`."""
    if checked is None:
        return None
    return ServerPreset(
        host=checked["host"], port=checked["port"], security=Security(checked["security"])
    )


def _check_unique(providers: tuple[Provider, ...], source: str) -> None:
    """A host, zone or domain listed twice would make detection depend on file order."""
    for attribute in ("smtp_hosts", "host_domains", "domains"):
        owner: dict[str, str] = {}
        for p in providers:
            for value in getattr(p, attribute):
                if value in owner:
                    raise DataFileError(
                        f"{source}: {attribute} {value!r} is listed for both "
                        f"[{owner[value]}] and [{p.name}]"
                    )
                owner[value] = p.name
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise DataFileError(f"{source}: a provider name is used twice")


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

"""Read and validate the TOML configuration.

Every error names the file, the key, the bad value and what is allowed, because the person
reading it is a support technician at an office PC, not the author of this code. Passwords
never live here: a password key is refused with a message that says where passwords go.

One schema layer: every table of the file (the top level, ``[sender]``, ``[seed]``,
``[schedule]``, ``[policy]``, ``[alerts]``, ``[alerts.heartbeat]``, ``[[alerts.webhook]]``,
``[batches]``) is a spec of :mod:`watchdog.core.tables` fields read with
:func:`~watchdog.core.tables.read_table`: the same fields and the same unknown-key rule as the
shipped data files, told in the config's words (:class:`_ConfigVoice`). Addresses and server
names are checked by the rules of :mod:`watchdog.core.inputs` that set-up's prompts use. Rules
that span keys (``security = "none"`` only on the office network, auth and ``oauth_*``, the
schedule's bounds against the provider's daily limit, the exemptions for a server on this PC,
how the batch numbers hold together) are code after the per-key reading.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from watchdog.core import tables
from watchdog.core.batches import BatchRules
from watchdog.core.errors import ConfigError
from watchdog.core.inputs import (
    address_problem,
    host_problem,
    is_office_address,
    single_line_problem,
)
from watchdog.core.models import AlertPolicy, Policy, Security
from watchdog.core.providers import oauth_service_for

CONFIG_ENV = "WATCHDOG_CONFIG"
APP_NAME = "delivery-watchdog"

#: Keys that look like secrets; refused anywhere in the file.
_SECRET_KEYS = frozenset({"password", "pass", "passwd", "secret", "token", "app_password"})


# -- OAuth2 sign-in (``auth = "oauth2"``) ---------------------------------------------------------

#: OAuth2 identity services Watchdog signs in with, and what each needs by default.
OAUTH_PROVIDERS = ("microsoft", "google")
#: Microsoft: "common" accepts both personal (Outlook.com) and work (Microsoft 365) accounts.
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/common"
#: ``offline_access`` (a refresh token) is added by msal itself; naming it here is refused by msal.
MICROSOFT_SCOPES = (
    "https://outlook.office.com/SMTP.Send",
    "https://outlook.office.com/IMAP.AccessAsUser.All",
)
GOOGLE_AUTHORITY = "https://accounts.google.com"
GOOGLE_SCOPES = ("https://mail.google.com/",)


@dataclass(frozen=True)
class OAuthSettings:
    """How one account signs in with OAuth2. No secret lives here: tokens stay in the keyring.

    ``client_secret`` is only for Google's "Desktop app" clients, which Google itself says are
    not confidential (every installed copy carries it); it is not a password of the practice.
    """

    provider: str  # microsoft | google
    client_id: str
    authority: str  # Microsoft: the msal authority; Google: the OpenID issuer
    scopes: tuple[str, ...]
    client_secret: str = ""

    @property
    def is_default_authority(self) -> bool:
        return self.authority in (MICROSOFT_AUTHORITY, GOOGLE_AUTHORITY)


_OAUTH_KEYS = frozenset(
    {"oauth_provider", "oauth_client_id", "oauth_client_secret", "oauth_authority", "oauth_scopes"}
)


@dataclass(frozen=True)
class SenderConfig:
    """The practice's outgoing account: the one the reminders go through."""

    address: str
    smtp_host: str
    smtp_port: int
    security: Security
    username: str  # empty: the server needs no AUTH
    ca_file: Path | None = None
    auth: str = "password"
    # The practice's own inbox, where bounces and provider notices arrive (optional).
    imap_host: str | None = None
    imap_port: int = 993
    imap_security: Security = Security.SSL
    imap_username: str = ""  # empty: the same as ``username``
    # The Sent folder's name there, when it is neither marked \\Sent nor one of the usual names.
    sent_folder: str = ""
    # The mail provider, when the server's name does not tell (a provider's relay under another
    # name); empty: recognised from ``smtp_host``. Decides guides, reply reading, notices.
    provider: str = ""
    oauth: OAuthSettings | None = None  # set exactly when auth == "oauth2"


@dataclass(frozen=True)
class SeedConfig:
    """The mailbox the canaries go to."""

    address: str
    imap_host: str
    imap_port: int
    security: Security
    username: str
    ca_file: Path | None = None
    auth: str = "password"
    delete_found: bool = True
    junk_folders: tuple[str, ...] = ()  # extra names to try besides SPECIAL-USE and the usual ones
    oauth: OAuthSettings | None = None  # set exactly when auth == "oauth2"


def auth_for(oauth: OAuthSettings | None) -> str:
    """The ``auth`` key for an account with (``"oauth2"``) or without OAuth2 settings."""
    return "password" if oauth is None else "oauth2"


#: The schedule when the config says nothing, and what set-up proposes (its prompts, its
#: options' defaults, the file it writes): the one home of these two numbers.
DEFAULT_EVERY_MINUTES = 30.0
DEFAULT_DEADLINE_MINUTES = 10.0


@dataclass(frozen=True)
class ScheduleConfig:
    """How often to check and how long a canary may take."""

    every_minutes: float = DEFAULT_EVERY_MINUTES
    deadline_minutes: float = DEFAULT_DEADLINE_MINUTES
    # Learn the deadline from this account's own arrival times (a high percentile with a margin,
    # never above deadline_minutes): a block is told sooner than a fixed 10 minutes would. A
    # canary past a learned (shorter) deadline is confirmed by a second one before DOWN, so a
    # rare long hold raises no alert (benchmarks/detection.py; docs/batches.md).
    learn_deadline: bool = True
    # When the practice's software sends its reminders ("HH:MM", this PC's time), for accounts
    # whose Sent folder shows nothing: a canary goes out 20 minutes after each.
    reminder_times: tuple[str, ...] = ()
    # The regular interval when no reminders are due (nights, weekends: outside the office hours
    # of [alerts] and away from the reminder times and batches; and office hours in which the
    # Sent folder shows nothing sent since the last canary); None: every_minutes all day.
    # The config's default is 120 (docs/configuration.md), None for a server on this PC.
    quiet_every_minutes: float | None = None

    @property
    def every_seconds(self) -> float:
        return self.every_minutes * 60.0

    @property
    def quiet_every_seconds(self) -> float | None:
        """The quiet hours' interval, never shorter than the regular one (None: no thinning)."""
        if self.quiet_every_minutes is None or self.quiet_every_minutes <= self.every_minutes:
            return None
        return self.quiet_every_minutes * 60.0

    @property
    def deadline_seconds(self) -> float:
        return self.deadline_minutes * 60.0


@dataclass(frozen=True)
class WebhookConfig:
    """One ``[[alerts.webhook]]`` entry: where support hears about problems."""

    kind: str  # json | slack | teams | ntfy
    url: str
    name: str = ""
    timeout_s: float = 10.0
    retries: int = 3

    @property
    def label(self) -> str:
        return f"webhook:{self.name or self.kind}"


WEBHOOK_KINDS = ("json", "slack", "teams", "ntfy")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AlertsConfig:
    """``[alerts]``: who is told, when, and through which channels."""

    policy: AlertPolicy = field(default_factory=AlertPolicy)
    desktop: bool = True
    support_contact: str = ""
    webhooks: tuple[WebhookConfig, ...] = ()
    heartbeat_url: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path
    sender: SenderConfig
    seed: SeedConfig
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    policy: Policy = field(default_factory=Policy)
    office: str = ""
    data_dir: Path | None = None  # overrides the platform's data folder (the demo uses this)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    batches: BatchRules = field(default_factory=BatchRules)

    @property
    def sender_inbox(self) -> SeedConfig | None:
        """The sending account's own inbox as an IMAP account, when ``[sender] imap_host`` is set.

        Canaries are never deleted from it, and only bounces of our canaries are read there.
        """
        s = self.sender
        if not s.imap_host:
            return None
        return SeedConfig(
            address=s.address,
            imap_host=s.imap_host,
            imap_port=s.imap_port,
            security=s.imap_security,
            username=s.imap_username or s.username,
            ca_file=s.ca_file,
            auth=s.auth,
            delete_found=False,
            oauth=s.oauth,
        )


def default_config_path() -> Path:
    """``WATCHDOG_CONFIG``, else the platform's config folder (``--config`` beats both)."""
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read and validate the config file at ``path`` (or the default place)."""
    path = path or default_config_path()
    if not path.exists():
        raise ConfigError(
            "no configuration file here. Create it (see docs/configuration.md) or point "
            f"--config / {CONFIG_ENV} at one.",
            path=str(path),
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may add a BOM
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"is not valid TOML: {e}", path=str(path)) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot be read: {e}", path=str(path)) from e
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML document."""
    reader = _Reader(path)
    reader.refuse_secrets(raw, "")
    document = tables.read_table(raw, reader.document_spec(), "", reader.voice)
    sender_raw: dict[str, Any] = document["sender"]
    seed_raw: dict[str, Any] = document["seed"]

    checked = tables.read_table(sender_raw, reader.account_spec(_SENDER), "sender", reader.voice)
    sender_host: str = checked["smtp_host"]
    sender = SenderConfig(
        address=checked["address"],
        smtp_host=sender_host,
        smtp_port=checked["smtp_port"],
        security=checked["security"],
        username=checked["username"],
        ca_file=checked["ca_file"],
        auth=checked["auth"],
        provider=checked["provider"],
    )
    reader.plain_only_on_local(sender_host, sender.security, "sender")
    sender = replace(
        sender,
        oauth=reader.oauth(
            sender_raw, "sender", sender.auth, oauth_service_for(sender_host, sender.provider)
        ),
    )
    if sender.auth == "oauth2" and not sender.username:
        raise reader.fail("sender", "username", 'is required with auth = "oauth2"')
    if checked["imap_host"] is not None:
        inbox_host: str = checked["imap_host"]
        inbox_security: Security = checked["imap_security"]
        reader.plain_only_on_local(inbox_host, inbox_security, "sender", key="imap_security")
        sender = replace(
            sender,
            imap_host=inbox_host,
            imap_port=checked["imap_port"],
            imap_security=inbox_security,
            imap_username=checked["imap_username"],
            sent_folder=checked["sent_folder"],
        )

    checked = tables.read_table(seed_raw, reader.account_spec(_SEED), "seed", reader.voice)
    seed_host: str = checked["imap_host"]
    seed = SeedConfig(
        address=checked["address"],
        imap_host=seed_host,
        imap_port=checked["imap_port"],
        security=checked["security"],
        username=checked["username"],
        ca_file=checked["ca_file"],
        auth=checked["auth"],
        delete_found=checked["delete_found"],
        junk_folders=checked["junk_folders"],
    )
    reader.plain_only_on_local(seed_host, seed.security, "seed")
    seed = replace(
        seed, oauth=reader.oauth(seed_raw, "seed", seed.auth, oauth_service_for(seed_host))
    )

    return Config(
        path=path,
        sender=sender,
        seed=seed,
        schedule=reader.schedule(document["schedule"], sender),
        policy=Policy(**tables.read_table(document["policy"], _POLICY, "policy", reader.voice)),
        office=document["office"],
        data_dir=document["data_dir"],
        alerts=_parse_alerts(reader, document["alerts"]),
        batches=reader.batches(document["batches"]),
    )


def _parse_alerts(reader: _Reader, raw: dict[str, Any]) -> AlertsConfig:
    """``[alerts]`` read with :data:`_ALERTS`; its webhooks and heartbeat with their specs."""
    alerts = tables.read_table(raw, _ALERTS, "alerts", reader.voice)
    open_min, close_min = alerts["office_hours"]
    policy = AlertPolicy(
        on_degraded=alerts["on_degraded"],
        remind_every_s=alerts["remind_every_hours"] * 3600,
        office_days=alerts["office_days"],
        office_open_min=open_min,
        office_close_min=close_min,
    )
    hooks_raw = alerts["webhook"]
    if not isinstance(hooks_raw, list) or not all(isinstance(h, dict) for h in hooks_raw):
        raise reader.fail("alerts", "webhook", "must be written as [[alerts.webhook]] entries")
    webhooks = []
    for i, hook in enumerate(hooks_raw):
        checked = tables.read_table(hook, _WEBHOOK, f"alerts.webhook #{i + 1}", reader.voice)
        webhooks.append(
            WebhookConfig(
                kind=checked["kind"],
                url=checked["url"],
                name=checked["name"],
                timeout_s=checked["timeout_seconds"],
                retries=checked["retries"],
            )
        )
    heartbeat_raw = alerts["heartbeat"]
    if heartbeat_raw is not None and not isinstance(heartbeat_raw, dict):
        raise reader.voice.not_a_table("heartbeat")
    heartbeat = (
        tables.read_table(heartbeat_raw, _HEARTBEAT, "alerts.heartbeat", reader.voice)["url"]
        if heartbeat_raw
        else None
    )
    return AlertsConfig(
        policy=policy,
        desktop=alerts["desktop"],
        support_contact=alerts["support_contact"],
        webhooks=tuple(webhooks),
        heartbeat_url=heartbeat,
    )


class _ConfigVoice(tables.Voice):
    """The config's words for the shared rules of :mod:`watchdog.core.tables`.

    ``config.toml: [seed] delete_found = 'yes' must be true or false``: the file, the key as the
    person finds it in the file (``[section] key``), the value and what is allowed, raised as
    :class:`ConfigError`. ``where`` is the section (``alerts.webhook #2``; empty: the top level).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, key: str | None, words: str) -> ConfigError:
        shown = f"[{where}] {key}" if where and key else (key or None)
        return ConfigError(words, path=str(self.path), key=shown)

    def not_a_table(self, where: str) -> ConfigError:
        return ConfigError(f"{where} must be a section [{where}]", path=str(self.path))

    def unknown(self, where: str, unknown: Sequence[str], allowed: Sequence[str]) -> ConfigError:
        return self.error(
            where, unknown[0], f"is not a known setting. Allowed here: {', '.join(sorted(allowed))}"
        )

    def missing(self, where: str, key: str, field: tables.Field) -> ConfigError:
        if not where:  # the top level: only sections are required there
            return ConfigError(
                f"the section [{key}] is missing; it is required", path=str(self.path)
            )
        return self.error(where, key, f"is missing; {_MISSING_WORDS.get(key, 'it is required')}")


#: What to write for a required key that is left out, where "it is required" does not help.
_MISSING_WORDS = {
    "smtp_port": "give the server's port, e.g. 465 or 993",
    "imap_port": "give the server's port, e.g. 465 or 993",
}


class _Reader:
    """Typed access to TOML tables with errors that name the file and the key.

    Each accessor checks its value with a field of :mod:`watchdog.core.tables` (the one schema
    layer); what is left here is where a value comes from and rules across keys.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.voice = _ConfigVoice(path)

    def fail(self, section: str, key: str, message: str) -> ConfigError:
        return self.voice.error(section, key, message)

    def document_spec(self) -> tables.Spec:
        """The top level of the file: its sections, ``office`` and ``data_dir`` (read from this
        file's folder when relative, so a config can travel)."""

        def data_dir(value: Any) -> Path:
            if not isinstance(value, str) or not value.strip():
                raise tables.Refused("must be a folder path")
            _LINE.convert(value)
            return self.relative(Path(value).expanduser())

        return {
            "sender": _section("sender"),
            "seed": _section("seed"),
            "schedule": _section("schedule").optional({}),
            "policy": _section("policy").optional({}),
            "alerts": _section("alerts").optional({}),
            "batches": _section("batches").optional({}),
            "office": tables.line(must="must be text").optional(""),
            "data_dir": tables.Field(data_dir, "must be a folder path").optional(None),
        }

    def account_spec(self, spec: tables.Spec) -> tables.Spec:
        """``spec`` (:data:`_SENDER`, :data:`_SEED`) with ``ca_file`` read from this file's
        folder: a relative path travels with the config."""

        def ca_file(value: Any) -> Path | None:
            if value == "":
                return None
            # The path is used as written (not stripped): only its form is checked here.
            _FILE_PATH.convert(value)
            path = self.relative(Path(value).expanduser())
            if not path.is_file():
                raise tables.Refused(
                    f"= {value!r}: no such file (a PEM file of the private CA)", shows_value=False
                )
            return path

        return {
            **spec,
            "ca_file": tables.Field(ca_file, "must be a file path in quotes").optional(),
        }

    def value(self, table: dict[str, Any], section: str, key: str, field: tables.Field) -> Any:
        """``table[key]`` (or the field's default) checked by ``field``; missing if required."""
        if key not in table:
            if field.required:
                raise self.voice.missing(section, key, field)
            return field.default
        return tables.check_value(table[key], field, section, key, self.voice)

    def relative(self, p: Path) -> Path:
        """Relative paths are read from the config file's folder, so a config can travel."""
        return p if p.is_absolute() else (self.path.parent / p)

    def refuse_secrets(self, table: dict[str, Any], where: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                self.refuse_secrets(value, key)
            elif key.lower() in _SECRET_KEYS:
                raise ConfigError(
                    f"{key} = ... is not allowed in the config file: passwords are kept in the "
                    "operating system's keyring (run `watchdog setup`, or store it with "
                    f"`keyring set delivery-watchdog {where or 'sender'}:<username>`), or for "
                    "headless use in WATCHDOG_SENDER_PASSWORD / WATCHDOG_SEED_PASSWORD. "
                    "Remove the line.",
                    path=str(self.path),
                    key=f"[{where}] {key}" if where else key,
                )

    def text(
        self,
        table: dict[str, Any],
        section: str,
        key: str,
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(section, key, "is missing; it is required")
        field = _REQUIRED_LINE if required else _LINE
        checked: str = tables.check_value(value, field, section, key, self.voice)
        return checked

    def oauth(
        self, table: dict[str, Any], section: str, auth: str, derived: str
    ) -> OAuthSettings | None:
        """The ``oauth_*`` keys of one account; refused unless ``auth = "oauth2"``."""
        given = sorted(k for k in table if k in _OAUTH_KEYS)
        if auth != "oauth2":
            if given:
                raise self.fail(section, given[0], 'is only used with auth = "oauth2"')
            return None
        provider = self.text(table, section, "oauth_provider", default=derived).lower()
        if provider not in OAUTH_PROVIDERS:
            allowed = " or ".join(f'"{p}"' for p in OAUTH_PROVIDERS)
            problem = (
                f"= {provider!r} is not allowed"
                if provider
                else "is missing: the server's name does not tell which sign-in service it uses"
            )
            raise self.fail(section, "oauth_provider", f"{problem}; use {allowed}")
        client_id = self.text(table, section, "oauth_client_id", default="")
        if not client_id:
            raise self.fail(
                section,
                "oauth_client_id",
                'is missing; it is required with auth = "oauth2": the application (client) '
                "id of your own app registration (see docs/oauth.md)",
            )
        secret = self.text(table, section, "oauth_client_secret", default="")
        if secret and provider != "google":
            raise self.fail(
                section,
                "oauth_client_secret",
                "is only for Google desktop clients; Microsoft public clients have none",
            )
        if provider == "google" and not secret:
            raise self.fail(
                section,
                "oauth_client_secret",
                "is missing; Google desktop (installed app) clients come with one "
                "(see docs/oauth.md)",
            )
        default_authority = MICROSOFT_AUTHORITY if provider == "microsoft" else GOOGLE_AUTHORITY
        authority = default_authority
        if "oauth_authority" in table:
            authority = self.url(table, section, "oauth_authority").rstrip("/")
            if provider == "microsoft" and not authority.startswith("https://"):
                raise self.fail(
                    section, "oauth_authority", "must start with https:// (msal requires it)"
                )
        scopes = MICROSOFT_SCOPES if provider == "microsoft" else GOOGLE_SCOPES
        if "oauth_scopes" in table:
            raw = table["oauth_scopes"]
            reserved = {"openid", "profile", "offline_access"}
            if (
                not isinstance(raw, list)
                or not raw
                or not all(
                    isinstance(v, str) and v and v.isprintable() and " " not in v for v in raw
                )
            ):
                raise self.fail(
                    section, "oauth_scopes", f"= {raw!r} must be a list of scope names in quotes"
                )
            if provider == "microsoft" and reserved & set(raw):
                raise self.fail(
                    section,
                    "oauth_scopes",
                    "must not name openid, profile or offline_access: they are always requested",
                )
            scopes = tuple(raw)
        return OAuthSettings(
            provider=provider,
            client_id=client_id,
            authority=authority,
            scopes=scopes,
            client_secret=secret,
        )

    def schedule(self, table: dict[str, Any], sender: SenderConfig) -> ScheduleConfig:
        """``[schedule]`` within the bounds that keep the practice's account safe (see
        :func:`every_minutes_problem`); the sender decides which bounds apply.

        Each key is read by :data:`_SCHEDULE`; the bounds that depend on the sender and on
        ``every_minutes`` are the cross-key rules after it.
        """
        checked = tables.read_table(table, _SCHEDULE, "schedule", self.voice)
        every: float = checked["every_minutes"]
        deadline: float = checked["deadline_minutes"]
        on_this_pc = no_provider_behind(sender.smtp_host)
        problem = every_minutes_problem(every, on_this_pc=on_this_pc)
        if problem is None and not on_this_pc:
            problem = daily_share_problem(
                every, sender.smtp_host, sender.address, provider=sender.provider
            )
        if problem is not None:
            raise self.fail("schedule", "every_minutes", f"= {every:g} {problem}")
        problem = deadline_minutes_problem(deadline, on_this_pc=on_this_pc)
        if problem is not None:
            raise self.fail("schedule", "deadline_minutes", f"= {deadline:g} {problem}")
        return ScheduleConfig(
            every_minutes=every,
            deadline_minutes=deadline,
            learn_deadline=checked["learn_deadline"],
            reminder_times=checked["reminder_times"],
            quiet_every_minutes=self.quiet_every(
                checked["quiet_every_minutes"], every, on_this_pc=on_this_pc
            ),
        )

    def quiet_every(self, value: float | None, every: float, *, on_this_pc: bool) -> float | None:
        """``[schedule] quiet_every_minutes`` (None: not written): the interval when no
        reminders are due, within its bounds against ``every_minutes``.

        Default 120 (docs/configuration.md gives the reasons); with no provider behind the
        outgoing server (this PC, test names) no default thinning: nobody's budget is spent
        there, and a demo or a test should see the schedule it set.
        """
        if value is None:
            return None if on_this_pc or every >= QUIET_EVERY_MINUTES else QUIET_EVERY_MINUTES
        if not every <= value <= max(MAX_QUIET_EVERY_MINUTES, every):
            raise self.fail(
                "schedule",
                "quiet_every_minutes",
                f"= {value:g} must be from every_minutes ({every:g}) to "
                f"{MAX_QUIET_EVERY_MINUTES:g} minutes: never more often than the regular "
                "checks, and at least one check every "
                f"{MAX_QUIET_EVERY_MINUTES / 60:g} hours through nights and weekends "
                "(equal to every_minutes: no quieter schedule)",
            )
        return value

    def batches(self, table: dict[str, Any]) -> BatchRules:
        """``[batches]``: what counts as a reminder batch (docs/batches.md gives the reasons)."""
        checked = tables.read_table(table, _BATCHES, "batches", self.voice)
        running = checked["canary_every_minutes"]
        try:
            return BatchRules(
                min_messages=checked["min_messages"],
                max_gap_s=checked["max_gap_seconds"],
                quiet_after_s=checked["quiet_after_seconds"],
                running_canary_every_s=float(running) * 60.0 if running else None,
            )
        except ValueError as e:
            keys = "min_messages, max_gap_seconds, quiet_after_seconds"
            raise self.fail("batches", keys, f"do not hold together: {e}") from None

    def url(self, table: dict[str, Any], section: str, key: str) -> str:
        """An https URL (http only to this PC or the office network): see :data:`_URL`."""
        checked: str = self.value(table, section, key, _URL)
        return checked

    def plain_only_on_local(
        self, host: str, security: Security, section: str, key: str = "security"
    ) -> None:
        """Refuse unencrypted connections to the internet: a password would cross it in clear."""
        if security is Security.NONE and not is_local_host(host):
            raise self.fail(
                section,
                key,
                f'= "none" is only allowed for a server on this PC or the office network; '
                f'{host!r} is neither. Use "ssl" or "starttls".',
            )


def _minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60):
        raise ValueError(hhmm)
    return h * 60 + m


# -- the fields of the config's keys (watchdog.core.tables: one schema layer) ---------------------
#
# Each refusal's words follow ``[section] key = value`` in the message; a field whose words show
# the value themselves (stripped, as the rule judged it) says so with ``shows_value=False``.

_LINE = tables.line()
_REQUIRED_LINE = tables.line(required=True)
_FILE_PATH = tables.line(must="must be a file path in quotes")
_BOOLEAN = tables.boolean()
_COUNT = tables.integer(1)
_PORT = tables.integer(1, 65535)
_ADDRESS = tables.line_by(address_problem, "must be an e-mail address like name@example.com")
_HOST = tables.line_by(host_problem, "must be a server name like smtp.example.com")
#: Passed through as written; read by code of its own (``[[alerts.webhook]]``, a sub-table).
_AS_WRITTEN = tables.Field(lambda value: value, "")


def _section(name: str) -> tables.Field:
    """The ``[name]`` section of the file, as written; its keys are read by its own spec."""

    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise tables.Refused(f"must be a section [{name}]", shows_value=False)
        return value

    return tables.Field(convert, f"must be a section [{name}]")


def _security(value: Any) -> Security:
    if not isinstance(value, str) or value.lower() not in {s.value for s in Security}:
        allowed = ", ".join(f'"{s.value}"' for s in Security)
        raise tables.Refused(f"is not allowed; use one of {allowed}")
    return Security(value.lower())


_SECURITY = tables.Field(_security, "must be ssl, starttls or none").optional(Security.SSL)


def _auth(value: Any) -> str:
    if value not in ("password", "oauth2"):
        raise tables.Refused('is not allowed; use "password" or "oauth2" (see docs/oauth.md)')
    return str(value)


_AUTH = tables.Field(_auth, 'must be "password" or "oauth2"').optional("password")


def _folder_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise tables.Refused("must be a list of folder names")
    for name in value:
        problem = single_line_problem(name)
        if problem is not None:
            # A folder name goes into IMAP commands: a line break would start a new one.
            raise tables.Refused(f"= {value!r}: each folder name {problem}", shows_value=False)
    return tuple(value)


_FOLDER_NAMES = tables.Field(_folder_names, "must be a list of folder names").optional(())


def _url(value: Any) -> str:
    """An https URL (http only to this PC or the office network): alerts carry office data."""
    from urllib.parse import urlsplit

    text: str = _REQUIRED_LINE.convert(value)
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise tables.Refused("must be a web address starting with https://", shows_value=False)
    if parts.scheme == "http" and not is_local_host(host):
        raise tables.Refused(
            "must start with https:// (http:// only for this PC or the office)", shows_value=False
        )
    return text


_URL = tables.Field(_url, "must be a web address starting with https://")


def _office_hours(value: Any) -> tuple[int, int]:
    text: str = _LINE.convert(value)
    try:
        start, end = (part.strip() for part in text.split("-"))
        open_min, close_min = (_minutes_of(start), _minutes_of(end))
    except ValueError:
        raise tables.Refused(
            f'= {text!r} must look like "07:00-19:00"', shows_value=False
        ) from None
    if not open_min < close_min:
        raise tables.Refused(
            f"= {text!r}: the office must open before it closes", shows_value=False
        )
    return open_min, close_min


def _office_days(value: Any) -> frozenset[int]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(d, str) and d.lower()[:3] in _DAYS for d in value)
    ):
        raise tables.Refused('must be a list of days like ["mon", "tue"]')
    return frozenset(_DAYS.index(d.lower()[:3]) for d in value)


_REMINDER_TIMES_WORDS = 'a list of times of day like ["08:00", "17:30"] (at most 24)'


def _reminder_times(value: Any) -> tuple[str, ...]:
    """A list of "HH:MM" times of day, at most 24, sorted and without repeats."""
    if not isinstance(value, list) or len(value) > 24:
        raise tables.Refused(f"must be {_REMINDER_TIMES_WORDS}")
    times = []
    for item in value:
        try:
            minutes = _minutes_of(item) if isinstance(item, str) else -1
        except ValueError:
            minutes = -1
        if not 0 <= minutes < 24 * 60:
            raise tables.Refused(
                f"has {item!r}, which is not HH:MM: {_REMINDER_TIMES_WORDS}", shows_value=False
            )
        times.append(f"{minutes // 60:02d}:{minutes % 60:02d}")
    return tuple(sorted(set(times)))


_CANARY_EVERY_WORDS = "must be a number of minutes, or 0 for a canary only after a batch"


def _canary_every(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise tables.Refused(_CANARY_EVERY_WORDS)
    return value


def _webhook_kind(value: Any) -> str:
    kind: str = _LINE.convert(value)
    if kind not in WEBHOOK_KINDS:
        raise tables.Refused(
            f"= {kind!r} is not allowed; use one of {WEBHOOK_KINDS}", shows_value=False
        )
    return kind


def _provider(value: Any) -> str:
    """A provider name from providers.toml, or "" to recognise it from the server."""
    from watchdog.core.providers import all_providers

    name = str(_LINE.convert(value)).strip().lower()
    known = [p.name for p in all_providers()]
    if name and name not in known:
        raise tables.Refused(f"= {name!r} must be one of {', '.join(known)}", shows_value=False)
    return name


#: The ``oauth_*`` keys: read together by :meth:`_Reader.oauth`, a rule across keys.
_OAUTH_FIELDS: tables.Spec = {key: _AS_WRITTEN.optional() for key in sorted(_OAUTH_KEYS)}
#: ``[sender]``, per key, in the order they are checked (``ca_file``: see
#: :meth:`_Reader.account_spec`). The ``imap_*`` keys and ``sent_folder`` are used only with
#: ``imap_host``; the security rules and OAuth2 are the code after the reading.
_SENDER: tables.Spec = {
    "security": _SECURITY,
    "smtp_host": _HOST,
    "address": _ADDRESS,
    "smtp_port": _PORT,
    "username": _LINE.optional(""),
    "ca_file": _AS_WRITTEN.optional(),
    "auth": _AUTH,
    "provider": tables.Field(_provider, "must be a provider's name").optional(""),
    "imap_host": _HOST.optional(None),
    "imap_security": _SECURITY,
    "imap_port": _PORT.optional(993),
    "imap_username": _LINE.optional(""),
    "sent_folder": _LINE.optional(""),
    **_OAUTH_FIELDS,
}
#: ``[seed]``, per key, in the order they are checked.
_SEED: tables.Spec = {
    "security": _SECURITY,
    "imap_host": _HOST,
    "address": _ADDRESS,
    "imap_port": _PORT,
    "username": _REQUIRED_LINE,
    "ca_file": _AS_WRITTEN.optional(),
    "auth": _AUTH,
    "delete_found": _BOOLEAN.optional(True),
    "junk_folders": _FOLDER_NAMES,
    **_OAUTH_FIELDS,
}
_POLICY: tables.Spec = {
    "down_after_lost": _COUNT.optional(1),
    "down_after_refusals": _COUNT.optional(1),
}
#: ``[schedule]``, per key; its bounds against the sender are :meth:`_Reader.schedule`'s.
_SCHEDULE: tables.Spec = {
    "reminder_times": tables.Field(_reminder_times, f"must be {_REMINDER_TIMES_WORDS}").optional(
        ()
    ),
    "every_minutes": tables.positive_number().optional(DEFAULT_EVERY_MINUTES),
    "deadline_minutes": tables.positive_number().optional(DEFAULT_DEADLINE_MINUTES),
    "learn_deadline": _BOOLEAN.optional(True),
    "quiet_every_minutes": tables.positive_number().optional(None),
}
_BATCH_DEFAULTS = BatchRules()
_BATCHES: tables.Spec = {
    "canary_every_minutes": tables.Field(_canary_every, _CANARY_EVERY_WORDS).optional(
        (_BATCH_DEFAULTS.running_canary_every_s or 0.0) / 60.0
    ),
    "min_messages": _COUNT.optional(_BATCH_DEFAULTS.min_messages),
    "max_gap_seconds": tables.positive_number("seconds").optional(_BATCH_DEFAULTS.max_gap_s),
    "quiet_after_seconds": tables.positive_number("seconds").optional(
        _BATCH_DEFAULTS.quiet_after_s
    ),
}
_ALERTS: tables.Spec = {
    "office_hours": tables.Field(_office_hours, 'must look like "07:00-19:00"').optional(
        (7 * 60, 19 * 60)
    ),
    "on_degraded": _BOOLEAN.optional(True),
    "remind_every_hours": tables.positive_number("hours").optional(2.0),
    "office_days": tables.Field(_office_days, "must be a list of days").optional(
        frozenset(range(5))
    ),
    "webhook": _AS_WRITTEN.optional([]),
    "heartbeat": _AS_WRITTEN.optional(None),
    "desktop": _BOOLEAN.optional(True),
    "support_contact": _LINE.optional(""),
}
_WEBHOOK: tables.Spec = {
    "kind": tables.Field(_webhook_kind, f"must be one of {WEBHOOK_KINDS}").optional("json"),
    "timeout_seconds": tables.positive_number("seconds").optional(10.0),
    "url": _URL,
    "name": _LINE.optional(""),
    "retries": _COUNT.optional(3),
}
_HEARTBEAT: tables.Spec = {"url": _URL}

# -- which servers are local ----------------------------------------------------------------------

#: A host spelled only with numbers (decimal, 0x hex, 0 octal), in one to four dotted parts: the
#: operating system's resolver reads it as an IPv4 address (``inet_aton``), never as a name.
_NUMERIC_HOST = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)(?:\.(?:0[xX][0-9a-fA-F]*|[0-9]+))*\.?")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def numeric_address(host: str) -> IPAddress | None:
    """The IP address a numeric ``host`` stands for, the way the resolver reads it; else None.

    Besides the usual forms this reads what ``inet_aton`` accepts (``127.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``), IPv6 in brackets (``[::1]``) and IPv4-mapped IPv6
    (``::ffff:8.8.8.8`` is 8.8.8.8). Why: these spellings connect to the address they encode,
    so a check of "is this on the office network" must judge that address, not the text.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address: IPAddress = ipaddress.ip_address(text)
    except ValueError:
        if not _NUMERIC_HOST.fullmatch(text):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(text))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def looks_numeric(host: str) -> bool:
    """Whether ``host`` is spelled like an address (digits, dots, 0x, brackets, colons)."""
    text = host.strip()
    return bool(_NUMERIC_HOST.fullmatch(text)) or ":" in text or text.startswith("[")


def is_local_host(host: str) -> bool:
    """Loopback, a private-range address, or a bare/.local/.lan name inside the office.

    Numeric spellings are judged by the address they stand for (:func:`numeric_address`): a
    dotless ``134744072`` is 8.8.8.8 on the internet, not an office host called that. A numeric
    spelling the resolver would not read as an address is not local. An address is judged by
    :func:`inputs.is_office_address`, the rule for the address a connection reached; a name
    by its form only, and the connection itself then checks where it went.
    """
    name = host.strip().lower().rstrip(".")
    address = numeric_address(host)
    if address is None and looks_numeric(host):
        return False
    if address is None:
        if name == "localhost" or name.endswith(
            (".localhost", ".local", ".lan", ".internal", ".home.arpa")
        ):
            return True
        return bool(name) and "." not in name
    # The same rule as for the address a connection actually reached: one rule, one place.
    return is_office_address(str(address))


def is_this_pc(host: str) -> bool:
    """Whether ``host`` names this PC itself: ``localhost`` or a loopback address, any spelling."""
    name = host.strip().lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = numeric_address(host)
    return address is not None and address.is_loopback


#: Top-level names reserved for testing and documentation (RFC 2606, RFC 6761): no provider's
#: server can ever be found under them.
_TEST_ZONES = ("test", "example", "invalid", "localhost")


def no_provider_behind(host: str) -> bool:
    """Whether no provider's account can be behind the outgoing server ``host``.

    True for this PC itself (:func:`is_this_pc`: the demo, the tests, a local relay) and for the
    names reserved for tests (``smtp.example.invalid``). The schedule's lower bounds protect a
    provider's account, so they are not applied to these; a local relay is warned about.
    """
    name = host.strip().lower().rstrip(".")
    return is_this_pc(host) or name.rpartition(".")[2] in _TEST_ZONES


# -- the schedule ---------------------------------------------------------------------------------

#: Bounds of ``[schedule]``. The lower ones protect the practice's account and the meaning of a
#: "lost" canary; they are not applied when no provider can be behind the outgoing server
#: (:func:`no_provider_behind`: this PC, names reserved for tests), where no provider counts the
#: messages and a canary arrives in milliseconds.
MIN_EVERY_MINUTES = 5.0
MAX_EVERY_MINUTES = 24 * 60.0
MIN_DEADLINE_MINUTES = 1.0
#: ``[schedule] quiet_every_minutes``: the regular interval when no reminders are due, and its
#: upper bound. Two hours: nobody acts on an alert at night and no reminders go out, so a check
#: every 2 hours (6 in a 12-hour night instead of 24) still finds a block set off outside the
#: reminders within 2 hours plus a deadline, and the office opens on a fresh check (the regular
#: interval returns at opening). At most 4 hours: the watch goes on through nights and
#: weekends. (The heartbeat still hears every regular slot, checked or let pass.)
QUIET_EVERY_MINUTES = 120.0
MAX_QUIET_EVERY_MINUTES = 240.0
MAX_DEADLINE_MINUTES = 4 * 60.0
#: Shares of the provider's published daily sending limit that the canaries alone may use:
#: above the first, setup and doctor warn; from the second on, the config is refused.
WARN_DAILY_SHARE = 0.10
REFUSE_DAILY_SHARE = 0.50


def canaries_per_day(every_minutes: float) -> float:
    """How many canaries a day the schedule sends (one per check)."""
    return MAX_EVERY_MINUTES / every_minutes


def every_minutes_problem(value: float, *, on_this_pc: bool) -> str | None:
    """Why ``every_minutes = value`` is refused (words after the value), or None."""
    if not math.isfinite(value) or value <= 0:
        return "must be a number of minutes above 0"
    if value > MAX_EVERY_MINUTES:
        return (
            f"is more than a day: allowed is {MIN_EVERY_MINUTES:g} to {MAX_EVERY_MINUTES:g} "
            "minutes, because a check less often than once a day would tell about a stopped "
            "delivery only after the practice's patients have missed their reminders"
        )
    if value < MIN_EVERY_MINUTES and not on_this_pc:
        return (
            f"is too often: allowed is {MIN_EVERY_MINUTES:g} to {MAX_EVERY_MINUTES:g} minutes, "
            f"because checking more often than every {MIN_EVERY_MINUTES:g} minutes sends so many "
            "messages that the provider may suspend the account (30 is the usual choice)"
        )
    return None


def deadline_minutes_problem(value: float, *, on_this_pc: bool) -> str | None:
    """Why ``deadline_minutes = value`` is refused (words after the value), or None."""
    if not math.isfinite(value) or value <= 0:
        return "must be a number of minutes above 0"
    if value > MAX_DEADLINE_MINUTES:
        return (
            f"is too long: allowed is {MIN_DEADLINE_MINUTES:g} to {MAX_DEADLINE_MINUTES:g} "
            f"minutes, because a test message that has not arrived within "
            f"{MAX_DEADLINE_MINUTES / 60:g} hours is lost for the practice's purposes, and a "
            "longer wait only delays the alert (10 is the usual choice)"
        )
    if value < MIN_DEADLINE_MINUTES and not on_this_pc:
        return (
            f"is too short: allowed is {MIN_DEADLINE_MINUTES:g} to {MAX_DEADLINE_MINUTES:g} "
            "minutes, because a provider's normal delay of a few seconds to a minute would "
            "otherwise count as a lost message and raise false alarms (10 is the usual choice)"
        )
    return None


def _daily_share(
    every_minutes: float, smtp_host: str, address: str, provider_name: str
) -> tuple[float, int, str] | None:
    """(share of the daily limit, the limit, the provider's name) when the limit is known."""
    from watchdog.core.providers import detect_provider

    provider = detect_provider(smtp_host, address, named=provider_name)
    limit = provider.daily_limit_for(address)
    if limit is None:
        return None
    return canaries_per_day(every_minutes) / limit, limit, provider.display_name


def _share_words(every_minutes: float, share: float, limit: int, provider: str) -> str:
    per_day = canaries_per_day(every_minutes)
    comfortable = math.ceil(MAX_EVERY_MINUTES / (WARN_DAILY_SHARE * limit))
    return (
        f"a check every {every_minutes:g} minutes sends {per_day:,.0f} test messages a day, "
        f"{share:.0%} of the about {limit:,} a day that {provider} allows the account; the "
        "practice's own mail would run short and the provider may suspend the account. "
        f"Every {comfortable} minutes or more keeps the checks under "
        f"{WARN_DAILY_SHARE:.0%} of the limit"
    )


def daily_share_problem(
    every_minutes: float, smtp_host: str, address: str, *, provider: str = ""
) -> str | None:
    """Why the schedule is refused for the sending account (words after the value), or None.

    ``smtp_host``, ``address`` and ``provider`` are the ``[sender]`` settings that tell the
    provider (:func:`~watchdog.core.providers.detect_provider`).

    Refused when the canaries alone would use :data:`REFUSE_DAILY_SHARE` or more of the
    provider's published daily sending limit: that is the blast that gets accounts suspended,
    the very block the watchdog exists to catch. Providers without a published limit pass.
    """
    known = _daily_share(every_minutes, smtp_host, address, provider)
    if known is None or known[0] < REFUSE_DAILY_SHARE:
        return None
    share, limit, provider = known
    return "is too often: " + _share_words(every_minutes, share, limit, provider)


def schedule_warnings(config: Config) -> list[str]:
    """Plain warnings about a schedule the config accepts but support should rethink.

    Shown by setup and doctor (and logged when ``run`` starts): canaries that use more than
    :data:`WARN_DAILY_SHARE` of the provider's daily limit, a deadline longer than the interval
    (a check still waits when the next one starts, so results come in late and overlap), and a
    fast schedule through a server on this PC, which may pass the messages on to a provider.
    """
    schedule, sender = config.schedule, config.sender
    every, deadline = schedule.every_minutes, schedule.deadline_minutes
    warnings = []
    known = _daily_share(every, sender.smtp_host, sender.address, sender.provider)
    if known is not None and known[0] > WARN_DAILY_SHARE:
        share, limit, provider = known
        warnings.append(
            f"{config.path}: [schedule] every_minutes = {every:g}: "
            + _share_words(every, share, limit, provider)
            + "."
        )
    if deadline > every:
        warnings.append(
            f"{config.path}: [schedule] deadline_minutes = {deadline:g} is longer than "
            f"every_minutes = {every:g}: a test message is still awaited when the next one is "
            "sent, so a stop in delivery is told only after the longer wait. Make the deadline "
            "shorter than the interval (10 and 30 are the usual choice)."
        )
    if every < MIN_EVERY_MINUTES and is_this_pc(sender.smtp_host):
        warnings.append(
            f"{config.path}: [schedule] every_minutes = {every:g}: allowed only because the "
            f"outgoing server {sender.smtp_host} is on this PC. If it passes mail on to a "
            f"provider, check no more often than every {MIN_EVERY_MINUTES:g} minutes, or the "
            "provider may suspend the account."
        )
    return warnings

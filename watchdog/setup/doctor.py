"""``watchdog doctor``: check every piece the watchdog depends on, one plain line each.

The reader is a support person at the office PC or on the phone with it. Each line is ``OK``,
``WARN`` (works, but worth knowing) or ``FAIL`` (the watchdog cannot work until this is fixed),
followed by what was checked and, for a problem, what to do. The checks run in the order a
connection is built (config, passwords, DNS, TCP, TLS, sign-in, folders, desktop), and a step whose
foundation failed is not tried: the first failure on a server is the one to fix.

The live sign-in checks here are also what ``watchdog setup`` runs before it saves anything
(:func:`check_smtp_login`, :func:`check_imap_login`), so setup and doctor can never disagree
about whether an account works.

Nothing here prints or logs a password: passwords are read only inside the sign-in calls.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import smtplib
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from watchdog.config import (
    Config,
    SeedConfig,
    SenderConfig,
    canaries_per_day,
    default_config_path,
    load_config,
    schedule_warnings,
)
from watchdog.core.classifier import (
    NetworkFailure,
    describe,
    diagnose_network,
    diagnose_reply,
    network_failure_of,
    network_words,
    parse_smtp_reply,
)
from watchdog.core.errors import ConfigError, MailboxError, SecretError
from watchdog.core.exit_status import ExitStatus
from watchdog.core.guidance import short_fix
from watchdog.core.inputs import is_ip_address
from watchdog.core.models import Diagnosis, Security
from watchdog.core.providers import Provider, detect_provider, sender_provider
from watchdog.core.terminal import safe_text
from watchdog.signin.accounts import account_signin
from watchdog.signin.credentials import (
    KEYRING_SERVICE,
    Role,
    SignIn,
    env_var,
    is_safe_keyring,
    keyring_backend_problem,
    keyring_entry,
    password_signin,
    secure_keyring_advice,
)

#: Seconds any one network step may take. Long enough for a slow provider greeting, short enough
#: that a support person on the phone is not left waiting on a blocked port.
DEFAULT_TIMEOUT_S = 10.0

Level = Literal["OK", "WARN", "FAIL"]

#: Each network failure in plain words; the technical error follows in brackets for support.


# --- providers ----------------------------------------------------------------------------------


def account_provider(role: Role, host: str, address: str) -> Provider:
    """The provider of an account, as the watchdog itself will see it.

    For the sending account that is :func:`detect_provider` (the server decides). For the seed
    mailbox the address's provider wins while its preset IMAP server is the one used: Outlook.com's
    IMAP server lives under office365.com, which would otherwise read as Microsoft 365.
    """
    if role == "sender":
        return detect_provider(host, address)
    by_address = detect_provider("", address)
    wanted = host.strip().lower().rstrip(".")
    if not wanted or (by_address.imap is not None and by_address.imap.host == wanted):
        return by_address
    return detect_provider(host, address)


# --- live sign-in checks (shared with setup) ----------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A failed live step: what it means, what happened in words, and where it happened."""

    diagnosis: Diagnosis
    said: str  # the server's words or the network failure, safe to show (never a password)
    stage: Literal["connect", "login"]
    network: NetworkFailure | None = None  # how the connection failed, when it did
    no_sign_in_offered: bool = False  # the server offers no AUTH: a relay, or the wrong port

    def explain(self, provider: str, role: Role) -> list[str]:
        """Three plain lines: what it means, what happened, what to do."""
        if self.no_sign_in_offered:
            return [
                "This server does not offer signing in (it announces no AUTH): it is a relay "
                "that takes mail without a user name, or this is not the port for signing in.",
                f"What happened: {self.said}",
                "What to do: if this server takes the practice's mail without a password (an "
                "office relay), type - as the user name for no sign-in; otherwise use the "
                "provider's port for signing in (587 with starttls, or 465 with ssl).",
            ]
        return [
            describe(self.diagnosis),
            f"What happened: {self.said}",
            f"What to do: {fix_for(provider, self.diagnosis, role)}",
        ]

    @property
    def unreachable(self) -> bool:
        """The server could not be reached at all (a name, a port, this PC's connection)."""
        return self.network is not None and self.diagnosis is not Diagnosis.TLS_ERROR

    def likely_causes(self, host: str) -> str:
        """For support, who is reading: what usually causes this failure to connect."""
        causes = {
            NetworkFailure.DNS: (
                f"the server name {host} is misspelled, or this PC is offline (then no name at "
                "all can be looked up: check that a web page opens on this PC)"
            ),
            NetworkFailure.REFUSED: (
                f"a wrong port: {host} answered, but nothing takes mail on that port"
            ),
            NetworkFailure.TIMEOUT: (
                "a firewall (this PC's, the office's or the provider's) blocks the port, a "
                "wrong server name or port, or this PC is offline"
            ),
            NetworkFailure.NO_ROUTE: (
                f"this PC is offline (cable, Wi-Fi), or the office network does not reach {host}"
            ),
            NetworkFailure.RESET: (
                "a security program or firewall cut the connection, or the security setting "
                "(ssl or starttls) does not fit the port"
            ),
        }
        if self.network is None:
            return ""
        return causes.get(self.network, "a wrong server name or port, or this PC is offline")


def fix_for(provider: str, diagnosis: Diagnosis, role: Role) -> str:
    """The short fix for ``diagnosis``; for a refused seed sign-in, words about the seed mailbox.

    The shipped fixes speak of the sending account ("the practice software probably needs the
    same change"), which would mislead about the seed mailbox.
    """
    if role == "seed" and diagnosis is Diagnosis.AUTH_REJECTED:
        from watchdog.core.providers import SignIn as Kind
        from watchdog.core.providers import get_provider

        p = get_provider(provider)
        text = "Check the seed mailbox's user name and password."
        if p.sign_in in (Kind.APP_PASSWORD, Kind.SECURE_MAIL_KEY, Kind.THIRD_PARTY_ACCESS):
            text += f" {p.display_name}: {p.sign_in_note} ({p.sign_in_url})"
        return text
    return short_fix(provider, diagnosis)


@dataclass(frozen=True)
class MailboxFacts:
    """What a successful IMAP sign-in showed about the mailbox."""

    junk_folders: tuple[str, ...]
    has_idle: bool


def smtp_problem(
    error: BaseException, host: str, port: int, provider: str, stage: Literal["connect", "login"]
) -> Problem:
    """Read an smtplib or socket error the way the watchdog reads a failed canary."""
    from watchdog.mail.probe import ProbeError

    if isinstance(error, ProbeError):
        # The probe knew what went wrong (a wrong port, STARTTLS missing, plain text leaving
        # the office) and said it in plain words: the same words as a failed canary.
        return Problem(error.diagnosis, str(error), stage)
    if isinstance(error, smtplib.SMTPResponseException):
        reply = parse_smtp_reply(error.smtp_code, error.smtp_error)
        return Problem(diagnose_reply(reply, provider), f"the server said: {reply}", stage)
    failure = network_failure_of(error)
    if failure is not None:
        words = network_words(failure, host, port)
        return Problem(
            diagnose_network(failure), f"{words} ({_technical(error)})", stage, network=failure
        )
    if isinstance(error, smtplib.SMTPNotSupportedError) and stage == "login":
        return Problem(
            Diagnosis.UNKNOWN,
            f"{host} port {port} announced no sign-in (no AUTH) ({error})",
            stage,
            no_sign_in_offered=True,
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return Problem(
            Diagnosis.UNKNOWN,
            f"{host} port {port} does not offer what is needed here ({error}); check that the "
            "port and the security setting belong together (465 ssl, 587 starttls)",
            stage,
        )
    return Problem(Diagnosis.UNKNOWN, _technical(error), stage)


def imap_problem(error: BaseException, host: str, port: int) -> Problem:
    """Read a failed seed mailbox sign-in: a refused login, a network failure, or other."""
    from imapclient.exceptions import LoginError

    if isinstance(error, MailboxError) and error.diagnosis is not None:
        # The mailbox code named the problem itself (plain text leaving the office, a server
        # that trickled or flooded): its own words, as a failed canary would show them.
        return Problem(error.diagnosis, str(error), "connect")
    link: BaseException | None = error
    while link is not None:
        if isinstance(link, LoginError):
            return Problem(
                Diagnosis.AUTH_REJECTED, f"the server said: {_server_words(link)}", "login"
            )
        link = link.__cause__ or link.__context__
    failure = network_failure_of(error)
    if failure is not None:
        tls = diagnose_network(failure) is Diagnosis.TLS_ERROR
        return Problem(
            Diagnosis.TLS_ERROR if tls else Diagnosis.SEED_UNREACHABLE,
            f"{network_words(failure, host, port)} ({_technical(error)})",
            "connect",
            network=failure,
        )
    return Problem(Diagnosis.UNKNOWN, str(error), "connect")


def check_smtp_login(
    sender: SenderConfig, signin: SignIn, provider: str, *, timeout: float = DEFAULT_TIMEOUT_S
) -> Problem | None:
    """Connect, secure, greet and sign in to the outgoing server; None when all of it worked.

    Uses the probe's own connection code, so this proves exactly what a canary will need. No
    message is sent. SecretError (no password) is left to the caller.
    """
    from watchdog.mail.probe import SmtpProbe

    probe = SmtpProbe(sender, signin, timeout=timeout)
    stage: Literal["connect", "login"] = "connect"
    try:
        connection = probe._connect()
        try:
            stage = "login"
            signin.smtp(connection)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.quit()
            connection.close()
    except (smtplib.SMTPException, OSError) as e:  # ssl and socket errors are OSErrors too
        return smtp_problem(e, sender.smtp_host, sender.smtp_port, provider, stage)
    return None


def check_imap_login(
    seed: SeedConfig, signin: SignIn, *, timeout: float = DEFAULT_TIMEOUT_S
) -> MailboxFacts | Problem:
    """Open the mailbox as the watchdog does (connect, TLS, sign in, find the junk folder).

    SecretError (no password) is left to the caller.
    """
    from watchdog.core.clock import SystemClock
    from watchdog.mail.mailbox import SeedMailbox

    mailbox = SeedMailbox(seed, signin, SystemClock(), timeout=timeout)
    try:
        with mailbox:
            return MailboxFacts(tuple(mailbox.junk_folders), mailbox.has_idle)
    except MailboxError as e:
        return imap_problem(e, seed.imap_host, seed.imap_port)


def _technical(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _server_words(error: BaseException) -> str:
    """A server's refusal without Python's ``b'...'`` wrapping."""
    value = error.args[0] if error.args else error
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    # imapclient hands over str(b"...") for the server's words.
    if len(text) > 2 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        return text[2:-1]
    return text


# --- the doctor's findings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    name: str  # stable id for --json, e.g. "smtp.connect"
    level: Level
    what: str  # what was checked, and for a problem what is wrong
    fix: str = ""  # what to do, for WARN and FAIL

    def line(self) -> str:
        """``OK   What was found.`` or ``FAIL What is wrong. What to do: ...``, as sentences,
        safe to print (servers' words are in it)."""
        text = f"{self.level:<4} {sentence(self.what)}"
        if self.fix and self.level != "OK":
            text += f" What to do: {sentence(self.fix)}"
        return safe_text(text)


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a full stop at the end."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


@dataclass(frozen=True)
class _Account:
    """One server to check, with the words and config keys that name it."""

    prefix: str  # "smtp", "imap", "inbox"
    label: str  # "outgoing server"
    section: str  # "sender"
    host: str
    port: int
    security: Security
    host_key: str
    port_key: str
    security_key: str


def _keyring_is_safe() -> bool:
    """Whether this PC's keyring is a real one (``keyring set`` would not write a plain file)."""
    try:
        import keyring

        return is_safe_keyring(keyring.get_keyring())
    except Exception:
        return False


class Doctor:
    """Runs the checks for one config and collects the findings; ``report`` calls each one."""

    def __init__(
        self,
        config: Config,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        report: Callable[[Finding], None] = lambda f: None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.report = report
        self.findings: list[Finding] = []
        #: The sending account's provider, detected once for the whole run.
        self.sender_provider = sender_provider(config.sender)

    def add(self, name: str, level: Level, what: str, fix: str = "") -> Finding:
        finding = Finding(name, level, what, fix)
        self.findings.append(finding)
        self.report(finding)
        return finding

    def run(self) -> list[Finding]:
        """Every check, in the order a connection is built."""
        c = self.config
        office = f' for "{c.office}"' if c.office else ""
        self.add("config", "OK", f"Configuration{office}: {c.path}")
        self.schedule()
        sender_password = self.credential(
            "sender", c.sender.username, "the sending account", c.sender.auth
        )
        seed_password = self.credential("seed", c.seed.username, "the seed mailbox", c.seed.auth)
        self.smtp(sender_password)
        self.imap(
            "imap",
            "seed mailbox",
            "seed",
            c.seed,
            seed_password,
            account_provider("seed", c.seed.imap_host, c.seed.address).name,
        )
        inbox = c.sender_inbox
        if inbox is not None:
            provider = self.sender_provider.name
            self.imap("inbox", "practice's own inbox", "sender", inbox, sender_password, provider)
        self.notifications()
        self.tray()
        return self.findings

    # -- schedule ----------------------------------------------------------------------------

    def schedule(self) -> None:
        """The schedule the config accepts, and loudly what support should rethink about it."""
        s = self.config.schedule
        warnings = schedule_warnings(self.config)
        for warning in warnings:
            self.add("schedule", "WARN", f"Schedule: {warning}")
        if not warnings:
            per_day = canaries_per_day(s.every_minutes)
            self.add(
                "schedule",
                "OK",
                f"Schedule: a check every {s.every_minutes:g} minutes ({per_day:,.0f} test "
                f"messages a day), a test message lost after {s.deadline_minutes:g} minutes",
            )

    # -- passwords ---------------------------------------------------------------------------

    def credential(self, role: Role, username: str, label: str, auth: str) -> bool:
        """Whether the account's secret can be found: a password, or a stored OAuth2 sign-in."""
        if auth == "oauth2":
            return self.oauth_signin(role, username, label)
        return self.password(role, username, label)

    def oauth_signin(self, role: Role, username: str, label: str) -> bool:
        """Whether an OAuth2 sign-in is stored; the tokens themselves are never shown."""
        from watchdog.signin.oauth import TokenStore

        name = f"signin.{role}"
        try:
            stored = TokenStore(role, username).load()
        except SecretError as e:
            self.add(name, "FAIL", f"OAuth2 sign-in for {label}: {e}")
            return False
        if not stored:
            self.add(
                name,
                "FAIL",
                f"OAuth2 sign-in for {label} ({username}): Watchdog has not signed in yet",
                "Run `watchdog setup --reauth` and sign in with that account",
            )
            return False
        self.add(name, "OK", f"OAuth2 sign-in for {label}: stored in the system keyring")
        return True

    def password(self, role: Role, username: str, label: str) -> bool:
        """Whether a password can be found, the way the watchdog looks (environment first)."""
        name = f"password.{role}"
        env = env_var(role)
        entry = keyring_entry(role, username)
        if role == "sender" and not username:
            self.add(name, "OK", f"Password for {label}: none needed (username is empty)")
            return True
        if os.environ.get(env):
            self.add(name, "OK", f"Password for {label}: from {env} (it wins over the keyring)")
            return True
        import keyring
        import keyring.errors

        try:
            backend = keyring.get_keyring()
        except Exception as e:  # no usable backend at all, or a broken keyring setup
            self.add(
                name,
                "FAIL",
                f"Password for {label}: the system keyring cannot be used ({_technical(e)})",
                secure_keyring_advice(),
            )
            return False
        unsafe = keyring_backend_problem(backend)
        if unsafe is not None and not os.environ.get(env):
            # Never `keyring set` here: with this backend it would write a plain file (or
            # nothing at all).
            self.add(
                name,
                "FAIL" if "plain file" not in unsafe else "WARN",
                f"Password for {label}: no safe place for it on this PC: {unsafe}",
                secure_keyring_advice(),
            )
            if "plain file" not in unsafe:
                return False
        how = "Run `watchdog setup` on this PC to store it"
        if unsafe is None:
            how += f" (or `keyring set {KEYRING_SERVICE} {entry}`)"
        try:
            stored = keyring.get_password(KEYRING_SERVICE, entry)
        except keyring.errors.KeyringError as e:
            self.add(
                name,
                "FAIL",
                f"Password for {label}: the system keyring cannot be read ({_technical(e)})",
                "Log in to this PC's desktop so its keyring unlocks, then run `watchdog doctor` "
                f"again. {secure_keyring_advice()}",
            )
            return False
        if not stored:
            self.add(
                name,
                "FAIL",
                f"Password for {label}: none stored in the system keyring under "
                f"{KEYRING_SERVICE} / {entry}",
                how,
            )
            return False
        backend_name = getattr(backend, "name", type(backend).__name__)
        if unsafe is not None:
            return True  # found, and already warned about where it is kept
        self.add(name, "OK", f"Password for {label}: in the system keyring ({backend_name})")
        return True

    # -- servers -----------------------------------------------------------------------------

    def reach(self, a: _Account) -> bool:
        """DNS, then a TCP connection; True when both worked."""
        where = f"{a.host_key} in [{a.section}]"
        try:
            addresses = resolve(a.host, a.port, self.timeout)
        except TimeoutError:
            self.add(
                f"{a.prefix}.dns",
                "FAIL",
                f"DNS for the {a.label}: no answer for {a.host} within {self.timeout:g} s",
                "Check this PC's internet connection and its DNS server",
            )
            return False
        except OSError as e:
            self.add(
                f"{a.prefix}.dns",
                "FAIL",
                f"DNS for the {a.label}: the name {a.host} cannot be found ({_technical(e)})",
                f"Check {where} of the config for a typo; if it is right, check this PC's "
                "internet connection",
            )
            return False
        if _is_ip(a.host):
            self.add(
                f"{a.prefix}.dns",
                "OK",
                f"DNS for the {a.label}: {a.host} is an IP address, nothing to look up",
            )
        else:
            shown = ", ".join(dict.fromkeys(str(sa[0]) for _, sa in addresses[:4]))
            self.add(f"{a.prefix}.dns", "OK", f"DNS for the {a.label}: {a.host} is {shown}")
        try:
            connect_any(addresses, self.timeout)
        except OSError as e:
            failure = network_failure_of(e)
            words = network_words(failure, a.host, a.port) if failure else _technical(e)
            self.add(
                f"{a.prefix}.connect",
                "FAIL",
                f"Cannot connect to the {a.label} {a.host}:{a.port}: {words}",
                _connect_fix(failure, a),
            )
            return False
        self.add(f"{a.prefix}.connect", "OK", f"Connection to the {a.label} {a.host}:{a.port}")
        return True

    def tls_ok(self, a: _Account) -> None:
        if a.security is Security.NONE:
            self.add(
                f"{a.prefix}.tls",
                "WARN",
                f'No encryption to the {a.label} {a.host}:{a.port} ({a.security_key} = "none")',
                "Fine only for a server on this PC or the office network; use ssl or starttls "
                "where the server offers it",
            )
        else:
            self.add(
                f"{a.prefix}.tls",
                "OK",
                f"Secure connection ({a.security.value}, certificate verified) to "
                f"{a.host}:{a.port}",
            )

    def tls_failed(self, a: _Account, said: str) -> None:
        self.add(
            f"{a.prefix}.tls",
            "FAIL",
            f"Secure connection to the {a.label} {a.host}:{a.port} failed: {said}",
            f"Check that {a.port_key} and {a.security_key} in [{a.section}] belong together "
            "(465 or 993 with ssl, 587 or 143 with starttls); a private server needs its CA in "
            "ca_file; a wrong clock on this PC also breaks certificates",
        )

    def smtp(self, have_password: bool) -> None:
        s = self.config.sender
        a = _Account(
            "smtp",
            "outgoing server",
            "sender",
            s.smtp_host,
            s.smtp_port,
            s.security,
            "smtp_host",
            "smtp_port",
            "security",
        )
        if not self.reach(a):
            return
        from watchdog.mail.probe import SmtpProbe

        provider = self.sender_provider.name
        signin = account_signin("sender", s.username, s.auth, s.oauth, ca_file=s.ca_file)
        try:
            connection = SmtpProbe(s, signin, timeout=self.timeout)._connect()
        except (smtplib.SMTPException, OSError) as e:
            self.tls_failed(a, smtp_problem(e, a.host, a.port, provider, "connect").said)
            return
        try:
            self.tls_ok(a)
            who = f"Sign-in to the outgoing server as {s.username}"
            if not s.username:
                self.add("smtp.login", "OK", "Sign-in to the outgoing server: none (no username)")
                return
            if not have_password:
                self.add(
                    "smtp.login",
                    "FAIL",
                    f"{who}: not tried",
                    "Store the password first (see the password line above)",
                )
                return
            try:
                signin.smtp(connection)
            except SecretError as e:
                self.add("smtp.login", "FAIL", f"{who}: not tried", str(e))
                return
            except (smtplib.SMTPException, OSError) as e:
                problem = smtp_problem(e, a.host, a.port, provider, "login")
                self.login_failed("smtp.login", who, problem, provider, "sender", s.username)
                return
            self.add("smtp.login", "OK", who)
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.quit()
            connection.close()

    def imap(
        self,
        prefix: str,
        label: str,
        section: str,
        mailbox: SeedConfig,
        have_password: bool,
        provider: str,
    ) -> None:
        inbox = prefix == "inbox"
        a = _Account(
            prefix,
            label,
            section,
            mailbox.imap_host,
            mailbox.imap_port,
            mailbox.security,
            "imap_host",
            "imap_port",
            "imap_security" if inbox else "security",
        )
        if not self.reach(a):
            return
        if not self.secure_imap(a, mailbox):
            return
        role: Role = "sender" if inbox else "seed"
        who = f"Sign-in to the {label} as {mailbox.username}"
        if not have_password:
            self.add(
                f"{prefix}.login",
                "FAIL",
                f"{who}: not tried",
                "Store the password first (see the password line above)",
            )
            return
        try:
            signin = account_signin(
                role, mailbox.username, mailbox.auth, mailbox.oauth, ca_file=mailbox.ca_file
            )
            facts = check_imap_login(mailbox, signin, timeout=self.timeout)
        except SecretError as e:
            self.add(f"{prefix}.login", "FAIL", f"{who}: not tried", str(e))
            return
        if isinstance(facts, Problem):
            self.login_failed(f"{prefix}.login", who, facts, provider, role, mailbox.username)
            return
        self.add(f"{prefix}.login", "OK", who)
        if inbox:
            return
        if facts.junk_folders:
            names = ", ".join(f'"{n}"' for n in facts.junk_folders)
            self.add(
                "imap.junk", "OK", f"Junk folders the search for test messages looks in: {names}"
            )
        else:
            self.add(
                "imap.junk",
                "WARN",
                "Junk folders of the seed mailbox: none found — test messages filed as junk "
                "would be missed",
                'Add the junk folder\'s name to [seed] junk_folders, e.g. junk_folders = ["Spam"]',
            )
        if facts.has_idle:
            self.add("imap.idle", "OK", "The seed mailbox supports IDLE (arrivals seen at once)")
        else:
            self.add(
                "imap.idle",
                "WARN",
                "The seed mailbox does not support IDLE",
                "Nothing to fix: arrivals are found by searching every few seconds instead",
            )

    def secure_imap(self, a: _Account, mailbox: SeedConfig) -> bool:
        """The TLS step alone, through the mailbox's own connection code."""
        from watchdog.core.clock import SystemClock
        from watchdog.mail.mailbox import SeedMailbox

        probe = SeedMailbox(
            mailbox, password_signin("seed", ""), SystemClock(), timeout=self.timeout
        )
        try:
            client = probe.connect()
        except Exception as e:  # imapclient raises its own errors as well as socket/ssl ones
            if isinstance(e, MailboxError) and e.diagnosis is not None:
                self.tls_failed(a, str(e))
                return False
            failure = network_failure_of(e)
            said = network_words(failure, a.host, a.port) if failure else ""
            self.tls_failed(a, f"{said} ({_technical(e)})" if said else _technical(e))
            return False
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()
        self.tls_ok(a)
        return True

    def login_failed(
        self, name: str, who: str, problem: Problem, provider: str, role: Role, username: str
    ) -> None:
        fix = fix_for(provider, problem.diagnosis, role)
        if problem.diagnosis is Diagnosis.AUTH_REJECTED:
            entry = keyring_entry(role, username)
            if _keyring_is_safe():
                fix += (
                    f" Store the right one with `watchdog setup` (or `keyring set "
                    f"{KEYRING_SERVICE} {entry}`); {env_var(role)}, if set, wins over the keyring."
                )
            else:
                fix += f" Store the right one with `watchdog setup`. {secure_keyring_advice()}"
        meaning = describe(problem.diagnosis).rstrip(".")
        self.add(name, "FAIL", f"{who}: {meaning} ({problem.said})", fix)

    # -- the desktop -------------------------------------------------------------------------

    def notifications(self) -> None:
        if not self.config.alerts.desktop:
            self.add("notifications", "OK", "Desktop notifications: switched off in the config")
            return
        problem = notification_problem(self.timeout)
        if problem is None:
            self.add("notifications", "OK", "Desktop notifications: the desktop session answers")
        else:
            self.add(
                "notifications",
                "WARN",
                f"Desktop notifications: {problem}",
                "Run the watchdog (and this check) in the desktop session of the office PC; "
                "alerts still go to any webhooks in [alerts]",
            )

    def tray(self) -> None:
        """What this desktop can show of the tray, and where its actions are: the truth.

        The notifications, guides and messages send the front desk to the tray's actions; where
        the tray has no menu (pystray's X11 backend) a click opens the actions window instead,
        and where neither can appear, support must know.
        """
        try:
            module = importlib.import_module("watchdog.desktop.tray")
            capabilities_of = module.tray_capabilities
        except (ImportError, AttributeError):
            return
        except Exception as e:  # a GUI toolkit can fail to load in many ways without a display
            self.add("tray", "WARN", f"Tray icon: cannot be loaded ({_technical(e)})", _TRAY_FIX)
            return
        try:
            found = capabilities_of()
        except Exception as e:
            self.add("tray", "WARN", f"Tray icon: cannot be checked ({_technical(e)})", _TRAY_FIX)
            return
        if not found.can_show_icon:
            self.add(
                "tray",
                "WARN",
                f"Tray icon: cannot be shown here ({found.problem}). "
                + found.how_actions_are_offered,
                _TRAY_FIX,
            )
        elif not found.has_menu and "cannot open" in found.how_actions_are_offered:
            self.add(
                "tray",
                "WARN",
                "Tray icon: can be shown. " + found.how_actions_are_offered,
                "Install Tk for Python (Debian and Ubuntu: the package python3-tk), or PyGObject "
                "with an AppIndicator tray for a real menu",
            )
        else:
            self.add("tray", "OK", "Tray icon: can be shown. " + found.how_actions_are_offered)


_TRAY_FIX = (
    "The watchdog still checks and alerts without the icon; on Linux the desktop needs a system "
    "tray (an AppIndicator or XEmbed tray)"
)


def _connect_fix(failure: NetworkFailure | None, a: _Account) -> str:
    where = f"{a.port_key} and {a.security_key} in [{a.section}]"
    if failure is NetworkFailure.REFUSED:
        return (
            f"Check {where}: use the provider's settings (e.g. 465 with ssl, 587 with starttls "
            f"for sending, 993 with ssl for IMAP)"
        )
    if failure is NetworkFailure.TIMEOUT:
        return f"A firewall, antivirus or the network may block port {a.port}; also check {where}"
    return "Check this PC's network connection, then the server settings in the config"


def _is_ip(host: str) -> bool:
    """True for a plain IP address: the config's own rule (:func:`inputs.is_ip_address`)."""
    return is_ip_address(host)


# --- DNS and TCP with time limits ---------------------------------------------------------------

AddrInfo = tuple[socket.AddressFamily, Any]


def resolve(host: str, port: int, timeout: float) -> list[AddrInfo]:
    """The addresses ``host`` resolves to, within ``timeout`` (``netguard.resolve``)."""
    from watchdog.mail.netguard import resolve as resolve_within

    answers = resolve_within(host, port, timeout)
    if not answers:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    return [(family, sockaddr) for family, _kind, _proto, _name, sockaddr in answers]


def connect_any(addresses: list[AddrInfo], timeout: float) -> None:
    """Open and close a TCP connection to the first address that answers; else the last error."""
    last: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return
        except OSError as e:
            last = e
    raise last


# --- desktop notifications ----------------------------------------------------------------------


def notification_problem(timeout: float = 3.0) -> str | None:
    """Why a desktop notification could not be shown from this session, or None.

    On Linux: a session bus must answer (the same probe the desktop channel makes before every
    notification) and a way to talk to it must be installed (dbus-python or notify-send). On
    Windows and macOS: plyer must be installed.
    """
    if sys.platform in ("win32", "cygwin", "darwin"):
        if importlib.util.find_spec("plyer") is None:
            return "plyer is not installed (reinstall Delivery Watchdog)"
        return None
    from watchdog.notify import desktop

    address = desktop.session_bus_address()
    if address is None:
        return (
            "no desktop session here (DBUS_SESSION_BUS_ADDRESS is not set and there is no "
            "$XDG_RUNTIME_DIR/bus: a service, SSH or another user?)"
        )
    try:
        desktop.probe_session_bus(address, time.monotonic() + min(timeout, 5.0))
    except Exception as e:  # desktop's own failure type carries the words in .detail
        return str(getattr(e, "detail", None) or _technical(e))
    if importlib.util.find_spec("dbus") is None and shutil.which("notify-send") is None:
        return (
            "neither dbus-python nor notify-send is installed (pip install "
            "'delivery-watchdog[desktop]', or apt install libnotify-bin)"
        )
    return None


# --- the command --------------------------------------------------------------------------------


class _NotSetUp(Exception):
    """No configuration yet: the way on is ``watchdog setup``."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix


def run_doctor(
    *, config_path: Path | None = None, as_json: bool = False, timeout: float = DEFAULT_TIMEOUT_S
) -> int:
    """``watchdog doctor``: 0 all OK/WARN, 2 any FAIL, 3 the config cannot be loaded.

    ``config_path`` None: the default place. ``timeout``: the most any one network step may
    take (0: the default).
    """
    path: Path = config_path or default_config_path()
    timeout = timeout or DEFAULT_TIMEOUT_S

    def show(finding: Finding) -> None:
        if not as_json:
            print(finding.line(), flush=True)

    try:
        if not path.exists():
            given = f" --config {path}" if config_path else ""
            raise _NotSetUp(
                f"This PC is not set up yet: there is no configuration at {path}",
                f"Run `watchdog{given} setup` to set it up step by step",
            )
        config = load_config(path)
    except _NotSetUp as e:
        finding = Finding("config", "FAIL", e.what, e.fix)
        _finish([finding], ExitStatus.CONFIG, path, as_json)
        return ExitStatus.CONFIG
    except ConfigError as e:
        from watchdog.pages.guide import doc_reference

        finding = Finding(
            "config",
            "FAIL",
            f"Configuration: {e}",
            f"Fix the file (every key is explained in {doc_reference('configuration.md')}) or "
            "run `watchdog setup` to write a new one",
        )
        _finish([finding], ExitStatus.CONFIG, path, as_json)
        return ExitStatus.CONFIG
    if not as_json:
        print(safe_text(f"Delivery Watchdog doctor: checking {path}"), flush=True)
    findings = Doctor(config, timeout=timeout, report=show).run()
    code = ExitStatus.FAILED if any(f.level == "FAIL" for f in findings) else ExitStatus.OK
    _finish(findings, code, path, as_json, printed=True)
    return code


def _finish(
    findings: list[Finding], code: int, path: Path, as_json: bool, *, printed: bool = False
) -> None:
    if as_json:
        payload = {
            "config": str(path),
            "ok": code == ExitStatus.OK,
            "exit_code": code,
            "checks": [asdict(f) for f in findings],
        }
        print(json.dumps(payload, indent=2))
        return
    if not printed:
        for finding in findings:
            print(finding.line())
    failed = sum(f.level == "FAIL" for f in findings)
    warned = sum(f.level == "WARN" for f in findings)
    if failed:
        print(
            f"\n{failed} problem(s) to fix (the FAIL lines above), then run `watchdog doctor` "
            "again."
        )
    elif warned:
        print(f"\nEverything needed works; {warned} warning(s) worth reading above.")
    else:
        print("\nEverything checked is OK.")

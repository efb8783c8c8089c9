"""``watchdog setup``: set up this PC, step by step or from options for scripted installs.

The person at the keyboard is a support technician, often on the phone with the front desk. So
every question says what it wants in plain words with the default in brackets, a provider is
recognised from the address and its servers are filled in, and the wizard says which password the
provider wants (app password, secure mail key, a setting to switch on) and where to make it.
Where the provider accepts OAuth2 (XOAUTH2) through a Microsoft or Google sign-in, setup offers it
(and goes straight to it for Outlook.com, which takes no password at all): it asks for the
practice's own app registration, runs the sign-in (Microsoft: a code to enter on
microsoft.com/devicelogin; Google: the browser), and tests the logins with the new token.

Nothing is saved until everything has been proven live: both sign-ins, then a real canary round
trip. Only then are the passwords stored in the OS keyring and the config written (atomically,
0600). A failed live test writes nothing, unless ``--no-test`` skipped the tests. Passwords never
go into the config or any other file we write, and are never printed. OAuth2 tokens must be in the
keyring for the first canary to use them, so a sign-in is stored at once, and put back as it was
(the earlier sign-in, or none) when setup does not finish.

``watchdog setup --reauth [sender|seed]`` renews the OAuth2 sign-ins of an existing config (what
the ``signin_expired`` guide asks for) and tests the logins; the config is not touched.

This module owns the flow: the order of the questions, the scripted install, the first canary,
saving and autostart. Its options arrive parsed and typed (``setup.options.SetupOptions``; the
command line, ``cli.support``, defines and parses them). The parts it builds on live beside it:
``setup_console`` (the prompts, the checks of typed values, the exit codes), ``setup_account``
(the account record and its live sign-in test) and ``setup_oauth`` (OAuth2 sign-ins, their undo,
and ``--reauth``).

Exit codes: 0 done, 2 a live test or a sign-in failed (nothing written), 3 bad input, a config
that cannot be read, or an account that cannot work (nothing written), 130 stopped with Ctrl-C or
end of input (nothing written).
"""

from __future__ import annotations

import getpass
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from watchdog.config import (
    DEFAULT_DEADLINE_MINUTES,
    DEFAULT_EVERY_MINUTES,
    OAUTH_PROVIDERS,
    OAuthSettings,
    SeedConfig,
    SenderConfig,
    auth_for,
    default_config_path,
    schedule_warnings,
)
from watchdog.core.errors import ConfigError, WatchdogError
from watchdog.core.exit_status import ExitStatus
from watchdog.core.inputs import RefusedValue
from watchdog.core.models import Security
from watchdog.core.providers import (
    OTHER,
    OAuth,
    Provider,
    ServerPreset,
    SignIn,
    all_providers,
    get_provider,
)
from watchdog.pages.guide import doc_reference
from watchdog.setup.account import SERVICE_NAMES, Account, live_login
from watchdog.setup.config_writer import (
    ConfigValues,
    render_config,
    validate_config_text,
    write_config_file,
)
from watchdog.setup.console import (
    BadInput,
    Console,
    SetupStopped,
    check_plain,
    deadline_minutes_parser,
    every_minutes_parser,
    one_line,
    parse_address,
    parse_ca_file,
    parse_host,
    parse_minutes,
    parse_port,
    parse_security,
)
from watchdog.setup.doctor import Problem, account_provider
from watchdog.setup.oauth import (
    SignInJournal,
    oauth_choice_words,
    oauth_from_options,
    oauth_secret_var,
    oauth_service,
    oauth_settings_default,
    oauth_sign_in,
    parse_authority,
    parse_client_id,
    parse_scopes,
    reauth,
)
from watchdog.setup.options import SetupOptions
from watchdog.signin.credentials import (
    KEYRING_SERVICE,
    Role,
    env_var,
    keyring_backend_problem,
    keyring_entry,
    secure_keyring_advice,
)

_T = TypeVar("_T")


# --- accounts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Words:
    """How the wizard speaks of one of the two accounts, and which options fill it."""

    title: str
    address_question: str
    server: str
    address_option: str
    host_option: str
    port_option: str
    security_option: str
    username_option: str


_WORDS: dict[Role, _Words] = {
    "sender": _Words(
        title="The practice's sending account (the one the reminders go through)",
        address_question="The practice's sending e-mail address",
        server="Outgoing mail server (SMTP)",
        address_option="--sender-address",
        host_option="--smtp-host",
        port_option="--smtp-port",
        security_option="--smtp-security",
        username_option="--sender-username",
    ),
    "seed": _Words(
        title="The seed mailbox (where the test messages go; a separate mailbox you control)",
        address_question="The seed mailbox's e-mail address",
        server="Incoming mail server (IMAP) of the seed mailbox",
        address_option="--seed-address",
        host_option="--imap-host",
        port_option="--imap-port",
        security_option="--imap-security",
        username_option="--seed-username",
    ),
}

#: The usual port for each security, per account kind.
_PORTS: dict[Role, dict[Security, int]] = {
    "sender": {Security.SSL: 465, Security.STARTTLS: 587, Security.NONE: 25},
    "seed": {Security.SSL: 993, Security.STARTTLS: 143, Security.NONE: 143},
}
_SECURITY_OF_PORT = {
    465: Security.SSL,
    993: Security.SSL,
    587: Security.STARTTLS,
    143: Security.STARTTLS,
    25: Security.STARTTLS,
}


def preset_of(role: Role, provider: Provider) -> ServerPreset | None:
    """The provider's server for this kind of account."""
    return provider.smtp if role == "sender" else provider.imap


def default_port(preset: ServerPreset | None) -> int | None:
    """The provider's port (its other servers use the same ones); None: no preset, ask."""
    return preset.port if preset is not None else None


def default_security(preset: ServerPreset | None, port: int) -> Security | None:
    """The preset's security for the preset's port, else what the port usually means."""
    if preset is not None and port == preset.port:
        return preset.security
    return _SECURITY_OF_PORT.get(port)


def default_username(role: Role, provider: Provider, address: str) -> str:
    """The whole address, except where the provider's IMAP rule says otherwise (iCloud)."""
    return address if role == "sender" else provider.imap_user(address)


def sign_in_words(provider: Provider) -> list[str]:
    """What password this provider wants from a program like this one, and where to get it."""
    name = provider.display_name
    headline = {
        SignIn.APP_PASSWORD: f"{name} needs an app password here, not the normal password.",
        SignIn.SECURE_MAIL_KEY: f"{name} needs a secure mail key here, not the normal password.",
        SignIn.THIRD_PARTY_ACCESS: (
            f"{name} takes the normal password here, but only after a setting is switched on."
        ),
        SignIn.OAUTH2_ONLY: (
            f"{name} accounts cannot be used with a password at all, not even an app password."
        ),
        SignIn.PASSWORD: f"{name} takes the account's password here.",
    }[provider.sign_in]
    lines = [headline, provider.sign_in_note]
    if provider.name == OTHER:
        lines = [provider.sign_in_note]
    if provider.sign_in_url:
        label = {
            SignIn.APP_PASSWORD: "Create it here",
            SignIn.SECURE_MAIL_KEY: "Create it here",
            SignIn.THIRD_PARTY_ACCESS: "Switch it on here",
        }.get(provider.sign_in, "More")
        lines.append(f"{label}: {provider.sign_in_url}")
    return lines


def password_word(provider: Provider) -> str:
    """What to call the secret in the question, so nobody types the normal password by habit."""
    return {
        SignIn.APP_PASSWORD: "App password",
        SignIn.SECURE_MAIL_KEY: "Secure mail key",
    }.get(provider.sign_in, "Password")


# --- the interactive wizard ---------------------------------------------------------------------


class GoBack(Exception):
    """The person chose to change an earlier answer: set-up goes back to ``step``."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


#: The parts of the interactive set-up, in order; each can be gone back to.
STEPS = ("sender", "seed", "schedule", "office")
_STEP_WORDS = {
    "sender": "the sending account",
    "seed": "the seed mailbox",
    "schedule": "the schedule",
    "office": "the office's name and support contact",
}


class Wizard:
    """The questions, in the order a support person thinks about an office.

    Every answer is remembered: going back to an earlier step offers the answers given there as
    the defaults, and a second run of set-up offers the existing configuration's values.
    """

    def __init__(
        self,
        options: SetupOptions,
        console: Console,
        journal: SignInJournal | None = None,
        current: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.options = options
        self.ui = console
        self.journal = journal or SignInJournal()
        self.ca_flag: Path | None = parse_ca_file(options.ca_file) if options.ca_file else None
        self.ca_default = self.ca_flag  # becomes the sender's CA, offered again for the seed
        #: The values of the configuration being replaced (``current_values``), as defaults.
        self.current = current or {}
        #: What was answered in this run, per step: defaults when the person goes back.
        self.answers: dict[str, dict[str, str]] = {}
        #: The password typed per account (never shown), kept when the person goes back.
        self.typed: dict[Role, tuple[str, str]] = {}
        #: Where each password comes from: "typed", "keyring" (kept), "oauth" or "none".
        self.sources: dict[Role, str] = {}
        self.skip_tests = options.no_test

    def default(self, step: str, key: str, option: str | None = None) -> str | None:
        """This run's earlier answer, else the option given, else the existing config's value."""
        earlier = self.answers.get(step, {}).get(key)
        if earlier is not None:
            return earlier
        flag = self._flag(option) if option else None
        if flag is not None:
            return flag
        return self.current.get(step, {}).get(key)

    def account(self, role: Role) -> tuple[Account, str]:
        """Ask for one account and its password, and prove the sign-in unless tests are skipped."""
        words = _WORDS[role]
        ui = self.ui
        ui.say()
        ui.say(f"-- {words.title} --")
        address = ui.ask_as(
            words.address_question,
            parse_address,
            self.default(role, "address", words.address_option),
        )
        provider = self.provider(role, address, self.default(role, "provider"))
        host_default = self.default(role, "host", words.host_option)
        port_default = self.default(role, "port", words.port_option)
        security_default = self.default(role, "security", words.security_option)
        username_default = self.default(role, "username", words.username_option)
        earlier_ca = self.default(role, "ca_file")
        ca_default = Path(earlier_ca) if earlier_ca else self.ca_default
        while True:
            preset = preset_of(role, provider)
            if preset is not None and host_default in (None, preset.host):
                ui.say(
                    f"{provider.display_name} settings: {preset.host}, port {preset.port}, "
                    f"{preset.security.value}. Press Enter to keep each one."
                )
            elif host_default:
                ui.say("The answers given before are in [brackets]; press Enter to keep each one.")
            host = ui.ask_as(
                words.server, parse_host, host_default or (preset.host if preset else None)
            )
            found = account_provider(role, host, address)
            if found.name != provider.name and found.name != OTHER:
                ui.say(f"{host} belongs to {found.display_name}.")
                self.explain(found, role)
                provider, preset = found, preset_of(role, found)
            elif preset is not None and host.lower().rstrip(".") != preset.host:
                # The summary above named the preset's server; say plainly that the one in use
                # is another, whose port and security may differ.
                ui.say(
                    f"  {host} is not {provider.display_name}'s usual server ({preset.host}). "
                    f"The port and security below are {provider.display_name}'s usual ones: "
                    f"change them if {host} uses others."
                )
            guess = default_port(preset)
            port = ui.ask_as(
                "Port", parse_port, port_default or (str(guess) if guess is not None else None)
            )
            usual = default_security(preset, port)
            while True:
                security = ui.ask_as(
                    "Security: ssl, starttls or none",
                    parse_security,
                    security_default or (usual.value if usual else None),
                )
                try:
                    check_plain(host, security)
                    break
                except ValueError as e:
                    ui.say(f"  {e}")
                    security_default = None
            service = self.auth(role, provider, host)
            username = self.username(
                role, provider, address, username_default, allow_none=not service
            )
            # A private CA belongs to a private server ("other"); a big provider gets one only
            # when --ca-file asked for it, never the sender's by accident. Without encryption
            # (security = none) there is no certificate to check, so nothing is asked.
            ca_file = ca_default if provider.name == OTHER else self.ca_flag
            if security is Security.NONE:
                ca_file = None
            elif provider.name == OTHER or ca_file is not None:
                ca_file = ui.ask_as(
                    "Private certificate authority (PEM file) of this server, if it has one "
                    "(Enter for none; type - to clear)",
                    lambda v: None if v.strip() == "-" else parse_ca_file(v),
                    str(ca_file) if ca_file else None,
                    optional=True,
                )
            self.answers[role] = {
                "address": address,
                "provider": provider.name,
                "host": host,
                "port": str(port),
                "security": security.value,
                "username": username if username else "-",
                "ca_file": str(ca_file) if ca_file else "",
            }
            oauth = self.oauth_settings(role, service) if service else None
            account = Account(
                role, address, host, port, security, username, ca_file, provider, oauth
            )
            password = self.oauth_sign_in(account) if oauth else self.password(account)
            if password is not None:
                if role == "sender" and ca_file is not None:
                    self.ca_default = ca_file  # the seed is often on the same private server
                return account, password
            # The person wants to change the server settings: the answers become the defaults.
            host_default, port_default, security_default = host, str(port), security.value
            username_default, ca_default = username if username else "-", ca_file

    def provider(self, role: Role, address: str, earlier: str | None = None) -> Provider:
        """Recognise the provider from the address, let the person correct it, explain it."""
        detected = account_provider(role, "", address)
        if earlier and earlier in {p.name for p in all_providers()}:
            detected = get_provider(earlier)
        names = [p.name for p in all_providers()]
        if detected.name != OTHER and not earlier:
            self.ui.say(f"Recognised: {detected.display_name}.")

        def known(value: str) -> Provider:
            try:
                return get_provider(value)
            except ValueError:
                raise ValueError(f"{value!r} is not one of: {', '.join(names)}") from None

        provider = self.ui.ask_as(f"Mail provider ({', '.join(names)})", known, detected.name)
        self.explain(provider, role)
        return provider

    def explain(self, provider: Provider, role: Role) -> None:
        """Say which password the provider wants (or that only a sign-in page works)."""
        for line in sign_in_words(provider):
            self.ui.say(f"  {line}")
        if provider.oauth is OAuth.APPROVED_APPS_ONLY:
            self.ui.say(
                f"  ({provider.display_name} offers OAuth2 sign-in only to apps it approved one "
                "by one, so Watchdog uses the password named above.)"
            )

    def auth(self, role: Role, provider: Provider, host: str) -> str:
        """The OAuth2 service to sign in with ("microsoft"/"google"), or "" for a password.

        Outlook.com takes nothing else; Microsoft 365 and Gmail take both, so the person
        chooses, told plainly what each needs.
        """
        flag = self._flag(f"--{role}-auth")
        named = self._flag(f"--{role}-oauth-provider")
        service = oauth_service(provider, host)
        if named in OAUTH_PROVIDERS:
            service = named
        if not service:
            return ""
        name = SERVICE_NAMES[service]
        if provider.sign_in is SignIn.OAUTH2_ONLY:
            self.ui.say(
                f"  Watchdog signs in to {provider.display_name} through a {name} sign-in page "
                f"(OAuth2). It needs your own {name} app registration (its client id); "
                f"{doc_reference('oauth.md')} says step by step how to make one."
            )
            return service
        for line in oauth_choice_words(provider, service):
            self.ui.say(f"  {line}")
        choice = self.ui.choose(
            "Sign in with",
            {"p": password_word(provider).lower(), "o": f"{name} sign-in (OAuth2)"},
            "o" if flag == "oauth2" else "p",
        )
        return service if choice == "o" else ""

    def oauth_settings(self, role: Role, service: str) -> OAuthSettings:
        """The app registration to sign in with; defaults from the options."""
        ui = self.ui
        name = SERVICE_NAMES[service]
        authority_default, scopes_default = oauth_settings_default(service)
        if service == "microsoft":
            question = "Application (client) ID of your Microsoft app registration"
        else:
            question = "Client ID of your Google OAuth client (Desktop app)"
        client_id = ui.ask_as(question, parse_client_id, self._flag(f"--{role}-oauth-client-id"))
        secret = ""
        if service == "google":
            secret = ui.ask_as(
                "Client secret of that Google client (not a password: Google treats Desktop-app "
                "secrets as public; it is written to the config)",
                parse_client_id,
                self._flag(f"--{role}-oauth-client-secret")
                or os.environ.get(oauth_secret_var(role)),
            )
        authority = ui.ask_as(
            f"{name} sign-in service (Enter keeps the standard one)",
            parse_authority,
            self._flag(f"--{role}-oauth-authority") or authority_default,
        )
        scopes = scopes_default
        raw_scopes = self._flag(f"--{role}-oauth-scopes")
        if raw_scopes:
            try:
                scopes = parse_scopes(raw_scopes)
            except ValueError as e:
                raise BadInput(f"--{role}-oauth-scopes", str(e)) from None
        return OAuthSettings(service, client_id, authority, scopes, secret)

    def oauth_sign_in(self, account: Account) -> str | None:
        """Sign in until it works and the logins take the token: "" (no password); None: change
        the server settings."""
        ui = self.ui
        while True:
            why = oauth_sign_in(ui, account, self.journal)
            problem = None
            if why is not None:
                ui.say(f"  The sign-in did not work: {why}")
            elif not self.skip_tests:
                problem = self.prove(account, "")
            if why is None and problem is None:
                self.sources[account.role] = "oauth"
                return ""
            options = {"a": "sign in again", "s": "change the server settings"}
            options.update(self._way_on_options(problem, account.host))
            choice = ui.choose(
                "What now",
                options,
                "a" if problem is None or problem.stage == "login" else "s",
            )
            if choice == "s":
                return None
            if choice == "n" and why is not None:
                ui.say("  Without a sign-in there is nothing to save for this account.")
                continue
            self._other_way_on(choice)
            if choice == "n":
                self.sources[account.role] = "oauth"
                return ""

    def username(
        self,
        role: Role,
        provider: Provider,
        address: str,
        default: str | None,
        *,
        allow_none: bool = True,
    ) -> str:
        """The sign-in name; the sender may have none (a relay), unless it signs in with OAuth2."""
        question = "User name for signing in"
        allow_none = allow_none and role == "sender"
        if allow_none:
            question += " (type - if the server needs no sign-in)"
        fallback = default_username(role, provider, address)
        if not allow_none and not default:
            default = None
        while True:
            answer = self.ui.ask_as(
                question, one_line, default if default is not None else fallback
            )
            if answer != "-":
                return answer
            if allow_none:
                return ""
            self.ui.say("  An OAuth2 sign-in needs the account's full address here.")

    def password(self, account: Account) -> str | None:
        """Ask for the password until the sign-in works; None: change the server settings."""
        ui = self.ui
        role = account.role
        if role == "sender" and not account.username:
            ui.say("No sign-in: no password needed.")
            self.sources[role] = "none"
            while not self.skip_tests:
                problem = self.prove(account, "")
                if problem is None:
                    break
                choice = ui.choose(
                    "What now",
                    {
                        "s": "change the server settings",
                        **self._way_on_options(problem, account.host),
                    },
                    "s",
                )
                if choice == "s":
                    return None
                self._other_way_on(choice)
            return ""
        if os.environ.get(env_var(role)):
            ui.say(
                f"Note: {env_var(role)} is set here; when the watchdog runs with it, "
                "it wins over the password saved now."
            )
        while True:
            password, source = self._ask_password(account)
            # Kept for this run: going back to change another answer does not ask for it again.
            self.typed[role] = (self._account_key(account), password)
            if self.skip_tests:
                self.sources[role] = source
                return password
            problem = self.prove(account, password)
            if problem is None:
                self.sources[role] = source
                self.typed[role] = (self._account_key(account), password)
                return password
            options: dict[str, str] = {}
            if problem.stage == "login" and not problem.no_sign_in_offered:
                options["p"] = "type the password again"
            options["s"] = "change the server settings"
            options.update(self._way_on_options(problem, account.host))
            choice = ui.choose("What now", options, "p" if "p" in options else "s")
            if choice == "s":
                return None
            if choice == "n":
                self._other_way_on(choice)
                self.sources[role] = source
                self.typed[role] = (self._account_key(account), password)
                return password
            if choice == "p":
                self.typed.pop(role, None)
                continue
            self._other_way_on(choice)

    def _ask_password(self, account: Account) -> tuple[str, str]:
        """The password and where it came from: typed now, typed before in this run, or the
        one the keyring already holds for this account (a second run of set-up)."""
        word = password_word(account.provider)
        prompt = f"{word} for {account.username} (not shown as you type"
        role = account.role
        earlier = self.typed.get(role)
        kept: str | None = None
        source = "typed"
        if earlier is not None and earlier[0] == self._account_key(account):
            kept, keep_words = earlier[1], "the one typed before"
        elif self.current:
            kept, keep_words, source = (
                _keyring_get(role, account.username),
                "the saved one",
                "keyring",
            )
        if kept:
            prompt += f"; Enter keeps {keep_words}"
        prompt += "): "
        while True:
            value = getpass.getpass(prompt)
            if value:
                return value, "typed"
            if kept:
                return kept, source
            self.ui.say("  A password is needed here.")

    @staticmethod
    def _account_key(account: Account) -> str:
        return f"{account.username}@{account.host}"

    def _way_on_options(self, problem: Problem | None, host: str) -> dict[str, str]:
        """The ways on after a failed live test, besides retrying: back, save untested, stop."""
        if problem is not None and problem.unreachable:
            self._say_unreachable(problem, host)
        return {
            "b": "go back to an earlier answer",
            "n": "save without testing",
            "q": "stop",
        }

    def _say_unreachable(self, problem: Problem, host: str) -> None:
        causes = problem.likely_causes(host)
        if causes:
            self.ui.say(f"  Likely: {causes}.")
        self.ui.say(
            "  If this PC cannot reach the server yet (a new network, a firewall still to open), "
            "save without testing (n): the settings are saved as typed, without proof that "
            "they work, and the watchdog shows the problem until the server can be reached; "
            "`watchdog doctor` proves every setting then. (`watchdog setup --no-test` skips "
            "the tests from the start.)"
        )

    def _other_way_on(self, choice: str) -> None:
        """Go back (raises :class:`GoBack`), save without tests (returns), or stop (raises)."""
        if choice == "q":
            raise SetupStopped("Setup stopped; nothing was saved.", ExitStatus.FAILED)
        if choice == "b":
            raise GoBack(self.choose_step())
        if choice == "n":
            self.skip_tests = True
            self.ui.say(
                "  Not tested: the rest of set-up asks without testing, and no first test "
                "message is sent. Run `watchdog doctor` once the servers can be reached."
            )

    def choose_step(self) -> str:
        """Which part of set-up to go back to; its answers are offered again."""
        letters = {str(n): _STEP_WORDS[step] for n, step in enumerate(STEPS, 1)}
        choice = self.ui.choose("Go back to", letters, "1")
        return STEPS[int(choice) - 1]

    def prove(self, account: Account, password: str) -> Problem | None:
        """Try the sign-in live and say what happened."""
        what = "connection" if account.role == "sender" and not account.username else "sign-in"
        self.ui.say(f"Testing the {what} to {account.host}:{account.port} ...")
        problem = live_login(account, password)
        if problem is None:
            if account.role == "sender" and not account.username:
                self.ui.say("  OK: the server answered; it is used without signing in.")
            else:
                self.ui.say("  OK: signed in.")
            return None
        if problem.stage == "connect":
            self.ui.say("  The server could not be used.")
        else:
            self.ui.say("  The sign-in did not work.")
        for line in problem.explain(account.provider.name, account.role):
            if problem.unreachable and line.startswith("What to do:"):
                continue  # the likely causes follow, in words for support (who is reading)
            self.ui.say(f"  {line}")
        return problem

    def schedule(self, sender: Account) -> tuple[float, float]:
        """How often and how long, within the config's bounds for this sending account."""
        ui = self.ui
        ui.say()
        ui.say("-- Schedule --")
        every = ui.ask_as(
            "Check every how many minutes",
            every_minutes_parser(sender.host, sender.address),
            self.default("schedule", "every", "--every-minutes") or f"{DEFAULT_EVERY_MINUTES:g}",
        )
        deadline = ui.ask_as(
            "Minutes after which a test message that has not arrived counts as lost",
            deadline_minutes_parser(sender.host),
            self.default("schedule", "deadline", "--deadline-minutes")
            or f"{DEFAULT_DEADLINE_MINUTES:g}",
        )
        self.answers["schedule"] = {"every": f"{every:g}", "deadline": f"{deadline:g}"}
        return every, deadline

    def schedule_accepted(self, text: str, path: Path) -> bool:
        """Question a schedule :func:`config.schedule_warnings` finds unwise; True: keep it."""
        warnings = schedule_warnings(validate_config_text(text, path))
        if not warnings:
            return True
        self.ui.say()
        for warning in warnings:
            self.ui.say(f"WARN {_without_path(warning, path)}")
        return self.ui.yes("Keep this schedule anyway?", default=False)

    def office(self) -> tuple[str, str]:
        ui = self.ui
        ui.say()
        ui.say("-- The office --")
        office = ui.ask_as(
            "Name of the practice, shown in messages (Enter to leave out)",
            one_line,
            self.default("office", "office", "--office"),
            optional=True,
        )
        contact = ui.ask_as(
            "Who should the staff call about e-mail problems, e.g. name and phone (Enter to "
            "leave out)",
            one_line,
            self.default("office", "contact", "--support-contact"),
            optional=True,
        )
        self.answers["office"] = {"office": office, "contact": contact}
        return office, contact

    def _flag(self, option: str) -> str | None:
        return self.options.given(option)


# --- non-interactive ----------------------------------------------------------------------------


def account_from_options(role: Role, options: SetupOptions) -> Account:
    """One account from the options alone; BadInput names the option that is wrong or missing."""
    words = _WORDS[role]
    flag = options.given

    def parsed(option: str, parse: Callable[[str], _T], value: str) -> _T:
        try:
            return parse(value)
        except ValueError as e:
            raise BadInput(option, str(e)) from None

    raw_address = flag(words.address_option)
    if not raw_address:
        raise BadInput(words.address_option, "is required (" + words.address_question + ")")
    address = parsed(words.address_option, parse_address, raw_address)
    raw_host = flag(words.host_option)
    host_typed = parsed(words.host_option, parse_host, raw_host) if raw_host else ""
    provider = account_provider(role, host_typed, address)
    preset = preset_of(role, provider)
    if not host_typed and preset is None:
        raise BadInput(
            words.host_option,
            f"is required: the provider of {address} is not known, so there is no preset server",
        )
    host = host_typed or (preset.host if preset else "")
    raw_port = flag(words.port_option)
    guess = default_port(preset)
    if raw_port:
        port = parsed(words.port_option, parse_port, raw_port)
    elif guess is not None:
        port = guess
    else:
        raise BadInput(words.port_option, f"is required for {host} (e.g. 465 or 587, 993)")
    raw_security = flag(words.security_option)
    usual = default_security(preset, port)
    if raw_security:
        security = parsed(words.security_option, parse_security, raw_security)
    elif usual is not None:
        security = usual
    else:
        raise BadInput(words.security_option, f"is required for port {port} (ssl or starttls)")
    try:
        check_plain(host, security)
    except ValueError as e:
        raise BadInput(words.security_option, str(e)) from None
    raw_username = flag(words.username_option)
    if raw_username is None:
        username = default_username(role, provider, address)
    else:
        username = parsed(words.username_option, one_line, raw_username)
    if role == "seed" and not username:
        raise BadInput(words.username_option, "must not be empty: the seed mailbox needs a sign-in")
    ca_file = parsed("--ca-file", parse_ca_file, options.ca_file) if options.ca_file else None
    oauth = oauth_from_options(role, options, provider, host)
    if oauth is not None and not username:
        raise BadInput(words.username_option, "must be the account's address with OAuth2")
    return Account(role, address, host, port, security, username, ca_file, provider, oauth)


def password_from_environment(role: Role, username: str) -> tuple[str, Literal["env", "keyring"]]:
    """The password for a scripted install: the environment, else one already in the keyring."""
    variable = env_var(role)
    value = os.environ.get(variable)
    if value:
        return value, "env"
    stored = _keyring_get(role, username)
    if stored:
        return stored, "keyring"
    raise BadInput(
        variable,
        f"is not set, and no password is stored in the keyring for {keyring_entry(role, username)}"
        ": set it in the environment of this command",
    )


# --- the keyring --------------------------------------------------------------------------------


def store_password(role: Role, username: str, password: str) -> str | None:
    """Store in the OS keyring and read it back; None when kept, else why not (no secret in it).

    A backend that accepts and forgets (the null keyring) or that writes a plain file
    (``keyrings.alt``) counts as unavailable: the password must never end up in a file.
    """
    import keyring
    import keyring.errors

    entry = keyring_entry(role, username)
    try:
        backend = keyring.get_keyring()
        name = str(getattr(backend, "name", type(backend).__name__))
        unsafe = keyring_backend_problem(backend)
        if unsafe is not None and "keeps nothing" not in unsafe:
            return unsafe  # never written: a plain file is no place for a password
        keyring.set_password(KEYRING_SERVICE, entry, password)
        kept = keyring.get_password(KEYRING_SERVICE, entry)
    except keyring.errors.KeyringError as e:
        return f"the system keyring is not available ({type(e).__name__}: {e})"
    except Exception as e:  # a backend's own D-Bus or OS error, e.g. a locked collection
        return f"the system keyring failed ({type(e).__name__}: {e})"
    if kept != password:
        return f"the system keyring ({name}) did not keep it"
    return None


def _keyring_get(role: Role, username: str) -> str | None:
    import keyring

    try:
        value: str | None = keyring.get_password(KEYRING_SERVICE, keyring_entry(role, username))
    except Exception:  # no keyring at all: the caller asks for the environment variable
        return None
    return value


# --- the steps both modes share -----------------------------------------------------------------


@dataclass
class _Plan:
    """What setup is about to save, and the passwords kept apart (never printed)."""

    sender: Account
    seed: Account
    every: float
    deadline: float
    office: str
    contact: str
    passwords: dict[Role, str]
    sources: dict[Role, str]  # "typed", "env", "keyring", "none" (no AUTH) or "oauth"
    journal: SignInJournal | None = None  # the OAuth2 sign-ins stored while setup ran

    def values(self) -> ConfigValues:
        s, d = self.sender, self.seed
        return ConfigValues(
            sender=SenderConfig(
                s.address,
                s.host,
                s.port,
                s.security,
                s.username,
                s.ca_file,
                auth=auth_for(s.oauth),
                oauth=s.oauth,
            ),
            seed=SeedConfig(
                d.address,
                d.host,
                d.port,
                d.security,
                d.username,
                d.ca_file,
                auth=auth_for(d.oauth),
                oauth=d.oauth,
            ),
            every_minutes=self.every,
            deadline_minutes=self.deadline,
            office=self.office,
            support_contact=self.contact,
        )


_OPTION_OF_KEY = {
    "office": "--office",
    "[sender] address": "--sender-address",
    "[sender] smtp_host": "--smtp-host",
    "[sender] smtp_port": "--smtp-port",
    "[sender] security": "--smtp-security",
    "[sender] username": "--sender-username",
    "[sender] ca_file": "--ca-file",
    "[seed] address": "--seed-address",
    "[seed] imap_host": "--imap-host",
    "[seed] imap_port": "--imap-port",
    "[seed] security": "--imap-security",
    "[seed] username": "--seed-username",
    "[seed] ca_file": "--ca-file",
    "[schedule] every_minutes": "--every-minutes",
    "[schedule] deadline_minutes": "--deadline-minutes",
    "[alerts] support_contact": "--support-contact",
    **{
        f"[{role}] {key}": f"--{role}-{key.replace('_', '-')}"
        for role in ("sender", "seed")
        for key in (
            "oauth_provider",
            "oauth_client_id",
            "oauth_client_secret",
            "oauth_authority",
            "oauth_scopes",
        )
    },
    "[sender] auth": "--sender-auth",
    "[seed] auth": "--seed-auth",
}


def _render(plan: _Plan, path: Path) -> str:
    """The config text, checked by the watchdog's own parser; BadInput names the option."""
    try:
        text = render_config(plan.values())
    except RefusedValue as e:
        raise BadInput(_OPTION_OF_KEY.get(e.key, e.key), str(e)) from None
    try:
        validate_config_text(text, path)
    except ConfigError as e:
        option = _OPTION_OF_KEY.get(e.key or "", e.key or "the configuration")
        raise BadInput(option, str(e)) from None
    return text


def warn_about_schedule(ui: Console, text: str, path: Path) -> None:
    """Say loudly what :func:`config.schedule_warnings` finds; the config is still saved."""
    for warning in schedule_warnings(validate_config_text(text, path)):
        ui.say(f"WARN {warning}")


def first_canary(ui: Console, plan: _Plan, text: str, path: Path) -> bool:
    """A real round trip with the new settings, as ``watchdog check`` makes it; True if it works.

    Junk and late count as working (the settings are right; the watchdog will report those), with
    a plain warning. No alert channel is used: nobody should be paged during setup.
    """
    from watchdog.app import open_app
    from watchdog.core.classifier import describe
    from watchdog.core.guidance import short_fix
    from watchdog.core.humanize import format_duration
    from watchdog.core.models import Outcome

    config = validate_config_text(text, path)
    passwords = plan.passwords
    ui.say()
    ui.say(
        f"Sending a first test message from {plan.sender.address} to {plan.seed.address} and "
        f"waiting for it (at most {format_duration(config.schedule.deadline_seconds)}; usually "
        "a few seconds) ..."
    )
    try:
        with open_app(config, passwords=lambda role, _user: passwords[role], channels=[]) as app:
            result = app.runner.check().result
            provider = app.provider
    except WatchdogError as e:
        ui.say(f"  The test message could not be tried: {e}")
        return False
    took = format_duration(result.latency_s or 0.0)
    if result.outcome is Outcome.DELIVERED:
        ui.say(f"  Delivered: the test message arrived in {result.folder} after {took}.")
        return True
    if result.outcome in (Outcome.JUNK, Outcome.LATE):
        where = "in the junk folder" if result.outcome is Outcome.JUNK else "late"
        ui.say(f"  The test message arrived, but {where} (after {took}).")
        ui.say(f"  {describe(result.diagnosis)}")
        ui.say(f"  What to do: {short_fix(provider, result.diagnosis)}")
        ui.say("  The settings work; the watchdog will keep reporting this until it is fixed.")
        return True
    ui.say("  The test message did not get through.")
    ui.say(f"  {describe(result.diagnosis)}")
    if result.detail:
        ui.say(f"  What happened: {result.detail}")
    ui.say(f"  What to do: {short_fix(provider, result.diagnosis)}")
    return False


def save(ui: Console, plan: _Plan, text: str, path: Path, *, overwrite: bool) -> None:
    """Store the passwords in the keyring, then write the config; say where each went."""
    ui.say()
    not_kept: list[Role] = []
    for role in ("sender", "seed"):
        account = plan.sender if role == "sender" else plan.seed
        if role == "sender" and not account.username:
            continue
        if account.oauth is not None:
            from watchdog.signin.oauth import token_entry

            entry = token_entry(role, account.username)
            ui.say(
                f"Sign-in for {account.username}: saved in the system keyring "
                f"({KEYRING_SERVICE} / {entry})."
            )
            continue
        if plan.sources[role] == "keyring":
            ui.say(f"Password for {account.username}: already in the system keyring.")
            continue
        problem = store_password(role, account.username, plan.passwords[role])
        if problem is None:
            entry = keyring_entry(role, account.username)
            ui.say(
                f"Password for {account.username}: saved in the system keyring "
                f"({KEYRING_SERVICE} / {entry})."
            )
        else:
            ui.say(f"Password for {account.username}: NOT saved: {problem}.")
            not_kept.append(role)
    if not_kept:
        ui.say(
            "Nothing was written to disk instead: a password never goes into a file (not the "
            "configuration, not the autostart entry). Until the passwords are saved, the "
            "watchdog cannot check (its status says so)."
        )
        ui.say(f"What to do: {secure_keyring_advice()}")
    try:
        write_config_file(path, text, overwrite=overwrite)
    except FileExistsError:
        raise SetupStopped(
            f"{path} appeared while setup ran; nothing was replaced. Run setup again with --force "
            "to replace it.",
            ExitStatus.CONFIG,
        ) from None
    except OSError as e:
        raise SetupStopped(f"The configuration could not be written: {e}", ExitStatus.CONFIG) from e
    if plan.journal is not None:
        plan.journal.keep()
    ui.say(f"Configuration written to {path} (readable only by you).")


def say_where_passwords_go(ui: Console) -> None:
    """Before any password is asked: say at once when this PC has no safe place for them."""
    try:
        import keyring

        problem = keyring_backend_problem(keyring.get_keyring())
    except Exception as e:  # a broken keyring setup: the same advice applies
        problem = f"the system keyring cannot be used ({type(e).__name__})"
    if problem is None:
        return
    ui.say()
    ui.say(
        f"Note: passwords cannot be saved on this PC yet: {problem}. Set-up goes on, but "
        "nothing can check until they are saved."
    )
    ui.say(f"What to do: {secure_keyring_advice()}")


def offer_autostart(ui: Console, path: Path, *, ask: bool, wanted: bool) -> bool:
    """Start the watchdog with the PC through ``watchdog.desktop.autostart``; True when it will."""
    command = "watchdog autostart enable"
    try:
        module = importlib.import_module("watchdog.desktop.autostart")
        enable = module.enable
    except (ImportError, AttributeError):
        ui.say(f"To start the watchdog with the PC, run: {command}")
        return False
    if ask:
        wanted = ui.yes(
            "Start Delivery Watchdog (its tray icon) automatically when this PC starts?",
            default=True,
        )
    if not wanted:
        ui.say(f"Not started with the PC; to do it later, run: {command}")
        return False
    try:
        parameters = inspect.signature(enable).parameters
        if "config_path" in parameters:
            done = enable(config_path=path)
        elif "config" in parameters:
            done = enable(config=path)
        elif all(p.default is not p.empty for p in parameters.values()):
            done = enable()
        else:
            ui.say(f"To start the watchdog with the PC, run: {command}")
            return False
    except Exception as e:  # whatever the platform's service manager said
        ui.say(f"Could not set up the start with the PC ({e}); run `{command}` later.")
        return False
    describe = getattr(done, "describe", None)
    ui.say(str(describe()) if callable(describe) else "The watchdog will start with the PC.")
    return True


# --- the command --------------------------------------------------------------------------------


def run_setup(options: SetupOptions) -> int:
    """``watchdog setup``: 0 done, 2 a live test failed, 3 bad input, 130 stopped."""
    ui = Console()
    path: Path = (options.config or default_config_path()).expanduser()
    journal = SignInJournal()
    try:
        if options.reauth is not None:
            return reauth(ui, options.reauth, path)
        if options.non_interactive:
            return _scripted(ui, options, path, journal)
        return _interactive(ui, options, path, journal)
    except SetupStopped as e:
        ui.say(str(e))
        return e.code
    except (KeyboardInterrupt, EOFError):
        ui.say("\nSetup stopped; nothing was saved.")
        return ExitStatus.INTERRUPTED
    finally:
        journal.undo()  # nothing left to undo once the config was written


def _interactive(ui: Console, options: SetupOptions, path: Path, journal: SignInJournal) -> int:
    ui.say("Delivery Watchdog setup")
    ui.say(
        "Answer each question and press Enter; Enter alone keeps the value in [brackets]. "
        "Ctrl-C stops at any time without saving anything."
    )
    ui.say(
        "Each sign-in and a first test message are tried live before anything is saved; "
        "if this PC cannot reach the servers yet, `watchdog setup --no-test` saves without "
        "the tests."
    )
    overwrite = options.force
    current: dict[str, dict[str, str]] = {}
    if path.exists():
        current = current_values(ui, path)
        if not overwrite:
            ui.say(f"A configuration already exists: {path}")
            if current:
                ui.say("Its values are offered in [brackets]; press Enter to keep each one.")
            if not ui.yes("Replace it once setup has succeeded?", default=False):
                raise SetupStopped("Nothing was changed.", ExitStatus.CONFIG)
            overwrite = True
    try:
        wizard = Wizard(options, ui, journal, current)
    except ValueError as e:
        raise BadInput("--ca-file", str(e)) from None
    if wizard.skip_tests:
        ui.say("Live tests skipped (--no-test): the settings will be saved without proof.")
    say_where_passwords_go(ui)
    accounts: dict[Role, tuple[Account, str]] = {}
    every = deadline = 0.0
    office = contact = ""
    step = 0
    while True:
        try:
            while step < len(STEPS):
                name = STEPS[step]
                if name in ("sender", "seed"):
                    role: Role = "sender" if name == "sender" else "seed"
                    accounts[role] = wizard.account(role)
                elif name == "schedule":
                    every, deadline = wizard.schedule(accounts["sender"][0])
                    draft = _draft(accounts, every, deadline, wizard, journal)
                    if not wizard.schedule_accepted(_render(draft, path), path):
                        continue  # the same step again, with these answers as the defaults
                else:
                    office, contact = wizard.office()
                step += 1
            plan = _draft(accounts, every, deadline, wizard, journal, office, contact)
            text = _render(plan, path)
            if wizard.skip_tests:
                ui.say()
                ui.say(
                    "Not tested: the settings are saved as typed, without proof that they work. "
                    "Until they do, the watchdog shows the problem it meets; `watchdog doctor` "
                    "tests every setting."
                )
            else:
                while not first_canary(ui, plan, text, path):
                    choice = ui.choose(
                        "What now",
                        {
                            "t": "send another test message",
                            "b": "go back to an earlier answer",
                            "n": "save without testing",
                            "q": "stop",
                        },
                        "t",
                    )
                    if choice == "t":
                        continue
                    if choice == "q":
                        raise SetupStopped(
                            "Nothing was saved: settings that cannot deliver a test message "
                            "would only raise false alarms. Run `watchdog setup` again once the "
                            "problem is fixed.",
                            ExitStatus.FAILED,
                        )
                    wizard._other_way_on(choice)
                    break
            break
        except GoBack as back:
            step = STEPS.index(back.step)
    save(ui, plan, text, path, overwrite=overwrite)
    ui.say()
    with_the_pc = offer_autostart(ui, path, ask=True, wanted=False)
    _closing(ui, plan, path, with_the_pc=with_the_pc)
    return ExitStatus.OK


def _draft(
    accounts: dict[Role, tuple[Account, str]],
    every: float,
    deadline: float,
    wizard: Wizard,
    journal: SignInJournal,
    office: str = "",
    contact: str = "",
) -> _Plan:
    """What the answers so far would save."""
    (sender, sender_password), (seed, seed_password) = accounts["sender"], accounts["seed"]
    return _Plan(
        sender,
        seed,
        every,
        deadline,
        office,
        contact,
        passwords={"sender": sender_password, "seed": seed_password},
        sources={
            "sender": wizard.sources.get("sender", "typed"),
            "seed": wizard.sources.get("seed", "typed"),
        },
        journal=journal,
    )


def current_values(ui: Console, path: Path) -> dict[str, dict[str, str]]:
    """The answers an existing configuration gives, per step, to offer as defaults.

    A file that cannot be read offers nothing (said once); setup goes on with the usual defaults.
    """
    from watchdog.config import load_config

    try:
        config = load_config(path)
    except (ConfigError, OSError) as e:
        ui.say(f"The existing configuration cannot be read, so its values are not offered: {e}")
        return {}
    s, d = config.sender, config.seed
    return {
        "sender": {
            "address": s.address,
            "provider": account_provider("sender", s.smtp_host, s.address).name,
            "host": s.smtp_host,
            "port": str(s.smtp_port),
            "security": s.security.value,
            "username": s.username or "-",
            "ca_file": str(s.ca_file) if s.ca_file else "",
        },
        "seed": {
            "address": d.address,
            "provider": account_provider("seed", d.imap_host, d.address).name,
            "host": d.imap_host,
            "port": str(d.imap_port),
            "security": d.security.value,
            "username": d.username,
            "ca_file": str(d.ca_file) if d.ca_file else "",
        },
        "schedule": {
            "every": f"{config.schedule.every_minutes:g}",
            "deadline": f"{config.schedule.deadline_minutes:g}",
        },
        "office": {"office": config.office, "contact": config.alerts.support_contact},
    }


def _without_path(warning: str, path: Path) -> str:
    """A config warning without the file name in front: set-up has not written the file yet."""
    prefix = f"{path}: "
    return warning[len(prefix) :] if warning.startswith(prefix) else warning


def _scripted(ui: Console, options: SetupOptions, path: Path, journal: SignInJournal) -> int:
    overwrite = options.force
    if path.exists() and not overwrite:
        raise BadInput(
            "--force", f"a configuration already exists at {path}; add --force to replace it"
        )
    sender = account_from_options("sender", options)
    seed = account_from_options("seed", options)
    every = _minutes_option(options, "--every-minutes", DEFAULT_EVERY_MINUTES)
    deadline = _minutes_option(options, "--deadline-minutes", DEFAULT_DEADLINE_MINUTES)
    passwords: dict[Role, str] = {"sender": "", "seed": ""}
    sources: dict[Role, str] = {"sender": "none", "seed": "none"}
    for account in (sender, seed):
        if account.role == "sender" and not account.username:
            continue
        if account.oauth is not None:
            sources[account.role] = "oauth"
            continue
        passwords[account.role], sources[account.role] = password_from_environment(
            account.role, account.username
        )
    plan = _Plan(
        sender,
        seed,
        every,
        deadline,
        _text_option(options, "--office"),
        _text_option(options, "--support-contact"),
        passwords=passwords,
        sources=sources,
        journal=journal,
    )
    text = _render(plan, path)
    ui.say(f"Sending account: {sender.describe()}")
    ui.say(f"Seed mailbox:    {seed.describe()}")
    warn_about_schedule(ui, text, path)
    for account in (sender, seed):
        if account.oauth is None:
            continue
        label = "sending account" if account.role == "sender" else "seed mailbox"
        why = oauth_sign_in(ui, account, journal)
        if why is not None:
            ui.say(f"FAIL OAuth2 sign-in of the {label} {account.username}: {why}")
            raise SetupStopped("Nothing was saved.", ExitStatus.FAILED)
        ui.say(f"OK   OAuth2 sign-in of the {label} {account.username}")
    if options.no_test:
        ui.say("Live tests skipped (--no-test): the settings are saved without proof.")
    else:
        for account in (sender, seed):
            label = "outgoing server" if account.role == "sender" else "seed mailbox"
            problem = live_login(account, passwords[account.role])
            if problem is not None:
                ui.say(f"FAIL Sign-in to the {label} {account.host}:{account.port}:")
                for line in problem.explain(account.provider.name, account.role):
                    ui.say(f"  {line}")
                raise SetupStopped("Nothing was saved.", ExitStatus.FAILED)
            ui.say(f"OK   Sign-in to the {label} {account.host}:{account.port}")
        if not first_canary(ui, plan, text, path):
            raise SetupStopped("Nothing was saved.", ExitStatus.FAILED)
    save(ui, plan, text, path, overwrite=overwrite)
    with_the_pc = offer_autostart(ui, path, ask=False, wanted=options.autostart)
    _closing(ui, plan, path, with_the_pc=with_the_pc)
    return ExitStatus.OK


def _minutes_option(options: SetupOptions, option: str, default: float) -> float:
    raw = options.given(option)
    if raw is None:
        return default
    try:
        return parse_minutes(raw)
    except ValueError as e:
        raise BadInput(option, str(e)) from None


def _text_option(options: SetupOptions, option: str) -> str:
    raw = options.given(option)
    try:
        return one_line(raw or "")
    except ValueError as e:
        raise BadInput(option, str(e)) from None


def _closing(ui: Console, plan: _Plan, path: Path, *, with_the_pc: bool) -> None:
    """The last words point to what the office will use: the tray icon, started at login."""
    config = "" if path == default_config_path() else f" --config {path}"
    ui.say()
    if with_the_pc:
        ui.say(
            f"Done. From the next login the watchdog runs by itself with its icon in the system "
            f"tray and checks every {plan.every:g} min. To start it now without logging out, "
            f"run: watchdog{config} tray"
        )
    else:
        ui.say(
            f"Done. To start watching, run: watchdog{config} tray (an icon in the system tray; "
            f"it checks every {plan.every:g} min). To have it start at every login, run: "
            f"watchdog{config} autostart enable"
        )
    ui.say(f"`watchdog{config} doctor` tests every setting again at any time.")

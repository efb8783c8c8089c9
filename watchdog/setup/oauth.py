"""OAuth2 (XOAUTH2) sign-ins in ``watchdog setup``: choosing, signing in, undoing, renewing.

Where the provider accepts OAuth2 through a Microsoft or Google sign-in, setup asks for the
practice's own app registration (or takes it from the options: ``oauth_from_options``), runs the
sign-in (``oauth_sign_in``; Microsoft: a code to enter on microsoft.com/devicelogin; Google: the
browser) and stores it in the system keyring at once, because the first canary takes its token
from there. ``SignInJournal`` remembers what each stored sign-in replaced, so it is put back (the
earlier sign-in, or none) when setup does not finish.

``watchdog setup --reauth [sender|seed]`` (``reauth``) renews the OAuth2 sign-ins of an existing
config (what the ``signin_expired`` guide asks for) and tests the logins; the config is not
touched.

Why separate: the sign-in services, their libraries' many errors, the keyring restore and the
renewal are one concern with its own rules, apart from the order of the wizard's questions. This
module uses ``setup_console`` and ``setup_account`` and never imports ``setup_wizard``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from watchdog.config import (
    GOOGLE_AUTHORITY,
    GOOGLE_SCOPES,
    MICROSOFT_AUTHORITY,
    MICROSOFT_SCOPES,
    OAUTH_PROVIDERS,
    OAuthSettings,
    load_config,
)
from watchdog.core.errors import ConfigError, SecretError, WatchdogError
from watchdog.core.exit_status import ExitStatus
from watchdog.core.providers import OAuth, Provider, SignIn, get_provider, oauth_service_for
from watchdog.pages.guide import doc_reference
from watchdog.setup.account import SERVICE_NAMES, Account, live_login
from watchdog.setup.console import (
    BadInput,
    Console,
    SetupStopped,
    one_line,
)
from watchdog.setup.doctor import account_provider
from watchdog.setup.options import SetupOptions
from watchdog.signin.credentials import KEYRING_SERVICE, Role

if TYPE_CHECKING:
    from watchdog.signin.oauth import TokenStore

_T = TypeVar("_T")


# --- what an OAuth2 sign-in needs ---------------------------------------------------------------


def oauth_secret_var(role: str) -> str:
    """The environment variable that may hold a Google client secret for a scripted install."""
    return f"WATCHDOG_{role.upper()}_OAUTH_CLIENT_SECRET"


def oauth_service(provider: Provider, host: str = "") -> str:
    """``microsoft``/``google`` when Watchdog can sign in to this provider with OAuth2, else "".

    From the provider data (``oauth``), like the config's own default for ``oauth_provider``.
    """
    return oauth_service_for(host, provider.name)


def oauth_choice_words(provider: Provider, service: str) -> list[str]:
    """Why a person might pick the OAuth2 sign-in, for a provider that takes both."""
    name = SERVICE_NAMES[service]
    lines = [
        f"{provider.display_name} also lets Watchdog sign in through a {name} sign-in page "
        "(OAuth2) instead of a password: no password is kept, and a password change does not "
        f"break it silently. It needs your own {name} app registration (its client id); "
        f"{doc_reference('oauth.md')} says step by step how to make one.",
    ]
    if provider.name == "microsoft365":
        lines.append(
            "Microsoft turns password sign-in for sending off by default at the end of December "
            "2026, so OAuth2 is the lasting choice for Microsoft 365."
        )
    return lines


def oauth_settings_default(service: str) -> tuple[str, tuple[str, ...]]:
    """The sign-in service and the scopes a provider's mail needs."""
    if service == "microsoft":
        return MICROSOFT_AUTHORITY, MICROSOFT_SCOPES
    return GOOGLE_AUTHORITY, GOOGLE_SCOPES


def parse_auth(value: str) -> str:
    """password or oauth2."""
    value = value.strip().lower()
    if value not in ("password", "oauth2"):
        raise ValueError(f"{value!r} is not allowed; use password or oauth2")
    return value


def parse_oauth_provider(value: str) -> str:
    """microsoft or google."""
    value = value.strip().lower()
    if value not in OAUTH_PROVIDERS:
        raise ValueError(f"{value!r} is not allowed; use {' or '.join(OAUTH_PROVIDERS)}")
    return value


def parse_client_id(value: str) -> str:
    """A client id: one line, no spaces."""
    value = one_line(value)
    if not value or " " in value:
        raise ValueError(f"{value!r} must be the client id of the app registration, no spaces")
    return value


def parse_authority(value: str) -> str:
    """The sign-in service's https address (msal refuses anything else)."""
    value = one_line(value).rstrip("/")
    if not value.startswith("https://") or " " in value or len(value) <= len("https://"):
        raise ValueError(f"{value!r} must be an https:// address of the sign-in service")
    return value


def parse_scopes(value: str) -> tuple[str, ...]:
    """Scope names separated by spaces or commas; msal's own ones are refused as the config does."""
    scopes = tuple(v for v in one_line(value).replace(",", " ").split() if v)
    if not scopes:
        raise ValueError("name at least one scope")
    reserved = {"openid", "profile", "offline_access"} & set(scopes)
    if reserved:
        raise ValueError(f"{', '.join(sorted(reserved))}: always requested, leave it out")
    return scopes


# --- OAuth2 sign-in -----------------------------------------------------------------------------


class SignInJournal:
    """The OAuth2 sign-ins this setup stored, so they can be put back when setup does not finish.

    The first canary runs the watchdog's own code, which takes tokens from the keyring, so a
    sign-in must be stored before the proof; "nothing is saved unless setup succeeds" then means
    putting back what was there before (an earlier sign-in, or nothing).
    """

    def __init__(self) -> None:
        self._before: dict[str, tuple[TokenStore, str | None]] = {}

    def remember(self, store: TokenStore) -> None:
        """Note what ``store`` holds now, before a sign-in replaces it (only the first time)."""
        if store.head in self._before:
            return
        try:
            old = store.load()
        except SecretError:  # damaged or unreadable: nothing worth putting back
            old = None
        self._before[store.head] = (store, old)

    def keep(self) -> None:
        """Setup finished: the new sign-ins stay."""
        self._before.clear()

    def undo(self) -> None:
        """Put every touched sign-in back as it was; best effort (the keyring may be gone)."""
        for store, old in self._before.values():
            try:
                if old is None:
                    store.delete()
                else:
                    store.save(old)
            except SecretError:
                pass  # the new sign-in stays; it harms nothing without a config naming it
        self._before.clear()


def plain_file_keyring() -> str | None:
    """Why the keyring here must not hold a sign-in (a plain-file backend), else None."""
    import keyring

    try:
        backend = keyring.get_keyring()
    except Exception as e:  # no backend at all
        return f"the system keyring is not available ({type(e).__name__})"
    if type(backend).__module__.startswith("keyrings.alt"):
        name = str(getattr(backend, "name", type(backend).__name__))
        return f"the keyring here ({name}) would keep it in a plain file"
    return None


def oauth_sign_in(ui: Console, account: Account, journal: SignInJournal | None) -> str | None:
    """Run the OAuth2 sign-in of ``account`` and store it; None when stored, else why not.

    Microsoft: the device-code flow: a code to enter on Microsoft's page, on any device. Google:
    the installed-app flow in this PC's browser (the address is printed too). The libraries raise
    many kinds of errors (HTTP, OAuth, a browser that never came back); each becomes one plain
    sentence, never a traceback. Ctrl-C passes through.
    """
    from watchdog.signin.oauth import OAuthTokens, TokenStore, token_entry

    assert account.oauth is not None
    unusable = plain_file_keyring()
    if unusable:
        return f"{unusable}; Watchdog keeps OAuth2 sign-ins only in the system keyring"
    store = TokenStore(account.role, account.username)
    if journal is not None:
        journal.remember(store)
    name = SERVICE_NAMES[account.oauth.provider]
    ui.say()
    if account.oauth.provider == "microsoft":
        ui.say(
            f"Sign in to Microsoft as {account.username}: open the page below on any device (this "
            "PC or a phone), enter the code, sign in with that account and accept what Watchdog "
            "asks for (sending and reading mail). Setup waits here until it is done."
        )
    else:
        ui.say(
            f"Sign in to Google as {account.username}: a browser window opens on this PC (if none "
            "does, open the address below). Sign in with that account and allow Watchdog to use "
            "Gmail. Setup waits here until it is done."
        )
    tokens = OAuthTokens(
        account.role, account.username, account.oauth, ca_file=account.ca_file, store=store
    )
    try:
        tokens.sign_in(lambda text: ui.say(f"  {text}"))
    except WatchdogError as e:  # refused, or signed in with another account
        return str(e)
    except OSError as e:  # requests' errors are OSErrors: the sign-in service is unreachable
        return f"the {name} sign-in service could not be reached ({type(e).__name__})"
    except Exception as e:  # oauthlib, msal and the local browser listener have their own
        return f"the {name} sign-in did not finish ({type(e).__name__}: {e})"
    try:
        kept = store.load()
    except SecretError as e:
        return str(e)
    if not kept:
        return (
            "the system keyring did not keep the sign-in; Watchdog keeps OAuth2 sign-ins only "
            "there (a PC without a keyring cannot use OAuth2)"
        )
    entry = token_entry(account.role, account.username)
    ui.say(f"  Signed in; kept in the system keyring ({KEYRING_SERVICE} / {entry}).")
    return None


# --- a scripted install ------------------------------------------------------------------------


def oauth_from_options(
    role: Role, options: SetupOptions, provider: Provider, host: str
) -> OAuthSettings | None:
    """The OAuth2 settings of a scripted install, or None for a password.

    OAuth2 when ``--<role>-auth oauth2`` says so, or when the provider takes no password at all
    (Outlook.com). The Google client secret comes from its option or, to keep it off the command
    line, from ``WATCHDOG_<ROLE>_OAUTH_CLIENT_SECRET``; it ends up in the config either way.
    """

    def flag(name: str) -> str | None:
        return options.given(f"--{role}-{name}")

    def parsed(name: str, parse: Callable[[str], _T], value: str) -> _T:
        try:
            return parse(value)
        except ValueError as e:
            raise BadInput(f"--{role}-{name}", str(e)) from None

    raw_auth = flag("auth")
    if raw_auth is not None:
        auth = parsed("auth", parse_auth, raw_auth)
    else:
        auth = "oauth2" if provider.sign_in is SignIn.OAUTH2_ONLY else "password"
    oauth_options = ("oauth-provider", "oauth-client-id", "oauth-client-secret", "oauth-authority")
    if auth == "password":
        if provider.sign_in is SignIn.OAUTH2_ONLY:
            raise BadInput(
                f"--{role}-auth",
                f"{provider.display_name} accepts no password, not even an app password: use "
                f"oauth2 (see {doc_reference('oauth.md')})",
            )
        given = [f"--{role}-{name}" for name in (*oauth_options, "oauth-scopes") if flag(name)]
        if given:
            raise BadInput(given[0], f"is only used with --{role}-auth oauth2")
        return None
    raw_service = flag("oauth-provider")
    service = (
        parsed("oauth-provider", parse_oauth_provider, raw_service)
        if raw_service
        else oauth_service(provider, host)
    )
    if not service:
        if provider.oauth is OAuth.APPROVED_APPS_ONLY:
            why = (
                f"Watchdog signs in to {provider.display_name} with the app password or secure "
                "mail key: it offers OAuth2 only to apps it approved one by one"
            )
            raise BadInput(f"--{role}-auth", why)
        raise BadInput(
            f"--{role}-oauth-provider",
            f"is required: {host} does not tell which sign-in service it uses "
            f"({' or '.join(OAUTH_PROVIDERS)})",
        )
    raw_id = flag("oauth-client-id")
    if not raw_id:
        raise BadInput(
            f"--{role}-oauth-client-id",
            f"is required for an OAuth2 sign-in: the client id of your own "
            f"{SERVICE_NAMES[service]} app registration ({doc_reference('oauth.md')} says how "
            "to make one)",
        )
    client_id = parsed("oauth-client-id", parse_client_id, raw_id)
    raw_secret = flag("oauth-client-secret") or os.environ.get(oauth_secret_var(role)) or ""
    secret = parsed("oauth-client-secret", parse_client_id, raw_secret) if raw_secret else ""
    if service == "google" and not secret:
        raise BadInput(
            f"--{role}-oauth-client-secret",
            f"is required for Google (or set {oauth_secret_var(role)}): the secret of your "
            "Desktop-app OAuth client",
        )
    if service == "microsoft" and secret:
        raise BadInput(
            f"--{role}-oauth-client-secret",
            "is only for Google; Microsoft public clients have no secret",
        )
    authority, scopes = oauth_settings_default(service)
    raw_authority = flag("oauth-authority")
    if raw_authority:
        authority = parsed("oauth-authority", parse_authority, raw_authority)
    raw_scopes = flag("oauth-scopes")
    if raw_scopes:
        scopes = parsed("oauth-scopes", parse_scopes, raw_scopes)
    return OAuthSettings(service, client_id, authority, scopes, secret)


# --- renewing OAuth2 sign-ins -------------------------------------------------------------------


def reauth(ui: Console, which_given: str, path: Path) -> int:
    """``watchdog setup --reauth [sender|seed]``: sign in again, store it, test the logins.

    The config is read, never written. A new sign-in is kept even when a login test after it
    fails: the one it replaced had been refused already, and the test may fail for another reason
    (a server down for a moment) that the watchdog's next check tells apart.
    """
    which = which_given.strip().lower()
    if which not in ("both", "sender", "seed"):
        raise BadInput("--reauth", f"{which_given!r} is not allowed; use sender, seed or nothing")
    if not path.exists():
        raise SetupStopped(
            f"No configuration at {path}: there is no sign-in to renew. Run `watchdog setup` "
            "first.",
            ExitStatus.CONFIG,
        )
    try:
        config = load_config(path)
    except ConfigError as e:
        raise SetupStopped(f"The configuration cannot be read: {e}", ExitStatus.CONFIG) from None
    choices: dict[str, tuple[Role, ...]] = {
        "both": ("sender", "seed"),
        "sender": ("sender",),
        "seed": ("seed",),
    }
    roles = choices[which]
    accounts: list[Account] = []
    for role in roles:
        if role == "sender":
            s = config.sender
            provider = (
                get_provider(s.provider)
                if s.provider
                else account_provider(role, s.smtp_host, s.address)
            )
            account = Account(
                role,
                s.address,
                s.smtp_host,
                s.smtp_port,
                s.security,
                s.username,
                s.ca_file,
                provider,
                s.oauth,
            )
        else:
            d = config.seed
            provider = account_provider(role, d.imap_host, d.address)
            account = Account(
                role,
                d.address,
                d.imap_host,
                d.imap_port,
                d.security,
                d.username,
                d.ca_file,
                provider,
                d.oauth,
            )
        if account.oauth is None:
            if which == role:
                raise SetupStopped(
                    f"The {role} account {account.username} signs in with a password "
                    f'(auth = "password" in {path}); --reauth renews OAuth2 sign-ins only. To '
                    "change a password, run `watchdog setup` again.",
                    ExitStatus.CONFIG,
                )
            continue
        accounts.append(account)
    if not accounts:
        raise SetupStopped(
            f'No account in {path} signs in with OAuth2 (auth = "oauth2"); --reauth renews only '
            "those. Nothing was changed.",
            ExitStatus.CONFIG,
        )
    ui.say(f"Delivery Watchdog: signing in again for {path}")
    failed = False
    for account in accounts:
        label = "sending account" if account.role == "sender" else "seed mailbox"
        why = oauth_sign_in(ui, account, None)
        if why is not None:
            ui.say(f"FAIL OAuth2 sign-in of the {label} {account.username}: {why}")
            ui.say("  The earlier sign-in was left as it was.")
            failed = True
            continue
        server = "outgoing server" if account.role == "sender" else "seed mailbox"
        problem = live_login(account, "")
        if problem is not None:
            ui.say(f"FAIL Sign-in to the {server} {account.host}:{account.port} with it:")
            for line in problem.explain(account.provider.name, account.role):
                ui.say(f"  {line}")
            failed = True
            continue
        ui.say(f"OK   Signed in again: the {label} {account.username} ({account.host})")
    ui.say()
    if failed:
        ui.say(
            "Not every sign-in works yet (the FAIL lines above). Fix that, then run "
            "`watchdog setup --reauth` again."
        )
        return ExitStatus.FAILED
    ui.say(
        "Done. The watchdog uses the new sign-in from its next check on; `watchdog check` "
        "checks now."
    )
    return ExitStatus.OK

"""OAuth2 access tokens for XOAUTH2 sign-in: Microsoft through msal, Google through google-auth.

One :class:`OAuthTokens` per account hands out a fresh access token at the moment of login,
renewing it silently from the stored refresh token before it expires. A renewal the provider
refuses (``invalid_grant``: the grant was revoked, the password changed, consent was withdrawn)
raises :class:`~watchdog.core.errors.SigninExpiredError`, which becomes the diagnosis
``signin_expired``: a person must sign in again with ``watchdog setup --reauth``.

Where tokens live: only in the OS keyring, never in files, logs or history. Microsoft's
token cache (msal's serialized cache) and Google's refresh token are stored as one JSON text,
split into chunks of :data:`CHUNK_CHARS` characters, because the Windows Credential Locker keeps at
most about 1280 characters per entry and a Microsoft cache is several thousand. msal-extensions'
encrypted file cache was not chosen: on Linux it needs libsecret through PyGObject (a heavy
native dependency that fails headless), and the keyring is already where this product keeps every
other secret, on all three systems.

A sign-in service that cannot be reached raises :class:`SigninUnavailableError`, an ``OSError``,
so the probe and the mailbox treat it like any other network failure (never ``signin_expired``).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.config import GOOGLE_AUTHORITY, OAuthSettings
from watchdog.core.errors import SecretError, SigninExpiredError
from watchdog.signin.credentials import (
    KEYRING_SERVICE,
    Role,
    is_keyring_failure,
    keyring_failure_detail,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)


#: Characters per keyring entry: below the Windows Credential Locker's limit of about 1280.
CHUNK_CHARS = 1000
#: Google's real endpoints (its discovery document names the same ones).
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
#: msal's and the token endpoint's answers meaning "this grant is gone: sign in again".
_EXPIRED_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)
_HTTP_TIMEOUT_S = 30.0


class SigninUnavailableError(OSError):
    """The sign-in service could not be reached or answered with a server fault.

    An ``OSError`` on purpose: to the probe and the mailbox this is a network failure at login.
    """


# -- the keyring, in chunks ---------------------------------------------------------------------


def _utf16_chunks(record: str, max_bytes: int) -> list[str]:
    """``record`` cut into pieces of at most ``max_bytes`` in UTF-16, never inside a character.

    Windows' Credential Manager limits the secret blob in bytes of UTF-16 (2,560), where a
    character outside the Basic Multilingual Plane takes four: counting characters would let a
    non-ASCII record overflow it.
    """
    chunks: list[str] = []
    start = size = 0
    for i, char in enumerate(record):
        width = 2 if ord(char) < 0x10000 else 4
        if size + width > max_bytes:
            chunks.append(record[start:i])
            start, size = i, 0
        size += width
    if start < len(record):
        chunks.append(record[start:])
    return chunks


def token_entry(role: Role, username: str) -> str:
    """The keyring user name of an account's token record, e.g. ``oauth:seed:me@outlook.com``."""
    return f"oauth:{role}:{username}"


class TokenStore:
    """One account's token record in the OS keyring, split into chunks.

    The head entry ``oauth:<role>:<user>`` holds ``v1:<generation>:<count>``; the chunks are
    ``oauth:<role>:<user>#<generation>.<i>``. A save writes the new generation's chunks first and
    the head last, then removes the old chunks: if the PC stops half-way, the old record is still
    whole, so nothing is lost.
    """

    def __init__(self, role: Role, username: str) -> None:
        self.role = role
        self.username = username
        self.head = token_entry(role, username)

    def __repr__(self) -> str:
        return f"TokenStore({self.head!r})"

    def _keyring(self) -> Any:
        import keyring

        return keyring

    def _errors(self, doing: str, error: BaseException) -> SecretError:
        """The plain error for a keyring failure (``is_keyring_failure``) while ``doing``."""
        return SecretError(
            f"The system keyring could not be {doing} for the {self.role} sign-in "
            f"({self.username}; {keyring_failure_detail(error)}); Watchdog keeps OAuth2 "
            "sign-ins only there."
        )

    def _head(self) -> tuple[str, int] | None:
        try:
            head = self._keyring().get_password(KEYRING_SERVICE, self.head)
        except Exception as e:
            if not is_keyring_failure(e):
                raise
            raise self._errors("read", e) from e
        if not head:
            return None
        version, _, rest = head.partition(":")
        generation, _, count = rest.partition(":")
        if version != "v1" or not generation or not count.isdigit():
            raise SecretError(f"The stored {self.role} sign-in is damaged; sign in again.")
        return generation, int(count)

    def load(self) -> str | None:
        """The stored record, or None when this account never signed in."""
        head = self._head()
        if head is None:
            return None
        generation, count = head
        parts = []
        try:
            for i in range(count):
                part = self._keyring().get_password(
                    KEYRING_SERVICE, f"{self.head}#{generation}.{i}"
                )
                if part is None:
                    raise SecretError(
                        f"The stored {self.role} sign-in is incomplete; sign in again."
                    )
                parts.append(part)
        except Exception as e:
            if not is_keyring_failure(e):
                raise
            raise self._errors("read", e) from e
        return "".join(parts)

    def save(self, record: str) -> None:
        """Store ``record`` (replacing the old one only once the new one is whole)."""
        old = self._head()
        generation = secrets.token_hex(4)
        chunks = _utf16_chunks(record, 2 * CHUNK_CHARS)
        ring = self._keyring()
        try:
            for i, chunk in enumerate(chunks):
                ring.set_password(KEYRING_SERVICE, f"{self.head}#{generation}.{i}", chunk)
            ring.set_password(KEYRING_SERVICE, self.head, f"v1:{generation}:{len(chunks)}")
        except Exception as e:
            if not is_keyring_failure(e):
                raise
            raise self._errors("written", e) from e
        if old is not None:
            self._remove_chunks(*old)

    def delete(self) -> None:
        """Forget this account's sign-in (nothing happens if there is none)."""
        old = self._head()
        if old is None:
            return
        try:
            self._keyring().delete_password(KEYRING_SERVICE, self.head)
        except Exception as e:
            if not is_keyring_failure(e):
                raise
            raise self._errors("changed", e) from e
        self._remove_chunks(*old)

    def _remove_chunks(self, generation: str, count: int) -> None:
        for i in range(count):
            try:
                self._keyring().delete_password(KEYRING_SERVICE, f"{self.head}#{generation}.{i}")
            except Exception as e:
                if not is_keyring_failure(e):
                    raise
                log.warning("An old chunk of the %s sign-in could not be removed", self.role)


# -- tokens ------------------------------------------------------------------------------------


def http_session(ca_file: Path | None) -> requests.Session:
    """A requests session for the sign-in service; always verifies TLS.

    With a private CA (``ca_file``), the environment is ignored: requests lets
    ``REQUESTS_CA_BUNDLE`` override a session's own ``verify``, which would silently trust
    another CA bundle than the one configured.
    """
    import requests

    session = requests.Session()
    if ca_file is not None:
        session.trust_env = False
        session.verify = str(ca_file)
    return session


class OAuthTokens:
    """Fresh access tokens for one account (``role`` + ``username``), renewed silently.

    ``store`` is where the refresh token lives (the OS keyring unless a test passes another).
    """

    def __init__(
        self,
        role: Role,
        username: str,
        settings: OAuthSettings,
        *,
        ca_file: Path | None = None,
        store: TokenStore | None = None,
    ) -> None:
        self.role = role
        self.username = username
        self.settings = settings
        self.ca_file = ca_file
        self.store = store or TokenStore(role, username)
        self._session: requests.Session | None = None

    def __repr__(self) -> str:
        return f"OAuthTokens({self.role!r}, {self.username!r}, {self.settings.provider!r})"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = http_session(self.ca_file)
        return self._session

    def _expired(self, why: str) -> SigninExpiredError:
        return SigninExpiredError(
            f"The {self.role} account {self.username} must sign in again: the provider refused "
            f"to renew Watchdog's sign-in ({why}). Run `watchdog setup --reauth`.",
            role=self.role,
            username=self.username,
        )

    def _not_signed_in(self) -> SecretError:
        return SecretError(
            f"The {self.role} account {self.username} uses OAuth2, but Watchdog has not signed "
            "in to it on this PC yet. Run `watchdog setup --reauth`."
        )

    def _unavailable(self, e: BaseException) -> SigninUnavailableError:
        return SigninUnavailableError(
            f"The sign-in service ({self.settings.authority}) could not be reached: "
            f"{type(e).__name__}"
        )

    def access_token(self, force_refresh: bool = False) -> str:
        """A valid access token, renewed first if it expires soon. Never logged.

        ``force_refresh``: renew even if the stored one looks valid, because the server just
        refused it (revoked early, or this PC's clock is off).
        """
        if self.settings.provider == "microsoft":
            return self._microsoft_token(force_refresh)
        return self._google_token(force_refresh)

    # -- Microsoft (msal) -----------------------------------------------------------------

    def _msal_app(self, record: str | None) -> tuple[Any, Any]:
        import msal

        cache = msal.SerializableTokenCache()
        if record:
            data = json.loads(record)
            cache.deserialize(data.get("msal_cache") or "{}")
        s = self.settings
        app = msal.PublicClientApplication(
            s.client_id,
            authority=s.authority,
            token_cache=cache,
            http_client=self.session,
            timeout=_HTTP_TIMEOUT_S,
            # A private authority (tests, sovereign clouds) is not in Microsoft's instance list.
            instance_discovery=s.is_default_authority,
        )
        return app, cache

    def _save_msal(self, cache: Any) -> None:
        self.store.save(json.dumps({"kind": "msal", "msal_cache": cache.serialize()}))

    def _microsoft_token(self, force_refresh: bool) -> str:
        import requests

        record = self.store.load()
        if not record:
            raise self._not_signed_in()
        try:
            app, cache = self._msal_app(record)
            accounts = app.get_accounts(username=self.username) or app.get_accounts()
            if not accounts:
                raise self._not_signed_in()
            result = app.acquire_token_silent_with_error(
                list(self.settings.scopes), account=accounts[0], force_refresh=force_refresh
            )
        except (requests.RequestException, ValueError) as e:
            raise self._unavailable(e) from e
        if result is None:
            raise self._expired("no refresh token is stored")
        if "access_token" in result:
            if cache.has_state_changed:
                self._save_msal(cache)
            return str(result["access_token"])
        error = str(result.get("error", ""))
        if error in _EXPIRED_ERRORS:
            raise self._expired(error)
        raise SigninUnavailableError(
            f"The sign-in service ({self.settings.authority}) did not renew the sign-in: {error}"
        )

    def _microsoft_sign_in(self, show: Callable[[str], None]) -> None:
        app, cache = self._msal_app(None)
        flow = app.initiate_device_flow(scopes=list(self.settings.scopes))
        if "user_code" not in flow:
            raise SecretError(
                f"The sign-in service refused to start a sign-in: {flow.get('error', 'unknown')}: "
                f"{flow.get('error_description', '')}".strip()
            )
        show(str(flow["message"]))
        result = app.acquire_token_by_device_flow(flow)
        if "access_token" not in result:
            raise SecretError(
                f"The sign-in did not finish: {result.get('error', 'unknown')}: "
                f"{result.get('error_description', '')}".strip()
            )
        claims = result.get("id_token_claims") or {}
        who = str(claims.get("preferred_username") or claims.get("email") or "")
        if who and who.lower() != self.username.lower():
            raise SecretError(
                f"You signed in as {who}, but the {self.role} account is {self.username}. "
                "Sign in again with that account."
            )
        self._save_msal(cache)

    # -- Google (google-auth) -------------------------------------------------------------

    def _google_endpoints(self) -> tuple[str, str]:
        """(authorization URL, token URL): Google's own, or from another issuer's discovery."""
        if self.settings.authority == GOOGLE_AUTHORITY:
            return GOOGLE_AUTH_URI, GOOGLE_TOKEN_URI
        import requests

        url = f"{self.settings.authority}/.well-known/openid-configuration"
        try:
            reply = self.session.get(url, timeout=_HTTP_TIMEOUT_S)
            reply.raise_for_status()
            doc = reply.json()
            return str(doc["authorization_endpoint"]), str(doc["token_endpoint"])
        except (requests.RequestException, ValueError, KeyError) as e:
            raise self._unavailable(e) from e

    def _google_token(self, force_refresh: bool) -> str:
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials

        record = self.store.load()
        if not record:
            raise self._not_signed_in()
        data = json.loads(record)
        if not data.get("refresh_token"):
            raise self._not_signed_in()
        expiry = None
        if data.get("expiry"):
            # google-auth compares naive UTC datetimes.
            expiry = datetime.fromisoformat(data["expiry"]).astimezone(UTC).replace(tzinfo=None)
        s = self.settings
        creds = Credentials(  # type: ignore[no-untyped-call]
            token=data.get("token"),
            refresh_token=data["refresh_token"],
            token_uri=data.get("token_uri") or GOOGLE_TOKEN_URI,
            client_id=s.client_id,
            client_secret=s.client_secret,
            scopes=list(s.scopes),
            expiry=expiry,
        )
        if creds.valid and creds.token and not force_refresh:
            return str(creds.token)
        try:
            creds.refresh(Request(self.session))  # type: ignore[no-untyped-call]
        except RefreshError as e:
            if not e.retryable and "invalid_grant" in str(e):
                raise self._expired("invalid_grant") from e
            if not e.retryable:
                raise self._expired(type(e).__name__) from e
            raise self._unavailable(e) from e
        except TransportError as e:
            raise self._unavailable(e) from e
        self._save_google(creds, data.get("token_uri") or GOOGLE_TOKEN_URI)
        return str(creds.token)

    def _save_google(self, creds: Any, token_uri: str) -> None:
        expiry = creds.expiry.replace(tzinfo=UTC).isoformat() if creds.expiry else None
        self.store.save(
            json.dumps(
                {
                    "kind": "google",
                    "refresh_token": creds.refresh_token,
                    "token": creds.token,
                    "expiry": expiry,
                    "token_uri": token_uri,
                }
            )
        )

    def _google_sign_in(self, show: Callable[[str], None], browser: str | None) -> None:
        from google_auth_oauthlib.flow import InstalledAppFlow

        auth_uri, token_uri = self._google_endpoints()
        s = self.settings
        flow = InstalledAppFlow.from_client_config(
            {
                "installed": {
                    "client_id": s.client_id,
                    "client_secret": s.client_secret,
                    "auth_uri": auth_uri,
                    "token_uri": token_uri,
                    "redirect_uris": ["http://localhost"],
                }
            },
            scopes=list(s.scopes),
        )
        flow.oauth2session.verify = self.session.verify
        flow.oauth2session.trust_env = self.session.trust_env
        creds = flow.run_local_server(
            host="localhost",
            bind_addr="127.0.0.1",
            port=0,
            authorization_prompt_message="Sign in to Google in the browser window: {url}",
            success_message="Watchdog is signed in. You can close this window.",
            open_browser=True,
            browser=browser,
            timeout_seconds=600,
            access_type="offline",
            prompt="consent",
            login_hint=self.username,
        )
        if not creds or not creds.refresh_token:
            raise SecretError("Google did not hand out a refresh token; sign in again.")
        show(f"Signed in to Google as {self.username}.")
        self._save_google(creds, token_uri)

    # -- interactive ------------------------------------------------------------------------

    def sign_in(self, show: Callable[[str], None] = print, *, browser: str | None = None) -> None:
        """Sign in interactively and store the refresh token (setup and ``--reauth``).

        Microsoft: the device-code flow, which works on any PC: ``show`` gets the text with the
        code and the page where to enter it. Google: the installed-app flow in the browser
        (``browser`` names a ``webbrowser`` controller; None: the system's).
        """
        if self.settings.provider == "microsoft":
            self._microsoft_sign_in(show)
        else:
            self._google_sign_in(show, browser)

"""A local OAuth2 / OpenID Connect authority on loopback, standing in for Microsoft and Google.

Enough of both for the product's real clients (msal, google-auth, google-auth-oauthlib) pointed
at it through their normal configuration, and for Dovecot's ``oauth2`` passdb and the test SMTP
server to check tokens:

- OpenID discovery: ``/<tenant>/v2.0/.well-known/openid-configuration`` (Microsoft's shape, what
  msal reads) and ``/google/.well-known/openid-configuration``.
- Device code (``.../devicecode``), token (``.../token``: device-code, refresh-token and
  authorization-code grants, refresh tokens rotated like Microsoft's), authorize (approves at once
  as ``login_hint`` and redirects back with a code, like a person clicking "Allow").
- Revocation (``/revoke``, and :meth:`revoke_user` for "the password was changed") and
  introspection (``/introspect``, RFC 7662, always HTTP 200 with ``{"active": false}`` for a bad
  token: Dovecot turns anything else into a temporary failure).

https (the test CA) on one port for the clients, since msal insists on it; plain http on another
for Dovecot's introspection, which needs no CA setup that way. Tokens are random strings.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .tls import TestCertificates

TENANT = "tenant"
GOOGLE = "google"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Grant:
    """One sign-in: a user's consent to a client, with its current refresh token."""

    username: str
    client_id: str
    scopes: list[str]
    refresh_token: str
    revoked: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: float


@dataclass
class _DeviceCode:
    user_code: str
    client_id: str
    scopes: list[str]
    approved_as: str | None = None
    denied: bool = False


@dataclass
class Counters:
    """How often each grant was used: tests assert that a refresh really happened."""

    device_code: int = 0
    refresh: int = 0
    refused_refresh: int = 0
    authorization_code: int = 0
    introspections: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class OAuthAuthority:
    """The authority; :meth:`start` it, then point clients at :attr:`microsoft_authority` etc."""

    def __init__(
        self, certificates: TestCertificates, *, access_token_lifetime_s: int = 3600
    ) -> None:
        self.certificates = certificates
        self.access_token_lifetime_s = access_token_lifetime_s
        self.client_secrets: dict[str, str] = {}  # Google-style clients must present theirs
        self.counters = Counters()
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}  # by current refresh token
        self._access: dict[str, _AccessToken] = {}
        self._devices: dict[str, _DeviceCode] = {}  # by device code
        self._codes: dict[str, _Grant] = {}  # authorization codes, single use
        self.issued: list[str] = []  # every access and refresh token handed out (secret tests)
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Serve https and http on free loopback ports, each in a daemon thread."""
        handler = _handler_for(self)
        secure = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert_file, self.certificates.key_file)
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        plain = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._servers = [secure, plain]
        for server in self._servers:
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        self._threads = []

    def __enter__(self) -> OAuthAuthority:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def https_base(self) -> str:
        return f"https://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    @property
    def microsoft_authority(self) -> str:
        """What msal takes as ``authority`` (and the config as ``oauth_authority``)."""
        return f"{self.https_base}/{TENANT}"

    @property
    def google_issuer(self) -> str:
        """The OpenID issuer for Google-style clients (the config's ``oauth_authority``)."""
        return f"{self.https_base}/{GOOGLE}"

    @property
    def introspection_url(self) -> str:
        """For Dovecot's oauth2 passdb: plain http on loopback."""
        return f"{self.http_base}/introspect"

    # -- what a test does as the person or the admin ---------------------------------------

    def approve(self, user_code: str, username: str) -> None:
        """The person enters ``user_code`` on the device-login page and signs in as ``username``."""
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.approved_as = username
                    return
        raise KeyError(f"no device sign-in waits for code {user_code!r}")

    def deny(self, user_code: str) -> None:
        """The person enters ``user_code`` but declines (or the sign-in is refused)."""
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.denied = True
                    return
        raise KeyError(f"no device sign-in waits for code {user_code!r}")

    def revoke_user(self, username: str) -> int:
        """Revoke every grant of ``username`` (what a password change does); how many."""
        with self._lock:
            grants = [g for g in self._grants.values() if g.username == username and not g.revoked]
            for grant in grants:
                grant.revoked = True
            return len(grants)

    def expire_access_tokens(self) -> None:
        """Every access token handed out so far expires now."""
        with self._lock:
            for token in self._access.values():
                token.expires_at = 0.0

    def introspect(self, token: str) -> str | None:
        """The user name an access token is valid for, or None (also for the SMTP server)."""
        with self._lock:
            self.counters.introspections += 1
            found = self._access.get(token)
            if found is None or found.grant.revoked or found.expires_at <= time.time():
                return None
            return found.grant.username

    # -- token issuing -----------------------------------------------------------------------

    def _issue(self, grant: _Grant, issuer: str) -> dict[str, Any]:
        """A token reply with a new access token and a rotated refresh token (lock held)."""
        self._grants.pop(grant.refresh_token, None)
        grant.refresh_token = "rt-" + secrets.token_urlsafe(24)
        self._grants[grant.refresh_token] = grant
        access = "at-" + secrets.token_urlsafe(24)
        self.issued += [grant.refresh_token, access]
        self._access[access] = _AccessToken(grant, time.time() + self.access_token_lifetime_s)
        uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, grant.username))
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": grant.client_id,
            "sub": uid,
            "oid": uid,
            "tid": TENANT,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "preferred_username": grant.username,
            "name": grant.username,
        }
        id_token = ".".join(
            [
                _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                _b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        return {
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
            "expires_in": self.access_token_lifetime_s,
            "ext_expires_in": self.access_token_lifetime_s,
            "access_token": access,
            "refresh_token": grant.refresh_token,
            "id_token": id_token,
            "client_info": _b64url(json.dumps({"uid": uid, "utid": TENANT}).encode()),
        }

    # -- request handling (called from the HTTP handler) -------------------------------------

    def discovery(self, path: str) -> dict[str, Any] | None:
        base = self.https_base
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            root = f"{base}/{TENANT}/oauth2/v2.0"
            return {
                "issuer": f"{base}/{TENANT}/v2.0",
                "authorization_endpoint": f"{root}/authorize",
                "token_endpoint": f"{root}/token",
                "device_authorization_endpoint": f"{root}/devicecode",
                "revocation_endpoint": f"{base}/revoke",
                "introspection_endpoint": f"{base}/introspect",
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        if path == f"/{GOOGLE}/.well-known/openid-configuration":
            return {
                "issuer": f"{base}/{GOOGLE}",
                "authorization_endpoint": f"{base}/{GOOGLE}/authorize",
                "token_endpoint": f"{base}/{GOOGLE}/token",
                "revocation_endpoint": f"{base}/revoke",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        return None

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        device = "dc-" + secrets.token_urlsafe(16)
        user_code = secrets.token_hex(4).upper()
        with self._lock:
            self._devices[device] = _DeviceCode(
                user_code, form.get("client_id", ""), form.get("scope", "").split()
            )
        uri = f"{self.https_base}/devicelogin"
        return 200, {
            "device_code": device,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, open {uri} and enter the code {user_code} to authenticate.",
        }

    def token(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        issuer = (
            f"{self.https_base}/{TENANT}/v2.0"
            if path.startswith(f"/{TENANT}/")
            else (f"{self.https_base}/{GOOGLE}")
        )
        kind = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if (
            client_id in self.client_secrets
            and form.get("client_secret") != (self.client_secrets[client_id])
        ):
            return 401, {"error": "invalid_client"}
        with self._lock:
            self.counters.by_kind[kind] = self.counters.by_kind.get(kind, 0) + 1
            if kind == DEVICE_GRANT:
                device = self._devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, {"error": "expired_token"}
                if device.denied:
                    del self._devices[form["device_code"]]
                    return 400, {
                        "error": "authorization_declined",
                        "error_description": "The user declined the sign-in.",
                    }
                if device.approved_as is None:
                    return 400, {"error": "authorization_pending"}
                del self._devices[form["device_code"]]
                self.counters.device_code += 1
                approved = _Grant(device.approved_as, device.client_id, device.scopes, "")
                return 200, self._issue(approved, issuer)
            if kind == "refresh_token":
                grant = self._grants.get(form.get("refresh_token", ""))
                if grant is None or grant.revoked or grant.client_id != client_id:
                    self.counters.refused_refresh += 1
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "The refresh token was revoked or has expired.",
                    }
                self.counters.refresh += 1
                return 200, self._issue(grant, issuer)
            if kind == "authorization_code":
                grant = self._codes.pop(form.get("code", ""), None)
                if grant is None:
                    return 400, {"error": "invalid_grant"}
                self.counters.authorization_code += 1
                return 200, self._issue(grant, issuer)
        return 400, {"error": "unsupported_grant_type"}

    def authorize(self, query: dict[str, str]) -> str:
        """Approve at once as ``login_hint``; the redirect back to the app, with a code."""
        grant = _Grant(
            query.get("login_hint", "user"),
            query.get("client_id", ""),
            query.get("scope", "").split(),
            "",
        )
        code = "code-" + secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = grant
        params = {"code": code, "state": query.get("state", ""), "scope": query.get("scope", "")}
        return f"{query['redirect_uri']}?{urlencode(params)}"

    def revoke(self, form: dict[str, str]) -> None:
        token = form.get("token", "")
        with self._lock:
            grant = self._grants.get(token)
            access = self._access.get(token)
            for found in (grant, access.grant if access else None):
                if found is not None:
                    found.revoked = True


def _handler_for(authority: OAuthAuthority) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
            pass

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            doc = authority.discovery(parts.path)
            if doc is not None:
                self._reply(200, doc)
                return
            if parts.path.endswith("/authorize"):
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self.send_response(302)
                self.send_header("Location", authority.authorize(query))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._reply(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            form = self._form()
            if path.endswith("/devicecode"):
                self._reply(*authority.device_code(form))
            elif path.endswith("/token"):
                self._reply(*authority.token(path, form))
            elif path == "/introspect":
                user = authority.introspect(form.get("token", ""))
                body: dict[str, Any] = {"active": False}
                if user is not None:
                    body = {"active": True, "username": user}
                self._reply(200, body)
            elif path == "/revoke":
                authority.revoke(form)
                self._reply(200, {})
            else:
                self._reply(404, {"error": "not_found"})

    return Handler

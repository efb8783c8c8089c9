"""The loopback parts for OAuth2 tests, shared by tests/integration and tests/e2e.

:func:`start_oauth_servers` brings up the local OAuth2 authority, Dovecot with its ``oauth2``
passdb (introspection at that authority) and the submission server with ``AUTH XOAUTH2``. The
constants are the app registrations the authority knows. :func:`browser_command` is a
``BROWSER`` value for a subprocess: a "browser" that follows the authority's redirect back to the
product's loopback listener, as a person clicking "Allow" would (see ``fake_browser.py``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.servers import MailServers
from tests.servers.dovecot import Dovecot
from tests.servers.oauth_authority import OAuthAuthority
from tests.servers.smtp import SubmissionServer
from tests.servers.tls import make_certificates

CLIENT_ID = "watchdog-test-client"
GOOGLE_CLIENT = "watchdog-google-client"
GOOGLE_SECRET = "not-confidential-desktop-secret"


@contextmanager
def start_oauth_servers() -> Iterator[tuple[MailServers, OAuthAuthority]]:
    """The authority, Dovecot (users seed and sender) and the submission server, all checking
    bearer tokens at the authority; stopped and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="watchdog-oauth-"))
    folder.chmod(0o755)
    certificates = make_certificates(folder)
    authority = OAuthAuthority(certificates)
    authority.client_secrets[GOOGLE_CLIENT] = GOOGLE_SECRET
    authority.start()
    session = requests.Session()
    session.trust_env = False

    def introspect_over_http(token: str) -> str | None:
        reply = session.post(authority.introspection_url, data={"token": token}, timeout=10)
        body = reply.json()
        return str(body["username"]) if body.get("active") else None

    dovecot = Dovecot(
        {"seed": "seed-pass-1", "sender": "sender-pass-1"},
        certificates,
        oauth2_introspection_url=authority.introspection_url,
    )
    dovecot.start()
    smtp = SubmissionServer(
        {"sender": "sender-pass-1"},
        certificates,
        dovecot.lmtp_port,
        oauth_introspect=introspect_over_http,
    )
    smtp.start()
    servers = MailServers(certificates=certificates, dovecot=dovecot, smtp=smtp, folder=folder)
    try:
        yield servers, authority
    finally:
        servers.stop()
        authority.stop()
        shutil.rmtree(folder, ignore_errors=True)


def browser_command(ca_file: Path) -> str:
    """A ``BROWSER`` value (Python's webbrowser) that visits the sign-in page in the background.

    The trailing ``&`` makes webbrowser start it without waiting: the product's loopback listener
    answers only after ``open`` returned.
    """
    script = Path(__file__).with_name("fake_browser.py")
    return f"{sys.executable} {script} {ca_file} %s &"

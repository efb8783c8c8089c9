"""A throwaway certificate authority for the loopback test servers.

Every client in the tests verifies the server certificate against this CA (hostname included);
nothing here or in the fixtures ever turns verification off. That way the product's own TLS code
is exercised exactly as it runs against a practice's private mail server with ``ca_file`` set.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names the server certificate is valid for: the tests connect to 127.0.0.1, a person to localhost.
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TestCertificates:
    """Paths of the PEM files written by :func:`make_certificates`."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    ca_file: Path  # the CA certificate clients trust
    cert_file: Path  # the server certificate followed by its chain
    key_file: Path  # the server's private key (unencrypted)

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the test certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(
    folder: Path,
    names: tuple[str, ...] = SERVER_NAMES,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> TestCertificates:
    """Create a fresh CA and a server certificate for 127.0.0.1/localhost in ``folder``.

    Writes ``ca.pem``, ``cert.pem`` and ``key.pem``. The files are world-readable on purpose:
    Dovecot reads them in its config process and they protect nothing but loopback test traffic.

    The fault tests mint bad certificates from a CA the client trusts: ``names`` for a
    certificate of another server, ``not_after`` in the past for an expired one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Delivery Watchdog test CA")
    server = ca.issue_cert(*names, not_before=not_before, not_after=not_after)
    paths = TestCertificates(
        ca_file=folder / "ca.pem", cert_file=folder / "cert.pem", key_file=folder / "key.pem"
    )
    ca.cert_pem.write_to_path(str(paths.ca_file))
    paths.cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(paths.key_file))
    for path in (paths.ca_file, paths.cert_file, paths.key_file):
        path.chmod(0o644)
    return paths

"""TLS contexts. Certificates and host names are always verified; a private CA may be added."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context; ``ca_file`` replaces the system CAs (a private or test CA)."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return ssl.create_default_context()

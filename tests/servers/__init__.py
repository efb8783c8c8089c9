"""Real mail servers on 127.0.0.1 for the tests (and for benchmarks or a demo to reuse).

:func:`start_mail_servers` brings up a test CA, a throwaway Dovecot holding the seed mailbox and
an aiosmtpd submission server that delivers into it; :func:`write_config` writes the product's
TOML configuration pointing at them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dovecot import INBOX, JUNK, Dovecot, DovecotError, find_dovecot
from .smtp import TEMPFAIL_REPLY, ReceivedMessage, SubmissionServer, format_reply
from .tls import TestCertificates, make_certificates

__all__ = [
    "DOMAIN",
    "HOST",
    "INBOX",
    "JUNK",
    "SEED_PASSWORD",
    "SEED_USER",
    "SENDER_PASSWORD",
    "SENDER_USER",
    "TEMPFAIL_REPLY",
    "Dovecot",
    "DovecotError",
    "MailServers",
    "ReceivedMessage",
    "SubmissionServer",
    "TestCertificates",
    "find_dovecot",
    "format_reply",
    "make_certificates",
    "start_mail_servers",
    "write_config",
]

DOMAIN = "example.test"
SEED_USER = "seed"
SEED_PASSWORD = "seed-pass-1"
SENDER_USER = "sender"
SENDER_PASSWORD = "sender-pass-1"
HOST = "127.0.0.1"


@dataclass
class MailServers:
    """Everything a test needs to talk to the loopback servers."""

    certificates: TestCertificates
    dovecot: Dovecot
    smtp: SubmissionServer
    folder: Path  # holds the CA and certificate files
    seed_user: str = SEED_USER
    seed_password: str = SEED_PASSWORD
    sender_user: str = SENDER_USER
    sender_password: str = SENDER_PASSWORD
    seed_address: str = f"{SEED_USER}@{DOMAIN}"
    sender_address: str = f"{SENDER_USER}@{DOMAIN}"
    smtp_host: str = HOST
    imap_host: str = HOST

    @property
    def ca_file(self) -> Path:
        """The test CA; every client verifies the servers against it."""
        return self.certificates.ca_file

    @property
    def smtp_starttls_port(self) -> int:
        return self.smtp.starttls_port

    @property
    def smtp_ssl_port(self) -> int:
        return self.smtp.ssl_port

    @property
    def smtp_plain_port(self) -> int:
        return self.smtp.plain_port

    @property
    def imap_port(self) -> int:
        """Plain IMAP with STARTTLS offered."""
        return self.dovecot.imap_port

    @property
    def imaps_port(self) -> int:
        return self.dovecot.imaps_port

    @property
    def lmtp_port(self) -> int:
        return self.dovecot.lmtp_port

    def smtp_port_for(self, security: str) -> int:
        """The submission port for the product's ``security`` value (ssl, starttls, none)."""
        ports = {
            "ssl": self.smtp_ssl_port,
            "starttls": self.smtp_starttls_port,
            "none": self.smtp_plain_port,
        }
        return ports[security]

    def imap_port_for(self, security: str) -> int:
        """The IMAP port for ``security``: implicit TLS for ssl, else the plain/STARTTLS one."""
        if security not in ("ssl", "starttls", "none"):
            raise KeyError(security)
        return self.imaps_port if security == "ssl" else self.imap_port

    def reset(self) -> None:
        """Back to a clean slate: submission mode ``deliver``, empty seed and sender mailboxes."""
        self.smtp.reset()
        self.dovecot.clear_mailbox(self.seed_user)
        self.dovecot.clear_mailbox(self.sender_user)  # bounces and notices of earlier tests

    def stop(self) -> None:
        """Stop both servers and remove the certificate folder."""
        try:
            self.smtp.stop()
        finally:
            self.dovecot.stop()
            shutil.rmtree(self.folder, ignore_errors=True)


def start_mail_servers(*, dovecot_binary: str | None = None) -> MailServers:
    """Start the CA, Dovecot (users seed and sender) and the submission server (user sender)."""
    folder = Path(tempfile.mkdtemp(prefix="watchdog-tls-"))
    folder.chmod(0o755)  # Dovecot's config process must read the certificate files
    certificates = make_certificates(folder)
    dovecot = Dovecot(
        {SEED_USER: SEED_PASSWORD, SENDER_USER: SENDER_PASSWORD},
        certificates,
        binary=dovecot_binary,
    )
    try:
        dovecot.start()
        smtp = SubmissionServer({SENDER_USER: SENDER_PASSWORD}, certificates, dovecot.lmtp_port)
        smtp.start()
    except BaseException:
        dovecot.stop()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return MailServers(certificates=certificates, dovecot=dovecot, smtp=smtp, folder=folder)


def write_config(
    tmp_path: Path,
    servers: MailServers,
    *,
    smtp_security: str = "starttls",
    imap_security: str = "ssl",
    every_minutes: float = 0.05,
    deadline_minutes: float = 0.1,
    **extra: Any,
) -> Path:
    """Write the product's ``config.toml`` for ``servers`` into ``tmp_path``; return its path.

    Ports follow the security: SMTP ssl → implicit TLS port, starttls → STARTTLS port, none →
    plain port; IMAP ssl → IMAPS port, else the plain/STARTTLS port.

    ``extra`` adds to or overrides the file: a dict merges into the table of that name
    (``sender={"username": ""}``, ``policy={"down_after_lost": 1}``), where a value of None
    removes the key (``seed={"ca_file": None}``); anything else becomes a top-level key
    (``office="Front desk"``, ``data_dir=tmp_path / "data"``).
    """
    tables: dict[str, dict[str, Any]] = {
        "sender": {
            "address": servers.sender_address,
            "smtp_host": servers.smtp_host,
            "smtp_port": servers.smtp_port_for(smtp_security),
            "security": smtp_security,
            "username": servers.sender_user,
            "ca_file": servers.ca_file,
        },
        "seed": {
            "address": servers.seed_address,
            "imap_host": servers.imap_host,
            "imap_port": servers.imap_port_for(imap_security),
            "security": imap_security,
            "username": servers.seed_user,
            "ca_file": servers.ca_file,
        },
        "schedule": {"every_minutes": every_minutes, "deadline_minutes": deadline_minutes},
    }
    top: dict[str, Any] = {}
    for key, value in extra.items():
        if isinstance(value, Mapping):
            table = tables.setdefault(key, {})
            for name, item in value.items():
                if item is None:
                    table.pop(name, None)
                else:
                    table[name] = item
        elif value is not None:
            top[key] = value
    # TOML wants top-level keys before the first table.
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    text = "\n".join(lines).lstrip("\n") + "\n"
    tomllib.loads(text)  # fail here, not in the product, if this writer got something wrong
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml_value(value: Any) -> str:
    """A TOML literal for the few types a config holds (str, Path, bool, int, float, list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")

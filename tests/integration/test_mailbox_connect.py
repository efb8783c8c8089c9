"""``SeedMailbox.connect``: the public network seam ``doctor`` tests the TLS step with."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import MailServers, write_config
from watchdog.config import SeedConfig, load_config
from watchdog.core.clock import SystemClock
from watchdog.core.errors import MailboxError
from watchdog.core.models import Security
from watchdog.mail.mailbox import SeedMailbox
from watchdog.signin.credentials import password_signin

if TYPE_CHECKING:
    from imapclient import IMAPClient


def _seed(servers: MailServers, security: Security = Security.SSL) -> SeedConfig:
    return SeedConfig(
        address=servers.seed_address,
        imap_host=servers.imap_host,
        imap_port=servers.imap_port_for(security.value),
        security=security,
        username=servers.seed_user,
        ca_file=servers.ca_file,
    )


def _no_password(role: str, username: str) -> str:
    raise AssertionError("connect() must not ask for a password")


@pytest.mark.parametrize("security", [Security.SSL, Security.STARTTLS])
def test_connect_secures_the_connection_and_signs_nobody_in(
    servers: MailServers, security: Security
) -> None:
    signin = password_signin("seed", servers.seed_user, _no_password)
    mailbox = SeedMailbox(_seed(servers, security), signin, SystemClock(), timeout=10)
    client = mailbox.connect()
    try:
        assert client._imap.state == "NONAUTH"
        assert client.has_capability("AUTH=PLAIN")  # offered only once the line is encrypted
    finally:
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()


def test_connect_to_a_server_whose_certificate_is_not_trusted_is_a_network_mailbox_error(
    servers: MailServers,
) -> None:
    seed = replace(_seed(servers), ca_file=None)  # the test CA is not among the system's
    mailbox = SeedMailbox(seed, password_signin("seed", ""), SystemClock(), timeout=10)
    with pytest.raises(MailboxError) as caught:
        mailbox.connect()
    assert caught.value.network
    assert "connect" in str(caught.value)


def test_doctor_tests_the_tls_step_through_the_mailboxs_public_connect(
    tmp_path: Path, servers: MailServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdog.setup.doctor import Doctor

    connects: list[str] = []
    connect = SeedMailbox.connect

    def counting(self: SeedMailbox) -> IMAPClient:
        connects.append(self.seed.imap_host)
        return connect(self)

    monkeypatch.setattr(SeedMailbox, "connect", counting)
    doctor = Doctor(load_config(write_config(tmp_path, servers)), timeout=10)
    doctor.imap("imap", "seed mailbox", "seed", doctor.config.seed, False, "other")

    assert connects == [servers.imap_host]
    levels = {f.name: f.level for f in doctor.findings}
    assert levels["imap.tls"] == "OK"
    assert levels["imap.login"] == "FAIL"  # no password stored: not tried, as before

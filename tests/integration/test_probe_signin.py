"""One sign-in attempt per check (issue 11 item 8).

smtplib's ``login()`` tries every offered mechanism in turn (PLAIN, then LOGIN), so one wrong
password was two failed sign-ins, and fail2ban-style protections count each of them towards
blocking the practice's own account. The server here counts AUTH commands itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.servers import MailServers, SubmissionServer
from tests.servers.hostile_smtp import sender_for
from watchdog.core.errors import SendError
from watchdog.core.models import SmtpReply
from watchdog.mail.probe import SmtpProbe, build_canary
from watchdog.signin.credentials import PasswordSignIn, smtp_mechanism


@pytest.fixture
def counting_server(mail_servers: MailServers) -> Iterator[SubmissionServer]:
    """A second submission server (AUTH PLAIN and LOGIN offered), delivering into Dovecot.

    Its own, so that its record of AUTH attempts holds this test's only.
    """
    server = SubmissionServer(
        {mail_servers.sender_user: mail_servers.sender_password},
        mail_servers.certificates,
        mail_servers.lmtp_port,
    )
    with server:
        yield server


def _mechanisms(server: SubmissionServer) -> list[str]:
    """The mechanism of every AUTH command the server received, in order."""
    return [attempt.mechanism for attempt in server.auth_attempts]


def _send(
    server: SubmissionServer, mail_servers: MailServers, password: str, security: str
) -> SmtpReply | SendError:
    ports = {"starttls": server.starttls_port, "ssl": server.ssl_port}
    sender = sender_for(
        ports[security],
        security,
        username=mail_servers.sender_user,
        ca_file=mail_servers.ca_file,
    )
    probe = SmtpProbe(sender, PasswordSignIn(sender.username, lambda: password), overall=20.0)
    message = build_canary(sender.address, mail_servers.seed_address, "token", time.time())
    try:
        return probe.send(message)
    except SendError as e:
        return e


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_wrong_password_costs_exactly_one_sign_in_attempt(
    counting_server: SubmissionServer, mail_servers: MailServers, security: str
) -> None:
    outcome = _send(counting_server, mail_servers, "wrong password", security)
    assert isinstance(outcome, SendError)
    assert outcome.reply is not None and outcome.reply.code == 535
    assert outcome.stage == "login"
    assert _mechanisms(counting_server) == ["PLAIN"]
    assert counting_server.received == []


def test_the_right_password_signs_in_once_and_the_canary_is_accepted(
    counting_server: SubmissionServer, mail_servers: MailServers
) -> None:
    mail_servers.reset()
    outcome = _send(counting_server, mail_servers, mail_servers.sender_password, "starttls")
    assert isinstance(outcome, SmtpReply) and outcome.code == 250
    assert _mechanisms(counting_server) == ["PLAIN"]
    assert len(counting_server.received) == 1


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ("LOGIN PLAIN", "PLAIN"),
        ("PLAIN", "PLAIN"),
        ("login", "LOGIN"),
        ("CRAM-MD5 LOGIN", "LOGIN"),
        ("CRAM-MD5", "CRAM-MD5"),
        ("XOAUTH2 GSSAPI", None),
        ("", None),
    ],
)
def test_one_mechanism_is_chosen_plain_first(offered: str, chosen: str | None) -> None:
    assert smtp_mechanism(offered) == chosen

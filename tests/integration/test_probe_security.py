"""The security setting against what the server really offers, and plain text only in the office.

Issue 11 items 4 and 17: a stripped STARTTLS, ``ssl`` on a STARTTLS port and ``none`` against a
server that signs in only after STARTTLS are ``tls_error`` in words that name the setting (never
the date and time); ``security = "none"`` is judged by the address the connection reached.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from tests.servers import MailServers
from tests.servers.hostile_smtp import sender_for, stripping_submission_server
from watchdog.core.errors import SendError
from watchdog.core.models import Diagnosis, SmtpReply
from watchdog.mail import probe as probe_module
from watchdog.mail.probe import SmtpProbe, build_canary
from watchdog.signin.credentials import PasswordSignIn

USER = "frontdesk"
PASSWORD = "correct horse"


class RecordingPassword:
    """A password source that counts how often the secret was read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return PASSWORD


def _send(
    port: int, security: str, *, host: str = "127.0.0.1", mail_servers: MailServers | None = None
) -> tuple[SmtpReply | SendError, RecordingPassword]:
    password = RecordingPassword()
    ca_file = mail_servers.ca_file if mail_servers is not None else None
    sender = sender_for(port, security, host=host, username=USER, ca_file=ca_file)
    probe = SmtpProbe(sender, PasswordSignIn(USER, password), overall=10.0)
    message = build_canary(sender.address, "seed@example.test", "token", time.time())
    try:
        return probe.send(message), password
    except SendError as e:
        return e, password


def _no_clock_words(words: str) -> None:
    for word in ("date", "clock", "time zone"):
        assert word not in words.lower()


def test_a_stripped_starttls_withholds_the_password_and_names_the_likely_causes() -> None:
    with stripping_submission_server({USER: PASSWORD}) as spy:
        outcome, password = _send(spy.port, "starttls")
    assert isinstance(outcome, SendError)
    assert outcome.diagnosis is Diagnosis.TLS_ERROR
    assert outcome.reply is None
    assert password.reads == 0 and spy.auth_attempts == [] and spy.messages == 0
    words = str(outcome)
    assert "did not offer STARTTLS" in words and "password was not sent" in words
    assert "security software" in words and "mail shield" in words
    assert 'port 465 wants security = "ssl"' in words
    _no_clock_words(words)


def test_ssl_on_a_starttls_port_says_which_security_the_port_expects(
    mail_servers: MailServers,
) -> None:
    port = mail_servers.smtp_starttls_port
    outcome, password = _send(port, "ssl", mail_servers=mail_servers)
    assert isinstance(outcome, SendError)
    assert outcome.diagnosis is Diagnosis.TLS_ERROR
    assert password.reads == 0
    words = str(outcome)
    assert f'port {port} expects security = "starttls"' in words
    assert "[sender]" in words
    _no_clock_words(words)


def test_none_against_a_server_that_signs_in_only_after_starttls_asks_for_starttls(
    mail_servers: MailServers,
) -> None:
    outcome, password = _send(mail_servers.smtp_starttls_port, "none", mail_servers=mail_servers)
    assert isinstance(outcome, SendError)
    assert outcome.diagnosis is Diagnosis.TLS_ERROR
    assert password.reads == 0
    words = str(outcome)
    assert 'set security = "starttls"' in words and "not sent in plain text" in words
    _no_clock_words(words)


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "0x7f.1", "127.1"])
def test_plain_text_to_loopback_written_any_way_is_allowed(host: str) -> None:
    with stripping_submission_server({USER: PASSWORD}) as spy:
        outcome, _ = _send(spy.port, "none", host=host)
        assert isinstance(outcome, SmtpReply), outcome
        assert outcome.code == 250
        assert spy.messages == 1 and spy.auth_attempts == [USER]


@pytest.mark.parametrize("host", ["3405803783", "0xcb007107", "mail.example.test"])
def test_plain_text_that_reaches_an_address_outside_the_office_is_refused_before_anything_is_sent(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No traffic may leave this machine: the name really resolves to the loopback server, and
    # only the address the probe judges is the one the host would reach outside (203.0.113.7,
    # TEST-NET-3, which "3405803783" and "0xcb007107" spell).
    monkeypatch.setattr(probe_module, "_peer_address", lambda sock: "203.0.113.7")
    real_getaddrinfo = socket.getaddrinfo

    def to_loopback(name: str, *args: Any, **kwargs: Any) -> Any:
        return real_getaddrinfo("127.0.0.1" if name == host else name, *args, **kwargs)

    with stripping_submission_server({USER: PASSWORD}) as spy:
        monkeypatch.setattr(socket, "getaddrinfo", to_loopback)
        outcome, password = _send(spy.port, "none", host=host)
        monkeypatch.undo()
    assert isinstance(outcome, SendError)
    assert outcome.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert password.reads == 0 and spy.auth_attempts == [] and spy.messages == 0
    words = str(outcome)
    assert f"{host} reached 203.0.113.7" in words
    assert "loopback and private addresses" in words
    assert 'security = "none"' in words


def test_ssl_on_a_plain_imap_port_is_a_wrong_port_not_a_security_setting(
    mail_servers: MailServers,
) -> None:
    outcome, password = _send(mail_servers.imap_port, "ssl", mail_servers=mail_servers)
    assert isinstance(outcome, SendError)
    assert outcome.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert password.reads == 0
    assert 'it greeted with "* OK' in str(outcome)
    assert "check smtp_port in [sender]" in str(outcome)


def test_a_name_lookup_that_never_answers_ends_within_the_send_s_time_and_blames_no_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A dead office router: the system resolver never answers (getaddrinfo has no timeout).
    release = threading.Event()

    def hang(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    password = RecordingPassword()
    sender = sender_for(587, "starttls", host="smtp.example.test", username=USER)
    probe = SmtpProbe(sender, PasswordSignIn(USER, password), overall=1.0)
    message = build_canary(sender.address, "seed@example.test", "token", time.time())
    started = time.monotonic()
    try:
        with pytest.raises(SendError) as raised:
            probe.send(message)
    finally:
        release.set()
    assert time.monotonic() - started < 10.0  # the send's own limit, not the resolver's
    assert raised.value.network and raised.value.reply is None
    # The name could not be looked up: this PC's network, never the provider's doing. No
    # diagnosis from the probe: the runner's offline check and the classifier decide.
    assert raised.value.diagnosis is None
    assert "The name smtp.example.test could not be looked up: no DNS answer" in str(raised.value)
    from watchdog.core.classifier import NetworkFailure, network_failure_of

    assert network_failure_of(raised.value) is NetworkFailure.DNS
    assert password.reads == 0

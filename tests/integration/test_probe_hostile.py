"""The probe against hostile servers: trickling, chattering, silent, wrong protocol (issue 11).

Every send must end within its overall limit (or at once on a stop request), read a bounded
number of bytes, and say which it was: stopped, too slow, too much, or not a mail server at all.
Never "the provider refused".
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from tests.servers import MailServers
from tests.servers.hostile_smtp import (
    IMAP_GREETING,
    Connection,
    HostileServer,
    endless_continuation,
    full_backlog_port,
    greets_with,
    hostile_server,
    huge_line,
    sender_for,
    silent,
    trickle,
)
from watchdog.core import classifier
from watchdog.core.errors import SendError
from watchdog.core.models import Diagnosis
from watchdog.mail.probe import SEND_MAX_BYTES, SmtpProbe, build_canary
from watchdog.signin.credentials import PasswordSignIn

#: Generous: a cut due after 2 s (or a stop after 0.5 s) must be over well before this on a
#: loaded 2-core CI machine, and far before the 30 s per-read timeout would have ended it.
BOUND_S = 10.0


def _canary() -> EmailMessage:
    return build_canary("sender@example.test", "seed@example.test", "token", time.time())


def _no_signin() -> PasswordSignIn:
    def password() -> str:
        raise AssertionError("no password may be read for a server that never got that far")

    return PasswordSignIn("", password)


def _send_to(
    port: int,
    *,
    security: str = "none",
    overall: float = 2.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[SendError, float]:
    """Send a canary to ``port``; return the SendError it must raise and how long it took."""
    probe = SmtpProbe(sender_for(port, security), _no_signin(), timeout=30.0, overall=overall)
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        probe.send(_canary(), should_stop=should_stop)
    return caught.value, time.monotonic() - started


def _stop_after(seconds: float) -> Callable[[], bool]:
    """A stop request that comes ``seconds`` from now, as Ctrl-C or SIGTERM would."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop.is_set


def test_a_trickling_server_is_cut_at_the_overall_limit() -> None:
    with hostile_server(trickle(interval=0.2)) as server:
        error, elapsed = _send_to(server.port, overall=2.0)
    assert elapsed < BOUND_S
    assert error.diagnosis is Diagnosis.SERVER_UNREACHABLE
    assert error.network and not error.cancelled and error.reply is None
    assert f"127.0.0.1 port {server.port} answered too slowly" in str(error)
    assert "2 seconds" in str(error)


@pytest.mark.parametrize("stage", ["greeting", "ehlo"])
def test_endless_continuation_lines_are_cut_for_size_with_bounded_memory(stage: str) -> None:
    with hostile_server(endless_continuation(stage)) as server:
        tracemalloc.start()
        try:
            error, elapsed = _send_to(server.port, overall=30.0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert elapsed < BOUND_S
    assert peak < 4 * 1024 * 1024, f"the probe held {peak} bytes at its peak"
    assert error.diagnosis is Diagnosis.SERVER_UNREACHABLE
    assert error.network and not error.cancelled and error.reply is None
    assert "sent far more than a mail server would" in str(error)
    assert "more than 100 lines" in str(error)


def test_a_huge_reply_line_is_too_much_not_the_servers_own_refusal() -> None:
    # smtplib alone reports this as a reply "500 Line too long.", which reads as a refusal.
    with hostile_server(huge_line()) as server:
        error, elapsed = _send_to(server.port, overall=30.0)
    assert elapsed < BOUND_S
    assert error.reply is None
    assert error.diagnosis is Diagnosis.SERVER_UNREACHABLE
    assert "sent far more than a mail server would" in str(error)
    assert "longer than 8192 bytes" in str(error)


def test_the_whole_conversation_reads_no_more_than_its_byte_budget() -> None:
    # Long but well-formed replies, each under every per-reply cap, one after another: only the
    # conversation's budget stops them. The server sends a 99-line EHLO reply forever.
    reply = (b"250-" + b"B" * 600 + b"\r\n") * 98 + b"250 OK\r\n"

    def chatty(connection: Connection) -> None:
        if not connection.send(b"220 chatty.test ESMTP\r\n"):
            return
        while connection.read_line() and not connection.over:
            if not connection.send(reply):
                return

    with hostile_server(chatty) as server:
        probe = SmtpProbe(sender_for(server.port), _no_signin(), overall=30.0)
        connection = probe._connect()
        try:
            with pytest.raises(OSError, match="more than"):
                for _ in range(SEND_MAX_BYTES // len(reply) + 5):
                    connection.ehlo()
        finally:
            connection.close()


def test_a_stop_request_during_a_silent_greeting_ends_the_send_within_a_second() -> None:
    with hostile_server(silent) as server:
        error, elapsed = _send_to(server.port, overall=60.0, should_stop=_stop_after(0.5))
    assert elapsed < BOUND_S
    assert error.cancelled and error.network
    assert error.stage == "connect"
    assert error.diagnosis is None and error.reply is None
    assert "asked to stop" in str(error) and "not sent" in str(error)


def test_a_stop_request_during_a_slow_connect_ends_the_send_within_a_second() -> None:
    with full_backlog_port() as port:
        error, elapsed = _send_to(port, overall=60.0, should_stop=_stop_after(0.5))
    assert elapsed < BOUND_S
    assert error.cancelled
    assert error.stage == "connect"


def test_a_connect_that_never_completes_is_left_to_the_offline_check() -> None:
    # No diagnosis of its own: the runner asks whether this PC is offline, as for any timeout.
    with full_backlog_port() as port:
        error, elapsed = _send_to(port, overall=2.0)
    assert elapsed < BOUND_S
    assert not error.cancelled and error.diagnosis is None
    assert classifier.network_failure_of(error) is classifier.NetworkFailure.TIMEOUT
    assert "did not accept a connection in the time allowed (2 seconds)" in str(error)


def test_a_silent_server_is_cut_at_the_overall_limit_as_unreachable() -> None:
    with hostile_server(silent) as server:
        error, elapsed = _send_to(server.port, overall=2.0)
    assert elapsed < BOUND_S
    assert error.diagnosis is Diagnosis.SERVER_UNREACHABLE
    assert "answered too slowly" in str(error)


def test_the_imap_port_of_a_real_dovecot_is_a_wrong_port_not_a_refusal(
    mail_servers: MailServers,
) -> None:
    error, _ = _send_to(mail_servers.imap_port, overall=10.0)
    words = str(error)
    assert error.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert error.reply is None
    assert f"port {mail_servers.imap_port} of 127.0.0.1 answered, but not as an outgoing" in words
    assert 'it greeted with "* OK' in words
    assert "check smtp_port in [sender]" in words
    assert "465" in words and "587" in words


def test_the_implicit_tls_imap_port_is_a_wrong_port_too(mail_servers: MailServers) -> None:
    sender = sender_for(mail_servers.imaps_port, "ssl", ca_file=mail_servers.ca_file)
    probe = SmtpProbe(sender, _no_signin(), overall=10.0)
    with pytest.raises(SendError) as caught:
        probe.send(_canary())
    assert caught.value.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert 'greeted with "* OK' in str(caught.value)


@pytest.mark.parametrize(
    ("greeting", "shown"),
    [
        (IMAP_GREETING, "* OK [CAPABILITY IMAP4rev1"),
        (b"+OK POP3 server ready\r\n", "+OK POP3 server ready"),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "SSH-2.0-OpenSSH_9.2p1"),
        (b"\x1b[2J\x1b]0;owned\x07\xff\xfe garbage\r\n", "?[2J?]0;owned"),
    ],
)
def test_a_port_that_greets_as_something_else_is_a_wrong_port(greeting: bytes, shown: str) -> None:
    with hostile_server(greets_with(greeting)) as server:
        error, elapsed = _send_to(server.port, overall=10.0)
    words = str(error)
    assert elapsed < BOUND_S
    assert error.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert error.reply is None and not error.network
    assert shown in words
    assert "\x1b" not in words and "\x07" not in words  # safe to print on a terminal
    assert "provider" not in words


def test_a_real_554_greeting_stays_the_servers_own_reply() -> None:
    with hostile_server(greets_with(b"554 5.7.1 No SMTP service here\r\n")) as server:
        error, _ = _send_to(server.port, overall=10.0)
    assert error.reply is not None and error.reply.code == 554
    assert error.diagnosis is None


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_a_plain_client_on_port_465_is_told_that_port_wants_ssl(security: str) -> None:
    # Port 465 speaks TLS from the first byte, so a plain client waits for a greeting that never
    # comes. Binding 465 needs the right to use a low port and the port free.
    try:
        server = HostileServer(silent, port=465)
    except OSError as e:
        pytest.skip(f"cannot listen on 127.0.0.1:465 here ({e})")
    with server:
        error, elapsed = _send_to(465, security=security, overall=2.0)
    assert elapsed < BOUND_S
    assert error.diagnosis is Diagnosis.TLS_ERROR
    assert "port 465 expects TLS from the first byte" in str(error)
    assert 'Set security = "ssl" in [sender]' in str(error)


def test_a_stop_requested_before_the_send_connects_nowhere() -> None:
    with hostile_server(silent) as server:
        error, elapsed = _send_to(server.port, should_stop=lambda: True)
        assert server.connections == []
    assert error.cancelled and elapsed < BOUND_S

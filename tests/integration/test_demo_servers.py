"""The demo's loopback mail system, exercised with plain smtplib and imapclient."""

from __future__ import annotations

import secrets
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import imapclient
import pytest

from watchdog.demo.servers import JUNK_FOLDER, DemoMailServers

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def demo() -> Iterator[DemoMailServers]:
    with DemoMailServers() as running:
        yield running


def _send_canary(demo: DemoMailServers, token: str) -> dict[str, tuple[int, bytes]]:
    """Send one canary through the demo SMTP server; returns smtplib's refused-recipients map."""
    message = EmailMessage()
    message["From"] = demo.sender_address
    message["To"] = demo.seed_address
    message["Subject"] = "Appointment reminder"
    message["X-Watchdog-Canary"] = token
    message.set_content("See you tomorrow.\n")
    with smtplib.SMTP(
        demo.smtp_host, demo.smtp_port, local_hostname="client.test", timeout=5
    ) as smtp:
        return smtp.send_message(message)


def _imap(demo: DemoMailServers) -> Any:
    client = imapclient.IMAPClient(demo.imap_host, demo.imap_port, ssl=False, timeout=5)
    client.login(demo.seed_user, demo.seed_password)
    return client


def _inbox_uids_with_token(demo: DemoMailServers, token: str) -> list[int]:
    client = _imap(demo)
    try:
        client.select_folder("INBOX", readonly=True)
        return list(client.search(["HEADER", "X-Watchdog-Canary", token]))
    finally:
        client.logout()


def _token() -> str:
    return secrets.token_hex(8)


def _connection_refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_a_canary_sent_over_smtp_is_found_in_the_seed_inbox_by_its_header(
    demo: DemoMailServers,
) -> None:
    token = _token()

    refused = _send_canary(demo, token)

    assert refused == {}
    assert len(_inbox_uids_with_token(demo, token)) == 1
    assert (demo.accepted, demo.delivered, demo.dropped) == (1, 1, 0)


def test_a_delivered_canary_carries_trace_headers_like_a_real_provider(
    demo: DemoMailServers,
) -> None:
    token = _token()
    _send_canary(demo, token)

    client = _imap(demo)
    try:
        client.select_folder("INBOX", readonly=True)
        (uid,) = client.search(["HEADER", "X-Watchdog-Canary", token])
        raw = client.fetch([uid], ["BODY[]"])[uid][b"BODY[]"]
    finally:
        client.logout()

    assert raw.startswith(f"Return-Path: <{demo.sender_address}>\r\nReceived: ".encode())
    assert b"\r\n\r\nSee you tomorrow.\r\n" in raw


def test_with_the_blackhole_on_the_send_succeeds_but_nothing_arrives(
    demo: DemoMailServers,
) -> None:
    demo.set_blackhole(True)
    token = _token()

    refused = _send_canary(demo, token)  # must not raise: the server said 250

    assert refused == {}
    assert demo.blackhole is True
    assert _inbox_uids_with_token(demo, token) == []
    assert (demo.accepted, demo.delivered, demo.dropped) == (1, 0, 1)


def test_turning_the_blackhole_off_resumes_delivery(demo: DemoMailServers) -> None:
    demo.set_blackhole(True)
    dropped_token = _token()
    _send_canary(demo, dropped_token)

    demo.set_blackhole(False)
    delivered_token = _token()
    _send_canary(demo, delivered_token)

    assert _inbox_uids_with_token(demo, dropped_token) == []
    assert len(_inbox_uids_with_token(demo, delivered_token)) == 1
    assert (demo.accepted, demo.delivered, demo.dropped) == (2, 1, 1)


def test_concurrent_smtp_sessions_all_get_delivered(demo: DemoMailServers) -> None:
    tokens = [_token() for _ in range(6)]
    errors: list[BaseException] = []

    def send(token: str) -> None:
        try:
            _send_canary(demo, token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert demo.delivered == len(tokens)
    assert all(len(_inbox_uids_with_token(demo, token)) == 1 for token in tokens)


def test_the_seed_mailbox_offers_idle_and_has_a_junk_folder(demo: DemoMailServers) -> None:
    client = _imap(demo)
    try:
        capabilities = client.capabilities()
        folders = {name for _flags, _delimiter, name in client.list_folders()}
    finally:
        client.logout()

    assert b"IDLE" in capabilities
    assert {"INBOX", JUNK_FOLDER} <= folders


def test_a_wrong_password_is_rejected_by_the_seed_mailbox(demo: DemoMailServers) -> None:
    client = imapclient.IMAPClient(demo.imap_host, demo.imap_port, ssl=False, timeout=5)
    try:
        with pytest.raises(imapclient.exceptions.LoginError):
            client.login(demo.seed_user, demo.seed_password + "x")
    finally:
        client.shutdown()


def test_startup_takes_well_under_three_seconds() -> None:
    began = time.monotonic()
    with DemoMailServers():
        elapsed = time.monotonic() - began

    assert elapsed < 3.0


def test_stop_frees_both_ports_quickly_even_with_a_client_in_idle() -> None:
    demo = DemoMailServers().start()
    smtp_port, imap_port = demo.smtp_port, demo.imap_port
    idler = _imap(demo)
    idler.select_folder("INBOX")
    idler.idle()
    try:
        began = time.monotonic()
        demo.stop()
        elapsed = time.monotonic() - began
    finally:
        idler.shutdown()

    assert elapsed < 1.5
    assert _connection_refused(demo.smtp_host, smtp_port)
    assert _connection_refused(demo.imap_host, imap_port)


def test_stop_is_idempotent_and_a_stopped_instance_has_no_ports() -> None:
    demo = DemoMailServers().start()

    demo.stop()
    demo.stop()

    assert demo.running is False
    with pytest.raises(RuntimeError):
        _ = demo.smtp_port
    with pytest.raises(RuntimeError):
        demo.start()


def test_ports_are_not_handed_out_before_start() -> None:
    demo = DemoMailServers()

    with pytest.raises(RuntimeError, match="new"):
        _ = demo.imap_port
    demo.stop()  # stopping a never-started instance is harmless


def test_a_server_that_cannot_start_raises_a_runtime_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from watchdog.demo import servers as demo_servers

    async def broken_listen(self: object) -> None:
        raise OSError("address unavailable")

    monkeypatch.setattr(demo_servers._ImapServerThread, "_listen", broken_listen)
    demo = DemoMailServers(ready_timeout=2)

    with pytest.raises(RuntimeError, match=r"IMAP server \(pymap\) failed to start.*unavailable"):
        demo.start()
    assert demo.running is False


def test_the_demo_smtp_server_offers_no_sign_in_and_answers_dropped_mail_like_delivered_mail(
    demo: DemoMailServers,
) -> None:
    replies = []
    with smtplib.SMTP(demo.smtp_host, demo.smtp_port, local_hostname="client.test") as smtp:
        smtp.ehlo()
        offers_auth = smtp.has_extn("auth")
        for blackhole in (False, True):
            demo.set_blackhole(blackhole)
            smtp.mail(demo.sender_address)
            smtp.rcpt(demo.seed_address)
            replies.append(smtp.data(b"Subject: reminder\r\n\r\nSee you.\r\n"))

    assert offers_auth is False
    assert replies[0] == replies[1]
    assert replies[0][0] == 250
    assert (demo.delivered, demo.dropped) == (1, 1)


def test_importing_the_demo_servers_does_not_import_aiosmtpd_or_pymap() -> None:
    script = (
        "import sys, watchdog.demo.servers; "
        "print(sorted(m for m in ('aiosmtpd', 'pymap', 'imapclient') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )

    assert done.stdout.strip() == "[]"

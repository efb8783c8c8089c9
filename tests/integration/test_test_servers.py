"""Proof that the loopback test servers behave as the other tests assume.

Only the standard library's smtplib and imapclient talk to them here, always verifying TLS
against the test CA, so a failure points at the fixtures and not at the product.
"""

from __future__ import annotations

import email.policy
import os
import smtplib
import ssl
import time
import tomllib
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers import INBOX, JUNK, MailServers, format_reply

Via = Literal["starttls", "ssl", "plain"]


def canary(servers: MailServers) -> tuple[str, bytes]:
    """A message with a unique token in the subject; returns (token, raw bytes)."""
    token = uuid.uuid4().hex
    message = EmailMessage()
    message["From"] = servers.sender_address
    message["To"] = servers.seed_address
    message["Subject"] = f"canary {token}"
    message.set_content("Delivery check.\n.\nA line with only a dot, to exercise dot-stuffing.\n")
    # policy.SMTP: CRLF line ends. smtplib sends bytes as they are, and with bare LFs its
    # dot-stuffing and the server's unstuffing disagree (a "." line arrives as "..").
    return token, message.as_bytes(policy=email.policy.SMTP)


def connect(servers: MailServers, via: Via) -> smtplib.SMTP:
    """An SMTP connection to one listener, TLS verified against the test CA, EHLO done."""
    context = servers.certificates.client_context()
    client: smtplib.SMTP
    if via == "ssl":
        client = smtplib.SMTP_SSL(
            servers.smtp_host, servers.smtp_ssl_port, context=context, timeout=10
        )
    elif via == "starttls":
        client = smtplib.SMTP(servers.smtp_host, servers.smtp_starttls_port, timeout=10)
        client.starttls(context=context)
    else:
        client = smtplib.SMTP(servers.smtp_host, servers.smtp_plain_port, timeout=10)
    client.ehlo()
    return client


def send(servers: MailServers, raw: bytes, via: Via = "starttls", *, login: bool = True) -> None:
    """Send ``raw`` from sender to seed through ``via``, logging in as the sender."""
    with connect(servers, via) as client:
        if login:
            client.login(servers.sender_user, servers.sender_password)
        refused = client.sendmail(servers.sender_address, [servers.seed_address], raw)
        assert refused == {}


def subjects(servers: MailServers, folder: str = INBOX) -> list[str]:
    """The Subject lines in the seed's ``folder``."""
    found = []
    for raw in servers.dovecot.messages(servers.seed_user, folder):
        for line in raw.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                found.append(line[len(b"Subject: ") :].decode())
    return found


def reply_text(error: smtplib.SMTPResponseException) -> str:
    """The text of the reply smtplib raised, without the code."""
    text = error.smtp_error
    return text.decode() if isinstance(text, bytes) else text


# -- submission and delivery ---------------------------------------------------------------


@pytest.mark.parametrize("via", ["starttls", "ssl", "plain"])
def test_each_listener_delivers_authenticated_mail_into_the_seed_inbox(
    servers: MailServers, via: Via
) -> None:
    token, raw = canary(servers)
    send(servers, raw, via)

    assert subjects(servers) == [f"canary {token}"]
    (received,) = servers.smtp.received
    assert (received.listener, received.login) == (via, servers.sender_user)
    assert received.rcpt_tos == (servers.seed_address,)
    assert received.content == raw


def test_delivered_message_keeps_a_dot_only_line(servers: MailServers) -> None:
    _token, raw = canary(servers)
    send(servers, raw)

    (stored,) = servers.dovecot.messages(servers.seed_user)
    assert b"\r\n.\r\nA line with only a dot" in stored


def test_starttls_listener_refuses_mail_before_starttls(servers: MailServers) -> None:
    with smtplib.SMTP(servers.smtp_host, servers.smtp_starttls_port, timeout=10) as client:
        client.ehlo()
        code, message = client.mail(servers.sender_address)
    assert code == 530
    assert b"STARTTLS" in message


@pytest.mark.parametrize("via", ["starttls", "ssl"])
def test_tls_listeners_require_auth_before_mail(servers: MailServers, via: Via) -> None:
    with connect(servers, via) as client:
        code, _message = client.mail(servers.sender_address)
    assert code == 530


def test_wrong_password_gets_535_quickly(servers: MailServers) -> None:
    started = time.monotonic()
    with (
        connect(servers, "starttls") as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as caught,
    ):
        client.login(servers.sender_user, "not-the-password")
    assert caught.value.smtp_code == 535
    assert time.monotonic() - started < 2


def test_smtp_certificate_fails_against_the_system_cas(servers: MailServers) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            servers.smtp_host,
            servers.smtp_ssl_port,
            context=ssl.create_default_context(),
            timeout=10,
        )


# -- modes ---------------------------------------------------------------------------------


def test_blackhole_mode_accepts_and_delivers_nothing(servers: MailServers) -> None:
    servers.smtp.set_mode("blackhole")
    _token, raw = canary(servers)
    send(servers, raw)  # asserts that the server accepted it

    time.sleep(0.1)  # nothing is pending in this mode; deliver would have stored it by now
    assert servers.dovecot.count(servers.seed_user, INBOX) == 0
    assert servers.dovecot.count(servers.seed_user, JUNK) == 0
    (received,) = servers.smtp.received
    assert received.mode == "blackhole"
    assert received.reply is not None and received.reply.startswith("250")


def test_junk_mode_files_the_message_in_the_special_use_junk_folder(
    servers: MailServers,
) -> None:
    servers.smtp.set_mode("junk")
    token, raw = canary(servers)
    send(servers, raw)

    assert subjects(servers, JUNK) == [f"canary {token}"]
    assert servers.dovecot.count(servers.seed_user, INBOX) == 0
    context = servers.certificates.client_context()
    with IMAPClient(servers.imap_host, servers.imaps_port, ssl_context=context) as client:
        client.login(servers.seed_user, servers.seed_password)
        assert client.find_special_folder(b"\\Junk") == JUNK


def test_delay_mode_accepts_at_once_and_delivers_after_the_delay(servers: MailServers) -> None:
    servers.smtp.set_mode("delay", seconds=0.6)
    token, raw = canary(servers)
    started = time.monotonic()
    send(servers, raw)

    assert time.monotonic() - started < 0.3
    assert servers.dovecot.count(servers.seed_user) == 0
    assert servers.dovecot.wait_for_count(servers.seed_user, INBOX, 1, timeout=5) == 1
    assert time.monotonic() - started >= 0.6
    assert subjects(servers) == [f"canary {token}"]


def test_reset_cancels_a_pending_delayed_delivery(servers: MailServers) -> None:
    servers.smtp.set_mode("delay", seconds=0.2)
    send(servers, canary(servers)[1])
    assert servers.smtp.pending_deliveries == 1

    servers.reset()
    time.sleep(0.4)
    assert servers.smtp.mode == "deliver"
    assert servers.smtp.received == []
    assert servers.dovecot.count(servers.seed_user) == 0


OUTLOOK_SPAM = (
    "554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; Failed to process message "
    "due to a permanent exception with message [BeginDiagnosticData]WASCL UserAction verdict "
    "is not None.[EndDiagnosticData]"
)


def test_reject_at_data_gives_smtplib_exactly_the_configured_reply(
    servers: MailServers,
) -> None:
    servers.smtp.set_mode("reject", reply=OUTLOOK_SPAM, stage="data")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(servers, canary(servers)[1])

    assert caught.value.smtp_code == 554
    assert reply_text(caught.value) == OUTLOOK_SPAM[4:]
    assert servers.dovecot.count(servers.seed_user) == 0
    assert [m.reply for m in servers.smtp.received] == [OUTLOOK_SPAM]


def test_reject_sends_a_multiline_reply_that_smtplib_joins_with_newlines(
    servers: MailServers,
) -> None:
    text = (
        "5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
        "5.4.5 sending limits go to\n"
        "5.4.5  https://support.google.com/a/answer/166852 - gsmtp"
    )
    servers.smtp.set_mode("reject", reply=f"550 {text}")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(servers, canary(servers)[1])

    assert (caught.value.smtp_code, reply_text(caught.value)) == (550, text)


def test_reject_at_auth_answers_login_with_the_reply_even_for_the_right_password(
    servers: MailServers,
) -> None:
    reply = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
    servers.smtp.set_mode("reject", reply=reply, stage="auth")
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        send(servers, canary(servers)[1])

    assert caught.value.smtp_code == 535
    assert reply_text(caught.value) == reply[4:]
    assert servers.smtp.received == []


def test_reject_at_mail_from_refuses_the_sender(servers: MailServers) -> None:
    reply = "550 5.1.8 Access denied, bad outbound sender"
    servers.smtp.set_mode("reject", reply=reply, stage="mail")
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        send(servers, canary(servers)[1])

    assert (caught.value.smtp_code, reply_text(caught.value)) == (550, reply[4:])


def test_reject_at_rcpt_refuses_the_recipient(servers: MailServers) -> None:
    reply = "550 5.7.1 Recipient address rejected"
    servers.smtp.set_mode("reject", reply=reply, stage="rcpt")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        send(servers, canary(servers)[1])

    assert caught.value.recipients == {servers.seed_address: (550, reply[4:].encode())}


def test_tempfail_refuses_the_given_number_of_times_then_delivers(
    servers: MailServers,
) -> None:
    servers.smtp.set_mode("tempfail", times=2)
    token, raw = canary(servers)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as caught:
            send(servers, raw)
        assert caught.value.smtp_code == 451
        assert caught.value.smtp_error == b"4.7.500 Access denied, please try again later"
        assert servers.dovecot.count(servers.seed_user) == 0

    send(servers, raw)
    assert subjects(servers) == [f"canary {token}"]


@pytest.mark.parametrize("via", ["starttls", "ssl", "plain"])
def test_drop_mode_closes_the_connection_without_a_reply(servers: MailServers, via: Via) -> None:
    servers.smtp.set_mode("drop")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(servers, canary(servers)[1], via)

    assert servers.dovecot.count(servers.seed_user) == 0
    assert [m.reply for m in servers.smtp.received] == [None]
    servers.smtp.set_mode("deliver")
    send(servers, canary(servers)[1])  # the listener survives a drop
    assert servers.dovecot.count(servers.seed_user) == 1


def test_set_mode_refuses_a_malformed_reply(servers: MailServers) -> None:
    with pytest.raises(ValueError, match="three-digit"):
        servers.smtp.set_mode("reject", reply="Daily limit exceeded")
    assert servers.smtp.mode == "deliver"


def test_format_reply_builds_continuation_lines() -> None:
    assert format_reply("550 a\nb") == "550-a\r\n550 b"
    assert format_reply("451 4.7.500 Try later") == "451 4.7.500 Try later"


# -- IMAP side -----------------------------------------------------------------------------


def test_imaps_and_starttls_logins_verify_against_the_test_ca(servers: MailServers) -> None:
    servers.dovecot.deliver(servers.seed_user, b"Subject: appended\r\n\r\nbody\r\n")
    context = servers.certificates.client_context()
    with IMAPClient(servers.imap_host, servers.imaps_port, ssl_context=context) as client:
        client.login(servers.seed_user, servers.seed_password)
        assert client.folder_status(INBOX, [b"MESSAGES"])[b"MESSAGES"] == 1
    with IMAPClient(servers.imap_host, servers.imap_port, ssl=False) as client:
        client.starttls(context)
        client.login(servers.seed_user, servers.seed_password)
        assert client.folder_status(INBOX, [b"MESSAGES"])[b"MESSAGES"] == 1


def test_imaps_certificate_fails_against_the_system_cas(servers: MailServers) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(servers.imap_host, servers.imaps_port, ssl_context=ssl.create_default_context())


def test_wrong_imap_password_fails_fast_and_does_not_slow_the_next_login(
    servers: MailServers,
) -> None:
    started = time.monotonic()
    for _ in range(2):
        with (
            IMAPClient(servers.imap_host, servers.imap_port, ssl=False) as client,
            pytest.raises(LoginError),
        ):
            client.login(servers.seed_user, "wrong")
    after_failures = time.monotonic()
    assert servers.dovecot.count(servers.seed_user) == 0  # a valid login
    assert after_failures - started < 2
    assert time.monotonic() - after_failures < 1


def test_clear_mailbox_empties_inbox_and_junk(servers: MailServers) -> None:
    dovecot, user = servers.dovecot, servers.seed_user
    dovecot.deliver(user, b"Subject: one\r\n\r\nbody\r\n")
    dovecot.deliver(user, b"Subject: two\r\n\r\nbody\r\n", folder=JUNK)
    assert (dovecot.count(user, INBOX), dovecot.count(user, JUNK)) == (1, 1)

    dovecot.clear_mailbox(user)
    assert (dovecot.count(user, INBOX), dovecot.count(user, JUNK)) == (0, 0)


def test_dovecot_keeps_its_files_in_its_own_folder(servers: MailServers) -> None:
    root = servers.dovecot.root
    config = (root / "dovecot.conf").read_text()
    assert f"base_dir = {root}/run" in config
    assert (root / "dovecot.log").stat().st_size > 0
    assert oct(root.stat().st_mode & 0o777) == oct(0o755)


# -- environment and config helpers --------------------------------------------------------


@pytest.mark.parametrize(
    ("smtp_security", "imap_security"),
    [("starttls", "ssl"), ("ssl", "starttls"), ("none", "none")],
)
def test_write_config_points_each_security_at_its_port(
    tmp_path: Path,
    servers: MailServers,
    write_config: Callable[..., Path],
    smtp_security: str,
    imap_security: str,
) -> None:
    path = write_config(tmp_path, servers, smtp_security=smtp_security, imap_security=imap_security)
    config = tomllib.loads(path.read_text())

    assert config["sender"]["smtp_port"] == servers.smtp_port_for(smtp_security)
    assert config["sender"]["security"] == smtp_security
    assert config["seed"]["imap_port"] == servers.imap_port_for(imap_security)
    assert config["seed"]["security"] == imap_security
    assert Path(config["seed"]["ca_file"]) == servers.ca_file
    assert config["schedule"] == {"every_minutes": 0.05, "deadline_minutes": 0.1}


def test_write_config_merges_extra_tables_and_top_level_keys(
    tmp_path: Path, servers: MailServers, write_config: Callable[..., Path]
) -> None:
    path = write_config(
        tmp_path,
        servers,
        office='Front "desk"',
        sender={"username": "", "ca_file": None},
        policy={"down_after_lost": 1},
    )
    config = tomllib.loads(path.read_text())

    assert config["office"] == 'Front "desk"'
    assert config["sender"]["username"] == ""
    assert "ca_file" not in config["sender"]
    assert config["policy"] == {"down_after_lost": 1}


def test_watchdog_env_isolates_folders_keyring_and_passwords(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(os.environ[name]).is_relative_to(tmp_path)
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.null.Keyring"
    assert watchdog_env["WATCHDOG_SEED_PASSWORD"] == os.environ["WATCHDOG_SEED_PASSWORD"]
    assert "WATCHDOG_CONFIG" not in os.environ

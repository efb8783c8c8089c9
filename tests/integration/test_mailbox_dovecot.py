"""The seed mailbox against the real Dovecot: junk candidates, the Message-ID fallback, batching.

Dovecot marks its "Junk" folder SPECIAL-USE ``\\Junk`` (like Debian's stock config); these
tests add the folders a Sieve rule or a provider may file a canary into instead.
"""

from __future__ import annotations

import contextlib
import email.policy
import logging
import re
import time
from collections.abc import Iterator
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from tests.servers import INBOX, JUNK, MailServers
from watchdog.config import SeedConfig
from watchdog.core.clock import SystemClock
from watchdog.core.models import Security
from watchdog.core.tokens import CANARY_HEADER, make_token
from watchdog.mail.mailbox import SEARCH_BATCH, SeedMailbox
from watchdog.mail.probe import build_canary
from watchdog.signin.credentials import password_signin

KEY = b"k" * 32
TOKEN_PATTERN = re.compile(r"v1\.\d+\.[0-9a-f]+\.[0-9a-f]{24}")


def seed_config(servers: MailServers, *, junk_folders: tuple[str, ...] = ()) -> SeedConfig:
    return SeedConfig(
        address=servers.seed_address,
        imap_host=servers.imap_host,
        imap_port=servers.imaps_port,
        security=Security.SSL,
        username=servers.seed_user,
        ca_file=servers.ca_file,
        junk_folders=junk_folders,
    )


def open_seed(servers: MailServers, **options: tuple[str, ...]) -> SeedMailbox:
    signin = password_signin("seed", servers.seed_user, lambda r, u: servers.seed_password)
    return SeedMailbox(seed_config(servers, **options), signin, SystemClock(), timeout=10)


def open_sender_inbox(servers: MailServers) -> SeedMailbox:
    inbox = SeedConfig(
        address=servers.sender_address,
        imap_host=servers.imap_host,
        imap_port=servers.imaps_port,
        security=Security.SSL,
        username=servers.sender_user,
        ca_file=servers.ca_file,
    )
    signin = password_signin("sender", servers.sender_user, lambda r, u: servers.sender_password)
    return SeedMailbox(inbox, signin, SystemClock(), timeout=10)


def canary(servers: MailServers, token: str) -> Message:
    return build_canary(servers.sender_address, servers.seed_address, token, time.time())


def new_token() -> str:
    return make_token(KEY, time.time())


@pytest.fixture
def extra_folders(servers: MailServers) -> Iterator[list[str]]:
    """Folders a test creates in the seed mailbox (append names); removed afterwards."""
    created: list[str] = []
    yield created
    with servers.dovecot.imap(servers.seed_user) as client:
        for name in created:
            with contextlib.suppress(Exception):
                client.delete_folder(name)


def create(servers: MailServers, created: list[str], name: str) -> None:
    with servers.dovecot.imap(servers.seed_user) as client:
        if not client.folder_exists(name):
            client.create_folder(name)
    created.append(name)


# -- junk folders (issue 11, item 9) ---------------------------------------------------------


@pytest.mark.parametrize("folder", ["Spam", "Quarantine", "Courrier indésirable", "Spam-Verdacht"])
def test_a_canary_filed_into_another_junk_folder_is_found_as_junk_and_deleted(
    servers: MailServers, extra_folders: list[str], folder: str
) -> None:
    create(servers, extra_folders, folder)
    token = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, token)), folder)
    with open_seed(servers) as mailbox:
        assert mailbox.junk_folders[0] == JUNK  # the SPECIAL-USE one is still searched first
        assert folder in mailbox.junk_folders
        found = mailbox.search([token])
        assert token in found
        assert found[token].is_junk
        assert found[token].folder == folder
        mailbox.delete(found.values())
    assert servers.dovecot.count(servers.seed_user, folder) == 0


def test_a_configured_junk_folder_is_searched_besides_the_special_use_one(
    servers: MailServers, extra_folders: list[str]
) -> None:
    create(servers, extra_folders, "Filtered")
    token = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, token)), "Filtered")
    with open_seed(servers, junk_folders=("filtered",)) as mailbox:
        assert mailbox.junk_folders == [JUNK, "Filtered"]
        found = mailbox.search([token])
    assert found[token].folder == "Filtered"
    assert found[token].is_junk


def test_inbox_is_never_a_junk_folder_nor_listed_twice(
    servers: MailServers, extra_folders: list[str]
) -> None:
    create(servers, extra_folders, "Spam")
    with open_seed(servers, junk_folders=("INBOX", "inbox", "Spam", "spam", "Junk")) as mailbox:
        folders = mailbox.junk_folders
    assert folders == [JUNK, "Spam"]


def test_a_canary_in_the_special_use_junk_folder_is_still_found(servers: MailServers) -> None:
    token = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, token)), JUNK)
    with open_seed(servers) as mailbox:
        found = mailbox.search([token])
    assert found[token].folder == JUNK
    assert found[token].is_junk


# -- the Message-ID fallback (item 13) -------------------------------------------------------


def test_the_canary_message_id_carries_the_token(servers: MailServers) -> None:
    token = new_token()
    assert canary(servers, token)["Message-ID"] == f"<{token}@example.test>"


def test_a_canary_whose_header_a_relay_stripped_is_found_by_its_message_id(
    servers: MailServers,
) -> None:
    token = new_token()
    message = canary(servers, token)
    del message[CANARY_HEADER]
    servers.dovecot.deliver(servers.seed_user, bytes(message))
    with open_seed(servers) as mailbox:
        found = mailbox.search([token, new_token()])
        assert list(found) == [token]
        assert found[token].folder == INBOX
        assert not found[token].is_junk
        mailbox.delete(found.values())
    assert servers.dovecot.count(servers.seed_user) == 0


@pytest.mark.parametrize(
    "message_id", ["<x{token}@example.test>", "<{token}.1@example.test>", "<{token}x@e.test>"]
)
def test_a_message_id_holding_a_wanted_token_only_inside_something_else_is_not_a_canary(
    servers: MailServers, message_id: str
) -> None:
    token = new_token()
    message = canary(servers, token)
    del message[CANARY_HEADER]
    del message["Message-ID"]
    message["Message-ID"] = message_id.format(token=token)
    servers.dovecot.deliver(servers.seed_user, bytes(message))
    with open_seed(servers) as mailbox:
        found = mailbox.search([token])
    assert found == {}


# -- many awaited canaries (item 18) ---------------------------------------------------------


def most_tokens_in_one_log_record(records: list[logging.LogRecord]) -> int:
    return max((len(set(TOKEN_PATTERN.findall(r.getMessage()))) for r in records), default=0)


def test_a_thousand_awaited_canaries_are_searched_in_batches_and_the_real_one_is_found(
    servers: MailServers, caplog: pytest.LogCaptureFixture
) -> None:
    real = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, real)), JUNK)
    tokens = [make_token(KEY, time.time() - n) for n in range(999)]
    tokens.insert(500, real)
    caplog.set_level(logging.DEBUG)
    with open_seed(servers) as mailbox:
        found = mailbox.search(tokens)
    assert list(found) == [real]
    assert found[real].folder == JUNK
    # imapclient logs every command line at debug level: never the whole list in one line.
    assert 0 < most_tokens_in_one_log_record(caplog.records) <= SEARCH_BATCH


def delivery_report(returned: Message, *, action: str, status: str) -> bytes:
    """A Postfix-style RFC 3464 report about ``returned`` (its headers only)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@example.test (Mail Delivery System)"
    report["To"] = "sender@example.test"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("I'm sorry to have to inform you that your message could not be sent."))
    fields = Message()
    fields["Reporting-MTA"] = "dns; mail.example.test"
    recipient = Message()
    recipient["Final-Recipient"] = "rfc822; seed@example.test"
    recipient["Action"] = action
    recipient["Status"] = status
    recipient["Diagnostic-Code"] = f"smtp; 550 {status} mailbox problem"
    status_part = MIMEBase("message", "delivery-status")
    status_part.set_payload([fields, recipient])
    report.attach(status_part)
    wire = returned.as_bytes(policy=email.policy.SMTP)
    header_block = wire.split(b"\r\n\r\n", 1)[0].decode("ascii")
    report.attach(MIMEText(header_block + "\r\n", "rfc822-headers", "us-ascii"))
    return report.as_bytes()


def test_bounces_for_a_thousand_awaited_canaries_are_found_in_batches(
    servers: MailServers, caplog: pytest.LogCaptureFixture
) -> None:
    real = new_token()
    raw = delivery_report(canary(servers, real), action="failed", status="5.1.1")
    servers.dovecot.deliver(servers.sender_user, raw)
    tokens = [make_token(KEY, time.time() - n) for n in range(999)]
    tokens.insert(700, real)
    caplog.set_level(logging.DEBUG)
    with open_sender_inbox(servers) as inbox:
        bounces = inbox.find_bounces(tokens)
    assert list(bounces) == [real]
    assert bounces[real].action == "failed"
    assert most_tokens_in_one_log_record(caplog.records) <= SEARCH_BATCH


def test_a_bounce_whose_returned_header_was_stripped_is_matched_by_its_message_id(
    servers: MailServers,
) -> None:
    token = new_token()
    returned = canary(servers, token)
    del returned[CANARY_HEADER]
    servers.dovecot.deliver(
        servers.sender_user, delivery_report(returned, action="delayed", status="4.2.2")
    )
    with open_sender_inbox(servers) as inbox:
        bounces = inbox.find_bounces([token])
    assert bounces[token].canary_token == token
    assert bounces[token].action == "delayed"
    assert bounces[token].status == "4.2.2"


def test_a_failure_notice_wins_over_a_delay_notice_for_the_same_canary(
    servers: MailServers,
) -> None:
    token = new_token()
    returned = canary(servers, token)
    for action, status in (("delayed", "4.2.2"), ("failed", "5.2.2"), ("delayed", "4.2.2")):
        raw = delivery_report(returned, action=action, status=status)
        servers.dovecot.deliver(servers.sender_user, raw)
    with open_sender_inbox(servers) as inbox:
        bounces = inbox.find_bounces([token])
    assert bounces[token].action == "failed"
    assert bounces[token].status == "5.2.2"


# -- every security setting through the guarded connection (items 2, 17) --------------------


@pytest.mark.parametrize(
    ("security", "host"),
    [
        (Security.SSL, "127.0.0.1"),
        (Security.STARTTLS, "127.0.0.1"),
        (Security.NONE, "127.0.0.1"),
        (Security.NONE, "2130706433"),  # 127.0.0.1 spelled as one number: judged by where it went
    ],
)
def test_a_canary_is_found_and_deleted_over_every_security_setting(
    servers: MailServers, security: Security, host: str
) -> None:
    token = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, token)))
    config = SeedConfig(
        address=servers.seed_address,
        imap_host=host,
        imap_port=servers.imap_port_for(security.value),
        security=security,
        username=servers.seed_user,
        ca_file=servers.ca_file,
    )
    signin = password_signin("seed", servers.seed_user, lambda r, u: servers.seed_password)
    with SeedMailbox(config, signin, SystemClock(), timeout=10) as mailbox:
        found = mailbox.wait_for(token, time.monotonic() + 5)
        assert found is not None
        mailbox.delete([found])
    assert servers.dovecot.count(servers.seed_user) == 0


def test_a_junk_folder_gone_since_it_was_listed_does_not_stop_the_search(
    servers: MailServers, extra_folders: list[str]
) -> None:
    create(servers, extra_folders, "Spam")
    token = new_token()
    servers.dovecot.deliver(servers.seed_user, bytes(canary(servers, token)), JUNK)
    with open_seed(servers) as mailbox:
        assert mailbox.junk_folders == [JUNK, "Spam"]
        with servers.dovecot.imap(servers.seed_user) as client:
            client.delete_folder("Spam")
        found = mailbox.search([token, new_token()])
        assert mailbox.junk_folders == [JUNK]
    assert list(found) == [token]
    assert found[token].folder == JUNK

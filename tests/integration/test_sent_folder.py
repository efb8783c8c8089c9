"""The sender's Sent folder in real Dovecot: dates only, read-only, only new UIDs, no patient data.

The last tests send a reminder batch through the test submission server with its "keep a
copy" switch on (as Gmail and Outlook do for SMTP submissions) and read it back as one batch.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.servers import Dovecot, MailServers
from watchdog.core.batches import BatchRules, find_batches, reminders_touched
from watchdog.core.errors import MailboxError
from watchdog.core.tokens import CANARY_HEADER
from watchdog.mail.sent_folder import SentFolderReader

SENTINEL_PATIENT = "sentinel.patient.7f3a@patients.example.test"
SENTINEL_SUBJECT = "Reminder for Sentinel Patient 7f3a: cleaning on Tuesday"
BASE = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)


def message(subject: str = "Your appointment", *, canary: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "frontdesk@example.test"
    msg["To"] = SENTINEL_PATIENT
    msg["Subject"] = subject
    if canary:
        msg[CANARY_HEADER] = "token-1"
    msg.set_content("Please confirm your appointment.")
    return msg.as_bytes()


@pytest.fixture
def sender(servers: MailServers) -> Iterator[Callable[[], IMAPClient]]:
    """A factory for logged-in IMAP sessions on the sender's mailbox, with no Sent folder yet."""
    user = servers.sender_user

    def connect() -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=servers.imap_port, ssl=False, timeout=10)
        client.login(user, servers.sender_password)
        return client

    with servers.dovecot.imap(user) as client:
        for _flags, _delimiter, name in client.list_folders():
            if name not in ("INBOX", "Junk"):
                client.delete_folder(name)
    yield connect


def append(connect: Callable[[], IMAPClient], folder: str, when: datetime, raw: bytes) -> None:
    client = connect()
    try:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.append(folder, raw, msg_time=when)
    finally:
        client.logout()


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def test_the_sent_folder_is_found_by_its_name_and_read_for_dates(
    sender: Callable[[], IMAPClient],
) -> None:
    for minute in (0, 1, 2.5):
        append(sender, "Sent Items", at(minute), message())
    poll = SentFolderReader().poll_with(sender, since=at(-60).timestamp())
    assert poll.folder == "Sent Items"
    assert poll.new_times == tuple(at(m).timestamp() for m in (0, 1, 2.5))
    assert poll.restarted


class SpecialUseDovecot(Dovecot):
    """The test Dovecot plus a folder marked SPECIAL-USE \\Sent under an unusual name."""

    SENT_NAME = "Outgoing Mail"

    def _write_config(self) -> None:
        super()._write_config()
        conf = self.root / "dovecot.conf"
        extra = (
            f'\nnamespace inbox {{\n  mailbox "{self.SENT_NAME}" {{\n'
            "    special_use = \\Sent\n    auto = create\n  }\n}\n"
        )
        conf.write_text(conf.read_text() + extra)


@pytest.fixture(scope="module")
def special_use_account(mail_servers: MailServers) -> Iterator[Callable[[], IMAPClient]]:
    """A mailbox whose Sent folder is known only by its SPECIAL-USE flag."""
    dovecot = SpecialUseDovecot({"frontdesk": "frontdesk-pass-1"}, mail_servers.certificates)
    dovecot.start()

    def connect() -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False, timeout=10)
        client.login("frontdesk", "frontdesk-pass-1")
        return client

    try:
        yield connect
    finally:
        dovecot.stop()


def test_the_sent_folder_marked_special_use_wins_over_a_usual_name(
    special_use_account: Callable[[], IMAPClient],
) -> None:
    append(special_use_account, SpecialUseDovecot.SENT_NAME, at(0), message())
    append(special_use_account, "Sent", at(1), message())  # a folder a person made
    append(special_use_account, "Sent", at(2), message())
    poll = SentFolderReader().poll_with(special_use_account, since=at(-60).timestamp())
    assert poll.folder == SpecialUseDovecot.SENT_NAME
    assert poll.new_times == (at(0).timestamp(),)


def test_a_second_look_fetches_only_the_new_messages(
    sender: Callable[[], IMAPClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = SentFolderReader()
    append(sender, "Sent", at(0), message())
    append(sender, "Sent", at(1), message())
    first = reader.poll_with(sender, since=at(-60).timestamp())
    assert len(first.new_times) == 2
    append(sender, "Sent", at(2), message())
    fetched: list[list[int]] = []
    client = sender()
    real_fetch = client.fetch

    def recording_fetch(uids: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append(list(uids))
        assert list(data) == ["INTERNALDATE"]
        return real_fetch(uids, data, *args, **kwargs)

    monkeypatch.setattr(client, "fetch", recording_fetch)
    second = reader.poll(client, since=at(-60).timestamp())
    client.logout()
    assert second.new_times == (at(2).timestamp(),)
    assert not second.restarted
    assert fetched == [[reader.highest_uid]]
    assert reader.poll_with(sender, since=at(-60).timestamp()).new_times == ()


def test_many_new_messages_are_read_in_slices(
    sender: Callable[[], IMAPClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    for minute in range(5):
        append(sender, "Sent", at(minute), message())
    reader = SentFolderReader()
    reader.fetch_slice = 2
    fetched: list[int] = []
    client = sender()
    real_fetch = client.fetch

    def recording_fetch(uids: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append(len(list(uids)))
        return real_fetch(uids, data, *args, **kwargs)

    monkeypatch.setattr(client, "fetch", recording_fetch)
    poll = reader.poll(client, since=at(-60).timestamp())
    client.logout()
    assert fetched == [2, 2, 1]
    assert poll.new_times == tuple(at(m).timestamp() for m in range(5))


def test_a_renumbered_folder_is_read_again_from_the_start(
    sender: Callable[[], IMAPClient],
) -> None:
    reader = SentFolderReader(folder="Sent")
    append(sender, "Sent", at(0), message())
    reader.poll_with(sender, since=at(-60).timestamp())
    old_validity = reader.uidvalidity
    client = sender()
    client.delete_folder("Sent")  # the server renumbers: a new UIDVALIDITY
    client.logout()
    append(sender, "Sent", at(5), message())
    append(sender, "Sent", at(6), message())
    poll = reader.poll_with(sender, since=at(-60).timestamp())
    assert reader.uidvalidity != old_validity
    assert poll.restarted
    assert poll.new_times == (at(5).timestamp(), at(6).timestamp())


def test_messages_sent_before_since_are_left_out(sender: Callable[[], IMAPClient]) -> None:
    append(sender, "Sent", at(-3 * 24 * 60), message())  # three days earlier
    append(sender, "Sent", at(-10), message())  # the same day, before since
    append(sender, "Sent", at(10), message())
    poll = SentFolderReader().poll_with(sender, since=at(0).timestamp())
    assert poll.new_times == (at(10).timestamp(),)


def test_our_own_canaries_are_not_counted_as_the_practice_s_mail(
    sender: Callable[[], IMAPClient],
) -> None:
    append(sender, "Sent", at(0), message())
    append(sender, "Sent", at(1), message(canary=True))
    poll = SentFolderReader().poll_with(sender, since=at(-60).timestamp())
    assert poll.new_times == (at(0).timestamp(),)
    assert poll.canaries_excluded


def test_a_copy_of_our_own_canary_in_sent_is_the_proof_that_sent_mail_is_filed_there(
    sender: Callable[[], IMAPClient],
) -> None:
    reader = SentFolderReader()
    append(sender, "Sent", at(0), message())  # a person's mail, copied by a mail program
    first = reader.poll_with(sender, since=at(-60).timestamp())
    assert first.canary_copies_seen is False  # an empty folder would prove nothing
    append(sender, "Sent", at(1), message(canary=True))  # filed by the outgoing server
    second = reader.poll_with(sender, since=at(-60).timestamp())
    assert second.canary_copies_seen is True
    assert second.new_times == ()  # and still not counted as the practice's mail


def test_reading_the_sent_folder_changes_no_flag(sender: Callable[[], IMAPClient]) -> None:
    append(sender, "Sent", at(0), message())
    SentFolderReader().poll_with(sender, since=at(-60).timestamp())
    client = sender()
    try:
        client.select_folder("Sent", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    finally:
        client.logout()
    assert all(b"\\Seen" not in f for f in flags.values())
    assert flags


def test_a_named_folder_that_does_not_exist_is_a_mailbox_error(
    sender: Callable[[], IMAPClient],
) -> None:
    with pytest.raises(MailboxError, match="said no to open Sent Mail") as caught:
        SentFolderReader(folder="Sent Mail").poll_with(sender, since=0)
    assert not caught.value.network


def test_an_account_without_a_sent_folder_is_told_how_to_name_one(
    sender: Callable[[], IMAPClient],
) -> None:
    with pytest.raises(MailboxError, match=r"No Sent folder found .* Set the folder's name"):
        SentFolderReader(where="127.0.0.1:143").poll_with(sender, since=0)


def test_a_server_that_hung_up_is_a_network_mailbox_error(
    sender: Callable[[], IMAPClient],
) -> None:
    def hung_up() -> IMAPClient:
        client = sender()
        client.shutdown()
        return client

    with pytest.raises(MailboxError) as caught:
        SentFolderReader(folder="Sent").poll_with(hung_up, since=0)
    assert caught.value.network


def test_a_refused_connection_is_a_network_mailbox_error(servers: MailServers) -> None:
    def refused() -> IMAPClient:
        with contextlib.closing(__import__("socket").socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return IMAPClient("127.0.0.1", port=port, ssl=False, timeout=5)

    with pytest.raises(MailboxError, match="Could not talk to") as caught:
        SentFolderReader().poll_with(refused, since=0)
    assert caught.value.network


# --- a batch through the submission server with "keep a copy" ------------------------------------


def send_batch(servers: MailServers, count: int) -> None:
    """``count`` reminders over one SMTP session, as practice software sends them."""
    with smtplib.SMTP("127.0.0.1", servers.smtp_plain_port, timeout=30) as smtp:
        smtp.login(servers.sender_user, servers.sender_password)
        for _ in range(count):
            smtp.sendmail(servers.sender_address, [SENTINEL_PATIENT], message(SENTINEL_SUBJECT))


def test_the_keep_a_copy_switch_files_accepted_messages_in_sent_and_only_while_on(
    servers: MailServers, sender: Callable[[], IMAPClient]
) -> None:
    servers.smtp.set_mode("blackhole")
    send_batch(servers, 2)
    with servers.dovecot.imap(servers.sender_user) as client:
        assert not client.folder_exists("Sent")
    servers.smtp.keep_copy(servers.imap_port)
    send_batch(servers, 3)
    assert servers.dovecot.count(servers.sender_user, "Sent") == 3
    servers.smtp.keep_copy(None)
    send_batch(servers, 1)
    assert servers.dovecot.count(servers.sender_user, "Sent") == 3


def test_a_batch_of_200_through_the_server_shows_up_as_one_batch_and_no_patient_data(
    servers: MailServers, sender: Callable[[], IMAPClient], caplog: pytest.LogCaptureFixture
) -> None:
    # Blackhole: the provider accepts the reminders and delivers none (the block), and still
    # keeps its copy in Sent, as Gmail does.
    servers.smtp.set_mode("blackhole")
    servers.smtp.keep_copy(servers.imap_port)
    started = time.time()
    send_batch(servers, 200)
    finished = time.time()
    assert servers.dovecot.count(servers.sender_user, "Sent") == 200

    caplog.set_level(logging.DEBUG)  # imapclient logs every line of the IMAP conversation here
    # ... unless a command run earlier in this process quieted it (`watchdog` sets imapclient's
    # logger to INFO so a password line is never logged): ask for its lines explicitly.
    caplog.set_level(logging.DEBUG, logger="imapclient")
    reader = SentFolderReader()
    poll = reader.poll_with(sender, since=started - 60)

    assert poll.folder == "Sent"
    assert len(poll.new_times) == 200
    last = poll.new_times[-1]
    # INTERNALDATE has whole seconds.
    assert started - 1 <= poll.new_times[0] <= last <= finished + 1
    rules = BatchRules()
    running = find_batches(poll.new_times, now=last + 1, rules=rules)
    assert [(b.count, b.quiet) for b in running] == [(200, False)]
    (batch,) = find_batches(poll.new_times, now=last + rules.quiet_after_s, rules=rules)
    assert (batch.count, batch.quiet, batch.first_at, batch.last_at) == (
        200,
        True,
        poll.new_times[0],
        last,
    )
    touched = reminders_touched(started - 1, finished + 1, poll.new_times)
    assert touched.count == 200

    # The conversation reached the log (so the check below can fail) ...
    assert "INTERNALDATE" in caplog.text
    # ... and nothing of the patient's, asked for or returned, is in it or in the result.
    seen = caplog.text + repr(poll) + repr(vars(reader)) + repr(running) + repr(touched)
    for secret in (SENTINEL_PATIENT, "sentinel.patient", SENTINEL_SUBJECT, "Sentinel Patient"):
        assert secret not in seen
        assert secret.lower() not in seen.lower()

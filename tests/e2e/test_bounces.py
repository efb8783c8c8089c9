"""Bounces in the practice's own inbox: a refusal that arrives by mail beats "lost"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog_json
from tests.servers.smtp import delivery_status_notification


@pytest.fixture
def config_with_inbox(tmp_path: Path, servers: Any, write_config: Any) -> Path:
    """The sender's own inbox is watched: Dovecot user ``sender``, over verified TLS."""
    inbox = {
        "imap_host": servers.imap_host,
        "imap_port": servers.imaps_port,
        "imap_security": "ssl",
    }
    return Path(write_config(tmp_path, servers, deadline_minutes=0.02, sender=inbox))


def test_a_canary_that_bounces_is_diagnosed_from_the_bounce_not_called_lost(
    servers: Any, watchdog_env: dict[str, str], config_with_inbox: Path
) -> None:
    servers.smtp.set_mode("bounce")
    code, result = watchdog_json("check", env=watchdog_env, config=config_with_inbox)
    assert code == 2, result
    assert result["outcome"] == "bounced"
    assert result["diagnosis"] == "message_rejected"
    # The submission server's own reply stays; the bounce's words are kept beside it.
    assert result["smtp_reply"]["code"] == 250
    assert "550" in result["bounce"] and "low reputation" in result["bounce"]
    assert result["status"]["status"] == "DOWN"
    # The practice's inbox is only read: the bounce is still there.
    assert servers.dovecot.count(servers.sender_user, "INBOX") == 1


def test_a_bounce_that_comes_after_the_deadline_turns_the_lost_canary_into_bounced(
    servers: Any, watchdog_env: dict[str, str], config_with_inbox: Path
) -> None:
    servers.smtp.set_mode("blackhole")
    code, lost = watchdog_json("check", env=watchdog_env, config=config_with_inbox)
    assert (code, lost["outcome"]) == (2, "lost")
    original = servers.smtp.received[-1]
    dsn = delivery_status_notification(
        original.content,
        original.mail_from,
        original.rcpt_tos,
        "550 5.4.5 Daily user sending limit exceeded.",
    )
    servers.dovecot.deliver(servers.sender_user, dsn)

    servers.smtp.set_mode("deliver")
    code, fresh = watchdog_json("check", env=watchdog_env, config=config_with_inbox)
    assert (code, fresh["outcome"]) == (0, "delivered")
    code, rows = watchdog_json("history", env=watchdog_env, config=config_with_inbox)
    by_token = {r["token"]: r for r in rows}
    assert by_token[lost["token"]]["outcome"] == "bounced"
    assert by_token[lost["token"]]["diagnosis"] == "sending_limit"
    assert len(rows) == 2


def test_other_mail_in_the_practice_inbox_is_not_taken_for_a_bounce(
    servers: Any, watchdog_env: dict[str, str], config_with_inbox: Path
) -> None:
    unrelated = delivery_status_notification(
        b"From: frontdesk@example.test\r\nMessage-ID: <reminder-1@example.test>\r\n"
        b"Subject: Appointment reminder\r\n\r\nSee you Tuesday.\r\n",
        "sender@example.test",
        ("patient@example.test",),
        "550 5.1.1 The email account that you tried to reach does not exist.",
    )
    servers.dovecot.deliver(servers.sender_user, unrelated)
    servers.smtp.set_mode("blackhole")
    code, result = watchdog_json("check", env=watchdog_env, config=config_with_inbox)
    assert (code, result["outcome"], result["diagnosis"]) == (2, "lost", "silent_drop"), result


def _notice(sender: str, subject: str, body: str, *extra: str) -> bytes:
    lines = [f"From: {sender}", "To: frontdesk@gmail.com", f"Subject: {subject}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
def gmail_config_with_inbox(tmp_path: Path, servers: Any, write_config: Any) -> Path:
    """A Gmail practice (named: the test server's name tells nothing) whose inbox is watched."""
    inbox = {
        "provider": "gmail",
        "imap_host": servers.imap_host,
        "imap_port": servers.imaps_port,
        "imap_security": "ssl",
    }
    return Path(write_config(tmp_path, servers, deadline_minutes=0.02, sender=inbox))


def test_a_provider_notice_in_the_practice_inbox_says_why_the_canary_was_lost(
    servers: Any, watchdog_env: dict[str, str], gmail_config_with_inbox: Path
) -> None:
    body_secret = "https://phish.example.test/unlock?patient=Jane"
    servers.dovecot.deliver(
        servers.sender_user,
        _notice("Google <no-reply@accounts.google.com>", "Critical security alert", body_secret),
    )
    servers.smtp.set_mode("blackhole")
    code, result = watchdog_json("check", env=watchdog_env, config=gmail_config_with_inbox)
    assert (code, result["outcome"], result["diagnosis"]) == (2, "lost", "verification_required")
    assert 'accounts.google.com: "Critical security alert"' in result["detail"]
    # Nothing from the notice's body (links included) reaches the history.
    code, rows = watchdog_json("history", env=watchdog_env, config=gmail_config_with_inbox)
    assert body_secret not in str(rows)
    assert rows[0]["diagnosis"] == "verification_required"
    assert servers.dovecot.count(servers.sender_user, "INBOX") == 1  # only read, never moved


def test_a_forged_or_look_alike_notice_leaves_the_diagnosis_a_silent_drop(
    servers: Any, watchdog_env: dict[str, str], gmail_config_with_inbox: Path
) -> None:
    servers.dovecot.deliver(
        servers.sender_user,
        _notice("Google <no-reply@accounts.google.com.evil.test>", "Critical security alert", "x"),
    )
    servers.dovecot.deliver(
        servers.sender_user,
        _notice(
            "Google <no-reply@accounts.google.com>",
            "Critical security alert",
            "x",
            "Authentication-Results: mx.example.test; dkim=fail header.d=google.com",
        ),
    )
    servers.smtp.set_mode("blackhole")
    code, result = watchdog_json("check", env=watchdog_env, config=gmail_config_with_inbox)
    assert (code, result["outcome"], result["diagnosis"]) == (2, "lost", "silent_drop"), result

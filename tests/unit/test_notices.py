"""Provider notices are recognised from their From and Subject only, and never from look-alikes."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog.core.models import Diagnosis
from watchdog.core.notices import (
    NoticeRulesError,
    latest_notice,
    notice_domains,
    notice_rules,
    parse_notice_rules,
    read_notice,
)


def headers(sender: str, subject: str, *extra: str) -> bytes:
    lines = [f"From: {sender}", f"Subject: {subject}", "Date: Tue, 24 Nov 2026 08:15:00 +0000"]
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("provider", "sender", "subject", "diagnosis"),
    [
        (
            "microsoft365",
            "Microsoft 365 <o365mc@microsoft.com>",
            "High-severity alert: User restricted from sending email",
            Diagnosis.SENDER_BLOCKED,
        ),
        (
            "microsoft365",
            "Microsoft Security <security-noreply@microsoft.com>",
            "Medium-severity alert: Email sending limit exceeded",
            Diagnosis.SENDING_LIMIT,
        ),
        (
            "outlook",
            "Microsoft account team <account-security-noreply@accountprotection.microsoft.com>",
            "Microsoft account unusual sign-in activity",
            Diagnosis.VERIFICATION_REQUIRED,
        ),
        (
            "gmail",
            "Google <no-reply@accounts.google.com>",
            "Critical security alert",
            Diagnosis.VERIFICATION_REQUIRED,
        ),
        (
            "gmail",
            "Gmail Team <mail-noreply@google.com>",
            "You have reached a limit for sending mail",
            Diagnosis.SENDING_LIMIT,
        ),
        (
            "att",
            "AT&T <noreply@att.com>",
            "Your account is temporarily blocked from sending",
            Diagnosis.SENDER_BLOCKED,
        ),
        (
            "yahoo",
            "Yahoo <no-reply@cc.yahoo-inc.com>",
            "Suspicious activity on your account",
            Diagnosis.SENDER_BLOCKED,
        ),
        (
            "comcast",
            "Xfinity <online.communications@alerts.comcast.net>",
            "Your email has been blocked from sending",
            Diagnosis.SENDER_BLOCKED,
        ),
    ],
)
def test_a_known_provider_notice_gives_the_reason_it_names(
    provider: str, sender: str, subject: str, diagnosis: Diagnosis
) -> None:
    notice = read_notice(headers(sender, subject), provider)
    assert notice is not None
    assert notice.diagnosis is diagnosis
    assert notice.subject == subject
    assert notice.received_at == 1795508100.0


def test_a_look_alike_domain_is_not_the_provider() -> None:
    assert read_notice(headers("alerts@evilgoogle.com", "Critical security alert"), "gmail") is None
    assert (
        read_notice(headers("alerts@google.com.evil.test", "Critical security alert"), "gmail")
        is None
    )


def test_a_notice_whose_signature_failed_is_ignored_as_a_forgery() -> None:
    forged = headers(
        "Google <no-reply@accounts.google.com>",
        "Critical security alert",
        "Authentication-Results: mx.example.test; dkim=fail header.d=google.com",
    )
    assert read_notice(forged, "gmail") is None
    signed = headers(
        "Google <no-reply@accounts.google.com>",
        "Critical security alert",
        "Authentication-Results: mx.example.test; dkim=pass header.d=google.com; dmarc=pass",
    )
    assert read_notice(signed, "gmail") is not None


def test_a_notice_of_another_provider_does_not_explain_this_one() -> None:
    microsoft = headers(
        "o365mc@microsoft.com", "High-severity alert: User restricted from sending email"
    )
    assert read_notice(microsoft, "gmail") is None


def test_ordinary_mail_from_a_provider_domain_is_not_a_notice() -> None:
    assert (
        read_notice(headers("no-reply@google.com", "Your Google Account storage"), "gmail") is None
    )


def test_an_encoded_subject_is_decoded_and_control_characters_removed() -> None:
    raw = headers(
        "no-reply@accounts.google.com", "=?utf-8?q?Critical_security_alert_=E2=80=93_review?="
    )
    notice = read_notice(raw, "gmail")
    assert notice is not None
    assert notice.subject == "Critical security alert \u2013 review"
    tricky = headers("no-reply@accounts.google.com", "=?utf-8?q?Critical_security_alert=0D=0AX?=")
    assert read_notice(tricky, "gmail") is not None
    assert "\r" not in read_notice(tricky, "gmail").subject  # type: ignore[union-attr]


def test_the_latest_notice_wins() -> None:
    older = read_notice(
        headers("o365mc@microsoft.com", "Email sending limit exceeded"), "microsoft365"
    )
    newer = read_notice(
        headers("o365mc@microsoft.com", "User restricted from sending email"),
        "microsoft365",
        received_at=1795600000.0,
    )
    assert older is not None and newer is not None
    assert latest_notice([newer, older]) is newer
    assert latest_notice([]) is None


def test_every_shipped_rule_is_for_a_known_provider_and_searchable() -> None:
    from watchdog.core.providers import all_providers

    names = {p.name for p in all_providers()}
    for rule in notice_rules():
        assert set(rule.providers) <= names, rule.id
    assert "accounts.google.com" in notice_domains("gmail")
    assert "microsoft.com" in notice_domains("microsoft365")
    assert notice_domains("other") == ()  # an unknown provider's notices cannot be told apart


@pytest.mark.parametrize(
    ("doc", "complaint"),
    [
        ({}, "[[notice]]"),
        ({"notice": [{"id": "x", "subject": "a", "diagnosis": "sender_blocked"}]}, "from_domains"),
        (
            {"notice": [{"id": "x", "from_domains": ["a.b"], "subject": "(", "diagnosis": "ok"}]},
            "notice 'x' subject = '(' is not a valid regular expression",
        ),
        (
            {"notice": [{"id": "x", "from_domains": ["a.b"], "subject": "a", "diagnosis": "nope"}]},
            "notice 'x' diagnosis = 'nope' must be one of",
        ),
    ],
)
def test_a_malformed_rules_file_names_the_rule_and_the_key(
    doc: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(NoticeRulesError, match=r"notices\.toml") as caught:
        parse_notice_rules(doc, "notices.toml")
    assert complaint in str(caught.value)


_VALID_NOTICE = {"id": "x", "from_domains": ["a.b"], "subject": "a", "diagnosis": "sender_blocked"}


def test_a_typo_in_a_notice_key_is_refused_naming_the_file_and_the_key() -> None:
    """``provider =`` for ``providers =`` used to be ignored: the notice then applied to all."""
    typo = {**_VALID_NOTICE, "provider": ["gmail"]}
    with pytest.raises(NoticeRulesError) as caught:
        parse_notice_rules({"notice": [typo]}, "notices.toml")
    message = str(caught.value)
    assert message.startswith("notices.toml: notice 'x' has unknown keys: provider (allowed:")
    assert "providers" in message


def test_a_notice_for_an_unknown_provider_is_refused_naming_the_known_ones() -> None:
    typo = {**_VALID_NOTICE, "providers": ["gmial"]}
    with pytest.raises(NoticeRulesError) as caught:
        parse_notice_rules({"notice": [typo]}, "notices.toml")
    message = str(caught.value)
    assert "notice 'x' providers = ['gmial'] names unknown providers gmial" in message
    assert "gmail, outlook" in message

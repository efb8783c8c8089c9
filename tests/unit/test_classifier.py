"""Reading servers' replies and network failures into a Diagnosis."""

from __future__ import annotations

import csv
import errno
import imaplib
import re
import smtplib
import socket
import ssl
from pathlib import Path
from typing import NamedTuple

import pytest

from watchdog.core.classifier import (
    NetworkFailure,
    ReplyRule,
    describe,
    diagnose_both_unreachable,
    diagnose_canary_reply,
    diagnose_network,
    diagnose_reply,
    find_rule,
    flatten_reply_text,
    load_reply_rules,
    network_failure_of,
    packaged_rules,
    parse_smtp_reply,
)
from watchdog.core.errors import SendError
from watchdog.core.models import Diagnosis, SmtpReply
from watchdog.core.providers import all_providers

FIXTURES = Path(__file__).parents[1] / "fixtures"
SHARED_TABLE = FIXTURES / "replies.tsv"
EXTRA_TABLE = FIXTURES / "replies_extra.tsv"


class Row(NamedTuple):
    provider: str
    code: int
    message: str
    diagnosis: Diagnosis
    source: str
    # What the same reply means about one of our canaries, when that differs (its only recipient
    # is our own seed mailbox); the extra table's optional sixth column.
    canary_diagnosis: Diagnosis | None = None


def read_table(path: Path) -> list[Row]:
    """Rows of a replies table; ``\\n`` in the message column stands for a line break."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            Row(
                provider=r["provider"],
                code=int(r["code"]),
                message=r["message"].replace("\\n", "\n"),
                diagnosis=Diagnosis(r["diagnosis"]),
                source=r["source"],
                canary_diagnosis=Diagnosis(r["canary_diagnosis"])
                if r.get("canary_diagnosis")
                else None,
            )
            for r in reader
        ]


ALL_ROWS = read_table(SHARED_TABLE) + read_table(EXTRA_TABLE)


def _params(rows: list[Row]) -> list[object]:
    return [pytest.param(r, id=f"{r.provider}-{r.code}") for r in rows]


# --- the reply tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("row", _params(ALL_ROWS))
def test_every_known_provider_reply_gets_its_listed_diagnosis(row: Row) -> None:
    reply = parse_smtp_reply(row.code, row.message)
    assert diagnose_reply(reply, row.provider) is row.diagnosis


@pytest.mark.parametrize("row", _params(ALL_ROWS))
def test_every_known_reply_about_a_canary_gets_its_listed_canary_diagnosis(row: Row) -> None:
    reply = parse_smtp_reply(row.code, row.message)
    expected = row.canary_diagnosis or row.diagnosis
    assert diagnose_canary_reply(reply, row.provider) is expected


@pytest.mark.parametrize("row", _params(ALL_ROWS))
def test_the_same_reply_arriving_as_bytes_gets_the_same_diagnosis(row: Row) -> None:
    reply = parse_smtp_reply(row.code, row.message.encode("utf-8"))
    assert reply.text == row.message
    assert diagnose_reply(reply, row.provider) is row.diagnosis


def test_the_extra_table_adds_at_least_fifteen_sourced_replies_from_known_providers() -> None:
    extra = read_table(EXTRA_TABLE)
    assert len(extra) >= 15
    known = {p.name for p in all_providers()}
    for row in read_table(SHARED_TABLE) + extra:
        assert row.provider in known, row
        assert 400 <= row.code <= 599, row
        assert row.source.strip(), row


def test_no_reply_is_listed_twice_for_the_same_provider() -> None:
    keys = [(r.provider, r.code, r.message) for r in ALL_ROWS]
    assert len(set(keys)) == len(keys)


# Replies no table row shows, each pinning one decision the rules make on purpose.
class Decision(NamedTuple):
    provider: str
    code: int
    text: str
    expected: Diagnosis
    why: str


DECISIONS = [
    Decision(
        "gmail",
        534,
        "5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbv>",
        Diagnosis.VERIFICATION_REQUIRED,
        "gmail-5.7.14-cut-short-is-still-a-sign-in-challenge",
    ),
    Decision(
        "other",
        534,
        "5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbv>",
        Diagnosis.UNKNOWN,
        "5.7.14-from-elsewhere-is-not-read-as-gmail",
    ),
    Decision(
        "outlook",
        554,
        "5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; WASCL UserAction verdict is "
        "not None. Actual verdict is RefuseQuota, HipNotify.",
        Diagnosis.VERIFICATION_REQUIRED,
        "hip-check-beats-quota-because-staff-can-do-it-now",
    ),
    Decision(
        "outlook",
        550,
        "5.7.1 Your account has been locked. Sign in at https://account.live.com to unlock it.",
        Diagnosis.VERIFICATION_REQUIRED,
        "a-locked-account-needs-a-sign-in",
    ),
    Decision(
        "yahoo",
        554,
        "5.7.1 Your account has been temporarily blocked from sending due to suspicious activity",
        Diagnosis.SENDER_BLOCKED,
        "suspicious-activity-blocks-the-sender",
    ),
    Decision(
        "other",
        552,
        "Requested mail action aborted: mailbox full",
        Diagnosis.RECIPIENT_MAILBOX_FULL,
        "a-full-receiving-mailbox-is-not-our-sending-limit",
    ),
    Decision(
        "other",
        550,
        "5.2.1 <patient@example.net>: Account suspended",
        Diagnosis.RECIPIENT_UNKNOWN,
        "a-suspended-account-under-5.2.1-is-the-recipients-not-ours",
    ),
    Decision(
        "other",
        550,
        "5.4.4 Unable to route",
        Diagnosis.RECIPIENT_UNKNOWN,
        "no-way-to-the-recipients-domain-is-a-wrong-address",
    ),
    Decision(
        "other",
        550,
        "5.1.1 Bad destination mailbox address",
        Diagnosis.RECIPIENT_UNKNOWN,
        "a-5.1.1-status-in-any-words-is-a-wrong-address",
    ),
    Decision(
        "other",
        450,
        "4.1.1 <patient@example.net>: Recipient address rejected: unverified address: "
        "Address verification in progress",
        Diagnosis.UNKNOWN,
        "a-temporary-4.1.1-without-words-is-not-a-wrong-address",
    ),
    Decision(
        "microsoft365",
        550,
        "5.7.54 SMTP; [SN4PR0501CA0054.namprd05.prod.outlook.com]",
        Diagnosis.RELAY_DENIED,
        "microsofts-relay-codes-decide-when-the-words-are-cut-short",
    ),
    Decision(
        "other",
        554,
        "Message rejected: Email address is not verified. The following identities failed the "
        "check in region US-EAST-1: billing@smileclinic.com",
        Diagnosis.RELAY_DENIED,
        "a-sending-service-refusing-an-unverified-from-address-is-a-setting",
    ),
    Decision(
        "other",
        553,
        "5.1.7 Sender account does not exist",
        Diagnosis.RELAY_DENIED,
        "an-unknown-sender-is-our-from-address-never-the-seed-or-a-patient",
    ),
    Decision(
        "other",
        553,
        "Sender is not allowed to relay emails",
        Diagnosis.RELAY_DENIED,
        "not-allowed-to-relay-in-either-word-order",
    ),
    Decision(
        "other",
        550,
        "Unauthenticated senders not allowed",
        Diagnosis.RELAY_DENIED,
        "sending-without-signing-in-is-relay-denied",
    ),
    Decision(
        "other",
        550,
        "5.7.1 Unauthenticated email from example.com is not accepted due to domain's DMARC "
        "policy.",
        Diagnosis.MESSAGE_REJECTED,
        "a-dmarc-refusal-is-the-messages-authentication-not-ours-to-sign-in",
    ),
    Decision(
        "yahoo",
        554,
        "30 Sorry, your message to patient@yahoo.com cannot be delivered. This mailbox is "
        "disabled (554.30).",
        Diagnosis.RECIPIENT_UNKNOWN,
        "a-disabled-recipient-mailbox-is-a-closed-address",
    ),
    Decision(
        "other",
        554,
        "5.7.1 (delivery not authorized)",
        Diagnosis.UNKNOWN,
        "5.7.1-alone-says-neither-relay-nor-spam",
    ),
    Decision(
        "other",
        421,
        "4.7.0 Too many messages in this session, try again later",
        Diagnosis.RATE_LIMITED,
        "too-many-messages-with-4xx-is-a-slow-down",
    ),
    Decision(
        "other",
        550,
        "5.7.1 Daily sending quota exceeded",
        Diagnosis.SENDING_LIMIT,
        "limit-words-beat-the-generic-5.7.1-refusal",
    ),
    Decision(
        "other",
        454,
        "4.7.0 Temporary authentication failure",
        Diagnosis.UNKNOWN,
        "a-temporary-sign-in-failure-is-not-a-wrong-password",
    ),
    Decision("other", 451, "4.4.2 Connection dropped", Diagnosis.UNKNOWN, "plain-4xx"),
    Decision("other", 554, "Transaction failed", Diagnosis.UNKNOWN, "plain-5xx"),
    Decision("gmail", 250, "2.0.0 OK  1700000000 spam", Diagnosis.OK, "250-is-ok"),
    Decision("other", 354, "Go ahead", Diagnosis.OK, "354-is-ok"),
]


@pytest.mark.parametrize("case", [pytest.param(d, id=d.why) for d in DECISIONS])
def test_replies_outside_the_tables_follow_the_documented_decisions(case: Decision) -> None:
    reply = parse_smtp_reply(case.code, case.text)
    assert diagnose_reply(reply, case.provider) is case.expected


def test_every_shipped_rule_decides_at_least_one_known_reply() -> None:
    cases = [(r.provider, r.code, r.message) for r in ALL_ROWS]
    cases += [(d.provider, d.code, d.text) for d in DECISIONS]
    used = {
        rule.id
        for provider, code, text in cases
        if (rule := find_rule(parse_smtp_reply(code, text), provider))
    }
    assert [r.id for r in packaged_rules() if r.id not in used] == []


def test_a_reply_built_by_hand_without_its_status_is_still_read_by_status() -> None:
    reply = SmtpReply(550, "5.1.8 Access denied, bad outbound sender")
    assert diagnose_reply(reply, "microsoft365") is Diagnosis.SENDER_BLOCKED


def test_the_provider_defaults_to_other() -> None:
    assert diagnose_reply(parse_smtp_reply(535, "5.7.8 Bad credentials")) is Diagnosis.AUTH_REJECTED


# --- parsing a reply ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "enhanced"),
    [
        (534, "5.7.9 Application-specific password required.", "5.7.9"),
        (535, "5.7.139 Authentication unsuccessful", "5.7.139"),
        (421, "4.7.28 [203.0.113.7 15] Our system has detected", "4.7.28"),
        (550, "550-5.7.1 echo of the code first", "5.7.1"),
        (554, "Message not allowed - [PH01]", None),
        (554, "resimta-po-21v.sys.comcast.net 203.0.113.7 found", None),
        (550, "4.7.1 class disagrees with the reply code", None),
        (550, "first line has none\n5.7.1 second line has one", None),
        (550, "5.7.1.2 is not a status code", None),
        (550, "", None),
    ],
)
def test_the_enhanced_status_code_is_taken_from_the_first_line_only_when_it_fits(
    code: int, text: str, enhanced: str | None
) -> None:
    reply = parse_smtp_reply(code, text)
    assert reply.enhanced == enhanced
    assert reply.code == code
    assert reply.text == text


def test_undecodable_bytes_are_replaced_and_the_rest_of_the_reply_is_kept() -> None:
    reply = parse_smtp_reply(550, b"5.7.1 Nachricht abgelehnt \xff\xfe (spam)\nzweite Zeile")
    assert reply.enhanced == "5.7.1"
    assert "\ufffd" in reply.text
    assert reply.text.endswith("(spam)\nzweite Zeile")
    assert diagnose_reply(reply) is Diagnosis.MESSAGE_REJECTED


def test_wrapped_lines_are_flattened_so_a_split_phrase_still_matches() -> None:
    text = "5.4.5 Daily user sending\n5.4.5 limit exceeded. For more\r\n5.4.5  information"
    assert flatten_reply_text(text) == "Daily user sending limit exceeded. For more information"
    assert diagnose_reply(parse_smtp_reply(550, text), "gmail") is Diagnosis.SENDING_LIMIT


# --- the rules file -----------------------------------------------------------------------------


def _rules(body: str) -> tuple[ReplyRule, ...]:
    return load_reply_rules(body, "test.toml")


def test_a_status_prefix_covers_its_sub_codes_but_not_a_longer_sibling() -> None:
    rules = _rules(
        '[[rule]]\nid = "r"\ndiagnosis = "message_rejected"\nwhy = "t"\nenhanced = ["5.7.1"]\n'
    )
    assert diagnose_reply(parse_smtp_reply(550, "5.7.1 no"), rules=rules) is (
        Diagnosis.MESSAGE_REJECTED
    )
    assert diagnose_reply(parse_smtp_reply(550, "5.7.139 no"), rules=rules) is Diagnosis.UNKNOWN
    wide = _rules(
        '[[rule]]\nid = "r"\ndiagnosis = "message_rejected"\nwhy = "t"\nenhanced = ["5.7"]\n'
    )
    assert diagnose_reply(parse_smtp_reply(550, "5.7.139 no"), rules=wide) is (
        Diagnosis.MESSAGE_REJECTED
    )


def test_a_rule_limited_to_providers_ignores_replies_from_others() -> None:
    rules = _rules(
        '[[rule]]\nid = "r"\ndiagnosis = "sending_limit"\nwhy = "t"\n'
        'providers = ["gmail"]\ntext = "slow"\n'
    )
    reply = parse_smtp_reply(550, "5.0.0 slow")
    assert diagnose_reply(reply, "gmail", rules=rules) is Diagnosis.SENDING_LIMIT
    assert diagnose_reply(reply, "yahoo", rules=rules) is Diagnosis.UNKNOWN


def test_the_first_matching_rule_wins() -> None:
    rules = _rules(
        '[[rule]]\nid = "first"\ndiagnosis = "rate_limited"\nwhy = "t"\ntext = "later"\n'
        '[[rule]]\nid = "second"\ndiagnosis = "sender_blocked"\nwhy = "t"\ntext = "later"\n'
    )
    rule = find_rule(parse_smtp_reply(451, "try later"), rules=rules)
    assert rule is not None
    assert rule.id == "first"


def test_rule_text_is_matched_without_regard_to_case() -> None:
    rules = _rules(
        '[[rule]]\nid = "r"\ndiagnosis = "auth_rejected"\nwhy = "t"\ntext = "bad login"\n'
    )
    assert diagnose_reply(parse_smtp_reply(535, "BAD LOGIN"), rules=rules) is (
        Diagnosis.AUTH_REJECTED
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('diagnosis = "nonsense"\ntext = "x"', r"rule 'r' diagnosis = 'nonsense' must be one of"),
        (
            'diagnosis = "unknown"\ntext = "(unclosed"',
            r"rule 'r' text = '\(unclosed' is not a valid regular",
        ),
        (
            'diagnosis = "unknown"\nproviders = ["hotmial"]\ntext = "x"',
            r"unknown providers hotmial",
        ),
        (
            'diagnosis = "unknown"\ncode_class = [3]\ntext = "x"',
            r"code_class = \[3\] must list 4 and/or 5",
        ),
        ('diagnosis = "unknown"\ncodes = [250]', r"codes = \[250\] must be refusal codes"),
        (
            'diagnosis = "unknown"\nenhanced = ["5.7.x"]',
            r"enhanced = \['5.7.x'\] must list status codes",
        ),
        ('diagnosis = "unknown"\nproviders = ["gmail"]', r"needs text, codes or enhanced"),
        (
            'diagnosis = "unknown"\ntext = "x"\ncolour = "red"',
            r"rule 'r' has unknown keys: colour \(allowed: id, diagnosis",
        ),
    ],
    ids=[
        "unknown-diagnosis",
        "bad-regex",
        "unknown-provider",
        "bad-code-class",
        "positive-code",
        "bad-status",
        "matches-everything",
        "unknown-key",
    ],
)
def test_a_broken_rule_is_refused_with_its_id_and_what_is_wrong(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _rules(f'[[rule]]\nid = "r"\nwhy = "t"\n{body}\n')


def test_a_rule_must_say_why_it_exists() -> None:
    with pytest.raises(ValueError, match=r"rule 'r' needs why \(must say what the rule is for\)"):
        _rules('[[rule]]\nid = "r"\ndiagnosis = "unknown"\ntext = "x"\n')


def test_two_rules_with_one_id_are_refused() -> None:
    one = '[[rule]]\nid = "r"\ndiagnosis = "unknown"\nwhy = "t"\ntext = "x"\n'
    with pytest.raises(ValueError, match=r"rule ids used twice: r"):
        _rules(one + one)


def test_a_file_without_rules_is_refused() -> None:
    with pytest.raises(ValueError, match=r"test.toml: no \[\[rule\]\] tables"):
        _rules("[descriptions]\n")


# --- plain words --------------------------------------------------------------------------------

JARGON = re.compile(
    r"\b(SMTP|IMAP|TLS|SSL|OAuth|DNS|MX|WASCL|verdict|code|RFC|protocol)\b|\d\.\d", re.IGNORECASE
)


@pytest.mark.parametrize("diagnosis", list(Diagnosis), ids=str)
def test_every_diagnosis_has_one_plain_sentence_for_the_front_desk(diagnosis: Diagnosis) -> None:
    sentence = describe(diagnosis)
    assert sentence[0].isupper()
    assert sentence.endswith(".")
    assert sentence.count(". ") == 0  # one sentence
    assert not JARGON.search(sentence), sentence


def test_the_sending_limit_is_described_as_the_product_owner_worded_it() -> None:
    assert describe(Diagnosis.SENDING_LIMIT) == (
        "The mail provider has paused sending from this account because its daily sending limit "
        "was reached."
    )


def test_no_two_diagnoses_share_a_description() -> None:
    sentences = [describe(d) for d in Diagnosis]
    assert len(set(sentences)) == len(sentences)


# --- network failures ---------------------------------------------------------------------------


def _chained(outer: BaseException, inner: BaseException, *, cause: bool = True) -> BaseException:
    """``outer`` raised while handling ``inner`` (``from`` it when ``cause``), as code does."""
    try:
        try:
            raise inner
        except BaseException as e:
            if cause:
                raise outer from e
            raise outer  # noqa: B904 - the implicit __context__ is what we test
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), NetworkFailure.DNS),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), "dns"),
        (socket.gaierror(socket.EAI_SERVICE, "Servname not supported"), None),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
        (OSError(errno.ECONNREFUSED, "Connection refused"), "refused"),
        (TimeoutError("timed out"), "timeout"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "timeout"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "no_route"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no_route"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "reset"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), "reset"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "reset"),
        (imaplib.IMAP4.abort("socket error: EOF"), "reset"),
        (EOFError(), "reset"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls_certificate"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "tls"),
        (imaplib.IMAP4.readonly("mailbox status changed to READ-ONLY"), None),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad"), None),
        (OSError(errno.ENOENT, "No such file"), None),
        (ValueError("not network"), None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_each_kind_of_network_failure_is_recognised(
    exc: BaseException, expected: str | None
) -> None:
    assert network_failure_of(exc) == expected


def test_a_failure_wrapped_in_our_own_error_is_found_through_its_cause() -> None:
    wrapped = _chained(SendError("could not connect", network=True), socket.gaierror(-2, "x"))
    assert network_failure_of(wrapped) is NetworkFailure.DNS


def test_a_cut_connection_gives_way_to_the_precise_cause_behind_it() -> None:
    inner = _chained(imaplib.IMAP4.abort("socket error: timed out"), TimeoutError(), cause=False)
    outer = _chained(SendError("mailbox"), inner)
    assert network_failure_of(outer) is NetworkFailure.TIMEOUT


def test_a_cut_connection_alone_is_a_reset() -> None:
    exc = _chained(RuntimeError("wrapper"), smtplib.SMTPServerDisconnected("closed"))
    assert network_failure_of(exc) is NetworkFailure.RESET


def test_a_cycle_in_the_exception_chain_does_not_hang() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert network_failure_of(a) is None


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NetworkFailure.TLS, Diagnosis.TLS_ERROR),
        (NetworkFailure.TLS_CERTIFICATE, Diagnosis.TLS_ERROR),
        (NetworkFailure.DNS, Diagnosis.SERVER_UNREACHABLE),
        (NetworkFailure.REFUSED, Diagnosis.SERVER_UNREACHABLE),
        (NetworkFailure.TIMEOUT, Diagnosis.SERVER_UNREACHABLE),
        (NetworkFailure.NO_ROUTE, Diagnosis.SERVER_UNREACHABLE),
        (NetworkFailure.RESET, Diagnosis.SERVER_UNREACHABLE),
    ],
    ids=str,
)
def test_a_network_failure_is_a_tls_error_or_an_unreachable_server(
    failure: NetworkFailure, expected: Diagnosis
) -> None:
    assert diagnose_network(failure) is expected


F = NetworkFailure


@pytest.mark.parametrize(
    ("smtp", "imap", "probe_failed", "expected"),
    [
        (F.DNS, F.DNS, True, Diagnosis.OFFLINE),
        (F.TIMEOUT, F.NO_ROUTE, True, Diagnosis.OFFLINE),
        (F.NO_ROUTE, F.TIMEOUT, True, Diagnosis.OFFLINE),
        (F.DNS, F.DNS, False, Diagnosis.SERVER_UNREACHABLE),  # the internet works: providers
        (F.TIMEOUT, None, True, Diagnosis.SERVER_UNREACHABLE),  # one side alone is never offline
        (None, F.TIMEOUT, True, Diagnosis.SEED_UNREACHABLE),
        (F.REFUSED, F.DNS, True, Diagnosis.SERVER_UNREACHABLE),  # a server answered
        (F.DNS, F.REFUSED, True, Diagnosis.SERVER_UNREACHABLE),
        (F.TLS, F.DNS, True, Diagnosis.TLS_ERROR),
        (F.DNS, F.TLS_CERTIFICATE, True, Diagnosis.SERVER_UNREACHABLE),
        (F.RESET, F.RESET, True, Diagnosis.SERVER_UNREACHABLE),  # a connection was made
        (None, F.TLS_CERTIFICATE, False, Diagnosis.TLS_ERROR),
        (None, F.REFUSED, False, Diagnosis.SEED_UNREACHABLE),
        (None, None, True, Diagnosis.OK),
    ],
    ids=lambda v: str(v),
)
def test_offline_is_only_said_when_both_servers_and_the_internet_are_silent(
    smtp: NetworkFailure | None,
    imap: NetworkFailure | None,
    probe_failed: bool,
    expected: Diagnosis,
) -> None:
    assert diagnose_both_unreachable(smtp, imap, internet_probe_failed=probe_failed) is expected


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (552, "5.2.2 The email account that you tried to reach is over quota."),
        (452, "4.2.2 The email account that you tried to reach is over quota."),
        (552, "Requested mail action aborted: mailbox full"),
        (552, "5.2.2 <seed@example.test> Quota exceeded (mailbox for user is full)"),
    ],
)
def test_a_full_recipient_mailbox_is_the_seeds_problem_for_a_canary_only(
    code: int, text: str
) -> None:
    reply = parse_smtp_reply(code, text)
    # About a patient's message (watchdog explain): the patient's, and not our sending limit.
    assert diagnose_reply(reply, "gmail") is Diagnosis.RECIPIENT_MAILBOX_FULL
    # About a canary: its only recipient is our own seed mailbox.
    assert diagnose_canary_reply(reply, "gmail") is Diagnosis.SEED_MAILBOX_FULL


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            550,
            "5.1.1 <seed@example.test>: Recipient address rejected: User unknown in virtual "
            "mailbox table",
        ),
        (550, "5.1.1 <seed@example.test> User doesn't exist: seed@example.test"),
        (550, "No such user"),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
    ],
)
def test_an_unknown_seed_address_is_a_setup_problem_for_a_canary_only(code: int, text: str) -> None:
    reply = parse_smtp_reply(code, text)
    assert diagnose_reply(reply, "other") is Diagnosis.RECIPIENT_UNKNOWN
    assert diagnose_canary_reply(reply, "other") is Diagnosis.SEED_ADDRESS_UNKNOWN


def test_insufficient_system_storage_is_the_servers_disk_not_a_full_mailbox() -> None:
    reply = parse_smtp_reply(452, "4.3.1 Insufficient system storage")
    assert diagnose_reply(reply) is Diagnosis.UNKNOWN
    assert diagnose_canary_reply(reply) is Diagnosis.UNKNOWN


def test_a_refused_from_address_is_a_setting_and_never_read_as_a_patients_unknown_address() -> None:
    reply = parse_smtp_reply(
        550, "5.1.0 <billing@smileclinic.com>: Sender address rejected: User unknown"
    )
    assert diagnose_reply(reply) is Diagnosis.RELAY_DENIED
    assert diagnose_canary_reply(reply) is Diagnosis.RELAY_DENIED


def test_general_status_rules_come_after_every_rule_that_reads_words() -> None:
    ids = [rule.id for rule in packaged_rules()]
    general = [i for i, rule in enumerate(packaged_rules()) if rule.pattern is None]
    worded = [i for i, rule in enumerate(packaged_rules()) if rule.pattern is not None]
    # Status-only rules may sit above the word rules only where their status is unambiguous:
    # Gmail's 5.7.14, Microsoft's own codes and X.2.2 (mailbox full, above the quota words).
    early = {ids[i] for i in general if i < max(worded)}
    assert early == {
        "gmail-5.7.14",
        "recipient-mailbox-full",
        "basic-auth-disabled-code",
        "auth-failed-code",
        "relay-denied-code",
        "sender-blocked-code",
        "sender-authentication-code",
    }
    assert ids[-2:] == ["bad-destination-address-code", "unable-to-route-code"]


def test_a_canary_reply_without_a_canary_rule_reads_like_any_reply() -> None:
    reply = parse_smtp_reply(550, "5.4.5 Daily user sending limit exceeded.")
    assert diagnose_canary_reply(reply, "gmail") is Diagnosis.SENDING_LIMIT
    assert diagnose_canary_reply(parse_smtp_reply(250, "OK"), "gmail") is Diagnosis.OK


def test_a_rule_with_a_bad_canary_diagnosis_is_refused_naming_the_rule() -> None:
    text = """
[[rule]]
id = "full"
diagnosis = "unknown"
canary_diagnosis = "mailbox_stuffed"
enhanced = ["5.2.2"]
why = "test"
"""
    with pytest.raises(ValueError, match="rule 'full'"):
        load_reply_rules(text, "rules.toml")

"""Webhook channels against a real local HTTP server: what the server RECEIVED, and what
``send`` reports when the endpoint fails, stalls, redirects or refuses.

Only 127.0.0.1 is contacted. Back-off sleeps go through a fake clock (recorded, not slept);
the network timeouts are real but short (0.3 s), so the whole file runs in a few seconds.
"""

from __future__ import annotations

import email.header
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from tests.servers.http_sink import HttpSink, Reply, unused_loopback_url
from tests.servers.tls import TestCertificates, make_certificates
from tests.support.clock import FakeClock
from watchdog.core.models import Diagnosis, Status
from watchdog.notify import Alert, AlertKind
from watchdog.notify.webhook import WebhookChannel, WebhookKind, attempt_limit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "escalation.md"

# A Slack-like secret address: everything after the host is the credential.
SECRET_PATH = "/services/T0SECRETID/B0SECRETID/xoxSECRETtoken42"
SECRET_PIECES = ("T0SECRETID", "B0SECRETID", "xoxSECRETtoken42", SECRET_PATH)

SINCE = 1_767_000_000.0  # 2025-12-29T09:20:00Z
AT = SINCE + 2 * 3600 + 5 * 60
HOSTILE = (
    "550 5.7.1 <script>alert(1)</script> <!channel> <@U012ABC> "
    "[Reset your password](https://evil.example/login) <https://evil.example|Click here> "
    "**urgent** ```break out``` & more"
)
SHORT_TIMEOUT_S = 0.3


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channel's session trusts the environment (an office proxy); loopback must not."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as server:
        yield server


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        kind=AlertKind.DOWN,
        status=Status.DOWN,
        title="Reminder e-mails are not going out (AT&T)",
        message="AT&T refuses the practice's messages. Sign in to AT&T webmail and check the "
        "account's security page first.",
        office="Smile Dental",
        provider="att",
        provider_name="AT&T",
        diagnosis=Diagnosis.SENDER_BLOCKED,
        summary="The outgoing server refuses mail from this account.",
        since=SINCE,
        at=AT,
        last_reply="550 5.7.1 Message rejected as spam",
        details={"canary": "wd-1234"},
    )
    return replace(alert, **changes)


def make_channel(
    sink: HttpSink,
    kind: WebhookKind = "json",
    *,
    path: str = SECRET_PATH,
    **options: Any,
) -> tuple[WebhookChannel, FakeClock]:
    clock = FakeClock(AT + 60)
    options.setdefault("timeout_s", 2.0)
    channel = WebhookChannel(sink.url_for(path), kind, clock=clock, **options)
    return channel, clock


def documented_json_example() -> dict[str, Any]:
    """The JSON payload example in docs/escalation.md: the contract the payload must meet."""
    section = DOCS.read_text(encoding="utf-8").split("### Generic JSON", 1)[-1]
    match = re.search(r"```json\n(.*?)```", section, re.S)
    assert match, "docs/escalation.md has no JSON example under '### Generic JSON'"
    return cast(dict[str, Any], json.loads(match.group(1)))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``node``, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


# ---------------------------------------------------------------------------------- payloads


def test_json_payload_has_every_documented_field_with_the_right_values(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "json")

    result = channel.send(make_alert())

    assert result.ok, result.detail
    (received,) = sink.requests
    assert received.method == "POST"
    assert received.target == SECRET_PATH
    assert received.header("Content-Type") == "application/json; charset=utf-8"
    assert (received.header("User-Agent") or "").startswith("delivery-watchdog/")
    payload = received.json()
    assert set(payload) == set(documented_json_example())
    assert payload == {
        "version": 1,
        "kind": "down",
        "status": "DOWN",
        "title": "Reminder e-mails are not going out (AT&T)",
        "message": make_alert().message,
        "summary": "The outgoing server refuses mail from this account.",
        "office": "Smile Dental",
        "provider": "att",
        "provider_name": "AT&T",
        "diagnosis": "sender_blocked",
        "since": "2025-12-29T09:20:00.000Z",
        "at": "2025-12-29T11:25:00.000Z",
        "last_reply": "550 5.7.1 Message rejected as spam",
        "details": {"canary": "wd-1234"},
    }


def test_json_payload_uses_null_for_what_is_unknown_and_the_send_time_when_at_is_unset(
    sink: HttpSink,
) -> None:
    channel, clock = make_channel(sink, "json")

    channel.send(make_alert(diagnosis=None, since=None, last_reply=None, at=0.0))

    payload = sink.requests[0].json()
    assert payload["diagnosis"] is None
    assert payload["since"] is None
    assert payload["last_reply"] is None
    assert payload["at"] == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock.t))


def test_json_payload_carries_server_text_as_plain_data(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "json")

    channel.send(make_alert(last_reply=HOSTILE))

    assert sink.requests[0].json()["last_reply"] == HOSTILE


def test_slack_payload_is_full_text_plus_blocks_without_link_previews(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "slack")

    assert channel.send(make_alert()).ok

    payload = sink.requests[0].json()
    assert set(payload) == {"text", "blocks", "unfurl_links", "unfurl_media"}
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    text = payload["text"]
    assert text.startswith("*Reminder e-mails are not going out (AT&amp;T)*\n")
    assert "*Office:* Smile Dental" in text
    assert "*Status:* DOWN since 2025-12-29 09:20 UTC (2 h 5 min)" in text
    assert "```550 5.7.1 Message rejected as spam```" in text
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Reminder e-mails are not going out (AT&T)"},
    }
    assert [block["type"] for block in blocks] == ["header", *["section"] * (len(blocks) - 1)]
    fields = next(block["fields"] for block in blocks if "fields" in block)
    assert {"type": "mrkdwn", "text": "*Provider*\nAT&amp;T"} in fields


def test_slack_escapes_mentions_markup_and_links_in_server_text(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "slack")

    channel.send(make_alert(last_reply=HOSTILE))

    payload = sink.requests[0].json()
    mrkdwn = [payload["text"]] + [
        node["text"] for node in walk(payload["blocks"]) if node.get("type") == "mrkdwn"
    ]
    quoted = [text for text in mrkdwn if "Reset your password" in text]
    assert len(quoted) == 2  # the fallback text and the reply block
    for text in quoted:
        assert "<" not in text and ">" not in text  # no <!channel>, <@U...> or <url|text>
        assert "&lt;!channel&gt;" in text
        assert "&lt;script&gt;" in text
        assert "&lt;https://evil.example|Click here&gt;" in text
        assert "&amp; more" in text
        # The reply sits in one code block it cannot close early (no bold, no links inside).
        assert text.count("```") == 2
        assert "'''break out'''" in text


def test_teams_payload_is_one_adaptive_card_in_a_message(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "teams")

    assert channel.send(make_alert()).ok

    payload = sink.requests[0].json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    runs = [node for node in walk(card["body"]) if node.get("type") == "TextRun"]
    title = runs[0]
    assert title["text"] == "Reminder e-mails are not going out (AT&T)"
    assert (title["weight"], title["color"]) == ("Bolder", "Attention")
    texts = [run["text"] for run in runs]
    assert "Status: " in texts
    assert "DOWN since 2025-12-29 09:20 UTC (2 h 5 min)" in texts
    assert "550 5.7.1 Message rejected as spam" in texts


def test_teams_shows_server_text_only_in_plain_text_runs_never_as_markdown(
    sink: HttpSink,
) -> None:
    channel, _ = make_channel(sink, "teams")

    channel.send(make_alert(last_reply=HOSTILE))

    card = sink.requests[0].json()["attachments"][0]["content"]
    nodes = list(walk(card["body"]))
    # TextBlock and FactSet parse Markdown in Teams; TextRun does not. None of the former.
    assert {node["type"] for node in nodes} <= {"RichTextBlock", "TextRun"}
    carrying = [node for node in nodes if "evil.example" in json.dumps(node)]
    reply_run = {"type": "TextRun", "text": HOSTILE, "fontType": "Monospace"}
    assert reply_run in carrying  # shown exactly as the server said it, as inert text
    assert all(node["type"] in ("TextRun", "RichTextBlock") for node in carrying)


def test_ntfy_posts_the_message_as_body_with_title_urgent_priority_and_tags(
    sink: HttpSink,
) -> None:
    channel, _ = make_channel(sink, "ntfy", path="/office-alerts-k3y")

    assert channel.send(make_alert()).ok

    (received,) = sink.requests
    assert received.target == "/office-alerts-k3y"
    assert received.header("Title") == "Reminder e-mails are not going out (AT&T)"
    assert received.header("Priority") == "urgent"
    assert received.header("Tags") == "rotating_light,down"
    assert received.header("Content-Type") == "text/plain; charset=utf-8"
    assert received.header("Markdown") is None  # the body is shown as typed
    body = received.text()
    assert body.startswith(make_alert().message + "\n")
    assert "Status: DOWN since 2025-12-29 09:20 UTC (2 h 5 min)" in body
    assert body.endswith("Last server reply:\n550 5.7.1 Message rejected as spam")


@pytest.mark.parametrize(
    ("kind", "tag"),
    [
        (AlertKind.RECOVERED, "white_check_mark,recovered"),
        (AlertKind.REMINDER, "hourglass,reminder"),
        (AlertKind.DEGRADED, "warning,degraded"),
        (AlertKind.TEST, "test_tube,test"),
    ],
)
def test_ntfy_priority_is_default_for_anything_but_down(
    sink: HttpSink, kind: AlertKind, tag: str
) -> None:
    channel, _ = make_channel(sink, "ntfy", path="/office-alerts-k3y")

    channel.send(make_alert(kind=kind))

    received = sink.requests[0]
    assert received.header("Priority") == "default"
    assert received.header("Tags") == tag


def test_ntfy_non_ascii_title_arrives_rfc2047_encoded_and_one_line(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "ntfy", path="/office-alerts-k3y")
    title = "Zahnärzte Łódź:\nreminders are not going out — please look"

    assert channel.send(make_alert(title=title)).ok

    raw = sink.requests[0].header("Title") or ""
    assert raw.isascii() and raw.startswith("=?utf-8?b?")
    decoded = str(email.header.make_header(email.header.decode_header(raw)))
    assert decoded == "Zahnärzte Łódź: reminders are not going out — please look"


# ------------------------------------------------------------------------- retries and limits


def test_server_error_then_success_is_ok_after_two_attempts_with_one_backoff_sleep(
    sink: HttpSink,
) -> None:
    sink.script(SECRET_PATH, Reply(500, "boom"), Reply(200, "ok"))
    channel, clock = make_channel(sink, "slack")

    result = channel.send(make_alert())

    assert result.ok, result.detail
    assert result.attempts == 2
    assert clock.sleeps == [2.0]
    assert len(sink.requests) == 2
    assert sink.requests[0].body == sink.requests[1].body  # the same alert, sent again


def test_backoff_doubles_and_gives_up_after_the_configured_attempts(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(503), Reply(502), Reply(500), Reply(200))
    channel, clock = make_channel(sink, retries=3, backoff_s=2)

    result = channel.send(make_alert())

    assert not result.ok
    assert not result.permanent
    assert result.attempts == 3
    assert clock.sleeps == [2.0, 4.0]
    assert len(sink.requests) == 3
    assert "HTTP 500" in result.detail and "3 attempts" in result.detail


def test_own_backoff_is_capped_and_never_ends_the_send_early(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(500), Reply(500), Reply(500), Reply(200))
    channel, clock = make_channel(sink, retries=4, backoff_s=40)

    result = channel.send(make_alert())

    assert result.ok, result.detail
    assert result.attempts == 4
    assert clock.sleeps == [40.0, 60.0, 60.0]


def test_too_many_requests_with_retry_after_3_sleeps_3_seconds(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(429, headers={"Retry-After": "3"}), Reply(200))
    channel, clock = make_channel(sink, "teams")

    result = channel.send(make_alert())

    assert result.ok, result.detail
    assert result.attempts == 2
    assert clock.sleeps == [3.0]


def test_retry_after_longer_than_the_cap_is_not_waited_for(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(429, headers={"Retry-After": "3600"}), Reply(200))
    channel, clock = make_channel(sink)

    result = channel.send(make_alert())

    assert not result.ok
    assert not result.permanent  # the next alert may go through
    assert result.attempts == 1
    assert clock.sleeps == []
    assert "asked to wait 1 h" in result.detail


def test_not_found_is_permanent_after_one_attempt(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(404, "no_service"))
    channel, clock = make_channel(sink, "slack")

    result = channel.send(make_alert())

    assert not result.ok
    assert result.permanent
    assert result.attempts == 1
    assert clock.sleeps == []
    assert len(sink.requests) == 1
    assert 'HTTP 404 Not Found ("no_service")' in result.detail
    assert result.channel == "webhook:slack"


def test_redirect_is_not_followed_and_is_permanent(sink: HttpSink) -> None:
    sink.script(SECRET_PATH, Reply(302, headers={"Location": sink.url_for("/elsewhere/t0k3n")}))
    channel, _ = make_channel(sink)

    result = channel.send(make_alert())

    assert not result.ok and result.permanent and result.attempts == 1
    assert [request.target for request in sink.requests] == [SECRET_PATH]  # no GET follows
    assert f"redirected the alert to {sink.url}" in result.detail
    assert "t0k3n" not in result.detail


def test_hanging_endpoint_fails_within_the_timeout_budget_and_the_loop_goes_on(
    sink: HttpSink,
) -> None:
    sink.script("/hang", Reply(hang=True), Reply(hang=True))
    hanging, clock = make_channel(sink, path="/hang", timeout_s=SHORT_TIMEOUT_S, retries=2)
    budget = 2 * attempt_limit(SHORT_TIMEOUT_S)

    started = time.monotonic()
    result = hanging.send(make_alert())
    elapsed = time.monotonic() - started

    assert not result.ok and not result.permanent
    assert result.attempts == 2
    assert f"no answer from {sink.url} within 0.3 s" in result.detail
    assert clock.sleeps == [2.0]
    assert elapsed < budget + 3.0, f"send took {elapsed:.1f} s; budget about {budget:.1f} s"
    # The loop goes on: the next channel is served at once while both hung handlers still hang.
    healthy, _ = make_channel(sink, path="/ok")
    assert healthy.send(make_alert()).ok
    assert [request.path for request in sink.requests] == ["/hang", "/hang", "/ok"]


def test_trickling_endpoint_cannot_hold_send_past_its_budget(sink: HttpSink) -> None:
    # A byte every 0.1 s never trips a 0.3 s read timeout; only the attempt's hard limit can.
    sink.script("/drip", Reply(200, "ok" * 100, trickle_s=0.1))
    channel, _ = make_channel(sink, path="/drip", timeout_s=SHORT_TIMEOUT_S, retries=1)

    started = time.monotonic()
    result = channel.send(make_alert())
    elapsed = time.monotonic() - started

    assert not result.ok and not result.permanent
    assert f"no complete answer from {sink.url} within 0.3 s" in result.detail
    assert elapsed < attempt_limit(SHORT_TIMEOUT_S) + 3.0


def test_connection_refused_is_a_transient_failure_retried_with_backoff() -> None:
    clock = FakeClock(AT + 60)
    channel = WebhookChannel(unused_loopback_url(SECRET_PATH), "slack", clock=clock, timeout_s=2)

    result = channel.send(make_alert())

    assert not result.ok
    assert not result.permanent
    assert result.attempts == 3
    assert clock.sleeps == [2.0, 4.0]
    assert "connection refused" in result.detail


# --------------------------------------------------------------- off the check's thread (queue)

STALL_TIMEOUT_S = 3.0  # how long the stalled endpoint holds the first alert; far above the test's
#                        own steps, which take milliseconds


def test_a_stalled_webhook_does_not_delay_the_next_check_and_every_attempt_is_recorded(
    sink: HttpSink, tmp_path: Path
) -> None:
    """Two checks run while the first alert hangs on the webhook; nothing waits for it but
    the sender thread, and everything is delivered, in order, once the endpoint gives up."""
    from watchdog.core.models import AlertPolicy, CheckResult, Flip, Outcome, StatusSnapshot
    from watchdog.notify.heartbeat import Heartbeat
    from watchdog.notify.notifier import Notifier
    from watchdog.notify.sender import AlertSender
    from watchdog.storage.history import History

    sink.script("/hook", Reply(hang=True))  # the DOWN alert stalls; the next one is answered
    clock = FakeClock()
    hook = WebhookChannel(sink.url_for("/hook"), clock=clock, timeout_s=STALL_TIMEOUT_S, retries=1)
    notifier = Notifier(
        channels=[hook],
        history=History(tmp_path / "history.sqlite3"),
        policy=AlertPolicy(
            office_days=frozenset(range(7)), office_open_min=0, office_close_min=1440
        ),
        clock=clock,
        provider="att",
        provider_display_name="AT&T",
        heartbeat=Heartbeat(sink.url_for("/ping"), clock=clock),
        sender=AlertSender(),
    )

    def check(outcome: Outcome, status: Status, flip_from: Status) -> None:
        """What the runner does around one check: heartbeat start, listeners, heartbeat end."""
        diagnosis = Diagnosis.OK if status is Status.UP else Diagnosis.SILENT_DROP
        result = CheckResult("t", clock.t, clock.t + 600, outcome, diagnosis, latency_s=1.0)
        snapshot = StatusSnapshot(status, clock.t, "", diagnosis, 2, 0, clock.t - 1800)
        notifier.before_check()
        notifier.on_result(result, snapshot, Flip(flip_from, status, clock.t, "", diagnosis))
        notifier.after_check(result)
        clock.t += 600

    try:
        check(Outcome.LOST, Status.DOWN, Status.UP)
        arrived = sink.wait_for_requests(2)
        assert [r.path for r in arrived] == ["/ping/start", "/hook"]  # the alert hangs there
        check(Outcome.DELIVERED, Status.UP, Status.DOWN)  # the next check runs to its end
        # ... while the first alert is still unanswered: nothing after it was sent yet.
        assert notifier.history.alert_attempts() == []
        assert [r.path for r in sink.requests] == ["/ping/start", "/hook"]
        assert notifier.close(STALL_TIMEOUT_S + 30)
    finally:
        notifier.close(0.0)
    assert [r.path for r in sink.requests] == [
        "/ping/start",
        "/hook",  # down: no answer, given up
        "/ping/fail",
        "/ping/start",
        "/hook",  # recovered
        "/ping",
    ]
    assert [r.json()["kind"] for r in sink.requests_to("/hook")] == ["down", "recovered"]
    recorded = list(reversed(notifier.history.alert_attempts()))
    assert [(a.kind, a.ok) for a in recorded] == [
        (AlertKind.DOWN, False),
        (AlertKind.RECOVERED, True),
    ]
    assert f"no answer from {sink.url} within 3 s" in recorded[0].detail


# ---------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("webhook-tls"))


def test_an_https_endpoint_with_an_untrusted_certificate_gets_nothing_and_no_retry(
    certificates: TestCertificates,
) -> None:
    with HttpSink(tls=certificates.server_context()) as https_sink:
        channel, clock = make_channel(https_sink, "slack")

        result = channel.send(make_alert())

        assert not result.ok
        assert not result.permanent  # an intercepting proxy or captive portal may go away
        assert result.attempts == 1 and clock.sleeps == []
        assert f"the TLS certificate of {https_sink.url} was not accepted" in result.detail
        assert "certificate verify failed: unable to get local issuer certificate" in result.detail
        assert https_sink.requests == []  # not one byte of the alert left unverified


def test_an_https_endpoint_signed_by_a_trusted_ca_receives_the_alert(
    certificates: TestCertificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests takes REQUESTS_CA_BUNDLE over anything else; this machine sets it globally.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca_file))
    with HttpSink(tls=certificates.server_context()) as https_sink:
        channel, _ = make_channel(https_sink, "teams")

        result = channel.send(make_alert())

        assert result.ok, result.detail
        assert https_sink.requests[0].json()["type"] == "message"


# ------------------------------------------------------------------------------------ secrets


@pytest.mark.parametrize("failure", ["404-echo", "500-echo", "hang", "refused", "redirect"])
def test_details_and_logs_never_contain_the_url_path_or_token(
    sink: HttpSink, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line at DEBUG
    echo = f"Cannot POST {SECRET_PATH} (token xoxSECRETtoken42)"
    url = sink.url_for(SECRET_PATH)
    if failure == "404-echo":
        sink.script(SECRET_PATH, Reply(404, echo))
    elif failure == "500-echo":
        sink.script(SECRET_PATH, *[Reply(500, json.dumps({"error": echo}))] * 3)
    elif failure == "hang":
        sink.script(SECRET_PATH, *[Reply(hang=True)] * 3)
    elif failure == "redirect":
        sink.script(SECRET_PATH, Reply(301, headers={"Location": url + "/more"}))
    else:
        url = unused_loopback_url(SECRET_PATH)
    channel = WebhookChannel(url, "slack", clock=FakeClock(AT + 60), timeout_s=SHORT_TIMEOUT_S)

    result = channel.send(make_alert())

    assert not result.ok
    assert "http://127.0.0.1:" in result.detail  # scheme and host are what support needs
    shown = [result.detail, repr(channel), *(record.getMessage() for record in caplog.records)]
    assert any("127.0.0.1" in record.getMessage() for record in caplog.records)
    for text in shown:
        for secret in SECRET_PIECES:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_a_bug_while_building_the_payload_is_reported_not_raised(sink: HttpSink) -> None:
    channel, _ = make_channel(sink, "slack")
    broken = make_alert(title=cast(str, None))

    result = channel.send(broken)

    assert not result.ok
    assert result.detail.startswith("internal error:")
    assert sink.requests == []


# ---------------------------------------------------------------------- construction and sink


def test_channel_name_is_webhook_and_the_custom_name_or_the_kind(sink: HttpSink) -> None:
    assert make_channel(sink, "ntfy")[0].name == "webhook:ntfy"
    assert make_channel(sink, "teams", name="IT support")[0].name == "webhook:IT support"
    assert make_channel(sink, "json", name="  ")[0].name == "webhook:json"


def test_bad_settings_are_refused_without_quoting_the_address() -> None:
    secret = "https://hooks.slack.com/services/T0SECRETID/B0SECRETID/xoxSECRETtoken42"
    with pytest.raises(ValueError, match="kind must be one of json, slack, teams, ntfy") as bad:
        WebhookChannel(secret, "discord")
    assert "xoxSECRET" not in str(bad.value)
    with pytest.raises(ValueError, match="must start with https://") as bad:
        WebhookChannel("ftp://example.test/xoxSECRETtoken42", "json")
    assert "xoxSECRET" not in str(bad.value)
    with pytest.raises(ValueError, match="retries must be at least 1"):
        WebhookChannel(secret, "slack", retries=0)


def test_a_session_with_tls_verification_off_is_refused() -> None:
    session = requests.Session()
    session.verify = False
    with pytest.raises(ValueError, match="must verify TLS certificates"):
        WebhookChannel("https://hooks.slack.com/services/x", "slack", session=session)


def test_sink_stops_promptly_while_a_handler_hangs() -> None:
    sink = HttpSink().start()
    sink.script("/hang", Reply(hang=True))
    errors: list[BaseException] = []

    def client() -> None:
        try:
            requests.post(sink.url_for("/hang"), data=b"x", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    sink.wait_for_requests(1)

    started = time.monotonic()
    sink.stop()
    thread.join(5)

    assert time.monotonic() - started < 3.0
    assert not thread.is_alive()
    assert errors, "the hanging request should end with a connection error once the sink stops"

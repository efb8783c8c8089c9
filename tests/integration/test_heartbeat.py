"""The Healthchecks-style heartbeat against a real local HTTP server: which paths and bodies the
server RECEIVED, one quick retry at most, and no secret in a body, a detail or a log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.http_sink import HttpSink, Reply, unused_loopback_url
from tests.support.clock import FakeClock
from watchdog.notify.heartbeat import MAX_BODY_BYTES, Heartbeat
from watchdog.notify.webhook import attempt_limit

CHECK = "/5f1c9a52-0b7e-4b8e-9d3c-2a61e0c4d7aa"  # the UUID is the check's only secret
UUID = CHECK.strip("/")
START = 1_767_000_000.0


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink(default=Reply(200, "OK")) as server:
        yield server


def make_heartbeat(
    sink: HttpSink, *, timeout_s: float = 2.0, url: str | None = None
) -> tuple[Heartbeat, FakeClock]:
    clock = FakeClock(START)
    return Heartbeat(url or sink.url_for(CHECK), timeout_s=timeout_s, clock=clock), clock


def test_start_posts_to_the_start_path_with_an_empty_body(sink: HttpSink) -> None:
    heartbeat, _ = make_heartbeat(sink)

    result = heartbeat.start()

    assert result.ok, result.detail
    assert (result.channel, result.attempts) == ("heartbeat", 1)
    (received,) = sink.requests
    assert (received.method, received.target, received.body) == ("POST", f"{CHECK}/start", b"")


def test_success_posts_to_the_check_itself_with_the_note_as_body(sink: HttpSink) -> None:
    heartbeat, _ = make_heartbeat(sink)

    assert heartbeat.success("UP: canary arrived in 4.2 s").ok

    (received,) = sink.requests
    assert (received.method, received.target) == ("POST", CHECK)
    assert received.text() == "UP: canary arrived in 4.2 s"
    assert received.header("Content-Type") == "text/plain; charset=utf-8"


def test_fail_posts_to_the_fail_path_with_the_diagnosis_as_body(sink: HttpSink) -> None:
    heartbeat, _ = make_heartbeat(sink)
    diagnosis = "DOWN since 09:20 UTC: sender_blocked\n550 5.7.1 Message rejected as spam"

    assert heartbeat.fail(diagnosis).ok

    (received,) = sink.requests
    assert (received.method, received.target) == ("POST", f"{CHECK}/fail")
    assert received.text() == diagnosis


def test_a_trailing_slash_in_the_configured_url_does_not_double_the_slash(sink: HttpSink) -> None:
    heartbeat, _ = make_heartbeat(sink, url=sink.url_for(CHECK) + "/")

    heartbeat.start()
    heartbeat.success()

    assert [request.target for request in sink.requests] == [f"{CHECK}/start", CHECK]


def test_the_body_never_carries_credentials_the_check_address_or_control_characters(
    sink: HttpSink,
) -> None:
    heartbeat, _ = make_heartbeat(sink)
    text = (
        "proxy https://office:hunter2@proxy.example/ refused;\x1b[31m ping "
        f"{sink.url_for(CHECK)} by hand\x00"
    )

    heartbeat.fail(text)

    body = sink.requests[0].text()
    assert "hunter2" not in body and "office:" not in body
    assert UUID not in body
    assert "\x1b" not in body and "\x00" not in body
    assert body.startswith("proxy https://proxy.example/ refused;")


def test_a_long_diagnosis_is_cut_to_the_body_limit(sink: HttpSink) -> None:
    heartbeat, _ = make_heartbeat(sink)

    heartbeat.fail("é" * MAX_BODY_BYTES)

    body = sink.requests[0].body
    assert len(body) <= MAX_BODY_BYTES
    assert body.decode("utf-8").endswith("é...")


def test_a_server_error_gets_one_quick_retry(sink: HttpSink) -> None:
    sink.script(CHECK, Reply(502), Reply(200, "OK"))
    heartbeat, clock = make_heartbeat(sink)

    result = heartbeat.success("ok")

    assert result.ok, result.detail
    assert result.attempts == 2
    assert clock.sleeps == [1.0]
    assert len(sink.requests) == 2


def test_one_retry_at_most(sink: HttpSink) -> None:
    sink.script(f"{CHECK}/fail", Reply(500), Reply(503), Reply(200))
    heartbeat, clock = make_heartbeat(sink)

    result = heartbeat.fail("DOWN")

    assert not result.ok and not result.permanent
    assert result.attempts == 2
    assert len(sink.requests) == 2
    assert clock.sleeps == [1.0]


def test_not_found_is_permanent_and_not_retried(sink: HttpSink) -> None:
    sink.script(f"{CHECK}/start", Reply(404, "not found"))
    heartbeat, clock = make_heartbeat(sink)

    result = heartbeat.start()

    assert not result.ok and result.permanent
    assert result.attempts == 1
    assert clock.sleeps == []
    assert result.detail.startswith(f"{sink.url} refused the start ping: HTTP 404 Not Found")


def test_a_hanging_server_fails_within_two_short_attempts(sink: HttpSink) -> None:
    sink.script(CHECK, Reply(hang=True), Reply(hang=True))
    heartbeat, _ = make_heartbeat(sink, timeout_s=0.3)

    started = time.monotonic()
    result = heartbeat.success()
    elapsed = time.monotonic() - started

    assert not result.ok and not result.permanent
    assert result.attempts == 2
    assert elapsed < 2 * attempt_limit(0.3) + 3.0
    assert heartbeat.start().ok  # the next ping goes through while both handlers still hang


def test_connection_refused_is_transient_and_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(START)
    heartbeat = Heartbeat(unused_loopback_url(CHECK), timeout_s=2, clock=clock)

    result = heartbeat.fail("DOWN")

    assert not result.ok and not result.permanent
    assert result.attempts == 2
    assert "connection refused" in result.detail
    for text in [result.detail, repr(heartbeat), *(r.getMessage() for r in caplog.records)]:
        assert UUID not in text, text


def test_a_night_of_checks_let_pass_still_reaches_the_monitoring_service(
    sink: HttpSink, tmp_path: Path
) -> None:
    """The real loop at night (2-hour checks) and the real notifier: a ping every 30 minutes."""
    from tests.unit.test_loop import Office
    from watchdog.core.models import AlertPolicy
    from watchdog.notify.notifier import Notifier
    from watchdog.storage.history import History

    office = Office("20:00", watched=False)
    heartbeat, _ = make_heartbeat(sink)
    with History(tmp_path / "history.sqlite3") as history:
        notifier = Notifier(
            channels=[],
            history=history,
            policy=AlertPolicy(),
            clock=office.clock,
            provider="other",
            provider_display_name="Other",
            heartbeat=heartbeat,
        )
        office.loop.on_check_let_pass = notifier.check_let_pass
        assert office.canaries_until("23:59") == ["20:00", "22:00"]
        notifier.sender.close()
    # Six slots let pass; the history has no check yet (UNKNOWN), so each says /fail, never
    # a success nobody earned, with why.
    assert [r.target for r in sink.requests] == [f"{CHECK}/fail"] * 6
    assert all(b"no check now" in r.body for r in sink.requests)

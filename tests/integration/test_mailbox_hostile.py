"""The seed mailbox against hostile IMAP servers: every step is bounded in time and memory.

The servers (tests/servers/hostile_imap.py) would trickle or flood for a minute; the mailbox must
give up after its own budget, in plain words, without reading a 300 MB literal into memory.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest

from tests.servers.hostile_imap import HostileImap
from watchdog.config import SeedConfig
from watchdog.core.clock import SystemClock
from watchdog.core.errors import MailboxError
from watchdog.core.models import Diagnosis, Security
from watchdog.mail.mailbox import SeedMailbox
from watchdog.signin.credentials import password_signin

TOKEN = "v1.1764300000.6f1c2a9e0b7d.5a0d0123456789abcdef0123"
#: Generous: the budgets under test are one or two seconds, the servers would go on for 60 s.
BOUND_S = 20.0


def plain_seed(port: int, host: str = "127.0.0.1") -> SeedConfig:
    return SeedConfig(
        address="seed@example.test",
        imap_host=host,
        imap_port=port,
        security=Security.NONE,
        username="seed",
    )


def mailbox_for(
    server: HostileImap,
    *,
    timeout: float = 1.5,
    should_stop: Callable[[], bool] | None = None,
) -> SeedMailbox:
    signin = password_signin("seed", "seed", lambda role, user: "seed-pass")
    seed, clock = plain_seed(server.port), SystemClock()
    if should_stop is None:  # the mailbox's own default: never asked to stop
        return SeedMailbox(seed, signin, clock, timeout=timeout)
    return SeedMailbox(seed, signin, clock, timeout=timeout, should_stop=should_stop)


def assert_seed_unreachable(error: MailboxError, words: str) -> None:
    assert error.network
    assert error.diagnosis is Diagnosis.SEED_UNREACHABLE
    assert "127.0.0.1" in str(error)
    assert words in str(error)


def test_a_trickled_search_reply_is_cut_at_the_overall_limit() -> None:
    with HostileImap("trickle_search") as server, mailbox_for(server) as mailbox:
        started = time.monotonic()
        with pytest.raises(MailboxError) as caught:
            mailbox.search([TOKEN])
        elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert_seed_unreachable(caught.value, "answered too slowly")
    assert "test mailbox server 127.0.0.1" in str(caught.value)


def test_waiting_for_a_canary_on_a_trickling_server_ends_soon_after_the_deadline() -> None:
    with HostileImap("trickle_search") as server, mailbox_for(server, timeout=1.0) as mailbox:
        started = time.monotonic()
        with pytest.raises(MailboxError) as caught:
            mailbox.wait_for(TOKEN, time.monotonic() + 1.0)
        elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert_seed_unreachable(caught.value, "answered too slowly")


def test_a_trickled_greeting_is_cut_at_the_overall_limit() -> None:
    with HostileImap("trickle_greeting") as server:
        mailbox = mailbox_for(server)
        started = time.monotonic()
        with pytest.raises(MailboxError) as caught:
            mailbox.open()
        elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert_seed_unreachable(caught.value, "answered too slowly")


@pytest.mark.parametrize("pace", ["flood", "trickle"])
def test_a_300_mb_literal_is_refused_before_it_is_read(pace: str) -> None:
    with HostileImap("huge_literal", pace=pace) as server, mailbox_for(server) as mailbox:
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(MailboxError) as caught:
                mailbox.search([TOKEN])
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert elapsed < BOUND_S
    assert peak < 32 * 1024 * 1024, f"{peak / 1e6:.0f} MB peak"
    assert server.bytes_sent < 100_000_000  # the server was cut off long before 300 MB
    assert_seed_unreachable(caught.value, "sent far more than expected")
    assert "[seed] imap_host and imap_port" in str(caught.value)


def test_a_slowly_trickled_literal_is_cut_at_the_overall_limit() -> None:
    with HostileImap("slow_literal") as server, mailbox_for(server) as mailbox:
        started = time.monotonic()
        with pytest.raises(MailboxError) as caught:
            mailbox.search([TOKEN])
        elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert_seed_unreachable(caught.value, "answered too slowly")


def test_an_endless_flood_of_lines_is_cut_with_bounded_memory() -> None:
    with HostileImap("flood_search") as server, mailbox_for(server, timeout=10) as mailbox:
        tracemalloc.start()
        try:
            with pytest.raises(MailboxError) as caught:
                mailbox.search([TOKEN])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB peak"
    assert server.bytes_sent < 100_000_000
    assert_seed_unreachable(caught.value, "sent far more than expected")


def test_a_stop_request_cuts_a_blocked_read_while_waiting() -> None:
    stop = threading.Event()
    # A per-read timeout and a deadline far away: only the stop request can end this wait.
    with HostileImap("silent_search") as server, mailbox_for(server, timeout=60) as mailbox:
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        try:
            started = time.monotonic()
            found = mailbox.wait_for(TOKEN, time.monotonic() + 600, should_stop=stop.is_set)
            elapsed = time.monotonic() - started
        finally:
            timer.cancel()
    assert found is None
    assert elapsed < BOUND_S


def test_plain_text_to_an_address_outside_the_office_is_refused_before_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loopback stands in for a public address: the rule is asked about the address reached.
    asked: list[str] = []

    def outside(ip: str) -> bool:
        asked.append(ip)
        return False

    monkeypatch.setattr("watchdog.mail.mailbox.is_office_address", outside)
    with HostileImap("trickle_search") as server:
        mailbox = mailbox_for(server)
        with pytest.raises(MailboxError) as caught:
            mailbox.open()
        commands = list(server.commands)
    assert asked == ["127.0.0.1"]
    assert "LOGIN" not in commands
    error = caught.value
    assert error.diagnosis is Diagnosis.WRONG_SERVER_SETTINGS
    assert "server 127.0.0.1 was reached at 127.0.0.1" in str(error)
    assert '[seed] security = "none"' in str(error)
    assert "office network only" in str(error)


def test_a_flood_while_idling_is_cut_with_bounded_memory() -> None:
    with HostileImap("flood_idle") as server, mailbox_for(server, timeout=10) as mailbox:
        assert mailbox.has_idle
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(MailboxError) as caught:
                mailbox.wait_for(TOKEN, time.monotonic() + 600)
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert elapsed < BOUND_S * 3  # the flood is cut by size, long before the deadline
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB peak"
    assert_seed_unreachable(caught.value, "sent far more than expected")


def test_a_trickled_end_of_idle_is_cut_at_the_overall_limit() -> None:
    with HostileImap("trickle_idle") as server, mailbox_for(server) as mailbox:
        assert mailbox.has_idle
        started = time.monotonic()
        with pytest.raises(MailboxError) as caught:
            mailbox.wait_for(TOKEN, time.monotonic() + 600)
        elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert_seed_unreachable(caught.value, "answered too slowly")

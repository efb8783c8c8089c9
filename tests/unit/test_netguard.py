"""netguard: one conversation's overall time, byte budget and stop request; the office rule."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from watchdog.core.inputs import is_office_address
from watchdog.mail.netguard import Guard, OverLimitError

#: Generous: the guard looks every 0.1 s; a loaded CI machine still answers well inside this.
BOUND_S = 5.0


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair of sockets; nothing is ever written to the first one's peer."""
    ours, theirs = socket.socketpair()
    ours.settimeout(30)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


def _blocked_read(sock: socket.socket) -> tuple[bytes | OSError, float]:
    started = time.monotonic()
    try:
        data: bytes | OSError = sock.recv(1024)
    except OSError as e:
        data = e
    return data, time.monotonic() - started


def test_a_stop_request_cuts_a_blocked_read_and_counts_as_cancelled(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with Guard(60, should_stop=stop.is_set) as guard:
        guard.watch(ours)
        data, elapsed = _blocked_read(ours)
    assert data == b"" or isinstance(data, OSError)
    assert elapsed < BOUND_S
    assert guard.cancelled and not guard.expired and not guard.over_size


def test_the_overall_time_cuts_a_blocked_read_and_counts_as_expired(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    with Guard(0.5) as guard:
        guard.watch(ours)
        _, elapsed = _blocked_read(ours)
    assert elapsed < BOUND_S
    assert guard.expired and not guard.cancelled and not guard.over_size


def test_a_socket_watched_after_the_guard_tripped_is_cut_at_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    with Guard(0.0) as guard:
        deadline = time.monotonic() + BOUND_S
        while not guard.tripped and time.monotonic() < deadline:
            time.sleep(0.02)
        guard.watch(ours)
        data, elapsed = _blocked_read(ours)
    assert guard.expired
    assert data == b"" or isinstance(data, OSError)
    assert elapsed < BOUND_S


def test_reading_past_the_byte_budget_is_refused_as_over_size() -> None:
    guard = Guard(60, max_bytes=100)
    reader = guard.reader(io.BytesIO(b"250-xxxxxxxxxx\r\n" * 20))
    with pytest.raises(OverLimitError, match="more than 0 KiB"):
        for _ in range(20):
            reader.readline()
    assert guard.over_size and not guard.expired and not guard.cancelled
    assert guard.bytes_read <= 100 + 16  # the budget, plus at most the one line that broke it


def test_an_announced_literal_larger_than_the_budget_is_refused_before_it_is_read() -> None:
    source = io.BytesIO(b"x" * 1000)
    guard = Guard(60, max_bytes=100)
    with pytest.raises(OverLimitError, match="announced 500 bytes"):
        guard.reader(source).read(500)
    assert source.tell() == 0 and guard.over_size


def test_a_protocol_limit_is_refused_as_over_size_with_its_words() -> None:
    guard = Guard(60)
    with pytest.raises(OverLimitError, match="the server sent a reply of 101 lines"):
        guard.refuse("a reply of 101 lines")
    assert guard.over_size


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.10",
        "169.254.10.1",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:192.168.0.5",
        "fd12:3456::1",
        "fe80::1%eth0",
    ],
)
def test_loopback_private_and_link_local_addresses_are_the_office(address: str) -> None:
    assert is_office_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "172.32.0.1",
        "100.64.0.1",  # carrier-grade NAT: the provider's network, not the office
        "203.0.113.7",  # documentation ranges count as "private" in ipaddress; not here
        "198.18.0.1",
        "240.0.0.1",
        "2001:db8::1",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "2130706433",  # a spelling, not an address: judge the address reached instead
        "mail.example.test",
        "",
    ],
)
def test_every_other_address_is_outside_the_office(address: str) -> None:
    assert not is_office_address(address)


# -- the name lookup: getaddrinfo has no timeout, and no socket a guard could cut -------------


@pytest.fixture
def hung_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A resolver that never answers (a dead office router) until the test ends."""
    release = threading.Event()

    def hang(*args: object, **kwargs: object) -> list[object]:
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        yield release
    finally:
        release.set()


def test_a_hung_name_lookup_ends_at_the_overall_time_as_a_dns_failure(
    hung_dns: threading.Event,
) -> None:
    from watchdog.core.classifier import NetworkFailure, network_failure_of
    from watchdog.mail.netguard import ResolveTimeoutError

    started = time.monotonic()
    with Guard(0.5) as guard, pytest.raises(ResolveTimeoutError) as raised:
        guard.connect(("smtp.example.com", 587), timeout=30)
    assert time.monotonic() - started < BOUND_S
    assert not guard.cancelled
    assert network_failure_of(raised.value) is NetworkFailure.DNS  # not the provider's doing
    assert "no DNS answer for smtp.example.com" in str(raised.value)


def test_a_stop_request_ends_a_hung_name_lookup(hung_dns: threading.Event) -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with Guard(60, should_stop=stop.is_set) as guard, pytest.raises(OSError):
        guard.connect(("smtp.example.com", 587), timeout=30)
    assert time.monotonic() - started < BOUND_S
    assert guard.cancelled and not guard.expired


def test_a_name_that_resolves_is_connected_as_before() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, Guard(5) as guard:
        port = server.getsockname()[1]
        sock = guard.connect(("localhost", port), timeout=5)
        try:
            assert sock.getpeername()[1] == port
        finally:
            sock.close()

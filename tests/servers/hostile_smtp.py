"""Hostile "mail servers" on 127.0.0.1: what a wrong port, a broken server or a meddling box does.

Each :class:`HostileServer` is a small threaded TCP listener whose *behaviour* plays one
misbehaving server per connection: it trickles, chatters, greets as something else, or says
nothing at all. Every loop is bounded (a stop event, a byte or time cap), and :meth:`stop`
closes the listener and every connection, so a test that ends (passed or failed) leaves nothing
running. :func:`stripping_submission_server` is the product's real SMTP server
(:mod:`watchdog.demo.fault_smtp`) without STARTTLS, as an antivirus "mail shield" or an inspecting
firewall leaves a server's answer.

Also here: :func:`full_backlog_port`, a port whose listen queue is full, so a TCP connect to it
hangs (SYNs are dropped), the loopback stand-in for a far server that does not answer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.config import SenderConfig
from watchdog.core.models import Security
from watchdog.demo.fault_smtp import FaultSmtpServer, Submission

HOST = "127.0.0.1"

#: No behaviour runs longer than this, whatever the test does (a safety net, not a timing).
MAX_LIFETIME_S = 120.0

#: What Dovecot says on its IMAP port: the greeting a wrong ``smtp_port = 143`` gets.
IMAP_GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
    b"AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
)


@dataclass
class Connection:
    """One accepted connection, handed to a behaviour."""

    sock: socket.socket
    stop: threading.Event
    started: float = field(default_factory=time.monotonic)
    sent: int = 0  # bytes written to the client

    @property
    def over(self) -> bool:
        """True when the behaviour must end: the server stops or its lifetime is up."""
        return self.stop.is_set() or time.monotonic() - self.started > MAX_LIFETIME_S

    def send(self, data: bytes) -> bool:
        """Write ``data``; False once the client is gone (the behaviour then ends)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def read_line(self, limit: int = 4096) -> bytes:
        """Read one command line (or whatever came), b"" when the client is gone or time is up."""
        data = b""
        while not self.over and b"\n" not in data and len(data) < limit:
            try:
                chunk = self.sock.recv(limit - len(data))
            except TimeoutError:
                continue
            except OSError:
                return b""
            if not chunk:
                return data
            data += chunk
        return data

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped; False when the behaviour must end."""
        self.stop.wait(seconds)
        return not self.over


Behaviour = Callable[[Connection], None]


class HostileServer:
    """A TCP listener on 127.0.0.1 running ``behaviour`` for every connection, each in a thread."""

    def __init__(self, behaviour: Behaviour, port: int = 0) -> None:
        """``port`` 0 picks a free one; a fixed one (465, say) raises OSError if it is taken."""
        self.behaviour = behaviour
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((HOST, port))
        except OSError:
            self._listener.close()
            raise
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def connections(self) -> list[Connection]:
        """Every connection accepted so far."""
        with self._lock:
            return list(self._connections)

    @property
    def bytes_sent(self) -> int:
        """Bytes written to clients, over all connections."""
        return sum(c.sent for c in self.connections)

    def stop(self) -> None:
        """Stop accepting, end every behaviour and close every connection (bounded joins)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.sock.close()
        for thread in [self._acceptor, *self._threads]:
            if thread.is_alive():
                thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(0.2)
            connection = Connection(sock, self._stop)
            thread = threading.Thread(
                target=self._serve, args=(connection,), name="hostile-conn", daemon=True
            )
            with self._lock:
                self._connections.append(connection)
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: Connection) -> None:
        try:
            self.behaviour(connection)
        finally:
            with contextlib.suppress(OSError):
                connection.sock.close()


# -- behaviours ------------------------------------------------------------------------------


def silent(connection: Connection) -> None:
    """Accept and never greet (a stuck server, or TLS-only port 465 to a plain client)."""
    while connection.wait(0.1):
        pass


def trickle(interval: float = 0.2, greeting: bytes = b"220 ") -> Behaviour:
    """Greet one byte every ``interval`` seconds, forever: never a whole line, never silent."""

    def behave(connection: Connection) -> None:
        index = 0
        while connection.wait(interval if index else 0):
            byte = greeting[index : index + 1] or b"x"
            if not connection.send(byte):
                return
            index += 1

    return behave


def endless_continuation(
    stage: str = "ehlo", line: bytes = b"250-" + b"A" * 72 + b"\r\n"
) -> Behaviour:
    """A proper greeting, then (at the greeting or after EHLO) ``250-`` lines without end."""

    def behave(connection: Connection) -> None:
        if stage == "greeting":
            batch = (b"220-" + line[4:]) * 64
        else:
            if not connection.send(b"220 hostile.test ESMTP\r\n"):
                return
            if not connection.read_line():
                return
            batch = line * 64
        while not connection.over:
            if not connection.send(batch):
                return

    return behave


def huge_line(size: int = 1024 * 1024) -> Behaviour:
    """A greeting line of ``size`` bytes (a reply code, then no end)."""

    def behave(connection: Connection) -> None:
        chunk = b"A" * 65536
        if not connection.send(b"220 "):
            return
        while connection.sent < size and not connection.over:
            if not connection.send(chunk):
                return
        connection.send(b"\r\n")
        silent(connection)

    return behave


def greets_with(greeting: bytes) -> Behaviour:
    """Say ``greeting`` and answer every line with ``answer`` (an IMAP, HTTP or garbage port)."""

    def behave(connection: Connection) -> None:
        if not connection.send(greeting):
            return
        while not connection.over:
            line = connection.read_line()
            if not line:
                return
            if not connection.send(b"* BAD Error in IMAP command received by server.\r\n"):
                return

    return behave


@contextlib.contextmanager
def hostile_server(behaviour: Behaviour, port: int = 0) -> Iterator[HostileServer]:
    """Run ``behaviour`` on a fresh port (or ``port``) for the ``with`` block."""
    with HostileServer(behaviour, port) as server:
        yield server


@contextlib.contextmanager
def full_backlog_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: a new TCP connect to it hangs.

    Linux drops the SYN of a connection the queue has no room for, so the client retries and
    waits, as it would for a far server behind a firewall that drops packets.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((HOST, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):  # enough to fill a backlog of 0 (Linux keeps 1)
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect((HOST, port))
        time.sleep(0.05)  # let the kernel settle the fillers (not an assertion)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# -- a real SMTP server that strips STARTTLS -----------------------------------------------


class _Nowhere:
    """A mailbox that keeps nothing: the stripped server's mail only has to be counted."""

    def deliver(self, submission: Submission, folder: str | None) -> None:
        """Throw ``submission`` away."""


@dataclass
class SmtpSpy:
    """What reached the stripped server: AUTH attempts (their user names) and messages."""

    server: FaultSmtpServer

    @property
    def port(self) -> int:
        return self.server.plain_port

    @property
    def messages(self) -> int:
        return len(self.server.received)

    @property
    def auth_attempts(self) -> list[str]:
        return [attempt.login for attempt in self.server.auth_attempts]


@contextlib.contextmanager
def stripping_submission_server(users: dict[str, str]) -> Iterator[SmtpSpy]:
    """The product's SMTP server on 127.0.0.1 without STARTTLS but with AUTH in plain text.

    What the client sees when security software or an inspecting firewall removes STARTTLS
    from a real server's EHLO answer. Every AUTH attempt is recorded, so a test can prove that
    no password was sent.
    """
    with FaultSmtpServer(_Nowhere(), users=users, hostname=HOST) as server:
        yield SmtpSpy(server)


def sender_for(
    port: int,
    security: str = "none",
    *,
    host: str = HOST,
    username: str = "",
    ca_file: Path | None = None,
) -> SenderConfig:
    """The ``[sender]`` settings a probe needs to talk to a test server on ``port``."""
    return SenderConfig(
        address="sender@example.test",
        smtp_host=host,
        smtp_port=port,
        security=Security(security),
        username=username,
        ca_file=ca_file,
    )

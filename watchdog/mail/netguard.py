"""Overall limits for one conversation with a mail server: time, bytes, and a stop request.

A socket timeout bounds each read, not a conversation: a server that trickles one byte every few
seconds, answers with endless ``250-`` continuation lines or announces a 300 MB IMAP literal keeps
smtplib or imaplib reading (and buffering) for as long as it likes. A :class:`Guard` watches the
sockets of one conversation from a small thread and shuts them down when the overall time is up or
a stop is requested (Ctrl-C, SIGTERM, Quit in the tray); every blocked read, connect included,
then fails at once in the thread that owns the connection, as the ordinary ``OSError`` its caller
already handles. The caller asks the guard afterwards *why* (:attr:`Guard.expired`,
:attr:`Guard.cancelled`, :attr:`Guard.over_size`) to put the failure into plain words.

:class:`CappedReader` wraps the file object a protocol library reads replies from and counts the
bytes, so memory stays bounded whatever the server sends.

The "inside the office network" rule for the address a connection reached is
:func:`watchdog.core.inputs.is_office_address` (pure, beside the other input rules).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, BinaryIO, NoReturn

#: What one conversation may read from a server before it is cut off. A canary round trip reads
#: a few kilobytes; a bounce is fetched whole and may be up to 512 KiB.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024

#: How often the guard looks at the clock and the stop request.
_POLL_S = 0.1


class OverLimitError(OSError):
    """The server sent more than the conversation may read (``Guard.max_bytes``)."""


class ResolveTimeoutError(socket.gaierror, TimeoutError):
    """No DNS answer in time. A ``gaierror`` with ``EAI_AGAIN`` ("temporary failure in name
    resolution"), so it is classified as the DNS failure it is, and a ``TimeoutError``."""


#: One getaddrinfo answer: family, type, proto, canonical name, address.
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def resolve(
    host: str, port: int, timeout: float, *, should_stop: Callable[[], bool] | None = None
) -> list[AddrInfo]:
    """``getaddrinfo`` (TCP) within ``timeout`` seconds, or until ``should_stop`` says so.

    getaddrinfo has no timeout of its own, and a guard cannot cut it (there is no socket yet):
    a broken DNS server or a dead office router holds it for 20 s or more per attempt (the
    resolver's own retries), on Windows too. So the lookup runs in a daemon thread and the
    caller stops waiting; a hung lookup finishes on its own later and keeps no process alive.
    """
    answers: list[AddrInfo] = []
    errors: list[OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            answers.extend(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as e:
            errors.append(e)
        finally:
            done.set()

    threading.Thread(target=lookup, name="watchdog-dns", daemon=True).start()
    end = time.monotonic() + max(0.0, timeout)
    stop = should_stop or _never
    while not done.wait(min(_POLL_S, max(0.0, end - time.monotonic()))):
        if stop() or time.monotonic() >= end:
            raise ResolveTimeoutError(
                socket.EAI_AGAIN, f"no DNS answer for {host} within {timeout:g} s"
            )
    if errors:
        raise errors[0]
    return answers


def _never() -> bool:
    return False


class Guard:
    """An overall deadline, a byte budget and a stop request for the sockets of one conversation.

    Use as a context manager around the whole conversation; :meth:`connect` opens a guarded TCP
    connection (so even a slow connect can be cut), :meth:`watch` guards a socket made elsewhere
    (a TLS-wrapped one, say), :meth:`reader` caps what is read.
    """

    def __init__(
        self,
        seconds: float,
        *,
        should_stop: Callable[[], bool] = _never,
        max_bytes: int = DEFAULT_MAX_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.should_stop = should_stop
        self.max_bytes = max_bytes
        self._monotonic = monotonic
        self._deadline = monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.expired = False
        self.cancelled = False
        self.over_size = False
        self.bytes_read = 0

    # -- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> Guard:
        self._thread = threading.Thread(target=self._watch, name="netguard", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def remaining(self) -> float:
        """Seconds left of the overall time (never below zero)."""
        return max(0.0, self._deadline - self._monotonic())

    @property
    def tripped(self) -> bool:
        """True once the guard has cut the conversation, for whatever reason."""
        return self.expired or self.cancelled or self.over_size

    def _watch(self) -> None:
        while not self._done.wait(_POLL_S):
            if self.should_stop():
                self.cancelled = True
            elif self._monotonic() >= self._deadline:
                self.expired = True
            else:
                continue
            self._cut()
            return

    def _cut(self) -> None:
        """Shut every watched socket down; blocked reads and connects fail at once."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # Not connected yet, or already closed: nothing to cut.
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for a TLS socket: SSLSocket.shutdown would
                # also drop its TLS state under the feet of the thread that is reading.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    # -- sockets ----------------------------------------------------------------------------

    def watch(self, sock: socket.socket) -> socket.socket:
        """Guard ``sock`` too (returned, for chaining); cut at once if the guard already tripped."""
        with self._lock:
            self._sockets.append(sock)
        if self.tripped:
            self._cut()
        return sock

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """``socket.create_connection``, but the connect itself can be cut by the guard.

        Tries each address the name resolves to, like the standard library, within the
        overall time; the name lookup too (:func:`resolve`).
        """
        host, port = address
        error: OSError | None = None
        answers = resolve(host, port, self.remaining(), should_stop=lambda: self.tripped)
        for family, kind, proto, _name, target in answers:
            sock = socket.socket(family, kind, proto)
            try:
                self.watch(sock)
                per_try = self.remaining() if timeout is None else min(timeout, self.remaining())
                sock.settimeout(per_try)
                if source_address:
                    sock.bind(source_address)
                sock.connect(target)
                sock.settimeout(timeout)
                return sock
            except OSError as e:
                error = e
                sock.close()
                if self.tripped:
                    break
        raise error if error is not None else OSError(f"{host} did not resolve to any address")

    def reader(self, file: BinaryIO) -> CappedReader:
        """``file`` with every byte read counted against :attr:`max_bytes`."""
        return CappedReader(file, self)

    def count(self, n: int) -> None:
        """Count ``n`` bytes read; past the budget the conversation is cut."""
        self.bytes_read += n
        if self.bytes_read > self.max_bytes:
            self.over_size = True
            self._cut()
            raise OverLimitError(
                f"the server sent more than {self.max_bytes // 1024} KiB in one conversation"
            )

    def refuse(self, what: str) -> NoReturn:
        """A protocol found the server sending too much in one piece (``what``): cut and raise.

        For limits a protocol knows better than the byte budget: a reply line longer than any
        mail server writes, or a reply with endless continuation lines. Counted as
        :attr:`over_size`, so the caller words it as "sent far more than a mail server would".
        """
        self.over_size = True
        self._cut()
        raise OverLimitError(f"the server sent {what}")

    def announce(self, n: int) -> None:
        """A protocol said ``n`` bytes will follow (an IMAP literal): refuse it before reading."""
        if self.bytes_read + n > self.max_bytes:
            self.over_size = True
            self._cut()
            raise OverLimitError(
                f"the server announced {n} bytes, more than one conversation may read "
                f"({self.max_bytes // 1024} KiB)"
            )


class CappedReader:
    """A binary file wrapper that counts what is read against a :class:`Guard`'s byte budget."""

    def __init__(self, file: BinaryIO, guard: Guard) -> None:
        self._file = file
        self._guard = guard

    def read(self, size: int = -1) -> bytes:
        if size is not None and size > 0:
            self._guard.announce(size)
        data = self._file.read(size)
        self._guard.count(len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._file.readline(size)
        self._guard.count(len(data))
        return data

    def close(self) -> None:
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

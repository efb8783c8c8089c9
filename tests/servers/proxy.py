"""A TCP forwarder on 127.0.0.1 in front of a test server, with switchable network faults.

The fault tests put it between the product and the real Dovecot or aiosmtpd listener, so a server
can go down and come back *on the same port* (the product's config does not change), accept
connections and never greet, or have its connections cut at a chosen moment::

    proxy = FaultProxy(servers.imaps_port).start()
    ...point the config at proxy.port...
    proxy.down()      # nothing listens: connection refused
    proxy.up()        # listening again, same port
    proxy.stall()     # connections are accepted and held silent: a server that never greets
    proxy.cut_when_client_sends(b" IDLE\\r\\n")  # cut every connection once a client says that

Bytes pass through untouched, so TLS (implicit or STARTTLS) still ends at the real server and the
client still verifies its certificate; only ``cut_when_client_sends`` needs a plain-text
protocol to see its marker.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

_CHUNK = 65536


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream_host:upstream_port`` until told to misbehave."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accepter: threading.Thread | None = None
        self._stalling = False
        self._marker: bytes | None = None
        self._open: set[socket.socket] = set()
        self.connections = 0  # accepted since start
        self.cuts = 0  # connections cut by a marker

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on a free port (or the same port again after :meth:`down`); return self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepter = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepter.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the accept() blocked in the other thread; close() alone does not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._accepter is not None:
            self._accepter.join(timeout=5)
            self._accepter = None
        self.cut()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------

    def down(self) -> None:
        """The server is down: connections are refused (nothing listens on the port)."""
        self.stop()

    def up(self) -> None:
        """The server is back on the same port, forwarding normally."""
        self.forward()
        if self._listener is None:
            self.start()

    def stall(self) -> None:
        """Accept new connections and never say a word (a server stuck before its greeting)."""
        with self._lock:
            self._stalling = True

    def forward(self) -> None:
        """Back to normal forwarding; held (stalled) connections are closed."""
        with self._lock:
            self._stalling = False
            self._marker = None
        self.cut()

    def cut_when_client_sends(self, marker: bytes) -> None:
        """Forward the client's bytes up to and including ``marker``, then cut the connection.

        Only the next connection that sends ``marker`` is cut; afterwards the proxy forwards.
        """
        with self._lock:
            self._marker = marker

    def cut(self) -> None:
        """Close every open connection at once, both sides."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    # -- internals ---------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self.connections += 1
                self._open.add(client)
                stalling = self._stalling
            if stalling:
                continue  # held open and silent until forward(), cut() or stop()
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._forget(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.add(upstream)
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        seen = b""  # the tail of what the client sent, so a marker split across reads is found
        try:
            while True:
                for key, _ in selector.select(timeout=1.0):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    target: socket.socket = key.data
                    data = source.recv(_CHUNK)
                    if not data:
                        return
                    target.sendall(data)
                    if source is client and self._should_cut(seen + data):
                        return
                    if source is client:
                        seen = (seen + data)[-256:]
                with self._lock:
                    if client not in self._open:
                        return  # cut() closed it
        except (OSError, ValueError):  # ValueError: cut() closed a socket under select()
            return
        finally:
            selector.close()
            self._forget(client)
            self._forget(upstream)

    def _should_cut(self, recent: bytes) -> bool:
        with self._lock:
            if self._marker is None or self._marker not in recent:
                return False
            self._marker = None
            self.cuts += 1
            return True

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()

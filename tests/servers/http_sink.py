"""A programmable HTTP server on 127.0.0.1 that records every request: a stand-in for Slack,
Teams, ntfy, a JSON webhook or Healthchecks in tests.

    with HttpSink() as sink:
        sink.script("/hook", Reply(500), Reply(200, "ok"))   # first 500, then 200, then default
        ...post to sink.url_for("/hook")...
        assert sink.requests[0].json() == {...}

Each path has a queue of :class:`Reply` objects; when it is empty the sink's ``default`` reply
is used. A reply can wait before answering (``delay_s``), never answer (``hang``) or trickle
its answer out one byte at a time (``trickle_s``), the three ways an endpoint stalls a client.
:meth:`HttpSink.stop` returns promptly even while handlers hang: they wait on the sink's stop
event, not on a clock.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

HOST = "127.0.0.1"

__all__ = ["HOST", "HttpSink", "RecordedRequest", "Reply", "unused_loopback_url"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering
    hang: bool = False  # never answer; hold the connection open until the sink stops
    trickle_s: float = 0.0  # > 0: send the reply one byte per trickle_s seconds, forever slow

    def raw(self) -> bytes:
        """The whole HTTP/1.0 response: status line, headers, blank line, body."""
        body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Status"
        headers = {"Content-Length": str(len(body)), "Connection": "close", **self.headers}
        if body and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/plain; charset=utf-8"
        head = f"HTTP/1.0 {self.status} {phrase}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return head.encode("latin-1") + b"\r\n" + body


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sink received it."""

    method: str
    target: str  # path and query, exactly as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def path(self) -> str:
        """The path without the query string."""
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must never keep the test process alive
    sink: HttpSink


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that sends half a request cannot hold a handler for ever

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def handle(self) -> None:
        """Serve, but quietly drop a connection that breaks (a refused certificate, a reset)."""
        with contextlib.suppress(OSError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on recorded requests, not on stderr."""

    def _serve(self) -> None:
        sink = self.server.sink
        with sink._track():
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = RecordedRequest(
                method=self.command,
                target=self.path,
                headers=tuple(self.headers.items()),
                body=body,
                received_at=time.monotonic(),
            )
            reply = sink._record_and_pick(request)
            self.close_connection = True
            # The client may give up first: that is what the hang and trickle tests do.
            with contextlib.suppress(OSError):
                self._answer(reply, sink._stopping)

    def _answer(self, reply: Reply, stopping: threading.Event) -> None:
        if reply.hang:
            stopping.wait()
            return
        if reply.delay_s > 0 and stopping.wait(reply.delay_s):
            return
        raw = reply.raw()
        if reply.trickle_s <= 0:
            self.wfile.write(raw)
            return
        for index in range(len(raw)):
            self.wfile.write(raw[index : index + 1])
            if stopping.wait(reply.trickle_s):
                return


class HttpSink:
    """The server. Use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, default: Reply | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: a server-side context (e.g. ``TestCertificates.server_context()``) to serve
        https instead of http."""
        self.default = default if default is not None else Reply(200, "ok")
        self._tls = tls
        self._lock = threading.Lock()
        self._scripts: defaultdict[str, deque[Reply]] = defaultdict(deque)
        self._requests: list[RecordedRequest] = []
        self._arrived = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._active = 0
        self._idle = threading.Condition(threading.Lock())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle

    def start(self) -> HttpSink:
        """Listen on a free loopback port and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server((HOST, 0), _Handler)
        server.sink = self
        if self._tls is not None:
            # Handshake on the first read, in the handler's thread: a client that rejects the
            # certificate then fails one handler, never the accepting loop.
            server.socket = self._tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, *, grace_s: float = 2.0) -> None:
        """Stop serving; hanging and trickling handlers are released and given ``grace_s``."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(grace_s)
        deadline = time.monotonic() + grace_s
        with self._idle:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses

    @property
    def port(self) -> int:
        """The port the sink listens on."""
        if self._server is None:
            raise RuntimeError("the sink is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with ``tls``), no trailing slash."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{HOST}:{self.port}"

    def url_for(self, target: str) -> str:
        """The full URL of ``target`` (a path, optionally with a query)."""
        return self.url + (target if target.startswith("/") else "/" + target)

    # -- scripting and records

    def script(self, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``path`` (query ignored); once used up, ``default`` answers."""
        with self._lock:
            self._scripts[path].extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests whose path (query ignored) is ``path``."""
        return [request for request in self.requests if request.path == path]

    def wait_for_requests(self, count: int, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived (or the timeout); return them all."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self._requests) < count and (left := deadline - time.monotonic()) > 0:
                self._arrived.wait(left)
            return list(self._requests)

    def _record_and_pick(self, request: RecordedRequest) -> Reply:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            queue = self._scripts.get(request.path)
            return queue.popleft() if queue else self.default

    def _track(self) -> _Active:
        return _Active(self)


class _Active:
    """Counts running handlers, so :meth:`HttpSink.stop` can wait for them to finish."""

    def __init__(self, sink: HttpSink) -> None:
        self._sink = sink

    def __enter__(self) -> None:
        with self._sink._idle:
            self._sink._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._sink._idle:
            self._sink._active -= 1
            self._sink._idle.notify_all()


def unused_loopback_url(path: str = "/") -> str:
    """An http URL on a loopback port nothing listens on: connecting is refused at once.

    The port was free a moment ago; another process could take it in between, which on a
    test machine's loopback is rare enough to accept.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    return f"http://{HOST}:{port}{path if path.startswith('/') else '/' + path}"

"""Hostile IMAP servers on 127.0.0.1: they play along until the SEARCH or FETCH, then misbehave.

:class:`HostileImap` greets, answers CAPABILITY, LOGIN, LIST, SELECT/EXAMINE, LOGOUT and the rest
well enough for imapclient, and then, depending on ``mode``:

- ``trickle_search``: the SEARCH reply comes one byte at a time and never ends;
- ``silent_search``: the SEARCH is never answered (a read blocks until something cuts it);
- ``flood_search``: endless untagged ``* OK still here ...`` lines instead of a SEARCH reply;
- ``huge_literal``: SEARCH finds message 1, and its FETCH announces a ``{300000000}`` literal,
  then floods (``pace="flood"``) or trickles (``pace="trickle"``) the bytes;
- ``slow_literal``: the FETCH announces a small literal and trickles it;
- ``trickle_greeting``: even the greeting comes one byte at a time;
- ``flood_idle``: SEARCH finds nothing, then IDLE is answered with endless untagged lines;
- ``trickle_idle``: SEARCH finds nothing, then IDLE's end (DONE) is answered one byte at a time.

Every loop is bounded (bytes and seconds) and ends at :meth:`HostileImap.stop` or when the
client hangs up. The server records the command names it received (never their arguments) and
how many bytes it sent.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from types import TracebackType

MODES = (
    "trickle_search",
    "silent_search",
    "flood_search",
    "huge_literal",
    "slow_literal",
    "trickle_greeting",
    "flood_idle",
    "trickle_idle",
)

#: What the huge literal announces: 300 MB, as in the reproduced 952 MB memory blow-up.
HUGE_LITERAL = 300_000_000

_IDLE_MODES = ("flood_idle", "trickle_idle")
_FLOOD_LINE = b"* OK " + b"still here " * 100 + b"\r\n"
_CHUNK = b"x" * 65536


class HostileImap:
    """A threaded IMAP server on 127.0.0.1 that turns hostile at SEARCH or FETCH.

    ``junk_folders`` are listed besides INBOX (the first one marked ``\\Junk``). ``interval`` is
    the pause between trickled bytes; ``max_seconds`` bounds every hostile loop.
    """

    def __init__(
        self,
        mode: str,
        *,
        pace: str = "flood",
        interval: float = 0.05,
        max_seconds: float = 60.0,
        junk_folders: tuple[str, ...] = ("Junk",),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if pace not in ("flood", "trickle"):
            raise ValueError(f"unknown pace {pace!r}")
        self.mode = mode
        self.pace = pace
        self.interval = interval
        self.max_seconds = max_seconds
        self.junk_folders = junk_folders
        self.commands: list[str] = []
        self._idle_tag: str | None = None
        self._capabilities = "IMAP4rev1 AUTH=PLAIN" + (" IDLE" if mode in _IDLE_MODES else "")
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the hostile IMAP server is not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer._lock:
                    outer._connections.append(self.request)
                with contextlib.suppress(OSError):
                    outer._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HostileImap:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the conversation --------------------------------------------------------------------

    def _send(self, sock: socket.socket, data: bytes) -> None:
        sock.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _trickle(self, sock: socket.socket, data: bytes) -> None:
        """``data`` one byte per ``interval``, repeated, for at most ``max_seconds``."""
        end = time.monotonic() + self.max_seconds
        index = 0
        while not self._stop.is_set() and time.monotonic() < end:
            self._send(sock, data[index % len(data) : index % len(data) + 1])
            index += 1
            self._stop.wait(self.interval)

    def _flood(self, sock: socket.socket, line: bytes, total: int) -> None:
        """``line`` (or 64 KiB chunks) until ``total`` bytes, a stop, or the client hangs up."""
        end = time.monotonic() + self.max_seconds
        block = line * max(1, 65536 // len(line))
        sent = 0
        while sent < total and not self._stop.is_set() and time.monotonic() < end:
            piece = block[: total - sent]
            self._send(sock, piece)
            sent += len(piece)

    def _serve(self, sock: socket.socket) -> None:
        greeting = f"* OK [CAPABILITY {self._capabilities}] hostile test server ready\r\n"
        if self.mode == "trickle_greeting":
            self._trickle(sock, greeting.encode())
            return
        self._send(sock, greeting.encode())
        with sock.makefile("rb") as reader:
            while not self._stop.is_set():
                line = reader.readline(65536)
                if not line or not self._command(sock, line):
                    return

    def _command(self, sock: socket.socket, line: bytes) -> bool:
        """Record and answer one command line; False ends the conversation."""
        tag, _, rest = line.decode("ascii", "replace").strip().partition(" ")
        words = rest.split()
        if tag.upper() == "DONE" and self._idle_tag is not None:
            words, tag, self._idle_tag = ["DONE"], self._idle_tag, None
        if not words:
            return True
        name = words[0].upper()
        if name == "UID" and len(words) > 1:
            name = f"UID {words[1].upper()}"
        with self._lock:
            self.commands.append(name)
        return self._answer(sock, tag, name)

    def _answer(self, sock: socket.socket, tag: str, name: str) -> bool:
        """Answer one command; False ends the conversation."""
        ok = f"{tag} OK {name} completed\r\n".encode()
        if name == "CAPABILITY":
            self._send(sock, f"* CAPABILITY {self._capabilities}\r\n".encode() + ok)
        elif name == "IDLE":
            return self._idle(sock, tag)
        elif name == "DONE":
            if self.mode == "trickle_idle":
                self._trickle(sock, b"* OK still idling ")  # a line that never ends
                return False
            self._send(sock, ok.replace(b"DONE", b"IDLE"))
        elif name == "LOGOUT":
            self._send(sock, b"* BYE bye\r\n" + ok)
            return False
        elif name == "LIST":
            listing = b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
            for index, folder in enumerate(self.junk_folders):
                marks = "\\HasNoChildren \\Junk" if index == 0 else "\\HasNoChildren"
                listing += f'* LIST ({marks}) "/" "{folder}"\r\n'.encode()
            self._send(sock, listing + ok)
        elif name in ("SELECT", "EXAMINE"):
            self._send(
                sock,
                b"* FLAGS (\\Seen \\Deleted)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n"
                b"* OK [UIDVALIDITY 1] ok\r\n"
                + f"{tag} OK [READ-WRITE] {name} completed\r\n".encode(),
            )
        elif name in ("UID SEARCH", "SEARCH"):
            return self._search(sock, ok)
        elif name in ("UID FETCH", "FETCH"):
            return self._fetch(sock)
        else:  # LOGIN, NOOP, CLOSE, EXPUNGE, STORE...
            self._send(sock, ok)
        return True

    def _search(self, sock: socket.socket, ok: bytes) -> bool:
        if self.mode == "trickle_search":
            self._send(sock, b"* SEARCH")
            self._trickle(sock, b" 1")
            return False
        if self.mode == "silent_search":
            self._stop.wait(self.max_seconds)
            return False
        if self.mode == "flood_search":
            self._flood(sock, _FLOOD_LINE, 400_000_000)
            return False
        found = b"* SEARCH\r\n" if self.mode in _IDLE_MODES else b"* SEARCH 1\r\n"
        self._send(sock, found + ok)
        return True

    def _idle(self, sock: socket.socket, tag: str) -> bool:
        self._idle_tag = tag
        self._send(sock, b"+ idling\r\n")
        if self.mode == "flood_idle":
            self._flood(sock, _FLOOD_LINE, 400_000_000)
            return False
        return True

    def _fetch(self, sock: socket.socket) -> bool:
        size = HUGE_LITERAL if self.mode == "huge_literal" else 2000
        self._send(
            sock,
            f'* 1 FETCH (UID 1 INTERNALDATE "01-Jan-2026 00:00:00 +0000" '
            f"BODY[HEADER.FIELDS (X-WATCHDOG-CANARY MESSAGE-ID)] {{{size}}}\r\n".encode(),
        )
        if self.mode == "huge_literal" and self.pace == "flood":
            self._flood(sock, _CHUNK, size)
        else:
            self._trickle(sock, b"X-Watchdog-Canary: v1.0.00.0\r\n")
        return False

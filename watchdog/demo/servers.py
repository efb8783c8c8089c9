"""Loopback SMTP and IMAP servers for ``watchdog demo``.

The demo has to work on a fresh machine with no mail accounts, so it brings its own mail
system: the fault-injecting SMTP server of :mod:`watchdog.demo.fault_smtp` (aiosmtpd; the tests use
the same one) that accepts the canary, and an in-memory IMAP server (pymap) that holds the seed
mailbox the product watches. Every message the SMTP server accepts is delivered into the seed
mailbox's INBOX by an ordinary IMAP ``APPEND``, exactly as a real provider would make it
visible to the product.

The point of the demo is the failure the product exists to catch:
:meth:`DemoMailServers.set_blackhole` makes the SMTP server keep answering ``250`` while
delivering nothing - the silent block that no SMTP client can notice by itself.

Both servers run on asyncio event loops in daemon threads of this process, bind to loopback
only, use plain text (no TLS; the demo config uses security "none") and need no SMTP AUTH.
aiosmtpd, pymap and imapclient are imported lazily so that importing this module costs nothing
for commands that never run the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import threading
import time
from email.utils import formatdate
from types import TracebackType
from typing import Final

from watchdog.demo.fault_smtp import (
    LOOPBACK,
    FaultSmtpServer,
    ImapAppender,
    ReceivedMessage,
    Submission,
)

__all__ = [
    "DEFAULT_SEED_ADDRESS",
    "DEFAULT_SENDER_ADDRESS",
    "JUNK_FOLDER",
    "DemoMailServers",
]

log = logging.getLogger(__name__)

#: Seed mailbox address (and IMAP login). ``.invalid`` is reserved (RFC 2606), so nothing
#: addressed to it can ever leave this machine by accident.
DEFAULT_SEED_ADDRESS: Final = "canary@demo.invalid"
#: The address the demo practice "sends reminders" from.
DEFAULT_SENDER_ADDRESS: Final = "frontdesk@demo.invalid"
#: Created empty at startup so the seed mailbox looks like a real provider's (INBOX + Junk).
JUNK_FOLDER: Final = "Junk"

#: Fixed server name for greetings. Without it both aiosmtpd and pymap call
#: ``socket.getfqdn()``, which can stall for seconds on machines with slow or broken DNS.
_SERVER_NAME: Final = "mail.demo.invalid"
#: Socket timeout for the delivery connection; loopback answers in milliseconds.
_IMAP_TIMEOUT: Final = 5.0
#: How long :meth:`DemoMailServers.stop` waits for the IMAP thread before giving up on it.
_STOP_JOIN_TIMEOUT: Final = 1.0
#: Library loggers that would otherwise report every connection at INFO/DEBUG.
_NOISY_LOGGERS: Final = ("mail.log", "mail.debug", "pymap")
_BARE_LF: Final = re.compile(rb"(?<!\r)\n")


class DemoMailServers:
    """A throw-away mail system on loopback: SMTP in, IMAP seed mailbox out.

    Use as a context manager (``with DemoMailServers() as servers: ...``) or call
    :meth:`start` and :meth:`stop` yourself. An instance runs once: it cannot be restarted
    after :meth:`stop`.

    The SMTP server accepts mail for any recipient and delivers it into the single seed
    mailbox's INBOX; it replies ``250`` only after the IMAP ``APPEND`` has completed, so
    when a client's send returns, the message is already searchable. If the APPEND fails the
    client gets a ``451`` temporary failure, as from a real server whose mail store is down.

    All public methods are thread-safe.
    """

    def __init__(
        self,
        *,
        seed_address: str = DEFAULT_SEED_ADDRESS,
        sender_address: str = DEFAULT_SENDER_ADDRESS,
        ready_timeout: float = 10.0,
    ) -> None:
        """Prepare (but do not start) the servers.

        Args:
            seed_address: Address of the seed mailbox; also its IMAP login name, as with most
                real providers.
            sender_address: Address the demo sends from. Only reported; the SMTP server
                accepts any sender.
            ready_timeout: Seconds to wait for each server to come up before giving up.
        """
        self._seed_address = seed_address
        self._sender_address = sender_address
        self._ready_timeout = ready_timeout
        # A fresh random password per run: the IMAP port is reachable by every local user
        # while the demo runs, so a well-known password would expose it for no gain.
        self._seed_password = secrets.token_urlsafe(16)
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopped
        self._imap: _ImapServerThread | None = None
        self._seed_inbox = _SeedInbox()
        self._smtp = FaultSmtpServer(
            self._seed_inbox,
            server_name=_SERVER_NAME,
            ident="Delivery Watchdog demo SMTP",
            ready_timeout=ready_timeout,
        )
        self._smtp_port = 0
        self._imap_port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> DemoMailServers:
        """Start the IMAP server, then the SMTP server, and wait until both answer.

        Returns ``self`` so ``servers = DemoMailServers().start()`` works.

        Raises:
            RuntimeError: if already started, or if a server did not come up within
                ``ready_timeout`` seconds (the message says which one and why). Anything
                that had started is stopped again before raising.
        """
        with self._lock:
            if self._state != "new":
                raise RuntimeError(f"DemoMailServers cannot start: it is already {self._state}")
            self._state = "running"
        _quiet_library_loggers()
        began = time.monotonic()
        try:
            self._start_imap()
            self._start_smtp()
        except BaseException:
            self.stop()
            raise
        log.info(
            "demo mail servers up in %.2f s: SMTP %s:%d, IMAP %s:%d, seed %s",
            time.monotonic() - began,
            LOOPBACK,
            self._smtp_port,
            LOOPBACK,
            self._imap_port,
            self._seed_address,
        )
        return self

    def _start_imap(self) -> None:
        """Start pymap and open the delivery connection, which doubles as the readiness probe.

        A listening socket only proves the loop runs; a successful LOGIN proves the seed user
        exists and the backend works, which is what the demo actually needs.
        """
        imap = _ImapServerThread(LOOPBACK, self._seed_address, self._seed_password)
        self._imap = imap
        self._imap_port = imap.start(self._ready_timeout)
        appender = ImapAppender(
            LOOPBACK,
            self._imap_port,
            self._seed_address,
            self._seed_password,
            timeout=_IMAP_TIMEOUT,
        )
        self._seed_inbox.connect(appender)
        try:
            appender.create_folder(JUNK_FOLDER)
        except Exception as exc:
            raise RuntimeError(
                f"demo IMAP server on {LOOPBACK}:{self._imap_port} is listening but the seed "
                f"mailbox {self._seed_address} is not usable: {exc!r}"
            ) from exc

    def _start_smtp(self) -> None:
        """Start the plain-text SMTP listener (no TLS, no AUTH) delivering into the seed."""
        self._smtp.start()
        self._smtp_port = self._smtp.plain_port

    def stop(self) -> None:
        """Stop both servers and close every connection; safe to call any number of times.

        Order matters: SMTP first so no new delivery starts, then the delivery connection,
        then IMAP (which also drops any client still connected, e.g. one in IDLE).
        """
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
        imap, self._imap = self._imap, None
        self._smtp.stop()
        self._seed_inbox.close()
        if imap is not None:
            imap.stop(_STOP_JOIN_TIMEOUT)
        log.info("demo mail servers stopped")

    def __enter__(self) -> DemoMailServers:
        """Start the servers unless :meth:`start` was already called."""
        with self._lock:
            already_running = self._state == "running"
        if not already_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the servers."""
        self.stop()

    # -- the failure switch ------------------------------------------------------------------

    def set_blackhole(self, on: bool) -> None:
        """Make the SMTP server silently drop mail (``on=True``) or deliver it again.

        While on, every message is still answered ``250`` - byte-for-byte the same reply as
        a delivered one - and then thrown away, and counted in :attr:`dropped`.
        """
        with self._lock:
            changed = self.blackhole != on
            self._smtp.set_mode("blackhole" if on else "deliver")
        if changed:
            log.info("demo SMTP server now %s mail", "silently drops" if on else "delivers")

    @property
    def blackhole(self) -> bool:
        """True while the SMTP server silently drops mail."""
        return self._smtp.mode == "blackhole"

    # -- connection details ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        with self._lock:
            return self._state == "running" and self._smtp.running

    @property
    def smtp_host(self) -> str:
        """Host to submit mail to (loopback)."""
        return LOOPBACK

    @property
    def smtp_port(self) -> int:
        """Port of the plain-text SMTP server (no TLS, no AUTH)."""
        self._require_running()
        return self._smtp_port

    @property
    def imap_host(self) -> str:
        """Host of the IMAP server (loopback)."""
        return LOOPBACK

    @property
    def imap_port(self) -> int:
        """Port of the plain-text IMAP server (no TLS)."""
        self._require_running()
        return self._imap_port

    @property
    def seed_user(self) -> str:
        """IMAP login name of the seed mailbox (the same as :attr:`seed_address`)."""
        return self._seed_address

    @property
    def seed_password(self) -> str:
        """IMAP password of the seed mailbox, random per instance."""
        return self._seed_password

    @property
    def seed_address(self) -> str:
        """E-mail address of the seed mailbox; the canary is sent here."""
        return self._seed_address

    @property
    def sender_address(self) -> str:
        """Address the demo sends the canary from."""
        return self._sender_address

    # -- counters ----------------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        """Messages answered ``250`` (always ``delivered + dropped``)."""
        return sum(1 for m in self._received() if _answered_ok(m))

    @property
    def delivered(self) -> int:
        """Messages appended to the seed INBOX."""
        return self._seed_inbox.delivered

    @property
    def dropped(self) -> int:
        """Messages answered ``250`` and thrown away because the blackhole was on."""
        return sum(1 for m in self._received() if m.mode == "blackhole" and _answered_ok(m))

    # -- internals -----------------------------------------------------------------------------

    def _received(self) -> list[ReceivedMessage]:
        return self._smtp.received

    def _require_running(self) -> None:
        """Refuse to hand out ports that do not belong to live servers."""
        with self._lock:
            state = self._state
        if state != "running":
            raise RuntimeError(f"DemoMailServers is {state}; ports exist only while running")


def _answered_ok(message: ReceivedMessage) -> bool:
    """The server answered the message with a 2xx (``250``): the client counts it as sent."""
    return message.reply is not None and message.reply[0] == "2"


class _SeedInbox:
    """The SMTP server's mailbox: every message goes into the one seed mailbox, by APPEND.

    Made before the IMAP server runs (the SMTP server needs it from the start); its session
    comes with :meth:`connect`.
    """

    def __init__(self) -> None:
        self._appender: ImapAppender | None = None
        self._lock = threading.Lock()
        self._delivered = 0

    def connect(self, appender: ImapAppender) -> None:
        """Deliver through ``appender`` from now on."""
        self._appender = appender

    def deliver(self, submission: Submission, folder: str | None) -> None:
        """Append ``submission`` to ``folder`` (INBOX if None) of the seed, whoever it is for.

        Blocking; the SMTP server runs it in a worker thread.
        """
        appender = self._appender
        if appender is None:
            raise RuntimeError("the seed mailbox is not running")
        appender.append(folder or "INBOX", _with_trace_headers(submission))
        with self._lock:
            self._delivered += 1

    @property
    def delivered(self) -> int:
        """Messages appended so far."""
        with self._lock:
            return self._delivered

    def close(self) -> None:
        """Log out of the seed mailbox; never raises."""
        if self._appender is not None:
            self._appender.close()


def _with_trace_headers(submission: Submission) -> bytes:
    """Return the message as a real MTA would store it: CRLF lines, trace headers on top.

    ``Return-Path`` and ``Received`` are what the product would see at a real provider, so
    the demo shows the same headers; IMAP requires CRLF line ends, so bare LFs are fixed.
    """
    trace = (
        f"Return-Path: <{submission.mail_from}>\r\n"
        f"Received: from {submission.helo} ([{submission.peer}]) by {_SERVER_NAME} with ESMTP; "
        f"{formatdate(localtime=True)}\r\n"
    ).encode("utf-8", errors="surrogateescape")
    return trace + _BARE_LF.sub(b"\r\n", submission.content)


class _ImapServerThread:
    """pymap's in-memory ("dict") IMAP backend served from an asyncio loop in a daemon thread.

    This is what ``pymap ... dict --demo-user U --demo-password W`` does, minus the parts
    that make the command line slow or fragile for a demo: no subprocess or script path, a
    cheap password hash instead of 500 000 PBKDF2 rounds per LOGIN, no CPU thread pool, no
    ``getfqdn()`` per connection, and a port-0 bind so there is no free-port race.
    """

    def __init__(self, host: str, user: str, password: str) -> None:
        self._host = host
        self._user = user
        self._password = password
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._port = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float) -> int:
        """Start serving and return the bound port.

        Raises:
            RuntimeError: if the server failed or did not listen within ``timeout`` seconds.
        """
        self._thread = threading.Thread(target=self._run, name="watchdog-demo-imap", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(
                f"demo IMAP server (pymap) did not start listening on {self._host} "
                f"within {timeout:g} s"
            )
        if self._error is not None:
            raise RuntimeError(
                f"demo IMAP server (pymap) failed to start on {self._host}: {self._error!r}"
            ) from self._error
        return self._port

    def stop(self, timeout: float) -> None:
        """Ask the loop to close the listener and all connections, and wait for the thread."""
        with self._lock:
            self._stop_requested = True
            loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed: thread has ended
                loop.call_soon_threadsafe(event.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("demo IMAP server thread did not stop within %g s", timeout)

    def _run(self) -> None:
        """Thread body: run the server until stopped, recording any failure for start()."""
        try:
            asyncio.run(self._serve())
        except Exception as exc:
            self._error = exc
            if self._ready.is_set():
                log.warning("demo IMAP server crashed: %r", exc)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        """Build the dict backend with one user, listen, and wait for the stop signal."""
        server = await self._listen()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            self._port = int(server.sockets[0].getsockname()[1])
            stop_now = self._stop_requested
        self._ready.set()
        try:
            if not stop_now:
                await self._stop_event.wait()
        finally:
            await _shut_down(server)

    async def _listen(self) -> asyncio.Server:
        """Create the pymap backend and the listening socket (port 0: the OS picks)."""
        from argparse import Namespace

        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.backend.dict import Config, DictBackend, Login
        from pymap.concurrent import Subsystem
        from pymap.imap import IMAPServer
        from pymap.user import Passwords, UserMetadata
        from pysasl.hashing import BuiltinHash

        class DemoConfig(Config):
            """Dict-backend config with a fixed greeting (no ``getfqdn()`` per connection)."""

            @property
            def greeting(self) -> bytes:
                return b"Server ready " + _SERVER_NAME.encode("ascii")

        # The attributes pymap's command line would have put on its argparse namespace: pymap's
        # own API (the one argparse import outside watchdog.cli, listed in pyproject.toml's
        # no-argparse contract).
        args = Namespace(passlib_cfg=None, proxy_protocol=None, inherited_sockets=None)
        config = DemoConfig(
            args,
            host=self._host,
            port=0,
            tls_enabled=False,
            demo_data=False,
            demo_user=self._user,
            demo_password=self._password,
            # The default costs ~0.3 s of CPU per LOGIN; this password guards a throw-away
            # loopback mailbox, so 1000 rounds are plenty.
            hash_context=BuiltinHash(rounds=1000),
            cpu_subsystem=Subsystem.for_asyncio(),
        )
        config.apply_context()
        login = Login(config)
        hashed = await Passwords(config).hash_password(self._password)
        await login.demo_user_identity.set(UserMetadata(config, self._user, password=hashed))
        backend = DictBackend(login, config)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config)
        )
        return await asyncio.start_server(callback, host=self._host, port=0)


async def _shut_down(server: asyncio.Server) -> None:
    """Close the listener, then end every connection task so no client keeps the loop alive.

    Closing the listener frees the port; the connection tasks must be cancelled explicitly
    because an IMAP client (e.g. in IDLE) would otherwise keep its session open forever, and
    since Python 3.12 ``wait_closed()`` waits for exactly those connections.
    """
    server.close()
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=_STOP_JOIN_TIMEOUT)


def _quiet_library_loggers() -> None:
    """Keep aiosmtpd and pymap from logging each connection; the demo owns the screen."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)

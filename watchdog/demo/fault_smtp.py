"""A loopback SMTP submission server with switchable faults, for ``watchdog demo`` and the tests.

One server plays every outgoing-mail situation the product must tell apart: it delivers, it
answers ``250`` and delivers nothing (the silent block this product exists for), it files mail
as junk, delivers late or twice, refuses with a given reply at AUTH, MAIL, RCPT or DATA, fails
temporarily a set number of times, drops the connection, stalls after DATA, or mails back a
bounce. Optionally it keeps a copy of each accepted message in the sender's Sent folder, as
Gmail and Microsoft 365 do. See :meth:`FaultSmtpServer.set_mode`.

Where accepted mail goes is not its business: a :class:`Mailbox` stores it. The demo hands it
to an in-memory IMAP server by ``APPEND`` (:class:`ImapAppender`); the tests hand it to Dovecot
over LMTP (``tests/servers/smtp.py``).

Listeners: with a TLS context, three (STARTTLS like port 587, implicit TLS like 465, and plain
for ``security = "none"``); without one, the plain listener only. With ``users``, AUTH PLAIN and
LOGIN are checked against them (and AUTH XOAUTH2 with ``oauth_introspect``); without, AUTH is
not offered, as on a LAN relay. Everything binds to loopback.

aiosmtpd is imported only when a server starts, so importing this module costs nothing for the
commands that never run one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Self, get_args

if TYPE_CHECKING:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

__all__ = [
    "BOUNCE_REPLY",
    "JUNK",
    "LOOPBACK",
    "MODES",
    "SENT",
    "STAGES",
    "TEMPFAIL_REPLY",
    "AuthAttempt",
    "Behaviour",
    "FaultSmtpServer",
    "ImapAppender",
    "Listener",
    "Mailbox",
    "Mode",
    "ReceivedMessage",
    "Stage",
    "Submission",
    "delivery_status_notification",
    "format_reply",
]

log = logging.getLogger(__name__)

Mode = Literal[
    "deliver",
    "blackhole",
    "junk",
    "delay",
    "reject",
    "tempfail",
    "drop",
    "bounce",
    "stall",
    "duplicate",
]
Stage = Literal["auth", "mail", "rcpt", "data"]
Listener = Literal["starttls", "ssl", "plain"]

MODES: tuple[str, ...] = get_args(Mode)
STAGES: tuple[str, ...] = get_args(Stage)

#: The folder ``junk`` mode files mail into (the name Dovecot and most providers use).
JUNK: Final = "Junk"
#: The Sent folder's name for :meth:`FaultSmtpServer.keep_copy` (Dovecot's usual one).
SENT: Final = "Sent"

#: What Microsoft 365 says when it throttles a sender; the default for ``tempfail``.
TEMPFAIL_REPLY: Final = "451 4.7.500 Access denied, please try again later"

#: What Gmail writes into the bounce it mails back for a blocked message; the default for
#: ``bounce``.
BOUNCE_REPLY: Final = (
    "550 5.7.1 [203.0.113.7] Our system has detected that this message is likely suspicious "
    "due to the very low reputation of the sending domain. https://support.google.com/mail/"
    "answer/188131 - gsmtp"
)

#: The only address these servers listen on (and the demo's): nothing here is reachable from
#: the network.
LOOPBACK: Final = "127.0.0.1"
#: One reply for delivered, black-holed, junked... mail: the client must not tell them apart.
_REPLY_ACCEPTED: Final = "250 2.0.0 OK queued"
_REPLY_UNAVAILABLE: Final = "451 4.3.0 Mailbox unavailable, try again later"
_REPLY_NO_SENT_COPY: Final = "451 4.3.0 Could not keep the Sent copy, try again later"
_REPLY_STALLED: Final = "451 4.4.2 Server stalled and gave up"
#: Socket timeout of the IMAP sessions that APPEND mail; loopback answers in milliseconds.
_IMAP_TIMEOUT: Final = 10.0
#: Tries to start a listener on a freshly picked free port (another process may take it first).
_START_ATTEMPTS: Final = 3


def format_reply(reply: str) -> str:
    """Turn ``"550 5.4.5 line one\\nline two"`` into a well-formed (multi-line) SMTP reply.

    Real providers answer in several lines (Gmail's sending-limit reply has three); aiosmtpd
    sends whatever string it is given, so the continuation lines (``550-...``) are built here.
    smtplib joins them back with ``\\n``, which is how ``tests/fixtures/replies.tsv`` writes them.
    """
    code, _, text = reply.partition(" ")
    if len(code) != 3 or not code.isdigit() or code[0] not in "2345":
        raise ValueError(f"a reply starts with a three-digit code and a space: {reply!r}")
    lines = text.split("\n")
    last = len(lines) - 1
    return "\r\n".join(f"{code}{' ' if i == last else '-'}{line}" for i, line in enumerate(lines))


@dataclass(frozen=True)
class Behaviour:
    """What the server does with the next message (set with :meth:`FaultSmtpServer.set_mode`)."""

    mode: Mode = "deliver"
    reply: str | None = None  # reject / tempfail: the full reply, e.g. "554 5.2.0 ..."
    stage: Stage = "data"  # reject / tempfail: the command that gets the reply
    seconds: float = 0.0  # delay: how long after the 250 the message arrives; stall: how long
    #                       the server sits on the message data before it answers
    times: int = 0  # tempfail: how many attempts are refused before mail is delivered


@dataclass(frozen=True)
class Submission:
    """A message as a client submitted it: what a :class:`Mailbox` gets to store."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # as the client sent it (dot-unstuffed)
    helo: str  # the name the client gave in EHLO/HELO
    peer: str  # the client's IP address


class Mailbox(Protocol):
    """Where the server puts the mail it accepted."""

    def deliver(self, submission: Submission, folder: str | None) -> None:
        """Store ``submission`` in each recipient's ``folder`` (None: the INBOX); raise if not."""


@dataclass(frozen=True)
class ReceivedMessage:
    """One message whose DATA reached the server, whatever was done with it."""

    listener: Listener
    login: str | None  # the AUTH user name, None without AUTH
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # as the client sent it (dot-unstuffed)
    mode: Mode  # the mode in force when it arrived
    reply: str | None  # what the client was told; None when the connection was dropped


@dataclass(frozen=True)
class AuthAttempt:
    """One AUTH PLAIN or LOGIN command that reached the server, whatever its outcome."""

    mechanism: str  # as aiosmtpd names it: "PLAIN", "LOGIN"
    login: str  # the user name given ("" if none could be read)


@dataclass(frozen=True)
class _KeepCopy:
    """Where :meth:`FaultSmtpServer.keep_copy` files the copies."""

    imap_host: str
    imap_port: int
    folder: str


class FaultSmtpServer:
    """aiosmtpd listeners on loopback whose answers and deliveries follow a switchable mode.

    Start with :meth:`start` (or ``with``), stop with :meth:`stop`; :meth:`reset` brings a
    running server back to ``deliver`` with nothing recorded. All public methods are
    thread-safe.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        *,
        users: Mapping[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        oauth_introspect: Callable[[str], str | None] | None = None,
        hostname: str = LOOPBACK,
        server_name: str = "localhost",
        ident: str | None = None,
        ready_timeout: float = 5.0,
    ) -> None:
        """Prepare (but do not start) the server.

        Args:
            mailbox: Stores the accepted mail.
            users: SMTP login names and passwords; None offers no AUTH at all.
            tls_context: The server's certificate; with it, the STARTTLS and implicit-TLS
                listeners start too, else only the plain one.
            oauth_introspect: With it, AUTH XOAUTH2 too: it gets the bearer token and returns
                the user name the token is valid for, or None.
            hostname: The address to listen on (loopback).
            server_name: The name in the greeting and EHLO reply. Fixed, because aiosmtpd
                would otherwise call ``socket.getfqdn()``, which stalls on machines with slow
                or broken DNS.
            ident: The greeting's text after the name (aiosmtpd's own when None).
            ready_timeout: Seconds to wait for each listener to come up.
        """
        self.mailbox = mailbox
        self.users: dict[str, str] = dict(users or {})
        self.offers_auth = users is not None
        self.tls_context = tls_context
        self.oauth_introspect = oauth_introspect
        self.hostname = hostname
        self.server_name = server_name
        self.ident = ident
        self.ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._behaviour = Behaviour()
        self._tempfails_left = 0
        self._received: list[ReceivedMessage] = []
        self._auth_attempts: list[AuthAttempt] = []
        self._errors: list[str] = []
        self._timers: list[threading.Timer] = []
        self._controllers: dict[Listener, Controller] = {}
        self._keep_copy: _KeepCopy | None = None
        self._copy_lock = threading.Lock()  # guards the IMAP sessions below
        self._copy_appenders: dict[str, ImapAppender] = {}  # user -> kept session

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the listeners on free ports; returns ``self``.

        Raises:
            RuntimeError: aiosmtpd is missing, or a listener did not come up (the message
                says which one and why). Listeners already started are stopped again.
        """
        try:
            from aiosmtpd.controller import Controller  # noqa: F401 (fail early and clearly)
        except ImportError as exc:
            raise RuntimeError(f"SMTP server unavailable: cannot import aiosmtpd: {exc}") from exc
        listeners: tuple[Listener, ...] = (
            get_args(Listener) if self.tls_context is not None else ("plain",)
        )
        try:
            for listener in listeners:
                self._controllers[listener] = self._start_listener(listener)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel pending delayed deliveries and stop every listener; safe to call again."""
        self._cancel_timers()
        with self._copy_lock:
            self._close_copy_sessions()
        controllers, self._controllers = self._controllers, {}
        for controller in controllers.values():
            try:
                controller.stop()
            except Exception:
                log.warning("stopping an SMTP listener failed", exc_info=True)

    def reset(self) -> None:
        """Back to ``deliver``; forget what was received and failed; drop pending delays.

        Pending delayed deliveries are cancelled so that one test's late message cannot land
        in the next test's freshly cleared mailbox.
        """
        self._cancel_timers()
        with self._lock:
            self._behaviour = Behaviour()
            self._tempfails_left = 0
            self._received.clear()
            self._auth_attempts.clear()
            self._errors.clear()
            self._keep_copy = None
        with self._copy_lock:
            self._close_copy_sessions()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the listeners run."""
        return bool(self._controllers)

    @property
    def starttls_port(self) -> int:
        """Plain connect, STARTTLS required before anything else (like 587)."""
        return self._port("starttls")

    @property
    def ssl_port(self) -> int:
        """Implicit TLS from the first byte (like 465)."""
        return self._port("ssl")

    @property
    def plain_port(self) -> int:
        """No TLS at all; AUTH (if any) offered but not required (``security = "none"``)."""
        return self._port("plain")

    # -- behaviour ---------------------------------------------------------------------------

    def set_mode(
        self,
        mode: Mode,
        *,
        reply: str | None = None,
        stage: Stage = "data",
        seconds: float = 0.0,
        times: int = 1,
    ) -> None:
        """Choose what happens to the next messages. Safe to call from any thread.

        - ``deliver``: 250, into the recipient's INBOX.
        - ``blackhole``: 250, delivered nowhere (the silent block this product exists for).
        - ``junk``: 250, into the recipient's Junk folder.
        - ``delay``: 250 at once, into INBOX ``seconds`` later.
        - ``reject``: answer ``reply`` at ``stage`` (auth, mail, rcpt or data), every time.
        - ``tempfail``: answer ``reply`` (default :data:`TEMPFAIL_REPLY`) at ``stage`` the
          next ``times`` times, then deliver. At ``auth`` note that smtplib's ``login()``
          tries each mechanism in turn, so one login uses up to two refusals (PLAIN, LOGIN).
        - ``drop``: close the connection after the message data, without any reply.
        - ``bounce``: 250, then a delivery status notification (RFC 3464) about the message,
          with ``reply`` (default :data:`BOUNCE_REPLY`) as its diagnostic code, is delivered to
          the sender's INBOX instead of the message: Gmail's "Message blocked".
        - ``stall``: take the message data, then say nothing for ``seconds`` (a server stuck
          after DATA), then answer 451 and deliver nothing.
        - ``duplicate``: 250, and the message lands in INBOX twice (a relay that retried).

        ``reply`` is a full reply, code first; ``\\n`` in it makes a multi-line reply.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")
        if mode == "reject" and reply is None:
            raise ValueError("reject needs reply=, e.g. '550 5.4.5 Daily user sending limit'")
        if mode == "tempfail":
            reply = TEMPFAIL_REPLY if reply is None else reply
            if times < 1:
                raise ValueError("tempfail needs times >= 1")
        if mode == "bounce":
            reply = BOUNCE_REPLY if reply is None else reply
            stage = "data"
        if mode in ("delay", "stall") and seconds <= 0:
            raise ValueError(f"{mode} needs seconds > 0")
        if reply is not None:
            code = int(format_reply(reply)[:3])  # validates the shape too
            if mode in ("reject", "tempfail", "bounce") and code < 400:
                raise ValueError(f"a refusal needs a 4xx or 5xx code: {reply!r}")
        with self._lock:
            self._behaviour = Behaviour(mode, reply, stage, seconds, times)
            self._tempfails_left = times if mode == "tempfail" else 0

    def keep_copy(
        self, imap_port: int | None, folder: str = SENT, *, imap_host: str = LOOPBACK
    ) -> None:
        """Keep a copy of every accepted message in the sender's Sent folder (None: stop).

        As Gmail and Outlook.com / Microsoft 365 do for SMTP submissions: each message this
        server answers with 250, whatever the mode then does with it (a ``blackhole`` too),
        is APPENDed over plain IMAP at ``imap_host:imap_port`` to ``folder`` of the signed-in
        user (else of the MAIL FROM's local part), with the ``users``' passwords. The folder is
        created when missing. :meth:`reset` switches this off.
        """
        with self._lock:
            self._keep_copy = None if imap_port is None else _KeepCopy(imap_host, imap_port, folder)
        with self._copy_lock:
            self._close_copy_sessions()

    @property
    def behaviour(self) -> Behaviour:
        """The behaviour in force now."""
        with self._lock:
            return self._behaviour

    @property
    def mode(self) -> Mode:
        """The mode in force now."""
        return self.behaviour.mode

    @property
    def received(self) -> list[ReceivedMessage]:
        """A copy of every message whose DATA arrived since the last :meth:`reset`."""
        with self._lock:
            return list(self._received)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        """Every AUTH PLAIN/LOGIN attempt since the last :meth:`reset` (a password-safety and
        lock-out witness: smtplib alone would try each mechanism in turn)."""
        with self._lock:
            return list(self._auth_attempts)

    @property
    def errors(self) -> list[str]:
        """Deliveries into the mailbox (or Sent copies) that failed: a broken setup, not a mode."""
        with self._lock:
            return list(self._errors)

    @property
    def pending_deliveries(self) -> int:
        """Delayed messages not yet delivered."""
        with self._lock:
            return sum(1 for t in self._timers if t.is_alive())

    def wait_for_received(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages were received; return them all."""
        deadline = time.monotonic() + timeout
        while len(found := self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return found

    # -- aiosmtpd hooks (run on the controllers' event-loop threads, via _Handler) -----------

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """aiosmtpd authenticator: check PLAIN/LOGIN credentials against ``users``.

        ``handled=False`` matters: with aiosmtpd's default (``handled=True``) a failed login
        gets no reply at all and the client hangs until its timeout instead of seeing 535.
        """
        from aiosmtpd.smtp import AuthResult, LoginPassword

        has_password = isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode("utf-8", "replace") if has_password else ""
        with self._lock:
            self._auth_attempts.append(AuthAttempt(mechanism, login))
        refusal = self._refusal("auth")
        if refusal is not None:
            return AuthResult(success=False, handled=False, message=refusal)
        if not has_password:
            return AuthResult(success=False, handled=False)
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and self.users[login] == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def _handle_data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """End of DATA: record the message, then do what the mode says."""
        refusal = self._refusal("data")
        behaviour = self.behaviour
        mode = behaviour.mode
        submission = _submission_of(session, envelope)
        loop = asyncio.get_running_loop()

        async def deliver(message: Submission, folder: str | None = None) -> bool:
            # The mailbox blocks (LMTP, IMAP); keep this loop and its connections responsive.
            return await loop.run_in_executor(None, self._deliver, message, folder)

        reply: str | None = refusal or _REPLY_ACCEPTED
        if refusal is None and mode in ("deliver", "junk", "tempfail"):
            if not await deliver(submission, JUNK if mode == "junk" else None):
                reply = _REPLY_UNAVAILABLE
        elif refusal is None and mode == "blackhole":
            log.info("blackhole: dropped message from %s", submission.mail_from)
        elif refusal is None and mode == "delay":
            self._deliver_later(behaviour.seconds, submission)
        elif refusal is None and mode == "drop":
            reply = None
        elif refusal is None and mode == "stall":
            # The client gives up first; this reply goes to a closed connection, if anywhere.
            await asyncio.sleep(behaviour.seconds)
            reply = _REPLY_STALLED
        elif refusal is None and mode == "duplicate":
            for _ in range(2):
                if not await deliver(submission):
                    reply = _REPLY_UNAVAILABLE
        elif refusal is None and mode == "bounce":
            dsn = delivery_status_notification(
                submission.content,
                submission.mail_from,
                submission.rcpt_tos,
                behaviour.reply or BOUNCE_REPLY,
            )
            bounce = replace(
                submission, mail_from="", rcpt_tos=(submission.mail_from,), content=dsn
            )
            if not await deliver(bounce):
                reply = _REPLY_UNAVAILABLE

        login = session.auth_data if isinstance(session.auth_data, str) else None
        with self._lock:
            keep = self._keep_copy
        if keep is not None and reply is not None and reply.startswith("2"):
            owner = login or submission.mail_from.partition("@")[0]
            filed = await loop.run_in_executor(
                None, self._file_copy, keep, owner, submission.content
            )
            if not filed:
                reply = _REPLY_NO_SENT_COPY
        self._record(
            ReceivedMessage(
                listener=self._listener_of(server),
                login=login,
                mail_from=submission.mail_from,
                rcpt_tos=submission.rcpt_tos,
                content=submission.content,
                mode=mode,
                reply=reply,
            )
        )
        if reply is None:
            # abort() shuts the socket at once (no TLS close_notify); aiosmtpd's
            # connection_lost() then cancels this coroutine, so the sleep never ends normally
            # and no reply is ever written. The client sees SMTPServerDisconnected.
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            await asyncio.sleep(30)
            return "421 4.4.2 connection was dropped"  # not reached
        return reply

    # -- internals ---------------------------------------------------------------------------

    def _refusal(self, stage: Stage) -> str | None:
        """The reply to refuse with at ``stage`` now, counting down tempfails."""
        with self._lock:
            b = self._behaviour
            if b.stage != stage or b.reply is None or b.mode == "bounce":
                return None
            if b.mode == "reject":
                return format_reply(b.reply)
            if b.mode == "tempfail" and self._tempfails_left > 0:
                self._tempfails_left -= 1
                return format_reply(b.reply)
            return None

    def _deliver(self, submission: Submission, folder: str | None) -> bool:
        """Hand ``submission`` to the mailbox; False (and the error recorded) if that failed."""
        try:
            self.mailbox.deliver(submission, folder)
        except Exception as exc:
            self._record_error(f"delivery into the mailbox failed: {exc!r}")
            return False
        return True

    def _file_copy(self, keep: _KeepCopy, user: str, content: bytes) -> bool:
        """APPEND ``content`` to ``user``'s Sent folder; False (and the error recorded) if not.

        One IMAP session per user is kept open between messages (a batch of hundreds would
        otherwise log in hundreds of times).
        """
        with self._copy_lock:
            try:
                appender = self._copy_appenders.get(user)
                if appender is None:
                    appender = ImapAppender(keep.imap_host, keep.imap_port, user, self.users[user])
                    self._copy_appenders[user] = appender
                appender.append(keep.folder, content, flags=(rb"\Seen",), create=True)
            except Exception as exc:
                self._close_copy_sessions(user)
                self._record_error(f"keeping a Sent copy for {user!r} failed: {exc!r}")
                return False
        return True

    def _close_copy_sessions(self, user: str | None = None) -> None:
        """Log out the kept IMAP session of ``user`` (None: of everyone); caller holds the lock."""
        users = list(self._copy_appenders) if user is None else [user]
        for name in users:
            appender = self._copy_appenders.pop(name, None)
            if appender is not None:
                appender.close()

    def _record_error(self, text: str) -> None:
        log.warning("%s", text)
        with self._lock:
            self._errors.append(text)

    def _deliver_later(self, seconds: float, submission: Submission) -> None:
        timer = threading.Timer(seconds, self._deliver, (submission, None))
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()]
            self._timers.append(timer)
        timer.start()

    def _cancel_timers(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._received.append(message)

    def _listener_of(self, server: SMTP) -> Listener:
        assert server.transport is not None
        port = server.transport.get_extra_info("sockname")[1]
        for listener, controller in self._controllers.items():
            if controller.port == port:
                return listener
        raise RuntimeError(f"no listener on port {port}")

    def _port(self, listener: Listener) -> int:
        controller = self._controllers.get(listener)
        if controller is None:
            state = "running without it" if self._controllers else "not running"
            raise RuntimeError(f"the SMTP server has no {listener} listener: it is {state}")
        return int(controller.port)

    def _start_listener(self, listener: Listener) -> Controller:
        """Start one controller, retrying when its free-picked port was taken meanwhile.

        aiosmtpd binds the port itself (it cannot take a ready socket, and port 0 breaks its
        self-test connection), so a free port is picked first; another process could grab it
        in between, hence the retries.
        """
        from aiosmtpd.controller import Controller

        options: dict[str, Any] = {
            "hostname": self.hostname,
            "server_hostname": self.server_name,
            "ready_timeout": self.ready_timeout,
        }
        if self.ident is not None:
            options["ident"] = self.ident
        if self.offers_auth:
            options["authenticator"] = self.authenticate
        if listener == "starttls":
            options |= {
                "tls_context": self.tls_context,
                "require_starttls": True,
                "auth_required": True,
            }
        elif listener == "ssl":
            # aiosmtpd does not count implicit TLS as TLS (its issues #274 and #281): with the
            # default auth_require_tls=True it would never offer AUTH on this listener.
            options |= {
                "ssl_context": self.tls_context,
                "auth_required": True,
                "auth_require_tls": False,
            }
        elif self.offers_auth:
            options |= {"auth_required": False, "auth_require_tls": False}
        last_error: Exception | None = None
        for _attempt in range(_START_ATTEMPTS):
            port = _free_loopback_port(self.hostname)
            handler = _OAuthHandler(self) if self.oauth_introspect else _Handler(self)
            controller = Controller(handler, port=port, **options)
            try:
                controller.start()
            except Exception as exc:
                last_error = exc
                _discard_controller(controller)
                log.debug("SMTP %s listener failed on port %d: %r", listener, port, exc)
                continue
            return controller
        raise RuntimeError(
            f"SMTP server (aiosmtpd, {listener} listener) did not come up on {self.hostname}: "
            f"{last_error!r}"
        ) from last_error


class _Handler:
    """The aiosmtpd handler: answers MAIL and RCPT by the :class:`FaultSmtpServer`'s mode and
    forwards DATA to it.

    A separate object because aiosmtpd scans its handler with ``inspect.getmembers()``, which
    evaluates every property (the server's ports raise before start).
    """

    def __init__(self, owner: FaultSmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """MAIL FROM: refuse if the mode says so, else accept (what aiosmtpd does by default)."""
        refusal = self.owner._refusal("mail")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """RCPT TO: refuse if the mode says so, else accept."""
        refusal = self.owner._refusal("rcpt")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.owner._handle_data(server, session, envelope)


class _OAuthHandler(_Handler):
    """The handler plus AUTH XOAUTH2 (aiosmtpd offers every ``auth_*`` method of the handler)."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        from aiosmtpd.smtp import AuthResult

        refusal = self.owner._refusal("auth")
        if refusal is not None:
            return AuthResult(success=False, handled=False, message=refusal)
        if len(args) > 1:
            blob = args[1].encode("ascii")
        else:
            answer = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)  # the client aborted with "*"
            blob = base64.b64encode(answer)  # challenge_auth hands back decoded bytes
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad XOAUTH2 data")
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        check = self.owner.oauth_introspect
        assert check is not None
        loop = asyncio.get_running_loop()
        valid_for = await loop.run_in_executor(None, check, token)  # blocking HTTP: off the loop
        if valid_for is not None and valid_for == user:
            return AuthResult(success=True, auth_data=user)
        # RFC 7628 style: a JSON error as a challenge, the client answers empty, then 535.
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "mail"})
        await server.challenge_auth(error)
        return AuthResult(
            success=False,
            handled=False,
            message="535 5.7.3 Authentication unsuccessful (invalid or expired token)",
        )


def _submission_of(session: Session, envelope: Envelope) -> Submission:
    """The message and its envelope as the client sent them."""
    content = envelope.original_content or envelope.content or b""
    if isinstance(content, str):
        content = content.encode("utf-8", errors="surrogateescape")
    peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
    return Submission(
        mail_from=envelope.mail_from or "",
        rcpt_tos=tuple(envelope.rcpt_tos),
        content=content,
        helo=session.host_name or "unknown",
        peer=peer,
    )


def delivery_status_notification(
    original: bytes, mail_from: str, rcpt_tos: tuple[str, ...], reply: str
) -> bytes:
    """An RFC 3464 bounce of ``original``, written out as a provider's mailer-daemon does.

    Built as text rather than with ``email.message``: its generator cannot write a
    ``message/delivery-status`` part it did not parse. The returned part holds the original
    headers only (``text/rfc822-headers``), as Gmail's does.
    """
    from email.parser import BytesHeaderParser
    from email.utils import formatdate, make_msgid

    code, _, text = reply.partition(" ")
    status = text.split(" ", 1)[0]
    original_id = BytesHeaderParser().parsebytes(original)["Message-ID"] or ""
    header_block = original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    boundary = "watchdog-test-dsn-boundary"
    recipients = "".join(
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Remote-MTA: dns; mx.example.test\r\nDiagnostic-Code: smtp; {code} {text}\r\n\r\n"
        for rcpt in rcpt_tos
    )
    dsn = (
        "From: Mail Delivery Subsystem <mailer-daemon@example.test>\r\n"
        f"To: {mail_from}\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        f"Date: {formatdate(localtime=True)}\r\n"
        f"Message-ID: {make_msgid(domain='example.test')}\r\n"
        f"In-Reply-To: {original_id}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message wasn't delivered because the recipient's server refused it.\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.test\r\n\r\n"
        f"{recipients}"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{header_block}\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    return dsn.encode("ascii", "replace")


class ImapAppender:
    """One persistent, lock-guarded plain-IMAP session that APPENDs mail to a user's folders.

    A single session avoids a LOGIN per message; the lock makes it safe for the worker threads
    of concurrent SMTP sessions. A broken connection is replaced once per call.
    """

    def __init__(
        self, host: str, port: int, user: str, password: str, *, timeout: float = _IMAP_TIMEOUT
    ) -> None:
        self._host = host
        self._port = port
        self._user = user
        self._password = password
        self._timeout = timeout
        self._lock = threading.Lock()
        self._client: Any = None  # imapclient.IMAPClient (untyped library)
        self._closed = False

    def append(
        self,
        folder: str,
        message: bytes,
        *,
        flags: tuple[bytes, ...] = (),
        create: bool = False,
    ) -> None:
        """Append ``message`` to ``folder`` (creating it first if ``create`` and missing).

        Raises if it fails even on a fresh connection.
        """

        def append(client: Any) -> None:
            if create and not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, message, flags=flags)

        self._call(append)

    def create_folder(self, folder: str) -> None:
        """Create ``folder`` if it does not exist yet."""

        def create(client: Any) -> None:
            if not client.folder_exists(folder):
                client.create_folder(folder)

        self._call(create)

    def _call(self, operation: Callable[[Any], None]) -> None:
        """Run ``operation(client)`` under the lock, reconnecting once if the link is broken."""
        import imapclient.exceptions

        retriable = (imapclient.exceptions.IMAPClientAbortError, OSError)
        with self._lock:
            if self._closed:
                raise RuntimeError("the IMAP session is closed")
            for attempt in (1, 2):
                try:
                    operation(self._connected())
                    return
                except retriable:
                    self._drop_client()
                    if attempt == 2:
                        raise

    def _connected(self) -> Any:
        """Return the logged-in client, connecting first if needed (caller holds the lock)."""
        if self._client is None:
            import imapclient

            client = imapclient.IMAPClient(
                self._host, port=self._port, ssl=False, timeout=self._timeout
            )
            try:
                client.login(self._user, self._password)
            except BaseException:
                with contextlib.suppress(Exception):
                    client.shutdown()
                raise
            self._client = client
        return self._client

    def _drop_client(self) -> None:
        """Forget the current connection without talking to the server (it may be dead)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def close(self) -> None:
        """Log out politely if possible; never raises."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                with contextlib.suppress(Exception):
                    client.shutdown()


def _free_loopback_port(host: str = LOOPBACK) -> int:
    """Ask the OS for a currently unused TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _discard_controller(controller: Controller) -> None:
    """Clean up after a failed ``Controller.start()`` (its thread and private event loop)."""
    with contextlib.suppress(Exception):
        controller.stop(no_assert=True)
    with contextlib.suppress(Exception):
        if not controller.loop.is_closed() and not controller.loop.is_running():
            controller.loop.close()

"""The practice's submission server, played by aiosmtpd, with switchable misbehaviour.

Three listeners share one handler: STARTTLS (like port 587), implicit TLS (like 465) and plain
(for ``security = "none"``). Accepted mail goes into Dovecot over LMTP, so the product's
mailbox side sees exactly what a real relay would have delivered. The *mode* decides what
happens to the next message; see :meth:`SubmissionServer.set_mode`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .dovecot import JUNK, free_ports
from .tls import TestCertificates

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

#: The Sent folder's name for :meth:`SubmissionServer.keep_copy` (Dovecot's usual one).
SENT = "Sent"

#: What Microsoft 365 says when it throttles a sender; the default for ``tempfail``.
TEMPFAIL_REPLY = "451 4.7.500 Access denied, please try again later"

#: What Gmail writes into the bounce it mails back for a blocked message; the default for
#: ``bounce``.
BOUNCE_REPLY = (
    "550 5.7.1 [203.0.113.7] Our system has detected that this message is likely suspicious "
    "due to the very low reputation of the sending domain. https://support.google.com/mail/"
    "answer/188131 - gsmtp"
)


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
    """What the server does with the next message (set with :meth:`SubmissionServer.set_mode`)."""

    mode: Mode = "deliver"
    reply: str | None = None  # reject / tempfail: the full reply, e.g. "554 5.2.0 ..."
    stage: Stage = "data"  # reject / tempfail: the command that gets the reply
    seconds: float = 0.0  # delay: how long after the 250 the message arrives; stall: how long
    #                       the server sits on the message data before it answers
    times: int = 0  # tempfail: how many attempts are refused before mail is delivered


@dataclass(frozen=True)
class _KeepCopy:
    """Where :meth:`SubmissionServer.keep_copy` files the copies."""

    imap_port: int
    folder: str


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


class SubmissionServer:
    """aiosmtpd controllers with AUTH PLAIN/LOGIN against ``users``, delivering into Dovecot.

    ``users`` maps SMTP login names to passwords. Delivery needs no mailbox passwords: it uses
    LMTP, where the recipient's local part names the Dovecot user.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        certificates: TestCertificates,
        lmtp_port: int,
        *,
        hostname: str = "127.0.0.1",
        oauth_introspect: Callable[[str], str | None] | None = None,
    ) -> None:
        self.users: dict[str, str] = dict(users)
        # With this: AUTH XOAUTH2 too, the bearer token checked by the OAuth2 authority (it
        # returns the user name the token is valid for, or None).
        self.oauth_introspect = oauth_introspect
        self.certificates = certificates
        self.lmtp_port = lmtp_port
        self.hostname = hostname
        self._lock = threading.Lock()
        self._behaviour = Behaviour()
        self._tempfails_left = 0
        self._received: list[ReceivedMessage] = []
        self._errors: list[str] = []
        self._timers: list[threading.Timer] = []
        self._controllers: dict[Listener, Controller] = {}
        self._keep_copy: _KeepCopy | None = None
        self._copy_lock = threading.Lock()  # guards the IMAP sessions below
        self._copy_clients: dict[str, Any] = {}  # user -> logged-in IMAPClient

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the three listeners on free ports."""
        try:
            for listener in get_args(Listener):
                self._controllers[listener] = self._start_listener(listener)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel pending delayed deliveries and stop every listener."""
        self._cancel_timers()
        with self._copy_lock:
            self._drop_copy_client()
        controllers, self._controllers = self._controllers, {}
        for controller in controllers.values():
            with contextlib.suppress(Exception):
                controller.stop()

    def reset(self) -> None:
        """Back to ``deliver``; forget received messages and errors; drop pending delays.

        Pending delayed deliveries are cancelled so that one test's late message cannot land
        in the next test's freshly cleared mailbox.
        """
        self._cancel_timers()
        with self._lock:
            self._behaviour = Behaviour()
            self._tempfails_left = 0
            self._received.clear()
            self._errors.clear()
            self._keep_copy = None
        with self._copy_lock:
            self._drop_copy_client()

    def __enter__(self) -> SubmissionServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

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
        """No TLS at all; AUTH offered but not required (a LAN relay, ``security = "none"``)."""
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

    def keep_copy(self, imap_port: int | None, folder: str = SENT) -> None:
        """Keep a copy of every accepted message in the sender's Sent folder (None: stop).

        As Gmail and Outlook.com / Microsoft 365 do for SMTP submissions: each message this
        server answers with 250, whatever the mode then does with it (a ``blackhole`` too),
        is APPENDed over IMAP at ``imap_port`` (Dovecot's plain port on loopback) to ``folder``
        of the signed-in user (else of the MAIL FROM's local part), with the users' passwords.
        The folder is created when missing. :meth:`reset` switches this off.
        """
        with self._lock:
            self._keep_copy = None if imap_port is None else _KeepCopy(imap_port, folder)
        with self._copy_lock:
            self._drop_copy_client()

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
    def errors(self) -> list[str]:
        """Deliveries into Dovecot that failed (a broken test setup, never a test scenario)."""
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
        refusal = self._refusal("auth")
        if refusal is not None:
            return AuthResult(success=False, handled=False, message=refusal)
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and self.users[login] == password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def _handle_mail(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """MAIL FROM: refuse if the mode says so, else accept (what aiosmtpd does by default)."""
        refusal = self._refusal("mail")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def _handle_rcpt(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """RCPT TO: refuse if the mode says so, else accept."""
        refusal = self._refusal("rcpt")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def _handle_data(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """End of DATA: record the message, then do what the mode says."""
        refusal = self._refusal("data")
        behaviour = self.behaviour
        mode = behaviour.mode
        mail_from = envelope.mail_from or ""
        rcpt_tos = tuple(envelope.rcpt_tos)
        content = envelope.original_content or b""

        reply: str | None = refusal or "250 2.0.0 OK queued"
        if refusal is None and mode in ("deliver", "junk", "tempfail"):
            folder = JUNK if mode == "junk" else None
            loop = asyncio.get_running_loop()
            # smtplib blocks; keep the event loop (and the other connections) responsive.
            error = await loop.run_in_executor(
                None, self._deliver, mail_from, rcpt_tos, content, folder
            )
            if error is not None:
                reply = f"451 4.3.0 Test server could not deliver into Dovecot: {error}"
        elif refusal is None and mode == "delay":
            self._deliver_later(behaviour.seconds, mail_from, rcpt_tos, content)
        elif refusal is None and mode == "drop":
            reply = None
        elif refusal is None and mode == "stall":
            # The client gives up first; this reply goes to a closed connection, if anywhere.
            await asyncio.sleep(behaviour.seconds)
            reply = "451 4.4.2 Test server stalled and gave up"
        elif refusal is None and mode == "duplicate":
            loop = asyncio.get_running_loop()
            for _ in range(2):
                error = await loop.run_in_executor(
                    None, self._deliver, mail_from, rcpt_tos, content, None
                )
                if error is not None:
                    reply = f"451 4.3.0 Test server could not deliver into Dovecot: {error}"
        elif refusal is None and mode == "bounce":
            dsn = delivery_status_notification(
                content, mail_from, rcpt_tos, behaviour.reply or BOUNCE_REPLY
            )
            loop = asyncio.get_running_loop()
            error = await loop.run_in_executor(None, self._deliver, "", (mail_from,), dsn, None)
            if error is not None:
                reply = f"451 4.3.0 Test server could not deliver the bounce: {error}"

        login = session.auth_data if isinstance(session.auth_data, str) else None
        with self._lock:
            keep = self._keep_copy
        if keep is not None and reply is not None and reply.startswith("2"):
            owner = login or mail_from.partition("@")[0]
            loop = asyncio.get_running_loop()
            error = await loop.run_in_executor(None, self._file_copy, keep, owner, content)
            if error is not None:
                reply = f"451 4.3.0 Test server could not keep the Sent copy: {error}"
        self._record(
            ReceivedMessage(
                listener=self._listener_of(server),
                login=login,
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                content=content,
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

    def _deliver(
        self, mail_from: str, rcpt_tos: tuple[str, ...], content: bytes, folder: str | None
    ) -> str | None:
        """Deliver over LMTP to each recipient's local part (``+Junk`` for the Junk folder).

        Returns an error text instead of raising, and records it in :attr:`errors`.
        """
        detail = f"+{folder}" if folder else ""
        recipients = [rcpt.partition("@")[0] + detail for rcpt in rcpt_tos]
        try:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=10) as lmtp:
                refused = lmtp.sendmail(mail_from, recipients, content)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)
        except (OSError, smtplib.SMTPException) as e:
            text = f"LMTP delivery to {recipients} failed: {e!r}"
            log.error(text)
            with self._lock:
                self._errors.append(text)
            return text
        return None

    def _file_copy(self, keep: _KeepCopy, user: str, content: bytes) -> str | None:
        """APPEND ``content`` to ``user``'s Sent folder; an error text instead of raising.

        One IMAP session per user is kept open between messages (a batch of hundreds would
        otherwise log in hundreds of times), and opened again once if it broke.
        """
        from imapclient import IMAPClient

        with self._copy_lock:
            for attempt in range(2):
                client = self._copy_clients.get(user)
                try:
                    if client is None:
                        client = IMAPClient("127.0.0.1", port=keep.imap_port, ssl=False, timeout=10)
                        self._copy_clients[user] = client
                        client.login(user, self.users[user])
                    if not client.folder_exists(keep.folder):
                        client.create_folder(keep.folder)
                    client.append(keep.folder, content, flags=(rb"\Seen",))
                    return None
                except Exception as e:
                    self._drop_copy_client(user)
                    if attempt == 1 or isinstance(e, KeyError):
                        text = f"keeping a Sent copy for {user!r} failed: {e!r}"
                        log.error(text)
                        with self._lock:
                            self._errors.append(text)
                        return text
        return None  # not reached

    def _drop_copy_client(self, user: str | None = None) -> None:
        """Log out the kept IMAP session of ``user`` (None: of everyone)."""
        users = list(self._copy_clients) if user is None else [user]
        for name in users:
            client = self._copy_clients.pop(name, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.logout()

    def _deliver_later(
        self, seconds: float, mail_from: str, rcpt_tos: tuple[str, ...], content: bytes
    ) -> None:
        timer = threading.Timer(seconds, self._deliver, (mail_from, rcpt_tos, content, None))
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
            raise RuntimeError("the submission server is not started")
        return int(controller.port)

    def _start_listener(self, listener: Listener) -> Controller:
        """Start one controller, retrying when its free-picked port was taken meanwhile."""
        common: dict[str, Any] = {
            "hostname": self.hostname,
            "server_hostname": "localhost",
            "authenticator": self.authenticate,
        }
        if listener == "starttls":
            tls: dict[str, Any] = {
                "tls_context": self.certificates.server_context(),
                "require_starttls": True,
                "auth_required": True,
            }
        elif listener == "ssl":
            # aiosmtpd does not count implicit TLS as TLS (its issues #274 and #281): with the
            # default auth_require_tls=True it would never offer AUTH on this listener.
            tls = {
                "ssl_context": self.certificates.server_context(),
                "auth_required": True,
                "auth_require_tls": False,
            }
        else:
            tls = {"auth_required": False, "auth_require_tls": False}
        for attempt in range(3):
            (port,) = free_ports(1)
            handler = _OAuthHandler(self) if self.oauth_introspect else _Handler(self)
            controller = Controller(handler, port=port, **common, **tls)
            try:
                controller.start()
                return controller
            except OSError:
                with contextlib.suppress(Exception):
                    controller.stop()
                if attempt == 2:
                    raise
        raise AssertionError("not reached")


class _Handler:
    """The aiosmtpd handler: forwards the hooks to the :class:`SubmissionServer`.

    A separate object because aiosmtpd scans its handler with ``inspect.getmembers()``, which
    evaluates every property (the server's ports raise before start).
    """

    def __init__(self, owner: SubmissionServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        return await self.owner._handle_mail(server, session, envelope, address, mail_options)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return await self.owner._handle_rcpt(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.owner._handle_data(server, session, envelope)


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


class _OAuthHandler(_Handler):
    """The handler plus AUTH XOAUTH2 (aiosmtpd offers every ``auth_*`` method of the handler)."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
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

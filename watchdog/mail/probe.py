"""Build the canary message and hand it to the practice's outgoing server with smtplib.

I/O only: what the server said is kept whole in ``SendError`` for the classifier to read.
``_connect()`` is the one network seam.

A send runs under a :class:`~watchdog.mail.netguard.Guard`: one overall time limit, a byte budget
and the caller's stop request cover the whole conversation (DNS aside), and every reply is capped in
lines and bytes, so a trickling, chattering or silent server cannot hold a check or fill memory,
and Ctrl-C / SIGTERM / Quit end a send within about a second. Failures the probe can name itself
(a wrong port, STARTTLS missing, a plain-text connection leaving the office) carry their
diagnosis and plain words (:class:`ProbeError`, ``SendError.diagnosis``).
"""

from __future__ import annotations

import contextlib
import email.policy
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from watchdog.config import SenderConfig
from watchdog.core.errors import SendError
from watchdog.core.inputs import is_office_address
from watchdog.core.models import Diagnosis, Security, SmtpReply
from watchdog.core.tokens import CANARY_HEADER
from watchdog.mail.netguard import CappedReader, Guard, OverLimitError, ResolveTimeoutError
from watchdog.mail.tls import client_context
from watchdog.signin.credentials import SignIn

#: CRLF line ends; headers folded only past 200 characters (RFC 5322 allows 998), because the
#: standard 78 splits the subject's encoded dash into an odd empty encoded word.
_WIRE_POLICY = email.policy.SMTP.clone(max_line_length=200)

# Lines under 78 characters and ASCII only, so the body travels as plain 7bit text.
_BODY = """\
This is an automated delivery check sent by Delivery Watchdog
on behalf of {sender}.

It proves that e-mail from this account still reaches its destination.
It contains no patient information and needs no action.
If you received it by mistake, you can delete it.
"""


def build_canary(
    sender_address: str, seed_address: str, token: str, sent_at: float
) -> EmailMessage:
    """The canary: one recipient, a plain subject and body, and the token in its own header."""
    msg = EmailMessage()
    msg["From"] = sender_address
    msg["To"] = seed_address
    msg["Subject"] = f"Delivery check from {sender_address} \u2013 no action needed"
    msg["Date"] = format_datetime(datetime.fromtimestamp(sent_at, UTC).astimezone())
    domain = sender_address.rpartition("@")[2] or None
    msg["Message-ID"] = f"<{token}@{domain or 'localhost'}>"  # found again if X- is stripped
    msg[CANARY_HEADER] = token
    # RFC 3834: tells vacation responders and Exchange not to answer a machine.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(_BODY.format(sender=sender_address))
    return msg


def _reply_of(code: int, text: bytes | str) -> SmtpReply:
    from watchdog.core.classifier import parse_smtp_reply

    reply: SmtpReply = parse_smtp_reply(code, text)
    return reply


def _never() -> bool:
    return False


#: The overall limit of one send, connect to the server's 250 after DATA. A healthy submission
#: takes a second or two and a provider that scans the message before answering a few more; a
#: server still not done after a minute is itself a delivery problem worth reporting, and the
#: limit stays well inside a canary's deadline (minutes). It only bounds a misbehaving server:
#: a stop request ends the send at once, whatever is left of it.
DEFAULT_OVERALL_S = 60.0

#: What one send may read from the server in all. A whole canary round trip reads 1-2 KiB.
SEND_MAX_BYTES = 1024 * 1024

#: smtplib's own limit for one reply line (RFC 5321 allows 512 octets; real servers stay under).
_MAX_LINE = 8192

#: Lines and bytes of one reply. A real EHLO answer has about 15 lines, a refusal a handful.
_MAX_REPLY_LINES = 100
_MAX_REPLY_BYTES = 64 * 1024

#: OpenSSL's reasons when the "TLS" server answered in plain text: an SMTP greeting ("220 ...")
#: read as a TLS record header.
_PLAIN_TEXT_ANSWERS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
    }
)

_STAGE_WORDS = {
    "connect": "connecting, securing and greeting",
    "login": "signing in",
    "send": "handing over the canary",
}


class ProbeError(smtplib.SMTPException):
    """A failure the probe can name itself: plain words (``str``) and a ``diagnosis``.

    An smtplib exception on purpose: callers of :meth:`SmtpProbe._connect` that catch smtplib's
    and the socket's errors (``watchdog doctor``) keep working; :meth:`SmtpProbe.send` turns it
    into a ``SendError`` with the same words and diagnosis.
    """

    def __init__(self, message: str, diagnosis: Diagnosis, *, network: bool = False) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis
        self.network = network


class _NotAnSmtpReply(smtplib.SMTPException):
    """The server wrote a line that does not start like an SMTP reply (``220 ``, ``250-``)."""

    def __init__(self, line: bytes, *, first: bool) -> None:
        super().__init__(f"not an SMTP reply: {_shown(line)!r}")
        self.line = line
        self.first = first  # in the greeting: the port is not an SMTP server at all


class _OutsideOffice(smtplib.SMTPException):
    """A plain-text connection reached an address outside this PC and the office network."""

    def __init__(self, peer: str) -> None:
        super().__init__(f"plain text to {peer} refused")
        self.peer = peer


@dataclass
class _Progress:
    """How far one conversation got, for the words when it fails."""

    connected: bool = False  # the TCP connection was established


def _shown(data: bytes, limit: int = 60) -> str:
    """Server bytes made safe to print: printable ASCII only, cut to about ``limit`` characters."""
    text = data.decode("ascii", "replace").strip()
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 4].rstrip() + " ..."


def _looks_like_reply(line: bytes) -> bool:
    """``250 text``, ``250-text`` or a bare ``250``: a three-digit code from 2xx to 5xx."""
    return (
        len(line) >= 3
        and line[:3].isdigit()
        and line[:1] in (b"2", b"3", b"4", b"5")
        and line[3:4] in (b" ", b"-", b"\r", b"\n", b"")
    )


def _peer_address(sock: socket.socket) -> str:
    """The address ``sock`` really reached (a seam: tests stand in a non-office address)."""
    return str(sock.getpeername()[0])


class _GuardedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose sockets a :class:`Guard` watches and whose replies are capped.

    ``implicit_tls``: TLS right after the TCP connect (security "ssl", port 465).
    ``office_only``: before a byte is read or written, refuse a connection whose peer is not on
    this PC or the office network (security "none": plain text stays inside the office).
    """

    def __init__(
        self,
        guard: Guard,
        progress: _Progress,
        host: str,
        port: int,
        *,
        local_hostname: str,
        timeout: float,
        implicit_tls: ssl.SSLContext | None,
        office_only: bool,
    ) -> None:
        self._guard = guard
        self._progress = progress
        self._implicit_tls = implicit_tls
        self._office_only = office_only
        self._reader: CappedReader | None = None
        self._replies = 0
        self._server_name = host  # what TLS verifies the certificate against
        super().__init__(host, port, local_hostname=local_hostname, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # No source_address: the probe never binds to a local address of its choosing.
        sock = self._guard.connect((host, port), timeout)
        self._progress.connected = True
        try:
            peer = _peer_address(sock)
            if self._office_only and not is_office_address(peer):
                raise _OutsideOffice(peer)
            if self._implicit_tls is not None:
                return self._secure(sock, self._implicit_tls)
        except BaseException:
            sock.close()
            raise
        return sock

    def _secure(self, sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        """TLS over ``sock``; the TLS socket is guarded before its handshake, which can stall."""
        tls = context.wrap_socket(
            sock, server_hostname=self._server_name, do_handshake_on_connect=False
        )
        try:
            self._guard.watch(tls)
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
        return tls

    def starttls(
        self,
        keyfile: object = None,
        certfile: object = None,
        context: ssl.SSLContext | None = None,
    ) -> tuple[int, bytes]:
        """smtplib's STARTTLS with the new TLS socket guarded; a verifying context is required."""
        if context is None or keyfile is not None or certfile is not None:
            raise ValueError("starttls needs a verifying context (and nothing else)")
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        code, reply = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, reply)
        assert self.sock is not None
        self.sock = self._secure(self.sock, context)
        self.file = None
        self._reader = None
        # RFC 3207: forget everything learnt before TLS.
        self.helo_resp = None
        self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        return code, reply

    def getreply(self) -> tuple[int, bytes]:
        """smtplib's getreply, bounded: lines, bytes and the whole conversation are capped.

        Every byte counts against the guard's budget; a line longer than :data:`_MAX_LINE` or
        a reply past :data:`_MAX_REPLY_LINES` / :data:`_MAX_REPLY_BYTES` is refused as too much
        (``Guard.over_size``) instead of smtplib's "500 Line too long", which would read as the
        server's own refusal. A line that is no SMTP reply raises :class:`_NotAnSmtpReply`.
        """
        if self._reader is None or self.file is None:
            assert self.sock is not None
            raw = self.sock.makefile("rb")
            self.file = raw
            self._reader = self._guard.reader(raw)
        first = self._replies == 0
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                line = self._reader.readline(_MAX_LINE + 1)
            except OverLimitError:
                self.close()
                raise
            except OSError as e:
                self.close()
                raise smtplib.SMTPServerDisconnected(f"Connection unexpectedly closed: {e}") from e
            if not line or (not line.endswith(b"\n") and self._guard.tripped):
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            if not _looks_like_reply(line):
                self.close()
                raise _NotAnSmtpReply(line, first=first)
            if len(line) > _MAX_LINE:
                self.close()
                self._guard.refuse(f"a reply line longer than {_MAX_LINE} bytes")
            lines.append(line[4:].strip(b" \t\r\n"))
            size += len(line)
            if line[3:4] != b"-":
                break
            if len(lines) >= _MAX_REPLY_LINES or size > _MAX_REPLY_BYTES:
                self.close()
                self._guard.refuse(
                    f"a reply of more than {_MAX_REPLY_LINES} lines or "
                    f"{_MAX_REPLY_BYTES // 1024} KiB"
                )
        self._replies += 1
        return int(line[:3]), b"\n".join(lines)

    def close(self) -> None:
        self._reader = None
        super().close()


class SmtpProbe:
    """Sends canaries through one outgoing account.

    ``timeout`` bounds each read or connect (a server silent that long is given up on);
    ``overall`` bounds a whole send, whatever the server does in between (see
    :data:`DEFAULT_OVERALL_S`).
    """

    def __init__(
        self,
        sender: SenderConfig,
        signin: SignIn,
        *,
        timeout: float = 30.0,
        overall: float = DEFAULT_OVERALL_S,
    ) -> None:
        self.sender = sender
        self.signin = signin
        self.timeout = timeout
        self.overall = overall

    @property
    def _where(self) -> str:
        return f"{self.sender.smtp_host} port {self.sender.smtp_port}"

    def _connect(
        self, guard: Guard | None = None, progress: _Progress | None = None
    ) -> smtplib.SMTP:
        """Open, secure and greet a connection; the only place that touches the network.

        Under ``guard`` when :meth:`send` calls it. Without one (``watchdog doctor``) the reply
        and byte limits still apply, but only the per-read ``timeout`` bounds the time (an
        unentered guard has no watcher). Raises smtplib and socket errors, and
        :class:`ProbeError` for what the probe can name itself.
        """
        s = self.sender
        if guard is None:
            guard = Guard(self.overall, max_bytes=SEND_MAX_BYTES)
        progress = progress or _Progress()
        context = client_context(s.ca_file)
        # smtplib would otherwise call socket.getfqdn(), which can stall for seconds on an office
        # PC with broken reverse DNS; the plain host name is a fine EHLO name for submission.
        local_hostname = socket.gethostname() or "localhost"
        try:
            connection = _GuardedSMTP(
                guard,
                progress,
                s.smtp_host,
                s.smtp_port,
                local_hostname=local_hostname,
                timeout=self.timeout,
                implicit_tls=context if s.security is Security.SSL else None,
                office_only=s.security is Security.NONE,
            )
        except _NotAnSmtpReply as e:
            raise self._garbled(e) from e
        except _OutsideOffice as e:
            raise ProbeError(
                f"{s.smtp_host} reached {e.peer}, which is neither this PC nor the office "
                f'network; security = "none" (plain text, password included) is allowed only to '
                f"loopback and private addresses, so nothing was sent. Check smtp_host in "
                f'[sender], or use security = "ssl" or "starttls".',
                Diagnosis.WRONG_SERVER_SETTINGS,
            ) from e
        except ssl.SSLError as e:
            if s.security is Security.SSL and e.reason in _PLAIN_TEXT_ANSWERS:
                # Which plain-text server? OpenSSL swallowed the greeting; a second, plain look
                # (only on this failure path) tells a wrong port from a STARTTLS port.
                greeting = self._plain_first_line(guard)
                if greeting and not _looks_like_reply(greeting):
                    raise self._garbled(_NotAnSmtpReply(greeting, first=True)) from e
                raise ProbeError(
                    f"{self._where} answered in plain text, not with TLS ({e.reason}): it is a "
                    f"plain or STARTTLS port, so port {s.smtp_port} expects security = "
                    f'"starttls" (security = "ssl" belongs with port 465). Check security and '
                    f"smtp_port in [sender].",
                    Diagnosis.TLS_ERROR,
                ) from e
            raise
        try:
            connection.ehlo()
            if s.security is Security.STARTTLS:
                if not connection.has_extn("starttls"):
                    raise ProbeError(
                        f"{self._where} did not offer STARTTLS, so the password was not sent. "
                        'Likely causes: security software on this PC (an antivirus "mail '
                        'shield" or e-mail scanning) or a network device that inspects mail '
                        "removes STARTTLS from the server's answer; or the security setting is "
                        'wrong (port 465 wants security = "ssl"). Check security and smtp_port '
                        "in [sender]; if they are right, turn off outgoing-mail scanning in the "
                        "security software or the firewall.",
                        Diagnosis.TLS_ERROR,
                    )
                connection.starttls(context=context)
                connection.ehlo()
            elif (
                s.security is Security.NONE
                and s.username
                and not connection.has_extn("auth")
                and connection.has_extn("starttls")
            ):
                raise ProbeError(
                    f"{self._where} offers sign-in only after STARTTLS, so the password was "
                    'not sent in plain text; set security = "starttls" in [sender].',
                    Diagnosis.TLS_ERROR,
                )
        except _NotAnSmtpReply as e:
            connection.close()
            raise self._garbled(e) from e
        except BaseException:
            connection.close()
            raise
        return connection

    def _plain_first_line(self, guard: Guard) -> bytes:
        """The first line a plain connection to the server reads (b"" if none comes soon)."""
        s = self.sender
        try:
            sock = guard.connect((s.smtp_host, s.smtp_port), min(self.timeout, 5.0))
        except OSError:
            return b""
        with contextlib.closing(sock), contextlib.closing(sock.makefile("rb")) as raw:
            try:
                return guard.reader(raw).readline(_MAX_LINE)
            except OSError:
                return b""

    def _garbled(self, e: _NotAnSmtpReply) -> ProbeError:
        """Words for a line that is no SMTP reply: a wrong port in the greeting, else breakage."""
        if e.first:
            return ProbeError(
                f"port {self.sender.smtp_port} of {self.sender.smtp_host} answered, but not as "
                f'an outgoing mail server (it greeted with "{_shown(e.line)}"); check smtp_port '
                'in [sender]: outgoing mail is usually 465 (security = "ssl") or 587 '
                '(security = "starttls").',
                Diagnosis.WRONG_SERVER_SETTINGS,
            )
        return ProbeError(
            f'{self._where} answered with something that is not an SMTP reply ("{_shown(e.line)}"'
            "); the server or something in between (a proxy, security software) is "
            "misbehaving.",
            Diagnosis.SERVER_UNREACHABLE,
            network=True,
        )

    def _transmit(self, connection: smtplib.SMTP, message: EmailMessage) -> SmtpReply:
        """MAIL, RCPT, DATA by hand, so the server's final reply is kept (sendmail drops it)."""
        to_addr = str(message["To"])
        code, text = connection.mail(self.sender.address)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, text, self.sender.address)
        code, text = connection.rcpt(to_addr)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to_addr: (code, text)})
        code, text = connection.data(message.as_bytes(policy=_WIRE_POLICY))
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        # The message was already accepted; a rude goodbye (or a stop now) changes nothing.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.quit()
        return _reply_of(code, text)

    def send(self, message: EmailMessage, *, should_stop: Callable[[], bool] = _never) -> SmtpReply:
        """Hand ``message`` to the server; return its final reply or raise ``SendError``.

        Returning means the server accepted the canary (250 after DATA). The whole send (DNS
        aside) runs under one :class:`Guard`: ``should_stop`` returning True (Ctrl-C, SIGTERM,
        Quit) ends it within about a second with ``SendError.cancelled``; so does the overall
        limit, with ``server_unreachable`` in plain words.
        """
        stage = "connect"
        if should_stop():
            raise SendError(
                f"Watchdog was asked to stop before connecting to {self._where}; the canary "
                "was not sent.",
                network=True,
                cancelled=True,
                stage=stage,
            )
        progress = _Progress()
        with Guard(self.overall, should_stop=should_stop, max_bytes=SEND_MAX_BYTES) as guard:
            try:
                connection = self._connect(guard, progress)
                try:
                    stage = "login"
                    self.signin.smtp(connection)
                    stage = "send"
                    return self._transmit(connection, message)
                finally:
                    connection.close()
            except (smtplib.SMTPException, OSError) as e:  # ssl errors are OSErrors too
                error, cause = self._failure(e, stage, guard, progress)
                raise error from cause
            except UnicodeEncodeError:
                # smtplib sends AUTH in ASCII: a user name or password with other characters
                # can never sign in from here. Our own set-up problem, in plain words.
                raise SendError(
                    "The sender's user name or password has characters (such as accents) "
                    "that Watchdog cannot send when signing in; only plain letters, "
                    "digits and symbols work. Support: use the account's plain user name, or an "
                    "app password.",
                    stage=stage,
                    diagnosis=Diagnosis.CANNOT_CHECK,
                ) from None

    def _failure(
        self, e: BaseException, stage: str, guard: Guard, progress: _Progress
    ) -> tuple[SendError, BaseException]:
        """The ``SendError`` for ``e`` and what to chain it to (the classifier reads the chain).

        A reply the server really gave stays a reply, even if a stop came meanwhile; then a cut
        by the guard is told apart: stopped, too much, too slow.
        """
        s = self.sender
        where = self._where
        doing = _STAGE_WORDS.get(stage, stage)
        if isinstance(e, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(e.recipients.values()))
            return (
                SendError(
                    f"The server refused the recipient: {code}",
                    reply=_reply_of(code, text),
                    stage=stage,
                ),
                e,
            )
        if isinstance(e, smtplib.SMTPResponseException):
            return (
                SendError(
                    f"The server refused at {stage}: {e.smtp_code}",
                    reply=_reply_of(e.smtp_code, e.smtp_error),
                    stage=stage,
                ),
                e,
            )
        if guard.cancelled:
            return (
                SendError(
                    f"Watchdog was asked to stop while {doing} with {where}; the server had "
                    "not accepted the canary, so it was not sent.",
                    network=True,
                    cancelled=True,
                    stage=stage,
                ),
                e,
            )
        if guard.over_size:
            detail = next((str(link) for link in _chain(e) if isinstance(link, OverLimitError)), "")
            return (
                SendError(
                    f"{where} sent far more than a mail server would"
                    + (f" ({detail})" if detail else "")
                    + f" while {doing}, so the check was cut off to keep this PC safe. Check "
                    "smtp_host and smtp_port in [sender]; if they are right, the server or "
                    "something in between (a proxy, security software) is misbehaving.",
                    network=True,
                    stage=stage,
                    diagnosis=Diagnosis.SERVER_UNREACHABLE,
                ),
                e,
            )
        timed_out = guard.expired or any(isinstance(link, TimeoutError) for link in _chain(e))
        silent = progress.connected and guard.bytes_read == 0
        if timed_out and silent and s.smtp_port == 465 and s.security is not Security.SSL:
            return (
                SendError(
                    f"{where} accepted the connection but never greeted: port 465 expects TLS "
                    f'from the first byte, while security = "{s.security}" waits for a plain '
                    'greeting. Set security = "ssl" in [sender] (or use port 587 with '
                    '"starttls").',
                    network=True,
                    stage=stage,
                    diagnosis=Diagnosis.TLS_ERROR,
                ),
                e,
            )
        lookup = next((x for x in _chain(e) if isinstance(x, ResolveTimeoutError)), None)
        if lookup is not None:
            # No DNS answer in time: this PC's network or its DNS server, never the provider.
            # No diagnosis here: the classifier reads the DNS failure, the runner the offline
            # check, as for a name that does not resolve.
            return (
                SendError(
                    f"The name {s.smtp_host} could not be looked up: {lookup.strerror}. Check "
                    "this PC's internet connection and its DNS server.",
                    network=True,
                    stage=stage,
                ),
                lookup,
            )
        if timed_out and not progress.connected:
            # Maybe this PC is offline: no diagnosis here, a timeout for the classifier and the
            # runner's offline check to read.
            timeout = TimeoutError("no connection in time")
            timeout.__cause__ = e
            return (
                SendError(
                    f"{where} did not accept a connection in the time allowed "
                    f"({min(self.timeout, self.overall):g} seconds).",
                    network=True,
                    stage=stage,
                ),
                timeout,
            )
        if guard.expired:
            return (
                SendError(
                    f"{where} answered too slowly: {doing} did not finish within "
                    f"{self.overall:g} seconds, so the check was cut off. If this keeps "
                    "happening, the server or the network in between is overloaded or "
                    "misbehaving.",
                    network=True,
                    stage=stage,
                    diagnosis=Diagnosis.SERVER_UNREACHABLE,
                ),
                e,
            )
        if isinstance(e, _NotAnSmtpReply):
            e = self._garbled(e)
        if isinstance(e, ProbeError):
            return (
                SendError(str(e), network=e.network, stage=stage, diagnosis=e.diagnosis),
                e,
            )
        if isinstance(e, smtplib.SMTPNotSupportedError):
            if stage == "login" and s.username:
                return (
                    SendError(
                        f"{where} offers no sign-in (no AUTH) after {doing}, but username is "
                        f"set in [sender]: if this server needs no sign-in, leave username "
                        "empty; otherwise check smtp_port and security.",
                        stage=stage,
                        diagnosis=Diagnosis.WRONG_SERVER_SETTINGS,
                    ),
                    e,
                )
            return (
                SendError(
                    f"The server does not support what is needed at {stage}: {e}", stage=stage
                ),
                e,
            )
        if isinstance(e, smtplib.SMTPServerDisconnected):
            return (
                SendError(
                    f"The server closed the connection at {stage}", network=True, stage=stage
                ),
                e,
            )
        if isinstance(e, OSError):
            return (
                SendError(
                    f"Could not talk to {s.smtp_host}:{s.smtp_port} at {stage}: "
                    f"{type(e).__name__}: {e}",
                    network=True,
                    stage=stage,
                ),
                e,
            )
        return SendError(f"SMTP error at {stage}: {e}", stage=stage), e


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes and contexts, each once."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending:
        link = pending.pop(0)
        if any(link is other for other in seen):
            continue
        seen.append(link)
        pending.extend(x for x in (link.__cause__, link.__context__) if x is not None)
    return seen

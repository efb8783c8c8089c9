"""The seed mailbox over IMAP: find canaries by their header (or Message-ID) in INBOX and junk.

I/O only. :meth:`SeedMailbox.connect` is the one network seam (``doctor`` uses it too). Search
right after sending (on loopback the canary is often already there), then wait with IDLE where the
server has it, re-searching at short, growing intervals: IDLE only watches the selected folder,
and some servers (Dovecot) push late.

Every step of a conversation (connect, login, listing folders, one batch of a search, a delete,
one IDLE) runs under its own :class:`~watchdog.mail.netguard.Guard`: an overall time limit and a
cap on the bytes read, so a server that trickles its answers or announces a 300 MB literal is
cut off in
plain words instead of holding a check (or this PC's memory) for as long as it likes.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import socket
import ssl
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from watchdog.config import SeedConfig
from watchdog.core.clock import Clock
from watchdog.core.errors import MailboxError
from watchdog.core.inputs import is_office_address
from watchdog.core.models import Diagnosis, Security
from watchdog.core.tokens import CANARY_HEADER, token_of_message_id
from watchdog.mail.netguard import Guard
from watchdog.mail.tls import client_context
from watchdog.signin.credentials import SignIn

if TYPE_CHECKING:
    from imapclient import IMAPClient

    from watchdog.core.bounces import Bounce
    from watchdog.mail.sent_folder import SentFolderReader, SentPoll

log = logging.getLogger(__name__)

#: Junk folder names searched when they exist, besides every folder marked SPECIAL-USE ``\Junk``
#: and the configured ``[seed] junk_folders``: a Sieve rule or a filter may file mail into any of
#: them, whatever the server marks. Matched case-insensitively, by whole name or last part
#: ("INBOX.Spam"). imapclient hands folder names over decoded (modified UTF-7), so localized
#: names are written here as users see them.
USUAL_JUNK_NAMES = (
    "Junk",
    "Spam",
    "Bulk",
    "Bulk Mail",
    "Junk E-mail",
    "Junk Email",
    "Quarantine",
    "[Gmail]/Spam",
    "Courrier indésirable",  # French Outlook
    "Spam-Verdacht",  # German providers (GMX, web.de)
    "Junk-E-Mail",  # German Outlook
    "Posta indesiderata",  # Italian Outlook
    "Correo no deseado",  # Spanish Outlook
    "Ongewenste e-mail",  # Dutch Outlook
    "Skräppost",  # Swedish Outlook
)

#: How many canaries one SEARCH looks for. After a long seed outage hundreds may be awaiting;
#: one SEARCH with all of them gets too long for the server (Dovecot refused about 900 ORed
#: tokens), and the command line, logged by imapclient at debug level, would repeat them all.
SEARCH_BATCH = 50

_MAX_BOUNCE = 512 * 1024  # a bounce is small; a big message that quotes a token is not one
_FIRST_POLL_S = 0.05
_MAX_POLL_S = 15.0  # with IDLE most arrivals wake us earlier; this bounds junk-folder latency
_MESSAGE_ID = "Message-ID"
#: A bounce with one of these actions is about a canary that did not (yet) arrive.
_BOUNCE_RANK = {"failed": 0, None: 1, "delayed": 2}


@dataclass(frozen=True)
class Found:
    """A canary seen in the seed mailbox."""

    token: str
    folder: str
    uid: int
    arrived_at: float | None  # the server's INTERNALDATE (whole seconds), None if not given
    seen_at: float  # when we saw it (our clock)
    is_junk: bool
    copies: tuple[int, ...] = ()  # UIDs of more copies in the same folder (a relay that retried)


def _never() -> bool:
    return False


class _Link:
    """The guards over one IMAP connection, and what it reached.

    Steps nest (a search inside :meth:`SeedMailbox.wait_for`), so the guards form a stack; every
    byte read counts against all of them, and any of them can cut the connection. Each guard
    watches a duplicate of the TCP socket (``handle``): shutting it down cuts the connection
    whatever TLS was layered on it since, even in the middle of a TLS handshake, when the socket
    object the handshake uses is not reachable from outside.
    """

    def __init__(self) -> None:
        self.guards: list[Guard] = []
        self.handle: socket.socket | None = None
        self.peer: str | None = None  # the address the connection actually reached
        self.line_too_long = False
        # Guards that cut the connection and are gone: one that fired just as its step ended
        # still explains why the next step finds the connection dead.
        self.cut_by: list[Guard] = []

    def connect(self, address: tuple[str, int], timeout: float | None) -> socket.socket:
        guard = self.guards[-1] if self.guards else None
        if guard is not None:
            sock = guard.connect(address, timeout)
        else:
            sock = socket.create_connection(address, timeout)
        try:
            self.peer = str(sock.getpeername()[0])
            self.handle = sock.dup()
        except OSError:
            sock.close()
            raise
        for each in self.guards:
            each.watch(self.handle)
        return sock

    def push(self, guard: Guard) -> None:
        self.guards.append(guard)
        if self.handle is not None:
            guard.watch(self.handle)

    def pop(self, guard: Guard) -> None:
        with contextlib.suppress(ValueError):
            self.guards.remove(guard)
        if guard.tripped:
            self.cut_by.append(guard)

    def count(self, n: int) -> None:
        for guard in list(self.guards):
            guard.count(n)

    def announce(self, n: int) -> None:
        for guard in list(self.guards):
            guard.announce(n)

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.close()


class _GuardedIMAP4(imaplib.IMAP4):
    """imaplib's connection, opened through the guards and reading under their byte budget.

    ``read`` and ``readline`` are imaplib's own seams for every byte it reads (a literal is one
    ``read(size)``), so overriding them works whatever imaplib buffers inside.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None,
        *,
        link: _Link,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._link = link
        self._ssl_context = ssl_context
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = self._link.connect((self.host, self.port), timeout)
        if self._ssl_context is None:
            return sock
        try:
            return self._ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            self._link.close()
            raise

    def read(self, size: int) -> bytes:
        # A literal announced bigger than the budget is refused before a byte is read (and
        # before BufferedReader.read allocates ``size`` bytes for it).
        self._link.announce(size)
        data = super().read(size)
        self._link.count(len(data))
        return data

    def readline(self) -> bytes:
        try:
            line = super().readline()
        except self.error as e:
            # imaplib's own limit: a line over 1 MB. Far more than any answer of ours.
            if "got more than" in str(e):
                self._link.line_too_long = True
            raise
        self._link.count(len(line))
        return line

    def shutdown(self) -> None:
        try:
            super().shutdown()
        finally:
            self._link.close()


class SeedMailbox:
    """A logged-in IMAP session on the seed mailbox. Use as a context manager.

    ``timeout`` bounds every read and is the overall budget of each step (connect, login, list,
    one batch of a search, a delete). ``should_stop`` (optional) cuts any step at once, even a
    read that is blocked; ``label`` names the mailbox in messages ("test mailbox", or the
    practice's own mailbox when this class reads bounces there) and ``security_key`` its
    security setting.
    """

    def __init__(
        self,
        seed: SeedConfig,
        signin: SignIn,
        clock: Clock,
        *,
        timeout: float = 30.0,
        should_stop: Callable[[], bool] = _never,
        label: str = "test mailbox",
        security_key: str = "[seed] security",
    ) -> None:
        self.seed = seed
        self.signin = signin
        self.clock = clock
        self.timeout = timeout
        self.should_stop = should_stop
        self.label = label
        self.security_key = security_key
        self._client: IMAPClient | None = None
        self._link = _Link()
        self.inbox = "INBOX"
        self.junk_folders: list[str] = []
        self.has_idle = False

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> IMAPClient:
        """Open and secure a connection, not signed in; the only place that touches the network.

        What it does: connects to ``imap_host``:``imap_port`` with TLS from the first byte
        (``ssl``) or after STARTTLS (``starttls``), the certificate always verified (the system's
        CAs, or the account's ``ca_file``). No user name or password is sent: :meth:`open` signs
        in on what this returns, and ``doctor`` calls it alone to test the TLS step.

        Guard and timeouts: connecting, the TLS handshake and STARTTLS are one step ("connect")
        under a :class:`~watchdog.mail.netguard.Guard` of ``timeout`` seconds overall, with the
        mailbox's byte budget and ``should_stop``; the socket's connect and each read also time
        out after ``timeout`` seconds. The client stays bound to this mailbox's guard link, so
        the steps that follow are guarded the same way; a new ``connect`` replaces that link, so
        call it only while no session of this mailbox is in use.

        Errors: a :class:`MailboxError` (``network=True`` for a server that could not be reached,
        answered too slowly or sent too much), the library's or socket's error as its cause; the
        half-open connection is closed. With ``security = "none"`` the address actually reached
        must be on the office network, whatever spelling the configured host used, or a
        :class:`MailboxError` (diagnosis ``wrong_server_settings``) is raised before anything is
        sent.

        The caller owns the client: ``logout()`` and ``shutdown()`` it when done (:meth:`close`
        does that for the session :meth:`open` made).
        """
        from imapclient import SocketTimeout

        s = self.seed
        context = client_context(s.ca_file)
        timeout = SocketTimeout(connect=self.timeout, read=self.timeout)
        self._link.close()
        self._link = _Link()
        with self._step("connect"):
            client = _guarded_client_class()(
                s.imap_host,
                port=s.imap_port,
                ssl=s.security is Security.SSL,
                ssl_context=context,
                timeout=timeout,
                link=self._link,
            )
            try:
                if s.security is Security.STARTTLS:
                    client.starttls(context)
                elif s.security is Security.NONE:
                    self._check_plain_text_peer()
            except BaseException:
                with contextlib.suppress(Exception):
                    client.shutdown()
                self._link.close()
                raise
        return client

    def _check_plain_text_peer(self) -> None:
        peer = self._link.peer or "an unknown address"
        if self._link.peer is not None and is_office_address(self._link.peer):
            return
        key = self.security_key
        raise MailboxError(
            f'{key} = "none" sends the password as plain text, which is for the office network '
            f"only, but the {self.label} server {self.seed.imap_host} was reached at {peer}, "
            f'outside it. Nothing was sent. Set {key} = "ssl" (port 993) or "starttls" '
            "(port 143) for this server.",
            diagnosis=Diagnosis.WRONG_SERVER_SETTINGS,
        )

    def open(self) -> SeedMailbox:
        """Connect, log in and find the folders to search."""
        client = self.connect()
        self._client = client
        try:
            with self._step("login"):
                self.signin.imap(client)
            with self._step("list folders"):
                self.has_idle = client.has_capability("IDLE")
                self.junk_folders = self._find_junk_folders(client)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Log out, ignoring a server that is already gone."""
        client, self._client = self._client, None
        try:
            if client is None:
                return
            try:
                with self._step("log out"):
                    client.logout()
            except Exception:
                with contextlib.suppress(Exception):
                    client.shutdown()
        finally:
            self._link.close()

    def __enter__(self) -> SeedMailbox:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError("The seed mailbox is not open")
        return self._client

    @contextlib.contextmanager
    def _step(
        self,
        action: str,
        seconds: float | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[Guard]:
        """One step of the conversation under its own guard; every failure a ``MailboxError``.

        ``seconds`` defaults to the per-read timeout. A step cut by any guard on the stack (time,
        size, stop request) is told in plain words; other library and socket errors keep theirs.
        """
        budget = self.timeout if seconds is None else seconds
        options: dict[str, Any] = {"should_stop": should_stop or self.should_stop}
        if max_bytes is not None:
            options["max_bytes"] = max_bytes
        with Guard(budget, **options) as guard:
            self._link.push(guard)
            try:
                with self._errors(action):
                    yield guard
            finally:
                self._link.pop(guard)

    def _cut_error(self, action: str) -> MailboxError | None:
        """The plain-words error for a step the guards cut, or None if none did."""
        guards = [*self._link.guards, *self._link.cut_by]
        server = f"the {self.label} server {self.seed.imap_host}"
        section = self.security_key.partition(" ")[0]  # "[seed]", "[sender]"
        if self._link.line_too_long or any(g.over_size for g in guards):
            return MailboxError(
                f"{server[0].upper()}{server[1:]} sent far more than expected ({action}), so "
                f"the connection was cut to protect this PC. Check that {section} imap_host and "
                "imap_port point at the right mail server.",
                network=True,
                diagnosis=Diagnosis.SEED_UNREACHABLE,
            )
        expired = [g for g in guards if g.expired]
        if expired:
            limit = min(g.seconds for g in expired)
            return MailboxError(
                f"{server[0].upper()}{server[1:]} answered too slowly: {action} did not finish "
                f"within {limit:g} s, so the check stopped waiting.",
                network=True,
                diagnosis=Diagnosis.SEED_UNREACHABLE,
            )
        if any(g.cancelled for g in guards):
            return MailboxError(
                f"Stopped on request while talking to {server} ({action}).", network=True
            )
        return None

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn every library and socket error into ``MailboxError``, keeping the cause."""
        from imapclient.exceptions import IMAPClientError, LoginError

        where = f"{self.seed.imap_host}:{self.seed.imap_port}"
        try:
            yield
        except MailboxError:
            raise
        except Exception as e:
            cut = self._cut_error(action)
            if cut is not None:
                raise cut from e
            if isinstance(e, LoginError):
                raise MailboxError(f"The seed mailbox refused the login at {where}: {e}") from e
            if isinstance(e, imaplib.IMAP4.abort):
                raise MailboxError(
                    f"The seed mailbox hung up during {action}: {e}", network=True
                ) from e
            if isinstance(e, IMAPClientError | imaplib.IMAP4.error):
                raise MailboxError(f"The seed mailbox said no to {action}: {e}") from e
            if isinstance(e, TimeoutError | OSError | ssl.SSLError):
                raise MailboxError(
                    f"Could not talk to the seed mailbox {where} ({action}): "
                    f"{type(e).__name__}: {e}",
                    network=True,
                ) from e
            raise

    # -- folders ----------------------------------------------------------------------------

    def _find_junk_folders(self, client: IMAPClient) -> list[str]:
        """Every junk candidate: SPECIAL-USE ``\\Junk``, the configured and the usual names.

        All of them, not the first kind found: Debian's stock Dovecot marks a "Junk" folder
        while a Sieve rule may file spam into "Spam" or "Quarantine". Never INBOX, never twice.
        """
        special: list[str] = []
        exact: dict[str, str] = {}
        by_leaf: dict[str, str] = {}
        for flags, delimiter, raw_name in client.list_folders():
            name = raw_name.decode("utf-8", "replace") if isinstance(raw_name, bytes) else raw_name
            marks = {bytes(f).lower() for f in flags}
            if b"\\noselect" in marks or b"\\nonexistent" in marks or name.upper() == "INBOX":
                continue
            if b"\\junk" in marks or b"\\spam" in marks:
                special.append(name)
            exact.setdefault(name.casefold(), name)
            if delimiter:
                leaf = name.rsplit(bytes(delimiter).decode("ascii", "replace"), 1)[-1]
                by_leaf.setdefault(leaf.casefold(), name)
        junk: list[str] = []
        for name in special:
            if name not in junk:
                junk.append(name)
        for wanted in (*self.seed.junk_folders, *USUAL_JUNK_NAMES):
            key = wanted.casefold()
            name = exact.get(key) or by_leaf.get(key)
            if name is not None and name not in junk:
                junk.append(name)
        return junk

    # -- searching --------------------------------------------------------------------------

    def search(self, tokens: Iterable[str]) -> dict[str, Found]:
        """Find each of ``tokens`` in INBOX and the junk folders.

        By our header or, when a relay stripped it, by the Message-ID ``<token@domain>``; a hit
        counts only when the header's value or the Message-ID's local part is exactly one of
        ``tokens`` (IMAP SEARCH HEADER matches substrings).
        """
        wanted = set(tokens)
        found: dict[str, Found] = {}
        if not wanted:
            return found
        if len(wanted) > SEARCH_BATCH:
            log.info("Looking for %d canaries, %d per search", len(wanted), SEARCH_BATCH)
        for folder in [self.inbox, *self.junk_folders]:
            remaining = sorted(wanted - found.keys())
            for index, batch in enumerate(_batches(remaining, SEARCH_BATCH)):
                with self._step(f"search {folder}"):
                    if index == 0 and not self._select_to_search(folder):
                        break
                    for item in self._search_batch(folder, set(batch)):
                        found.setdefault(item.token, item)
        return found

    def _select_to_search(self, folder: str) -> bool:
        """Select ``folder``; False for a junk candidate the server will not open.

        A junk candidate may be gone since the folders were listed, or closed to this user: the
        other folders are still searched. A refused INBOX, or a connection that broke, still
        fails the search.
        """
        try:
            self.client.select_folder(folder)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as e:  # imapclient's IMAPClientError: the server said NO
            if folder == self.inbox:
                raise
            log.warning("Skipping the junk folder %r of the seed mailbox: %s", folder, e)
            self.junk_folders = [f for f in self.junk_folders if f != folder]
            return False
        return True

    def _search_batch(self, folder: str, tokens: set[str]) -> list[Found]:
        client = self.client
        uids = client.search(
            _any_of([[*pair] for t in sorted(tokens) for pair in _canary_terms(t)])
        )
        if not uids:
            return []
        fields = f"{CANARY_HEADER} {_MESSAGE_ID}".upper()
        response = client.fetch(uids, ["INTERNALDATE", f"BODY.PEEK[HEADER.FIELDS ({fields})]"])
        seen_at = self.clock.now()
        results: dict[str, Found] = {}
        is_junk = folder != self.inbox
        for uid, data in sorted(response.items()):
            token = _token_in(_header_fields(data), tokens)
            if token is None:
                continue
            first = results.get(token)
            if first is not None:
                # Delivered twice: the first copy counts, the others are only deleted with it.
                results[token] = replace(first, copies=(*first.copies, uid))
                continue
            internal = data.get(b"INTERNALDATE")
            arrived = internal.timestamp() if isinstance(internal, datetime) else None
            results[token] = Found(token, folder, uid, arrived, seen_at, is_junk)
        return list(results.values())

    def find_bounces(self, tokens: Iterable[str]) -> dict[str, Bounce]:
        """Delivery status notifications about our canaries, by token (the sender's inbox).

        Failed and delayed notices (a failure wins over a delay for the same canary); the
        caller tells them apart by ``Bounce.action``. A bounce whose returned message lost our
        header is matched by its Message-ID ``<token@domain>``. Only messages whose text
        contains one of our tokens are fetched, so nothing else in the practice's inbox is read;
        nothing is changed or deleted there.
        """
        wanted = set(tokens)
        bounces: dict[str, Bounce] = {}
        if not wanted:
            return bounces
        for folder in [self.inbox, *self.junk_folders]:
            for bounce in self._bounces_in(folder, sorted(wanted)):
                token = bounce.canary_token
                if token not in wanted:
                    continue
                assert token is not None
                known = bounces.get(token)
                if known is None or _BOUNCE_RANK[bounce.action] < _BOUNCE_RANK[known.action]:
                    bounces[token] = bounce
        return bounces

    def _bounces_in(self, folder: str, tokens: Sequence[str]) -> list[Bounce]:
        from watchdog.core.bounces import parse_bounce

        uids: set[int] = set()
        for index, batch in enumerate(_batches(tokens, SEARCH_BATCH)):
            with self._step(f"look for bounces in {folder}"):
                client = self.client
                if index == 0:
                    client.select_folder(folder, readonly=True)
                uids.update(client.search(_any_of([["TEXT", t] for t in batch])))
        if not uids:
            return []
        with self._step(f"look for bounces in {folder}"):
            sizes = self.client.fetch(sorted(uids), ["RFC822.SIZE"])
        small = sorted(uid for uid, d in sizes.items() if d.get(b"RFC822.SIZE", 0) <= _MAX_BOUNCE)
        wanted = set(tokens)
        found = []
        for uid in small:
            # One message per step: each is at most _MAX_BOUNCE, well inside one step's budget.
            with self._step(f"read a bounce in {folder}"):
                data = self.client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                continue
            bounce = parse_bounce(raw)
            if bounce is None or bounce.action not in _BOUNCE_RANK:
                continue
            if bounce.canary_token not in wanted:
                # A relay stripped our header from the returned message: its Message-ID still
                # carries the token.
                token = token_of_message_id(bounce.original_message_id or "")
                if token is None or token not in wanted:
                    continue
                bounce = replace(bounce, canary_token=token)
            found.append(bounce)
        return found

    def find_notices(
        self, domains: Iterable[str], *, since: float, limit: int = 20
    ) -> list[tuple[bytes, float | None]]:
        """Header blocks of recent inbox messages from these domains (the sender's inbox).

        Only From, Subject, Date and Authentication-Results are fetched, never a body, and
        only for messages the server says are from one of ``domains`` since ``since``: the
        practice's inbox holds patient mail. Each item is (headers, INTERNALDATE). Nothing is
        changed there.
        """
        wanted = sorted(set(domains))
        if not wanted:
            return []
        criteria = _any_of([["FROM", domain] for domain in wanted])
        day = datetime.fromtimestamp(since).date()  # SINCE compares dates, not times
        with self._step(f"look for provider notices in {self.inbox}"):
            client = self.client
            client.select_folder(self.inbox, readonly=True)
            uids = sorted(client.search(["SINCE", day, *criteria]))[-limit:]
            if not uids:
                return []
            fields = "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE AUTHENTICATION-RESULTS)]"
            found: list[tuple[bytes, float | None]] = []
            for data in client.fetch(uids, [fields, "INTERNALDATE"]).values():
                headers = next(
                    (v for k, v in data.items() if k.startswith(b"BODY[HEADER") and v), None
                )
                arrived = data.get(b"INTERNALDATE")
                when = arrived.timestamp() if isinstance(arrived, datetime) else None
                if isinstance(headers, bytes) and (when is None or when >= since):
                    found.append((headers, when))
            return found

    def sent_times(self, reader: SentFolderReader, since: float) -> SentPoll:
        """The send times ``reader`` finds in this account's Sent folder (read-only).

        One guarded step like every other: a server that trickles or floods the answer is cut.
        Only SEARCH and INTERNALDATE are asked for; nothing about the messages is read.
        """
        with self._step("read the Sent folder", self.timeout * 2):
            return reader.poll(self.client, since)

    def delete(self, items: Iterable[Found]) -> None:
        """Remove found canaries so the seed mailbox does not fill up."""
        by_folder: dict[str, list[int]] = {}
        for item in items:
            by_folder.setdefault(item.folder, []).extend((item.uid, *item.copies))
        for folder, uids in by_folder.items():
            with self._step(f"delete in {folder}"):
                client = self.client
                client.select_folder(folder)
                client.delete_messages(uids)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)
                else:
                    client.expunge()

    def wait_for(
        self,
        token: str,
        deadline_monotonic: float,
        *,
        should_stop: Callable[[], bool] = _never,
    ) -> Found | None:
        """Wait until ``token`` shows up or the deadline passes (``None``).

        The whole wait is bounded by the deadline plus one ``timeout``, and ``should_stop``
        cuts even a read that is blocked (then ``None``: the canary stays pending).
        """
        remaining = max(0.0, deadline_monotonic - self.clock.monotonic())
        try:
            # No byte cap here: each search and IDLE inside has its own.
            with self._step(
                "wait for the canary",
                remaining + self.timeout,
                should_stop=should_stop,
                max_bytes=sys.maxsize,
            ):
                return self._wait(token, deadline_monotonic, should_stop)
        except MailboxError:
            # A stop request is lasting (Ctrl-C, SIGTERM, Quit): the cut was ours, not the
            # server's.
            if should_stop():
                return None
            raise

    def _wait(
        self, token: str, deadline_monotonic: float, should_stop: Callable[[], bool]
    ) -> Found | None:
        interval = _FIRST_POLL_S
        while True:
            hit = self.search([token]).get(token)
            if hit is not None:
                return hit
            remaining = deadline_monotonic - self.clock.monotonic()
            if remaining <= 0 or should_stop():
                return None
            wait = min(interval, remaining)
            interval = min(interval * 2, _MAX_POLL_S)
            if self.has_idle:
                self._idle(wait)
            else:
                self.clock.sleep(wait)

    def _idle(self, seconds: float) -> None:
        """Block in IDLE on INBOX for up to ``seconds``; returns early when the server pushes."""
        with self._step("IDLE", seconds + self.timeout):
            client = self.client
            client.select_folder(self.inbox)
            client.idle()
            try:
                client.idle_check(timeout=seconds)
            finally:
                client.idle_done()


_GUARDED_CLIENT: type[Any] | None = None


def _guarded_client_class() -> type[Any]:
    """``IMAPClient`` whose connection is a :class:`_GuardedIMAP4` (imapclient imported lazily)."""
    global _GUARDED_CLIENT
    if _GUARDED_CLIENT is None:
        from imapclient import IMAPClient

        class GuardedIMAPClient(IMAPClient):  # type: ignore[misc]
            def __init__(self, *args: Any, link: _Link, **kwargs: Any) -> None:
                self._watchdog_link = link
                super().__init__(*args, **kwargs)

            def _create_IMAP4(self) -> imaplib.IMAP4:
                return _GuardedIMAP4(
                    self.host,
                    self.port,
                    getattr(self._timeout, "connect", None),
                    link=self._watchdog_link,
                    ssl_context=self.ssl_context if self.ssl else None,
                )

        _GUARDED_CLIENT = GuardedIMAPClient
    return _GUARDED_CLIENT


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _canary_terms(token: str) -> list[list[str]]:
    """SEARCH terms that match a canary: our header, or the Message-ID carrying the token."""
    return [["HEADER", CANARY_HEADER, token], ["HEADER", _MESSAGE_ID, token]]


def _any_of(terms: Sequence[Sequence[Any]]) -> list[Any]:
    """SEARCH criteria matching any of ``terms``, as a balanced tree of ORs (shallow nesting)."""
    if len(terms) == 1:
        return list(terms[0])
    middle = len(terms) // 2
    return ["OR", *_any_of(terms[:middle]), *_any_of(terms[middle:])]


def _header_fields(data: dict[bytes, Any]) -> dict[str, str]:
    """Lower-cased header names -> values from a FETCH of ``BODY[HEADER.FIELDS (...)]``."""
    fields: dict[str, str] = {}
    for key, raw in data.items():
        if key.startswith(b"BODY[HEADER.FIELDS") and isinstance(raw, bytes):
            text = raw.decode("ascii", "replace")
            # Unfold continuation lines, then take the value after the colon.
            text = text.replace("\r\n ", " ").replace("\r\n\t", " ")
            for line in text.splitlines():
                name, colon, value = line.partition(":")
                if colon:
                    fields.setdefault(name.strip().lower(), value.strip())
    return fields


def _token_in(fields: dict[str, str], tokens: set[str]) -> str | None:
    """The wanted token this message carries exactly, in our header or as its Message-ID."""
    header = fields.get(CANARY_HEADER.lower(), "")
    if header in tokens:
        return header
    from_id = token_of_message_id(fields.get(_MESSAGE_ID.lower(), ""))
    if from_id is not None and from_id in tokens:
        return from_id
    return None

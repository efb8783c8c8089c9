"""The seed mailbox over IMAP: find canaries by their header in INBOX and the junk folder.

I/O only. ``_connect()`` is the one network seam. Search right after sending (on loopback the canary
is often already there), then wait with IDLE where the server has it, re-searching at short,
growing intervals: IDLE only watches the selected folder, and some servers (Dovecot) push late.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .config import SeedConfig
from .credentials import SignIn
from .errors import MailboxError
from .models import Security
from .probe import CANARY_HEADER
from .tls import client_context

if TYPE_CHECKING:
    from imapclient import IMAPClient

    from .bounces import Bounce

log = logging.getLogger(__name__)

#: Junk folder names tried when the server does not mark one with SPECIAL-USE ``\Junk``.
USUAL_JUNK_NAMES = (
    "Junk",
    "Spam",
    "Junk E-mail",
    "Junk Email",
    "Bulk Mail",
    "Bulk",
    "[Gmail]/Spam",
)

_MAX_BOUNCE = 512 * 1024  # a bounce is small; a big message that quotes a token is not one
_FIRST_POLL_S = 0.05
_MAX_POLL_S = 15.0  # with IDLE most arrivals wake us earlier; this bounds junk-folder latency


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


class SeedMailbox:
    """A logged-in IMAP session on the seed mailbox. Use as a context manager."""

    def __init__(
        self, seed: SeedConfig, signin: SignIn, clock: Clock, *, timeout: float = 30.0
    ) -> None:
        self.seed = seed
        self.signin = signin
        self.clock = clock
        self.timeout = timeout
        self._client: IMAPClient | None = None
        self.inbox = "INBOX"
        self.junk_folders: list[str] = []
        self.has_idle = False

    # -- connection -------------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        """Open and secure the connection; the only place that touches the network."""
        from imapclient import IMAPClient, SocketTimeout

        s = self.seed
        context = client_context(s.ca_file)
        timeout = SocketTimeout(connect=self.timeout, read=self.timeout)
        client = IMAPClient(
            s.imap_host,
            port=s.imap_port,
            ssl=s.security is Security.SSL,
            ssl_context=context,
            timeout=timeout,
        )
        if s.security is Security.STARTTLS:
            try:
                client.starttls(context)
            except BaseException:
                with contextlib.suppress(Exception):
                    client.shutdown()
                raise
        return client

    def open(self) -> SeedMailbox:
        """Connect, log in and find the folders to search."""
        with self._errors("connect"):
            client = self._connect()
        self._client = client
        try:
            with self._errors("login"):
                self.signin.imap(client)
            with self._errors("list folders"):
                self.has_idle = client.has_capability("IDLE")
                self.junk_folders = self._find_junk_folders(client)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Log out, ignoring a server that is already gone."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

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
    def _errors(self, action: str) -> Any:
        """Turn every library and socket error into ``MailboxError``, keeping the cause."""
        from imapclient.exceptions import IMAPClientError, LoginError

        where = f"{self.seed.imap_host}:{self.seed.imap_port}"
        try:
            yield
        except LoginError as e:
            raise MailboxError(f"The seed mailbox refused the login at {where}: {e}") from e
        except imaplib.IMAP4.abort as e:
            raise MailboxError(
                f"The seed mailbox hung up during {action}: {e}", network=True
            ) from e
        except (IMAPClientError, imaplib.IMAP4.error) as e:
            raise MailboxError(f"The seed mailbox said no to {action}: {e}") from e
        except (TimeoutError, OSError, ssl.SSLError) as e:
            raise MailboxError(
                f"Could not talk to the seed mailbox {where} ({action}): {type(e).__name__}: {e}",
                network=True,
            ) from e

    # -- folders ----------------------------------------------------------------------------

    def _find_junk_folders(self, client: IMAPClient) -> list[str]:
        """SPECIAL-USE ``\\Junk`` first; else the configured and usual names that exist."""
        folders = client.list_folders()
        junk: list[str] = []
        by_name: dict[str, str] = {}
        for flags, _delimiter, name in folders:
            if b"\\Junk" in flags or b"\\Spam" in flags:
                junk.append(name)
            leaf = name
            if _delimiter:
                leaf = name.rsplit(_delimiter.decode(), 1)[-1]
            by_name.setdefault(name.lower(), name)
            by_name.setdefault(leaf.lower(), name)
        if not junk:
            for wanted in (*self.seed.junk_folders, *USUAL_JUNK_NAMES):
                name = by_name.get(wanted.lower())
                if name and name not in junk and name.upper() != "INBOX":
                    junk.append(name)
        return junk

    # -- searching --------------------------------------------------------------------------

    def search(self, tokens: Iterable[str]) -> dict[str, Found]:
        """Find each of ``tokens`` in INBOX and the junk folders; exact header match only."""
        wanted = set(tokens)
        found: dict[str, Found] = {}
        if not wanted:
            return found
        for folder in [self.inbox, *self.junk_folders]:
            remaining = wanted - found.keys()
            if not remaining:
                break
            with self._errors(f"search {folder}"):
                for item in self._search_folder(folder, remaining):
                    found.setdefault(item.token, item)
        return found

    def _search_folder(self, folder: str, tokens: set[str]) -> list[Found]:
        client = self.client
        client.select_folder(folder)
        criteria: list[Any] = []
        # IMAP SEARCH HEADER is a substring match: the fetch below checks the exact value.
        for i, token in enumerate(sorted(tokens)):
            term = ["HEADER", CANARY_HEADER, token]
            criteria = term if i == 0 else ["OR", *criteria, *term]
        uids = client.search(criteria)
        if not uids:
            return []
        header_item = f"BODY.PEEK[HEADER.FIELDS ({CANARY_HEADER.upper()})]"
        response = client.fetch(uids, ["INTERNALDATE", header_item])
        seen_at = self.clock.now()
        results: dict[str, Found] = {}
        is_junk = folder != self.inbox
        for uid, data in sorted(response.items()):
            value = _header_value(data)
            if value not in tokens:
                continue
            first = results.get(value)
            if first is not None:
                # Delivered twice: the first copy counts, the others are only deleted with it.
                results[value] = replace(first, copies=(*first.copies, uid))
                continue
            internal = data.get(b"INTERNALDATE")
            arrived = internal.timestamp() if isinstance(internal, datetime) else None
            results[value] = Found(value, folder, uid, arrived, seen_at, is_junk)
        return list(results.values())

    def find_bounces(self, tokens: Iterable[str]) -> dict[str, Bounce]:
        """Delivery status notifications about our canaries, by token (the sender's inbox).

        Only messages whose text contains one of our tokens are fetched, so nothing else in the
        practice's inbox is read; nothing is changed or deleted there.
        """
        wanted = set(tokens)
        bounces: dict[str, Bounce] = {}
        if not wanted:
            return bounces
        for folder in [self.inbox, *self.junk_folders]:
            with self._errors(f"look for bounces in {folder}"):
                for bounce in self._bounces_in(folder, wanted):
                    if bounce.canary_token in wanted:
                        bounces.setdefault(bounce.canary_token, bounce)
        return bounces

    def _bounces_in(self, folder: str, tokens: set[str]) -> list[Bounce]:
        from .bounces import parse_bounce

        client = self.client
        client.select_folder(folder, readonly=True)
        criteria: list[Any] = []
        for i, token in enumerate(sorted(tokens)):
            term = ["TEXT", token]
            criteria = term if i == 0 else ["OR", *criteria, *term]
        uids = client.search(criteria)
        if not uids:
            return []
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        small = [uid for uid, data in sizes.items() if data.get(b"RFC822.SIZE", 0) <= _MAX_BOUNCE]
        found = []
        for data in client.fetch(small, ["BODY.PEEK[]"]).values():
            raw = data.get(b"BODY[]")
            if isinstance(raw, bytes):
                bounce = parse_bounce(raw)
                if bounce is not None:
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
        criteria: list[Any] = []
        for i, domain in enumerate(wanted):
            term = ["FROM", domain]
            criteria = term if i == 0 else ["OR", *criteria, *term]
        day = datetime.fromtimestamp(since).date()  # SINCE compares dates, not times
        with self._errors(f"look for provider notices in {self.inbox}"):
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

    def delete(self, items: Iterable[Found]) -> None:
        """Remove found canaries so the seed mailbox does not fill up."""
        by_folder: dict[str, list[int]] = {}
        for item in items:
            by_folder.setdefault(item.folder, []).extend((item.uid, *item.copies))
        for folder, uids in by_folder.items():
            with self._errors(f"delete in {folder}"):
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
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Found | None:
        """Wait until ``token`` shows up or the deadline passes (``None``)."""
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
        with self._errors("IDLE"):
            client = self.client
            client.select_folder(self.inbox)
            client.idle()
            try:
                client.idle_check(timeout=seconds)
            finally:
                client.idle_done()


def _header_value(data: dict[bytes, Any]) -> str:
    """The canary header's value from a FETCH of ``BODY[HEADER.FIELDS (...)]``."""
    for key, raw in data.items():
        if key.startswith(b"BODY[HEADER.FIELDS") and isinstance(raw, bytes):
            text = raw.decode("ascii", "replace")
            # Unfold continuation lines, then take the value after the colon.
            text = text.replace("\r\n ", " ").replace("\r\n\t", " ")
            for line in text.splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == CANARY_HEADER.lower():
                    return value.strip()
    return ""

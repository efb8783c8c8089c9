"""The sending account's Sent folder, read-only: when messages left, never what they said.

The practice's Sent folder holds patient mail, so this module asks the server for exactly two
things: the UIDs of messages since a date (SEARCH) and their INTERNALDATE (FETCH). It never
fetches an envelope, a header or a body, and it never stores or logs a recipient, a subject or
a body: what it returns is a folder name and a list of times. The folder is opened with EXAMINE
(``readonly=True``), so not even a \\Seen flag changes.

Cheap: it remembers the folder's UIDVALIDITY and the highest UID seen, so a poll fetches the
INTERNALDATE of new messages only (``UID <highest+1>:*``).

Seam: :meth:`SentFolderReader.poll` takes an IMAP client that is already connected and logged
in (the runner's session on the sender's mailbox, ``[sender] imap_host``);
:meth:`SentFolderReader.poll_with` takes a factory that makes one and logs it out after. Every
library and socket error becomes :class:`~watchdog.core.errors.MailboxError`.

Whether a provider keeps a copy of SMTP-submitted mail in Sent at all is recorded in
``data/sent_copies.toml`` (:func:`keeps_sent_copy`).
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import logging
import ssl
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from watchdog.core import tables
from watchdog.core.errors import MailboxError
from watchdog.core.tokens import CANARY_HEADER

if TYPE_CHECKING:
    from imapclient import IMAPClient

log = logging.getLogger(__name__)

#: Sent folder names tried, in this order, when no folder is marked SPECIAL-USE ``\Sent``.
USUAL_SENT_NAMES = (
    "Sent",
    "Sent Items",
    "Sent Messages",
    "Sent Mail",
    "[Gmail]/Sent Mail",
    "[Google Mail]/Sent Mail",
    "INBOX.Sent",
    "INBOX/Sent",
    "Gesendete Objekte",
    "Gesendete Elemente",
    "Gesendet",
    "Éléments envoyés",
    "Envoyés",
    "Elementos enviados",
    "Enviados",
    "Posta inviata",
    "Inviata",
    "Verzonden items",
    "Skickat",
)


@dataclass(frozen=True)
class SentPoll:
    """What one look at the Sent folder found: times only."""

    folder: str
    #: INTERNALDATEs (Unix seconds) of the messages new since the last poll, oldest first.
    new_times: tuple[float, ...]
    #: True when this poll started over (first poll, or the server renumbered the folder:
    #: UIDVALIDITY changed): ``new_times`` then covers everything since ``since``, and the
    #: caller should replace, not extend, what it kept.
    restarted: bool
    #: False when the server could not leave our own canaries out (no HEADER search):
    #: ``new_times`` then includes them.
    canaries_excluded: bool = True
    #: Whether a copy of one of our own canaries was ever seen in the folder: the proof that
    #: mail sent through the account's outgoing server, as the reminders are, is filed here
    #: (None: the server cannot search by header, so it is not known).
    canary_copies_seen: bool | None = None


class SentFolderReader:
    """Polls one account's Sent folder; keeps UIDVALIDITY and the highest UID between polls.

    Not thread-safe: one reader per account, polled from one thread.

    ``folder`` names the folder when support knows it; otherwise it is found by SPECIAL-USE
    ``\\Sent`` and then by :data:`USUAL_SENT_NAMES`. ``where`` (host:port) goes into error
    messages only.
    """

    def __init__(
        self,
        *,
        folder: str | None = None,
        where: str = "the sending account's mailbox",
        exclude_header: str | None = CANARY_HEADER,
    ) -> None:
        self.folder = folder
        self.where = where
        self.exclude_header = exclude_header
        self.uidvalidity: int | None = None
        self.highest_uid = 0
        self.fetch_slice = 500  # UIDs per FETCH
        self._header_search = exclude_header is not None
        # Sticky: once a copy of our canary was seen, the route files copies; not looked again.
        self.canary_copies_seen = False

    def poll_with(self, connect: Callable[[], IMAPClient], since: float) -> SentPoll:
        """Connect with ``connect`` (connected and logged in), poll, then log out."""
        with self._errors("connect"):
            client = connect()
        try:
            return self.poll(client, since)
        finally:
            try:
                client.logout()
            except Exception:
                with contextlib.suppress(Exception):
                    client.shutdown()

    def poll(self, client: IMAPClient, since: float) -> SentPoll:
        """New messages' INTERNALDATEs since the last poll (and not before ``since``).

        Raises :class:`MailboxError` when the folder cannot be found or read.
        """
        if self.folder is None:
            with self._errors("list folders"):
                self.folder = find_sent_folder(client.list_folders())
            if self.folder is None:
                raise MailboxError(
                    f"No Sent folder found at {self.where}: none is marked \\Sent and none "
                    f"has a usual name ({', '.join(USUAL_SENT_NAMES[:4])}, ...). Set the "
                    "folder's name in the settings."
                )
        folder = self.folder
        with self._errors(f"open {folder}"):
            selected = client.select_folder(folder, readonly=True)
        validity = _int(selected.get(b"UIDVALIDITY"))
        restarted = validity is None or validity != self.uidvalidity
        if restarted:
            self.uidvalidity = validity
            self.highest_uid = 0
        # SINCE compares dates only, in the server's time zone: a day earlier, then exact times.
        day = (datetime.fromtimestamp(since) - timedelta(days=1)).date()
        criteria: list[Any] = ["SINCE", day]
        if self.highest_uid:
            criteria = ["UID", f"{self.highest_uid + 1}:*", *criteria]
        with self._errors(f"search {folder}"):
            uids = self._search(client, criteria)
        # "UID n:*" always matches the last message, even one below n.
        uids = sorted(uid for uid in uids if uid > self.highest_uid)
        times: list[float] = []
        # In slices: the first look of a day at a busy account can find thousands of UIDs, and
        # some servers refuse command lines longer than a few kilobytes.
        for start in range(0, len(uids), self.fetch_slice):
            part = uids[start : start + self.fetch_slice]
            with self._errors(f"read dates in {folder}"):
                fetched = client.fetch(part, ["INTERNALDATE"])
            for uid in part:
                when = fetched.get(uid, {}).get(b"INTERNALDATE")
                if isinstance(when, datetime) and when.timestamp() >= since:
                    times.append(when.timestamp())
            self.highest_uid = max(self.highest_uid, part[-1])
        log.debug("Sent folder: %d new message(s) since the last look", len(times))
        copies = self._look_for_canary_copies(client, day)
        return SentPoll(folder, tuple(sorted(times)), restarted, self._header_search, copies)

    def _look_for_canary_copies(self, client: IMAPClient, day: Any) -> bool | None:
        """Whether the folder holds a copy of one of our canaries (None: cannot search).

        Our canaries leave through the same outgoing server as the practice's reminders: a
        copy of one here shows that this account files what it sends there, so an empty
        folder means nothing went out. Without that proof (Microsoft 365's direct send and
        relay connectors keep no copy; a provider may file only what a mail program copied)
        an empty folder proves nothing. One SEARCH per look, until the first copy is seen.
        """
        if self.canary_copies_seen:
            return True
        if not (self._header_search and self.exclude_header):
            return None
        with self._errors(f"search {self.folder}"):
            found = client.search(["SINCE", day, "HEADER", self.exclude_header, ""])
        self.canary_copies_seen = bool(found)
        return self.canary_copies_seen

    def _search(self, client: IMAPClient, criteria: list[Any]) -> list[int]:
        """SEARCH, leaving our own canaries out where the server can search a header."""
        from imapclient.exceptions import IMAPClientError

        if self._header_search and self.exclude_header:
            try:
                return list(client.search([*criteria, "NOT", "HEADER", self.exclude_header, ""]))
            except (IMAPClientError, imaplib.IMAP4.error) as e:
                if isinstance(e, imaplib.IMAP4.abort):
                    raise
                log.info("The Sent folder's server cannot search by header; canaries counted")
                self._header_search = False
        return list(client.search(criteria))

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Every library and socket error becomes ``MailboxError``, keeping the cause."""
        from imapclient.exceptions import IMAPClientError, LoginError

        try:
            yield
        except MailboxError:
            raise
        except LoginError as e:
            raise MailboxError(f"{self.where} refused the login: {e}") from e
        except imaplib.IMAP4.abort as e:
            raise MailboxError(f"{self.where} hung up during {action}: {e}", network=True) from e
        except (IMAPClientError, imaplib.IMAP4.error) as e:
            raise MailboxError(f"{self.where} said no to {action}: {e}") from e
        except (TimeoutError, OSError, ssl.SSLError) as e:
            raise MailboxError(
                f"Could not talk to {self.where} ({action}): {type(e).__name__}: {e}",
                network=True,
            ) from e


def find_sent_folder(folders: Sequence[tuple[Sequence[bytes], bytes | None, str]]) -> str | None:
    """The Sent folder among an IMAP LIST answer: SPECIAL-USE ``\\Sent``, else a usual name.

    Names compare without case, whole or as the last part (``INBOX.Sent`` matches "Sent").
    """
    by_name: dict[str, str] = {}
    for flags, delimiter, name in folders:
        if any(flag.lower() == b"\\sent" for flag in flags):
            return name
        if any(flag.lower() in (b"\\noselect", b"\\nonexistent") for flag in flags):
            continue
        by_name.setdefault(name.lower(), name)
        if delimiter:
            by_name.setdefault(name.rsplit(delimiter.decode(), 1)[-1].lower(), name)
    for wanted in USUAL_SENT_NAMES:
        found = by_name.get(wanted.lower())
        if found is not None:
            return found
    return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- which providers keep a copy of SMTP-submitted mail in Sent ----------------------------------

SentCopy = Literal["yes", "no", "unknown"]
_KEEPS_COPY: tuple[SentCopy, ...] = ("yes", "no", "unknown")

_SENT_COPIES_FILE = "sent_copies.toml"


@dataclass(frozen=True)
class SentCopyFact:
    """Whether a provider files SMTP-submitted mail in the sender's Sent folder, and its source."""

    provider: str
    keeps_copy: SentCopy
    folder: str  # the folder's usual name there ("" when unknown)
    note: str


def keeps_sent_copy(provider: str) -> SentCopyFact:
    """What is known for ``provider`` (a name from providers.toml); unknown when not listed."""
    facts = _sent_copies()
    return facts.get(provider.strip().lower()) or SentCopyFact(provider, "unknown", "", "")


def parse_sent_copies(
    doc: dict[str, Any], source: str = _SENT_COPIES_FILE
) -> dict[str, SentCopyFact]:
    """Check and build the facts from a parsed TOML document.

    Raises :class:`~watchdog.core.tables.DataFileError` (a ValueError) naming table and key.
    """
    spec = {
        "keeps_copy": tables.choice(_KEEPS_COPY, must='must be "yes", "no" or "unknown"'),
        "folder": tables.text(allow_empty=True).optional(""),
        "note": tables.text(allow_empty=True).optional(""),
    }
    facts: dict[str, SentCopyFact] = {}
    for name, table in doc.items():
        checked = tables.read_table(table, spec, f"{source}: [{name}]")
        facts[name] = SentCopyFact(name, checked["keeps_copy"], checked["folder"], checked["note"])
    return facts


@functools.cache
def _sent_copies() -> dict[str, SentCopyFact]:
    """Read the shipped data file once."""
    text = resources.files("watchdog").joinpath("data", _SENT_COPIES_FILE).read_text("utf-8")
    return parse_sent_copies(tomllib.loads(text))

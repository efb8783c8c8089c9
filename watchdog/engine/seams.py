"""The engine's seams: exactly what it uses of the mail servers and of the runner, nothing more.

The engine never names the network classes (:class:`~watchdog.mail.probe.SmtpProbe`,
:class:`~watchdog.mail.mailbox.SeedMailbox`): it takes these protocols, and the loop takes
:class:`Checks` rather than the :class:`~watchdog.engine.runner.Runner`. The wiring
(:mod:`watchdog.app`) passes the real classes; the unit tests, the fault tests and the
benchmarks pass fakes with a simulated clock, and mypy checks both against the same
interface, so a fake that drifts from the real thing fails type checking instead of
passing a test the product would fail (imapclient keeps its network behind one seam the
same way). No class needs to inherit from these: matching them is enough.

Only for type checking: the engine imports this module under ``TYPE_CHECKING``, so its
protocols cost nothing at start-up (``watchdog check`` counts its milliseconds).

Each protocol lists only the calls the engine makes, with the arguments it passes: positional
where the engine passes them by position (so a fake may name them as it likes), keyword-only
where it passes them by keyword. A session is opened by a no-argument callable and used as a
context manager (``with open_mailbox() as mailbox: ...``): entering signs in, leaving signs
out, and either may raise ``MailboxError`` or ``SecretError``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from email.message import EmailMessage

    from watchdog.config import Config
    from watchdog.core.bounces import Bounce
    from watchdog.core.models import CheckResult, SmtpReply
    from watchdog.mail.mailbox import Found
    from watchdog.mail.sent_folder import SentFolderReader, SentPoll


class Probe(Protocol):
    """The outgoing server, as the runner sends a canary through it."""

    def send(self, message: EmailMessage, /, *, should_stop: Callable[[], bool]) -> SmtpReply:
        """Hand ``message`` over; the server's final reply, or ``SendError`` (``SecretError``,
        ``SigninExpiredError`` for Watchdog's own sign-in). ``should_stop`` cuts the send."""
        ...


class SeedSession(Protocol):
    """An open session on the seed mailbox: canaries looked for, waited for and deleted."""

    def search(self, tokens: Sequence[str], /) -> dict[str, Found]:
        """The canaries among ``tokens`` that are in the mailbox now, by token."""
        ...

    def wait_for(
        self, token: str, deadline_monotonic: float, /, *, should_stop: Callable[[], bool]
    ) -> Found | None:
        """Wait until ``token`` arrives (found) or the monotonic deadline passes (None)."""
        ...

    def delete(self, items: Sequence[Found], /) -> None:
        """Remove found canaries (and their copies) from the mailbox."""
        ...


class InboxSession(Protocol):
    """An open session on the practice's own inbox, read for what came back about canaries."""

    def find_bounces(self, tokens: Sequence[str], /) -> dict[str, Bounce]:
        """Bounces and delay notices about these canaries, by token."""
        ...

    def find_notices(
        self, domains: Sequence[str], /, *, since: float
    ) -> list[tuple[bytes, float | None]]:
        """The provider's notices (headers, INTERNALDATE) from ``domains`` since ``since``."""
        ...


class SentReader(Protocol):
    """The one thing the batch watch needs of the sender's inbox: its Sent folder's new send
    times (times only; the reader keeps where the last look ended)."""

    def sent_times(self, reader: SentFolderReader, /, *, since: float) -> SentPoll:
        """What is new in the Sent folder since the reader's last look (from ``since`` on a
        first look or a new day)."""
        ...


#: Opens the seed mailbox (signed in on entering the ``with``).
OpenSeed = Callable[[], AbstractContextManager[SeedSession]]
#: Opens the practice's inbox for bounces and the provider's notices.
OpenInbox = Callable[[], AbstractContextManager[InboxSession]]
#: Opens the practice's inbox for its Sent folder.
OpenSent = Callable[[], AbstractContextManager[SentReader]]


# -- the loop's view of the runner ---------------------------------------------------------


class RecentChecks(Protocol):
    """What the loop reads of the history: the last canary's send time."""

    def recent(self, limit: int, /) -> Sequence[CheckResult]:
        """The newest ``limit`` checks, newest first."""
        ...


class Checks(Protocol):
    """What the loop uses of the :class:`~watchdog.engine.runner.Runner`, and nothing more.

    The loop decides *when* to check; the runner does the check. Tests drive the real loop with
    a runner that only counts its checks, checked by mypy against this.
    """

    @property
    def config(self) -> Config:
        """The schedule and the alert policy (office hours) are read from it."""
        ...

    @property
    def history(self) -> RecentChecks: ...

    def safe_check(self, stop: threading.Event, /, *, after_reminders: bool = False) -> object:
        """One check; never raises (the loop must go on). ``after_reminders``: the canary
        answers for a reminder batch or time, and is judged by the batch canary's plan."""
        ...

    def after_sleep(self, slept_s: float, /, *, asleep_from: float) -> int:
        """The PC slept ``slept_s`` from ``asleep_from``: canaries in flight get it back."""
        ...

    def signin_retry_at(self) -> float | None:
        """When a scheduled check may sign in again after refused passwords (None: now)."""
        ...

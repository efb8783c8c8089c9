"""A practice's Sent folder as the batch watch reads it, on a simulated clock: times only.

Follows :class:`watchdog.engine.seams.SentReader` and opens like ``OpenSent`` (calling it gives
the session, entering the ``with`` signs in), so ``BatchWatch(FakeSentFolder(clock), clock)``
type-checks against the same interface as the real inbox. Each send is visible once the clock
has passed it, as the real folder shows a message once it was sent (the pattern of
``benchmarks/office_days.py``'s ``SentFolder``).

Two switches for what the real server can do to the watch: ``failing`` (the look fails, as a
mailbox that is down or a password that is missing) and ``canaries_excluded`` (False: the server
cannot search by header, so our own canaries are among the times); ``files_canaries`` (False: no
copy of our canaries is filed there, as with a relay that keeps none).
"""

from __future__ import annotations

from tests.support.clock import FakeClock
from watchdog.core.errors import MailboxError
from watchdog.mail.sent_folder import SentFolderReader, SentPoll


class FakeSentFolder:
    """Send times the test adds with :meth:`send`; each look returns those sent by now."""

    def __init__(
        self, clock: FakeClock, *, canaries_excluded: bool = True, files_canaries: bool = True
    ) -> None:
        self.clock = clock
        self.canaries_excluded = canaries_excluded
        # Whether our own canaries' copies are in the folder (Gmail, Outlook.com file every
        # message sent through their outgoing servers; a relay connector files none).
        self.files_canaries = files_canaries
        self.failing = False
        self.times: list[float] = []
        self.looks = 0

    def send(self, *times: float) -> None:
        """Messages leave the account at ``times`` (none given: one, now)."""
        self.times = sorted([*self.times, *(times or (self.clock.now(),))])

    def __call__(self) -> FakeSentFolder:
        return self

    def __enter__(self) -> FakeSentFolder:
        if self.failing:
            raise MailboxError("the practice's mailbox did not answer (test)", network=True)
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def sent_times(self, reader: SentFolderReader, since: float) -> SentPoll:
        """Everything sent since ``since`` and by now, every time (a restarted look)."""
        self.looks += 1
        now = self.clock.now()
        shown = tuple(t for t in self.times if since <= t <= now)
        copies = self.files_canaries if self.canaries_excluded else None
        return SentPoll(
            "Sent",
            shown,
            restarted=True,
            canaries_excluded=self.canaries_excluded,
            canary_copies_seen=copies,
        )

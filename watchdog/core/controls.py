"""What the tray (and any other front end) may do with a running watchdog.

The tray knows only this protocol, so it stays a thin shell: every action is implemented once,
in ``app.py``, and tested without a desktop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from watchdog.core.models import Diagnosis, Status


@dataclass(frozen=True)
class TrayState:
    """What the tray shows: the icon colour comes from ``status`` (PAUSED while paused).

    ``account`` is the office's sending address (``[sender] address``): the front desk knows
    its reminders by it, so the tray's title names it ("Reminders from frontdesk@...").
    Empty: the title says "Reminder e-mails" instead.
    """

    status: Status
    since: float | None
    last_check_at: float | None
    reason: str = ""
    diagnosis: Diagnosis | None = None
    paused_until: float | None = None
    provider_name: str = ""
    account: str = ""
    # More lines for the front desk, whatever the status: the last reminder batch and the test
    # message after it, today's sending against the daily limit (counts and times only).
    notes: tuple[str, ...] = ()


class Controls(Protocol):
    """Actions of the tray menu. Every method returns quickly and never raises."""

    def state(self) -> TrayState:
        """The status to show now."""
        ...

    def check_now(self) -> None:
        """Run a check as soon as possible; its result is announced as a notification."""
        ...

    def show_guidance(self) -> None:
        """Open the guide for the current problem in the browser (the default action)."""
        ...

    def open_history_report(self) -> None:
        """Open the history report in the browser."""
        ...

    def pause(self, seconds: float) -> None:
        """Stop checking (and alerting) for ``seconds``."""
        ...

    def resume(self) -> None:
        """Check again at once after a pause."""
        ...

    def open_settings(self) -> None:
        """Open the config file in the system's editor."""
        ...

    def quit(self) -> None:
        """Stop the loop cleanly (pending canaries are kept) and end the program."""
        ...

"""``watchdog demo``: the whole product on embedded loopback mail servers, narrated.

It runs the real loop (real smtplib and imapclient code, the real history and status rules) against
an SMTP server and an IMAP server started on 127.0.0.1, then makes the SMTP server silently drop
mail, shows the watchdog go DOWN, restores delivery and shows recovery. Everything lives in a
temporary folder: the user's own config, keyring and history are never touched.
"""

from __future__ import annotations

import queue
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from watchdog.config import load_config
from watchdog.core.exit_status import ExitStatus
from watchdog.core.models import CheckResult, Flip, Outcome, Status, StatusSnapshot
from watchdog.notify import Alert, AttemptResult

if TYPE_CHECKING:
    from watchdog.demo.servers import DemoMailServers
    from watchdog.signin.credentials import Role

_TIME_LIMIT_S = 50.0

Event = tuple[CheckResult, StatusSnapshot, Flip | None] | str  # a result, or a line to show
Say = Callable[..., None]


def run_demo(*, interval_s: float = 2.0, out: TextIO | None = None) -> int:
    """Run the demo; returns 0 when the watchdog caught the block and the recovery."""
    from watchdog.app import open_app
    from watchdog.demo.servers import DemoMailServers

    out = out or sys.stdout
    deadline_s = max(0.5, interval_s * 0.75)

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    started = time.monotonic()
    say("Delivery Watchdog demo. Everything runs on this PC, on test mail servers;")
    say("your own settings, passwords and history are not touched.")
    say()
    with tempfile.TemporaryDirectory(prefix="watchdog-demo-") as folder, DemoMailServers() as mail:
        config_path = _write_config(Path(folder), mail, interval_s, deadline_s)
        config = load_config(config_path)
        say(
            f"Test servers: outgoing mail (SMTP) on {mail.smtp_host}:{mail.smtp_port}, "
            f"seed mailbox (IMAP) on {mail.imap_host}:{mail.imap_port}."
        )
        say(
            f"A canary e-mail goes from {mail.sender_address} to {mail.seed_address} every "
            f"{interval_s:g} s and must arrive within {deadline_s:g} s."
        )
        events: queue.Queue[Event] = queue.Queue()

        def passwords(role: Role, username: str) -> str:
            return mail.seed_password

        with open_app(
            config,
            listeners=[lambda r, s, f: events.put((r, s, f))],
            passwords=passwords,
            channels=[_NarratedAlerts(events.put)],
        ) as app:
            loop = threading.Thread(target=app.loop.run, daemon=True)
            loop.start()
            try:
                ok = _narrate(events, mail, say, started)
            finally:
                app.loop.stop()
                loop.join(timeout=deadline_s + 5)
            say()
            say("The history of this demo (`watchdog history` shows the same for real checks):")
            for r in reversed(app.history.recent(12)):
                latency = f"{r.latency_s:.2f} s" if r.latency_s is not None else "-"
                say(
                    f"  {time.strftime('%H:%M:%S', time.localtime(r.sent_at))}  "
                    f"{r.outcome.value:<10} {latency:>8}  {r.diagnosis.value}"
                )
    say()
    if ok:
        say(f"Demo finished in {time.monotonic() - started:.0f} s.")
        say("To watch a real account, see README.md.")
        return ExitStatus.OK
    say("The demo did not finish as expected; run it again with -v for details.")
    return ExitStatus.FAILED


def _narrate(
    events: queue.Queue[Event],
    mail: DemoMailServers,
    say: Say,
    started: float,
) -> bool:
    """Walk through the three acts as the loop reports results; False if an act never ends."""
    delivered = 0

    def wait_for(done: Callable[[CheckResult, StatusSnapshot], bool]) -> bool:
        while time.monotonic() - started < _TIME_LIMIT_S:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                continue
            _show(event, say)
            if not isinstance(event, str) and done(event[0], event[1]):
                _show_alerts_of(events, say)
                return True
        return False

    def two_delivered(result: CheckResult, snapshot: StatusSnapshot) -> bool:
        nonlocal delivered
        delivered += result.outcome is Outcome.DELIVERED
        return delivered >= 2 and snapshot.status is Status.UP

    say()
    say("1. Mail is flowing normally.")
    if not wait_for(two_delivered):
        return False

    say()
    say('2. Now the mail server silently drops mail: it still answers "250 OK" but delivers')
    say("   nothing, like a provider that has quietly blocked the account after a reminder batch.")
    blocked_at = time.monotonic()
    mail.set_blackhole(True)
    if not wait_for(lambda _r, s: s.status is Status.DOWN):
        return False
    say(
        f"   -> The watchdog noticed after {time.monotonic() - blocked_at:.0f} s and told the front"
    )
    say("      desk (above), with a step-by-step guide for their provider.")

    say()
    say("3. Delivery is restored (as after the staff sign in and pass the provider's check).")
    restored_at = time.monotonic()
    mail.set_blackhole(False)
    if not wait_for(lambda _r, s: s.status is Status.UP):
        return False
    say(f"   -> Back to UP {time.monotonic() - restored_at:.0f} s after the fix.")
    return True


def _show_alerts_of(events: queue.Queue[Event], say: Say) -> None:
    """Show the notification the last result caused: it is queued just after the result."""
    while True:
        try:
            event = events.get(timeout=0.3)
        except queue.Empty:
            return
        _show(event, say)


def _show(event: Event, say: Say) -> None:
    """Say a line of the loop's as it is, or a check's result (and its status change)."""
    if isinstance(event, str):
        say(event)
        return
    result, snapshot, flip = event
    stamp = time.strftime("%H:%M:%S", time.localtime(result.sent_at))
    if result.outcome is Outcome.DELIVERED:
        what = f"canary delivered to {result.folder} after {result.latency_s or 0:.2f} s"
    elif result.outcome is Outcome.LOST:
        what = "canary accepted by the server (250 OK) but never arrived"
    else:
        what = f"{result.outcome.value}: {result.detail}"
    say(f"   {stamp}  {what:<58} status {snapshot.status}")
    if flip is not None:
        say(f"            status changed {flip.from_status} -> {flip.to_status}: {flip.reason}")


class _NarratedAlerts:
    """An alert channel that prints what the front desk would see in the notification."""

    name = "demo"

    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show

    def send(self, alert: Alert) -> AttemptResult:
        text = textwrap.fill(alert.message, 78, initial_indent=" " * 14, subsequent_indent=" " * 14)
        self.show(f"            NOTIFICATION: {alert.title}\n{text}")
        return AttemptResult(self.name, True)


def _write_config(
    folder: Path, mail: DemoMailServers, interval_s: float, deadline_s: float
) -> Path:
    """A real config file, as a user would write it, pointing at the demo servers."""
    data = folder / "data"
    path = folder / "config.toml"
    path.write_text(
        f"""# Written by `watchdog demo`; deleted when the demo ends.
office = "Demo Dental"
data_dir = "{data.as_posix()}"

[sender]
address = "{mail.sender_address}"
smtp_host = "{mail.smtp_host}"
smtp_port = {mail.smtp_port}
security = "none"
username = ""

[seed]
address = "{mail.seed_address}"
imap_host = "{mail.imap_host}"
imap_port = {mail.imap_port}
security = "none"
username = "{mail.seed_user}"

[schedule]
every_minutes = {interval_s / 60:.6f}
deadline_minutes = {deadline_s / 60:.6f}
""",
        encoding="utf-8",
    )
    return path

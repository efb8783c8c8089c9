"""The one place that builds real objects from the configuration."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.config import Config
from watchdog.core.classifier import describe
from watchdog.core.clock import Clock, SystemClock
from watchdog.core.models import Diagnosis, StatusSnapshot
from watchdog.core.providers import sending_limit
from watchdog.engine.loop import Loop
from watchdog.engine.runner import Listener, Runner
from watchdog.mail.mailbox import SeedMailbox
from watchdog.mail.probe import SmtpProbe
from watchdog.notify import Channel
from watchdog.notify.notifier import Notifier
from watchdog.notify.sender import AlertSender
from watchdog.signin.accounts import account_signin
from watchdog.signin.credentials import PasswordLookup, lookup_password
from watchdog.storage.canary_key import load_or_create_key
from watchdog.storage.history import History
from watchdog.storage.paths import data_dir, history_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdog.core.batches import BudgetState
    from watchdog.core.controls import TrayState
    from watchdog.core.providers import Provider
    from watchdog.engine.batch_watch import BatchWatch, ReminderTimes
    from watchdog.notify.heartbeat import Heartbeat

log = logging.getLogger(__name__)


@dataclass
class App:
    """Everything a command needs, built once."""

    config: Config
    clock: Clock
    history: History
    runner: Runner
    #: The sending account's provider, detected once here from the config and passed along
    #: (the tray asks for it every few seconds; the config cannot change under a running app).
    sender_provider: Provider
    notifier: Notifier
    loop: Loop

    @property
    def provider(self) -> str:
        """The sending account's provider's name (``gmail``, ``other``)."""
        return self.sender_provider.name

    def close(self) -> None:
        """Send the alerts still waiting (within a bound), then close the history they go to."""
        try:
            self.notifier.close()
        finally:
            self.history.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_app(
    config: Config,
    *,
    clock: Clock | None = None,
    listeners: list[Listener] | None = None,
    passwords: PasswordLookup = lookup_password,
    channels: list[Channel] | None = None,
) -> App:
    """Open the history and wire the probe, the mailbox and the runner for ``config``.

    ``passwords`` is how secrets are found (keyring, then environment); the demo passes its own.
    ``channels`` replaces the alert channels of the config (the demo narrates its alerts).
    """
    from watchdog.core.providers import sender_provider

    clock = clock or SystemClock()
    folder = data_dir(config)
    history = History(history_path(config))
    key = load_or_create_key(folder / "canary.key")
    s, d = config.sender, config.seed
    sender_signin = account_signin(
        "sender", s.username, s.auth, s.oauth, ca_file=s.ca_file, passwords=passwords
    )
    seed_signin = account_signin(
        "seed", d.username, d.auth, d.oauth, ca_file=d.ca_file, passwords=passwords
    )
    probe = SmtpProbe(config.sender, sender_signin)
    provider_info = sender_provider(config.sender)
    provider = provider_info.name
    notifier = Notifier(
        channels=channels if channels is not None else alert_channels(config, clock),
        history=history,
        policy=config.alerts.policy,
        clock=clock,
        provider=provider,
        provider_display_name=provider_info.display_name,
        office=config.office,
        heartbeat=heartbeat(config),
        account=config.sender.address,
        sender=AlertSender(),  # alerts never block checks: one thread sends them, in order
    )

    def open_mailbox() -> SeedMailbox:
        return SeedMailbox(config.seed, seed_signin, clock)

    inbox = config.sender_inbox
    open_sender_inbox = None
    if inbox is not None:
        inbox_signin = account_signin(
            "sender",
            inbox.username,
            inbox.auth,
            inbox.oauth,
            ca_file=inbox.ca_file,
            passwords=passwords,
        )

        def open_sender_inbox() -> SeedMailbox:
            assert inbox is not None
            return SeedMailbox(
                inbox,
                inbox_signin,
                clock,
                label="practice's mailbox",
                security_key="[sender] imap_security",
            )

    runner = Runner(
        config=config,
        history=history,
        probe=probe,
        open_mailbox=open_mailbox,
        key=key,
        clock=clock,
        provider=provider,
        listeners=[*(listeners or []), notifier.on_result],  # show a result before alerting
        open_sender_inbox=open_sender_inbox,
        before_check=[notifier.before_check],
        after_check=[notifier.after_check],
    )
    watch = _batch_watch(config, open_sender_inbox, provider_info, history, notifier, clock)
    if watch is not None:
        from watchdog.core.batches import Touched

        notifier.touched = lambda since, end: Touched(*history.sent_while_down(since, end))
    loop = Loop(
        runner, clock, batch_watch=watch, reminder_times=_reminder_times(config, history, clock)
    )
    loop.on_check_let_pass = notifier.check_let_pass  # the heartbeat hears the loop is alive
    return App(
        config=config,
        clock=clock,
        history=history,
        runner=runner,
        sender_provider=provider_info,
        notifier=notifier,
        loop=loop,
    )


def front_desk_reason(snapshot: StatusSnapshot) -> str:
    """The status's reason in the front desk's words: the plain sentence for its diagnosis.

    The stored reason is for support (the server's reply, ``ConnectionRefusedError`` and the
    like: ``watchdog status``, the history, the support bundle keep it); the tray's title and
    window are read by the front desk, who act on the guide, not on a reply code. Without a
    diagnosis (no check yet) the stored reason is already plain.
    """
    if snapshot.diagnosis is None or snapshot.diagnosis is Diagnosis.OK:
        return snapshot.reason
    return describe(snapshot.diagnosis)


def _reminder_times(config: Config, history: History, clock: Clock) -> ReminderTimes:
    """The practice's reminder times: named in the config, and learned from what was seen."""
    from watchdog.engine.batch_watch import ReminderTimes

    return ReminderTimes(
        config.schedule.reminder_times,
        clock,
        sent_minutes_since=history.sent_minutes_since,
        rules=config.batches,
    )


def _batch_watch(
    config: Config,
    open_sender_inbox: Callable[[], SeedMailbox] | None,
    provider: Provider,
    history: History,
    notifier: Notifier,
    clock: Clock,
) -> BatchWatch | None:
    """The Sent-folder watch for reminder batches, where it can see them.

    Only with the practice's own inbox configured (``[sender] imap_host``) and a provider that
    is not known to keep no copy of mail sent through its outgoing server (Yahoo, iCloud).
    """
    if open_sender_inbox is None:
        return None
    from watchdog.engine.batch_watch import BatchWatch
    from watchdog.mail.sent_folder import keeps_sent_copy

    if keeps_sent_copy(provider.name).keeps_copy == "no":
        return None
    limit, provider_name = sending_limit(config.sender, provider)

    def warn(budget: BudgetState) -> None:
        notifier.warn_budget(budget.words)

    return BatchWatch(
        open_sender_inbox,
        clock,
        rules=config.batches,
        folder=config.sender.sent_folder or None,
        daily_limit=limit,
        provider_name=provider_name,
        canaries_since=history.canaries_since,
        on_budget_warning=warn,
        on_sent=history.record_sent,
    )


def alert_channels(config: Config, clock: Clock) -> list[Channel]:
    """The desktop notification (unless switched off) and each configured webhook."""
    channels: list[Channel] = []
    if config.alerts.desktop:
        from watchdog.notify.desktop import DesktopChannel

        channels.append(DesktopChannel())
    if config.alerts.webhooks:
        from watchdog.notify.webhook import WebhookChannel

        for hook in config.alerts.webhooks:
            channels.append(
                WebhookChannel(
                    url=hook.url,
                    kind=hook.kind,
                    name=hook.name or None,
                    timeout_s=hook.timeout_s,
                    retries=hook.retries,
                    clock=clock,
                )
            )
    return channels


def heartbeat(config: Config) -> Heartbeat | None:
    if not config.alerts.heartbeat_url:
        return None
    from watchdog.notify.heartbeat import Heartbeat

    return Heartbeat(config.alerts.heartbeat_url)


def current_guide_html(
    config: Config, history: History, clock: Clock, provider: Provider | None = None
) -> tuple[str, str]:
    """The guide for the problem now (title, page): provider from config, diagnosis from status.

    ``provider``: the one already detected for ``config`` (``App.sender_provider``), if the
    caller has it.
    """
    from watchdog.core.guidance import guide_for
    from watchdog.core.models import Diagnosis, Outcome
    from watchdog.core.providers import sender_provider
    from watchdog.pages.guide import render_html

    if provider is None:
        provider = sender_provider(config.sender)
    snapshot = history.status()
    recent = history.recent(1)
    last_reply = None
    if recent and recent[0].smtp_reply is not None and recent[0].outcome is not Outcome.DELIVERED:
        last_reply = str(recent[0].smtp_reply)
    guide = guide_for(provider.name, snapshot.diagnosis or Diagnosis.OK)
    page = render_html(
        guide,
        since=snapshot.since,
        office=config.office,
        support_contact=config.alerts.support_contact,
        last_reply=last_reply,
        generated_at=clock.now(),
    )
    return guide.title, page


class AppControls:
    """The tray's actions (``controls.Controls``) on a running app. Never raises."""

    def __init__(self, app: App) -> None:
        self.app = app

    def state(self) -> TrayState:
        from watchdog.core.controls import TrayState
        from watchdog.core.models import Status

        app = self.app
        try:
            snapshot = app.history.status()
        except Exception:
            log.exception("Could not read the status")
            return TrayState(Status.UNKNOWN, None, app.loop.last_check_at, "History unreadable")
        paused = app.loop.paused_until
        sender = app.config.sender
        status, reason = snapshot.status, front_desk_reason(snapshot)
        if status is Status.UP:
            from watchdog.core.state import overdue_canaries

            overdue = overdue_canaries(
                app.history.pending(),
                app.clock.now(),
                configured_deadline_s=app.config.schedule.deadline_seconds,
            )
            if overdue:
                # Never green on a check that has not come back: the status is in doubt.
                waiting = time.strftime("%H:%M", time.localtime(overdue[0].sent_at))
                status = Status.UNKNOWN
                reason = (
                    f"A check has been waiting since {waiting}, past its deadline: it may have "
                    "been cut off. The next check will tell."
                )
        return TrayState(
            status=Status.PAUSED if paused is not None else status,
            since=snapshot.since,
            last_check_at=app.loop.last_check_at,
            reason=reason,
            diagnosis=snapshot.diagnosis,
            paused_until=paused,
            account=sender.address,
            notes=self._notes(),
            provider_name=app.sender_provider.display_name,
        )

    def _notes(self) -> tuple[str, ...]:
        """The last reminder batch and the test message after it; today's sending budget."""
        watch = self.app.loop.batch_watch
        if watch is None:
            return ()
        from watchdog.engine.batch_watch import reminders_today

        try:
            return reminders_today(
                self.app.history,
                self.app.clock.now(),
                limit=watch.daily_limit,
                provider_name=watch.provider_name,
                rules=watch.rules,
            )
        except Exception:
            log.exception("Could not read today's sending for the tray")
            return ()

    def check_now(self) -> None:
        self.app.notifier.announce_next_result()
        self.app.loop.request_check()

    def show_guidance(self) -> None:
        from watchdog.pages.guide import open_in_browser, write_guide

        try:
            app = self.app
            _title, page = current_guide_html(
                app.config, app.history, app.clock, app.sender_provider
            )
            path = write_guide(data_dir(self.app.config) / "guide.html", page, private=True)
            if not open_in_browser(path):
                self._browser_did_not_start("The guidance", path)
        except Exception:
            log.exception("Could not show the guide")

    def open_history_report(self) -> None:
        from watchdog.pages.guide import open_in_browser
        from watchdog.pages.report import write_report

        try:
            app = self.app
            daily_limit, provider_name = sending_limit(app.config.sender, app.sender_provider)
            path = write_report(
                app.history,
                data_dir(app.config) / "report.html",
                office=app.config.office,
                now=app.clock.now(),
                daily_limit=daily_limit,
                provider_name=provider_name,
            )
            if not open_in_browser(path):
                self._browser_did_not_start("The history report", path)
        except Exception:
            log.exception("Could not open the history report")

    def _browser_did_not_start(self, what: str, path: Path) -> None:
        """Tell the person at the PC, who pressed the menu item and saw nothing happen.

        Only the desktop channel: a browser that did not start is news for the person at this
        PC, not an alert for support's webhooks. The log names the file too.
        """
        from watchdog.notify import Alert, AlertKind

        log.warning("No web browser could be started for %s; the page is %s", what.lower(), path)
        app = self.app
        try:
            status = app.history.status().status
        except Exception:
            from watchdog.core.models import Status

            status = Status.UNKNOWN
        alert = Alert(
            kind=AlertKind.RESULT,
            status=status,
            title=f"{what} could not be opened",
            # The file first: a notification's text is clipped at 255 characters.
            message=f"Open this file by hand: {path} (no web browser could be started).",
            office=app.config.office,
            at=app.clock.now(),
        )
        for channel in app.notifier.channels:
            if channel.name != "desktop":
                continue
            try:
                result = channel.send(alert)
            except Exception:  # a channel must not raise; if one does, the log has it
                log.exception("The desktop channel raised")
                continue
            if not result.ok:
                log.warning("Could not show the notification either: %s", result.detail)

    def pause(self, seconds: float) -> None:
        self.app.loop.pause(seconds)

    def resume(self) -> None:
        self.app.loop.resume()

    def open_settings(self) -> None:
        open_in_editor(self.app.config.path)

    def quit(self) -> None:
        self.app.loop.stop()


def open_in_editor(path: Path) -> bool:
    """Open a text file in the system's editor without waiting for it.

    Windows: the "edit" verb of the file's type; a stock Windows has none for ``.toml``
    (``os.startfile`` raises OSError), so then Notepad, which every Windows has.
    """
    import os
    import subprocess
    import sys

    try:
        if sys.platform == "win32":
            try:
                os.startfile(path, "edit")
            except OSError as e:
                log.info("No editor is registered for %s (%s); opening it in Notepad", path, e)
                subprocess.Popen(["notepad.exe", str(path)])
        elif sys.platform == "darwin":
            subprocess.Popen(["open", "-t", str(path)])
        else:
            subprocess.Popen(["xdg-open", str(path)])
    except OSError as e:
        log.warning("Could not open %s in an editor: %s", path, e)
        return False
    return True

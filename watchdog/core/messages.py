"""The words of each alert: short titles, and messages that say what happened and what to do first.

Pure. Titles stay within 63 characters and messages aim at 255 (Windows' notification limits);
the desktop channel cuts anything longer. Server text never goes into titles or messages.
"""

from __future__ import annotations

import time

from watchdog.core.classifier import describe
from watchdog.core.models import Alert, AlertKind, Diagnosis, Status, StatusSnapshot
from watchdog.core.providers import short_provider_name

GUIDE_HINT = "Open the Watchdog guide: click the tray icon \u2192 Show guidance."


#: What an UNKNOWN alert says about a problem of Watchdog's own set-up (state's
#: WATCHDOG_SETUP_PROBLEMS but signin_expired, which has its own words): never the provider.
_SETUP_WORDS = {
    Diagnosis.SEED_MAILBOX_FULL: (
        "Reminders are not affected by this. Support: empty Watchdog's test mailbox."
    ),
    Diagnosis.SEED_ADDRESS_UNKNOWN: (
        "Reminders are not affected by this. Support: correct the test mailbox address "
        "([seed] address) in Watchdog's settings."
    ),
    Diagnosis.WRONG_SERVER_SETTINGS: (
        "The server or port in Watchdog's settings is not the right kind of mail server; this "
        "is not the provider. Support: check them and run watchdog doctor."
    ),
    Diagnosis.RELAY_DENIED: (
        "The server would not send with Watchdog's user name or From address; not a junk-mail "
        "filter. Support: check Watchdog's [sender] settings."
    ),
    Diagnosis.CANNOT_CHECK: (
        "Reminders are not affected by this: Watchdog itself cannot check (a password missing or "
        "the password store locked). Support: see the reason in Watchdog's status."
    ),
}


#: Windows' notification title limit (and what the desktop channel cuts to).
_TITLE_MAX = 63


def _title(
    kind: AlertKind,
    diagnosis: Diagnosis | None,
    provider: str | None,
    status: Status,
    account: str = "",
) -> str:
    """The alert's title in the front desk's words.

    It names the office's sending account ("Reminder e-mails from frontdesk@... are not going
    out") where that fits Windows' 63 characters, else the provider where one is known; never
    the "Other provider" of an unrecognised server (``provider`` None).
    """

    def named(template: str) -> str:
        if account:
            text = template.format(whose=f" from {account}")
            if len(text) <= _TITLE_MAX:
                return text
        text = template.format(whose="")
        if provider and len(f"{text} ({provider})") <= _TITLE_MAX:
            return f"{text} ({provider})"
        return text

    if kind in (AlertKind.DOWN, AlertKind.REMINDER):
        prefix = "Still: r" if kind is AlertKind.REMINDER else "R"
        return named(prefix + "eminder e-mails{whose} are not going out")
    if kind is AlertKind.DEGRADED:
        if diagnosis is Diagnosis.JUNK_PLACEMENT:
            return named("Reminder e-mails{whose} are landing in junk")
        return named("Reminder e-mails{whose} are arriving late")
    if kind is AlertKind.RECOVERED:
        return named("Reminder e-mails{whose} are going out again")
    if kind is AlertKind.RESULT:
        return {
            Status.UP: named("Check done: e-mails{whose} are going out"),
            Status.DEGRADED: named("Check done: e-mails{whose} arrive, but not well"),
            Status.DOWN: named("Check done: e-mails{whose} are still not going out"),
        }.get(status, "Check done: reminders could not be checked")
    if kind is AlertKind.UNKNOWN:
        if diagnosis is Diagnosis.OFFLINE:
            return "This PC is offline: reminders cannot be checked"
        if diagnosis is Diagnosis.SIGNIN_EXPIRED:
            return f"Watchdog must sign in to {provider or 'the mail account'} again"
        if diagnosis is Diagnosis.SEED_MAILBOX_FULL:
            return "Watchdog's test mailbox is full: checks cannot run"
        if diagnosis is Diagnosis.SEED_ADDRESS_UNKNOWN:
            return "Watchdog's test mailbox address is wrong: checks cannot run"
        if diagnosis is Diagnosis.WRONG_SERVER_SETTINGS:
            return "Watchdog's server settings look wrong: checks cannot run"
        if diagnosis is Diagnosis.RELAY_DENIED:
            return f"{provider or 'The mail server'} refused Watchdog's account details"
        if diagnosis is Diagnosis.CANNOT_CHECK:
            return "Watchdog cannot run its checks: a job for support"
        return "Watchdog cannot check reminder e-mails right now"
    return "Test alert from Delivery Watchdog"


def build_alert(
    kind: AlertKind,
    snapshot: StatusSnapshot,
    *,
    provider: str,
    provider_display_name: str,
    office: str,
    now: float,
    previous_since: float | None = None,
    last_reply: str | None = None,
    touched: str | None = None,
    account: str = "",
) -> Alert:
    """The alert for ``kind`` given the status now. ``previous_since``: when the problem began."""
    name = short_provider_name(provider_display_name)
    diagnosis = snapshot.diagnosis
    summary = describe(diagnosis) if diagnosis else ""
    # For a loss streak, the problem began with the first lost canary, before the status changed.
    since = snapshot.streak_since or snapshot.since
    if kind is AlertKind.RECOVERED:
        message = f"Mail is flowing again since {_hhmm(now)}."
        if touched is not None and previous_since is not None:
            # Counted from the practice's Sent folder: "38 reminders sent between 17:02 and
            # 17:40 may not have arrived; consider calling those patients."
            message += f" {touched}"
        elif previous_since is not None:
            # What the front desk can act on: which patients may have missed a reminder.
            message += (
                f" Reminders sent from {_when(previous_since, now)} until now may not have "
                "arrived; consider calling those patients."
            )
    elif kind is AlertKind.RESULT and snapshot.status is Status.UP:
        message = "The test message arrived. Mail is flowing; nothing more to do."
    elif kind is AlertKind.TEST:
        message = "This is what an alert looks like. Nothing is wrong. " + GUIDE_HINT
    elif kind is AlertKind.UNKNOWN and diagnosis is Diagnosis.OFFLINE:
        message = f"Since {_hhmm(since)}. {summary} This is not a problem of the mail provider."
    elif kind is AlertKind.UNKNOWN and diagnosis is Diagnosis.SIGNIN_EXPIRED:
        # Not the whole description: with it the message ran past Windows' 255 characters.
        message = (
            f"Since {_hhmm(since)}. Watchdog's own sign-in to the mail account was withdrawn, so "
            "it cannot check. Reminders are not affected by this. Support, or whoever knows "
            "the account's password, must sign Watchdog in again."
        )
    elif kind is AlertKind.UNKNOWN and diagnosis in _SETUP_WORDS:
        message = f"Since {_hhmm(since)}. {_SETUP_WORDS[diagnosis]} {GUIDE_HINT}"
    else:
        lead = f"Since {_hhmm(since)}: {summary}" if since else summary
        if touched is not None and kind in (AlertKind.DOWN, AlertKind.REMINDER):
            lead = f"{lead} {touched}"  # how many reminders went out into the block so far
        message = f"{lead} {GUIDE_HINT}"
    return Alert(
        kind=kind,
        status=snapshot.status if kind is not AlertKind.TEST else Status.UP,
        title=_title(
            kind, diagnosis, name if provider != "other" else None, snapshot.status, account
        ),
        message=message,
        office=office,
        provider=provider,
        provider_name=provider_display_name,
        diagnosis=diagnosis,
        summary=summary,
        since=since,
        at=now,
        last_reply=last_reply,
    )


def _when(ts: float, now: float) -> str:
    """``14:05``, or ``Mon 14:05`` when it was not today."""
    same_day = time.localtime(ts)[:3] == time.localtime(now)[:3]
    return time.strftime("%H:%M" if same_day else "%a %H:%M", time.localtime(ts))


def _hhmm(ts: float | None) -> str:
    if ts is None:
        return "now"
    return time.strftime("%H:%M", time.localtime(ts))


def build_budget_alert(
    words: str,
    snapshot: StatusSnapshot,
    *,
    provider: str,
    provider_display_name: str,
    office: str,
    now: float,
    account: str = "",
) -> Alert:
    """The once-a-day warning before the provider's daily sending limit is reached.

    ``words`` come from ``batches.daily_budget`` (counts only): "412 e-mails have gone out from
    this account today; Gmail stops at about 500 a day: send the rest tomorrow."
    """
    message = f"{words} Reminders sent past the limit may be refused or held back."
    return Alert(
        kind=AlertKind.BUDGET,
        status=snapshot.status,
        title=_named_or_plain(
            f"E-mails from {account}: close to the daily limit",
            "Reminder e-mails: close to the daily sending limit",
            account,
        ),
        message=message[:255],
        office=office,
        provider=provider,
        provider_name=provider_display_name,
        at=now,
    )


def _named_or_plain(named: str, plain: str, account: str) -> str:
    """``named`` (with the account) where there is one and it fits a title, else ``plain``."""
    return named if account and len(named) <= _TITLE_MAX else plain

"""Alert titles speak to the front desk: the office's account, never "(Other provider)"."""

from __future__ import annotations

from watchdog.core.messages import build_alert
from watchdog.core.models import Diagnosis, Status, StatusSnapshot
from watchdog.notify import AlertKind

DOWN = StatusSnapshot(Status.DOWN, since=1_800_000_000.0, diagnosis=Diagnosis.SILENT_DROP)


def title(provider: str, display: str, account: str, kind: AlertKind = AlertKind.DOWN) -> str:
    return build_alert(
        kind,
        DOWN,
        provider=provider,
        provider_display_name=display,
        office="",
        now=1_800_000_100.0,
        account=account,
    ).title


def test_a_title_names_the_offices_account_where_it_fits() -> None:
    assert title("att", "AT&T", "frontdesk@att.net") == (
        "Reminder e-mails from frontdesk@att.net are not going out"
    )


def test_a_long_account_gives_way_to_the_provider_and_an_unknown_one_to_plain_words() -> None:
    long = "reception.and.billing.department@a-very-long-practice-name.example"
    assert title("att", "AT&T", long) == "Reminder e-mails are not going out (AT&T)"
    assert title("other", "Other provider", long) == "Reminder e-mails are not going out"
    for kind in (AlertKind.DOWN, AlertKind.RECOVERED, AlertKind.REMINDER, AlertKind.DEGRADED):
        for account in ("", long, "x@y.example"):
            text = title("other", "Other provider", account, kind)
            assert "Other provider" not in text and len(text) <= 63, text

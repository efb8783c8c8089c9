"""Alerts about Watchdog's own set-up problems: short, plain, and never blaming the provider."""

from __future__ import annotations

import pytest

from watchdog.core.classifier import describe
from watchdog.core.messages import build_alert
from watchdog.core.models import Diagnosis, Status, StatusSnapshot
from watchdog.core.providers import all_providers
from watchdog.core.state import WATCHDOG_SETUP_PROBLEMS
from watchdog.notify import AlertKind

NOW = 1_800_000_100.0


@pytest.mark.parametrize("diagnosis", sorted(WATCHDOG_SETUP_PROBLEMS), ids=str)
def test_a_setup_problem_alert_fits_windows_names_the_fix_and_not_the_provider(
    diagnosis: Diagnosis,
) -> None:
    for provider in all_providers():
        alert = build_alert(
            AlertKind.UNKNOWN,
            StatusSnapshot(Status.UNKNOWN, NOW - 60, "", diagnosis),
            provider=provider.name,
            provider_display_name=provider.display_name,
            office="Smile Dental",
            now=NOW,
        )
        assert len(alert.title) <= 63, alert.title
        assert len(alert.message) <= 255, alert.message
        assert "not going out" not in alert.title
        assert "Watchdog" in alert.title
        assert "Watchdog" in alert.message
    assert alert.summary == describe(diagnosis)


def test_each_setup_problem_has_a_title_of_its_own() -> None:
    titles = {
        build_alert(
            AlertKind.UNKNOWN,
            StatusSnapshot(Status.UNKNOWN, NOW, "", diagnosis),
            provider="other",
            provider_display_name="Other",
            office="",
            now=NOW,
        ).title
        for diagnosis in WATCHDOG_SETUP_PROBLEMS
    }
    assert len(titles) == len(WATCHDOG_SETUP_PROBLEMS)
    assert "Watchdog cannot check reminder e-mails right now" not in titles

"""The short fixes: one for every diagnosis, provider lines where a provider has its own page."""

from __future__ import annotations

import pytest

from watchdog.guidance import short_fix
from watchdog.models import Diagnosis
from watchdog.providers import all_providers


@pytest.mark.parametrize("diagnosis", list(Diagnosis))
def test_every_diagnosis_has_a_fix_for_every_provider(diagnosis: Diagnosis) -> None:
    for provider in all_providers():
        fix = short_fix(provider.name, diagnosis)
        assert len(fix) > 10, (provider.name, diagnosis)


def test_a_provider_line_wins_over_the_default() -> None:
    gmail = short_fix("gmail", Diagnosis.APP_PASSWORD_REQUIRED)
    assert "myaccount.google.com/apppasswords" in gmail
    assert short_fix("other", Diagnosis.APP_PASSWORD_REQUIRED) != gmail


def test_no_fix_sends_people_to_the_retired_gmail_unlock_page() -> None:
    for provider in all_providers():
        for diagnosis in Diagnosis:
            assert "DisplayUnlockCaptcha" not in short_fix(provider.name, diagnosis)


def test_the_offline_fix_does_not_blame_the_provider() -> None:
    assert "not a problem with the mail provider" in short_fix("gmail", Diagnosis.OFFLINE)

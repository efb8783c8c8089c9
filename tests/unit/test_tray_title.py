"""The tray icon's title (its tooltip), ``watchdog.desktop.tray.tray_title``: words and
backend limits.

Pure, no display. What each backend can carry is checked the way the backend itself would:
Latin-1 encoding for X11's ``WM_NAME`` (what python-xlib does), UTF-16 code units for Windows'
``szTip[128]``.
"""

from __future__ import annotations

import time

import pytest

from watchdog.core.controls import TrayState
from watchdog.core.models import Diagnosis, Status
from watchdog.desktop.tray import TITLE_RULES, TOOLTIP_MAX_CHARS, shown_status, tray_title

ACCOUNT = "frontdesk@example.com"


def local(day: int, hour: int, minute: int, month: int = 3) -> float:
    """A Unix time for a local wall-clock time in 2025 (10 March 2025 is a Monday)."""
    return time.mktime((2025, month, day, hour, minute, 0, 0, 0, -1))


NOW = local(12, 14, 40)

#: A reply a server might really send, several hundred characters, full of what Latin-1 lacks.
WORST_REASON = (
    "The outgoing server refused the reminder \u2013 it said \u201c550 5.7.1 Message rejected "
    "\u2026 see https://example.com/why\u201d; the provider\u2019s note: "
    "\u00bbZu viele E-Mails\u00ab "
    "\u2014 \u017ebluou\u010dk\u00fd k\u016f\u0148 \u2022 \u65e5\u672c\u8a9e \U0001f4ec\x00\u200b "
) * 4


def down(reason: str = "", **changes: object) -> TrayState:
    state = TrayState(
        Status.DOWN,
        since=local(12, 10, 2),
        last_check_at=local(12, 14, 35),
        reason=reason,
        account=ACCOUNT,
    )
    for name, value in changes.items():
        state = state.__class__(**{**state.__dict__, name: value})
    return state


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- words for the front desk --------------------------------------------------------------------


def test_the_title_names_the_office_account_and_says_the_reminders_get_through() -> None:
    state = TrayState(
        Status.UP,
        since=local(12, 14, 5),
        last_check_at=local(12, 14, 35),
        account=ACCOUNT,
        provider_name="Other provider",
    )
    assert tray_title(state, now=NOW) == (
        "Reminders from frontdesk@example.com: getting through since 14:05 · last check 14:35"
    )


def test_an_outage_says_not_getting_through_since_when_and_the_reason() -> None:
    state = down("Mail\nrefused: spam", provider_name="Other provider")
    title = tray_title(state, now=NOW)
    assert title == (
        "Reminders from frontdesk@example.com: not getting through since 10:02"
        " · last check 14:35 · Mail refused: spam"
    )
    assert "provider" not in title.lower()


@pytest.mark.parametrize(
    ("status", "diagnosis", "words"),
    [
        (Status.DEGRADED, Diagnosis.JUNK_PLACEMENT, "landing in junk since 10:02"),
        (Status.DEGRADED, Diagnosis.OK, "arriving late since 10:02"),
        (Status.UNKNOWN, Diagnosis.OFFLINE, "cannot be checked since 10:02"),
    ],
)
def test_each_status_has_its_own_plain_words(
    status: Status, diagnosis: Diagnosis, words: str
) -> None:
    state = down(status=status, diagnosis=diagnosis)
    assert tray_title(state, now=NOW).startswith(f"Reminders from {ACCOUNT}: {words} · ")


def test_before_the_first_check_the_title_says_not_checked_yet() -> None:
    state = TrayState(Status.UNKNOWN, since=None, last_check_at=None, account=ACCOUNT)
    assert tray_title(state, now=NOW) == f"Reminders from {ACCOUNT}: not checked yet"


def test_a_pause_says_until_when_and_the_icon_shows_paused() -> None:
    state = down("all fine", paused_until=local(12, 15, 35))
    assert shown_status(state) is Status.PAUSED
    assert tray_title(state, now=NOW) == (
        f"Reminders from {ACCOUNT}: checks paused until 15:35 · last check 14:35"
    )


def test_without_an_account_the_title_speaks_of_reminder_emails() -> None:
    state = TrayState(Status.UP, since=local(12, 14, 5), last_check_at=None)
    assert tray_title(state, now=NOW) == "Reminder e-mails: getting through since 14:05"


def test_times_of_other_days_carry_the_weekday_or_the_date() -> None:
    recent = down(since=local(10, 9, 0))
    old = down(since=local(1, 9, 0, month=2))
    assert "not getting through since Mon 09:00 ·" in tray_title(recent, now=NOW)
    assert "not getting through since 1 Feb 09:00 ·" in tray_title(old, now=NOW)


def test_new_year_is_a_day_after_new_years_eve_not_a_date_away() -> None:
    state = down(since=time.mktime((2025, 12, 31, 23, 0, 0, 0, 0, -1)))
    now = time.mktime((2026, 1, 1, 0, 30, 0, 0, 0, -1))
    assert "not getting through since Wed 23:00 ·" in tray_title(state, now=now)


# --- what each backend can carry -----------------------------------------------------------------


def test_on_x11_a_long_reason_with_typographic_characters_becomes_latin1_and_is_cut() -> None:
    title = tray_title(down(WORST_REASON), "xorg", now=NOW)
    title.encode("latin-1")  # what python-xlib does with WM_NAME; raised before
    assert len(title) <= TOOLTIP_MAX_CHARS
    assert title.startswith(
        "Reminders from frontdesk@example.com: not getting through since 10:02 · last check 14:35"
        " · The outgoing server refused"
    )
    assert title.endswith("...")


def test_on_x11_typographic_characters_become_their_plain_look_alikes() -> None:
    state = down("\u2013 \u2014 \u2019x\u2019 \u201cy\u201d \u2026 \u2022 \u2192", account="")
    assert tray_title(state, "xorg", now=NOW).endswith("""· - - 'x' "y" ... · ->""")


def test_on_x11_letters_outside_latin1_keep_their_base_letter_and_the_rest_a_question_mark() -> (
    None
):
    state = down("\u017ebluou\u010dk\u00fd k\u016f\u0148 \u2019ok\u2019 \u65e5 \U0001f4ec \u00e9")
    title = tray_title(state, "xorg", now=NOW)
    assert title.endswith("· zbluoucký kun 'ok' ? ? é")


def test_on_windows_the_title_keeps_at_most_127_utf16_units_and_its_unicode() -> None:
    reason = "Mailbox full \U0001f4ec " * 20  # each emoji is two UTF-16 code units
    title = tray_title(down(reason), "win32", now=NOW)
    assert title.endswith("\U0001f4ec…")  # cut after a whole word (textfit.clip_text)
    # The room is used up to the last word that fits: less than one more word is left over.
    word = utf16_units("Mailbox full \U0001f4ec ")
    assert TOOLTIP_MAX_CHARS - word < utf16_units(title) <= TOOLTIP_MAX_CHARS


@pytest.mark.parametrize("backend", ["xorg", "win32", "gtk", "appindicator", "darwin", ""])
@pytest.mark.parametrize("status", list(Status))
def test_every_title_of_every_status_fits_its_backend(backend: str, status: Status) -> None:
    state = down(WORST_REASON, status=status)
    if status is Status.PAUSED:
        state = down(WORST_REASON, paused_until=NOW + 600)
    title = tray_title(state, backend, now=NOW)
    rule = TITLE_RULES.get(backend)
    if rule is not None and rule.encoding is not None:
        title.encode(rule.encoding)
    assert utf16_units(title) <= TOOLTIP_MAX_CHARS
    assert "\x00" not in title and "\u200b" not in title and "\n" not in title
    assert title.startswith(f"Reminders from {ACCOUNT}: ")

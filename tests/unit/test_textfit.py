"""One way to cut a text short (issue 13): the CLI's columns, the tray's title, webhook texts and
desktop notifications all use ``textfit.clip_text`` and ``textfit.utf16_len``.
"""

from __future__ import annotations

import unicodedata

import pytest

from watchdog.cli.common import one_line
from watchdog.core import textfit
from watchdog.core.textfit import ELLIPSIS, clip_text, utf16_len
from watchdog.desktop import tray
from watchdog.notify import desktop, webhook

#: (text, limit): a cut inside a word, after an accent's letter, before an emoji, in a list.
CASES = [
    ("Reminder e-mails are not going out", 20),
    ("Praxis Mu\u0308ller", 10),  # the cut falls between "u" and its combining diaeresis
    ("Zahnarztpraxis Dr. Mu\u0308ller, Mu\u0308nchen", 23),
    ("Mailbox full \U0001f4ec Mailbox full \U0001f4ec", 16),
    ("a, b, c, d, e, f, g, h", 8),
    ("one-long-word-that-has-no-space-at-all", 12),
]


@pytest.mark.parametrize(("text", "limit"), CASES)
def test_the_cli_the_tray_and_the_webhooks_cut_a_text_the_same_way(text: str, limit: int) -> None:
    cut = clip_text(text, limit)
    assert one_line(text, limit) == cut
    assert tray._fit(text, tray.TitleRule(max_units=limit)) == cut
    assert webhook.ntfy_header(text, limit) == cut or not cut.isascii()


@pytest.mark.parametrize(("text", "limit"), CASES)
def test_a_cut_never_parts_an_accent_from_its_letter_and_always_fits(text: str, limit: int) -> None:
    """Before: the CLI and the tray kept the "u" of "Mü" and dropped its accent ("Mu…")."""
    for cut in (one_line(text, limit), tray._fit(text, tray.TitleRule(max_units=limit))):
        assert utf16_len(cut) <= limit
        head = cut.removesuffix(ELLIPSIS)
        assert text.startswith(head)
        assert head == text or not unicodedata.combining(text[len(head)])


def test_a_title_that_cannot_carry_the_ellipsis_ends_in_three_dots() -> None:
    rule = tray.TitleRule(max_units=12, encoding="ascii")
    assert tray._fit("Reminder e-mails are not going out", rule) == "Reminder..."


def test_utf16_length_is_counted_in_one_place() -> None:
    assert desktop.utf16_len is textfit.utf16_len
    assert desktop.clip_text is textfit.clip_text
    assert not hasattr(tray, "_utf16_len")
    assert utf16_len("a\U0001f4ec\u00e9") == 4  # the emoji counts 2

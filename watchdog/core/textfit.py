"""Fitting text into a limit: the one way any text is measured and cut short.

Used wherever a text meets a hard limit: desktop notifications (Windows counts 63 and 255 UTF-16
units), the tray's title (its backend's limit), webhook messages (Slack's and Teams' field
limits) and the one-line columns of the CLI. Why one: each place used to cut on its own, most of
them in the middle of a word or between a letter and its accent; here the cut is made once, well.
Pure and small: the standard library only.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ELLIPSIS", "clip_text", "utf16_len"]

ELLIPSIS = "\u2026"
#: Stripped from the end of a cut text before the ellipsis, so it never reads "word,…" or "a ·…".
_TRAILING = " \t\n,;:-\u2013\u2014([{/\u00b7"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of the Windows limits (an emoji counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clip_text(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else cut cleanly and ended with ``…``.

    The cut goes back to the last whitespace, unless that would drop more than half of the
    room (one long word or URL): then it cuts inside the word rather than lose the sentence.
    Never leaves a combining accent without its letter, never splits a surrogate pair (Python
    strings hold code points), and drops punctuation that would dangle before the ellipsis.
    ``ellipsis``: ``"..."`` where the target cannot show ``…`` (a title in a legacy code page).

    A limit in UTF-16 units is also one in characters (a character is one or two units), so
    the same cut serves limits counted either way.

    >>> clip_text("Reminder e-mails are not going out", 20)
    'Reminder e-mails…'
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ellipsis)
    end = used = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            break
        used += width
        end += 1
    # A combining mark belongs to the letter before it: keep both or neither.
    while 0 < end < len(text) and unicodedata.combining(text[end]):
        end -= 1
    cut = end
    if cut > 0 and not text[cut].isspace() and not text[cut - 1].isspace():
        space = max((m.start() for m in re.finditer(r"\s", text[:cut])), default=-1)
        if space >= cut // 2:
            cut = space
    head = text[:cut].rstrip(_TRAILING) or text[:end].rstrip()
    return head + ellipsis

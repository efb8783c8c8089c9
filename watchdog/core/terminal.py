"""Text from servers made safe to print on a terminal.

A mail server's reply, a folder name, a bounce's diagnostic text or a webhook's answer is written
by someone else. Printed as it is, ``ESC ] 0 ; ... BEL`` retitles the window, ``ESC [ 2 J`` clears
the screen, a carriage return or backspaces overwrite what was printed before (a FAIL line that
reads as OK), and some terminals act on further sequences. So every line the command line prints
goes through :func:`safe_text`: escape sequences are removed whole, every other control character
is shown as ``?``, and newlines stay only where the output needs them.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import re
import unicodedata
from typing import TextIO

__all__ = ["SafeFormatter", "safe_text", "utf8_when_redirected"]

#: Whole escape sequences, so their parameters do not remain as litter: CSI (``ESC [`` or the
#: one-byte C1 ``U+009B``, parameters, one final byte), OSC / DCS / SOS / PM / APC strings up to
#: BEL or the string terminator (or the end of the text, for an unterminated one), and the short
#: two-character ``ESC x`` forms.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)

#: Unicode format characters that reorder or hide text (bidirectional overrides and isolates,
#: zero-width characters): harmless to a terminal, but they make a line read as something else.
_HIDING = frozenset(
    "\u200b\u200c\u200d\u200e\u200f"  # zero-width space and joiners, direction marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069\ufeff"  # isolates, zero-width no-break space
)


def safe_text(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` without escape sequences or control characters, safe to print.

    Line ends (``\\r\\n``, ``\\r``, ``\\n``) become ``\\n`` when ``keep_newlines``, else a space;
    a tab becomes a space; any other control or hiding character becomes ``?``, so a reader sees
    that something was there.
    """
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not keep_newlines:
        text = text.replace("\n", " ")
    out = []
    for c in text:
        if c == "\n" or c == " ":
            out.append(c)
        elif c == "\t":
            out.append(" ")
        elif c in _HIDING or unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp"):
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


class SafeFormatter(logging.Formatter):
    """A log formatter whose lines are :func:`safe_text`: log messages quote servers too, and a
    log is read on a terminal (``tail -f``) as often as in an editor."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record))


def utf8_when_redirected(*streams: TextIO | None) -> None:
    """Make each of ``streams`` that is not a terminal write UTF-8 (before anything is written).

    Why: on Windows, output redirected to a file or a pipe is encoded in the ANSI code page
    (cp1252), which cannot carry most of what we print (the demo's "→", JSON with
    ``ensure_ascii=False``, a server's reply in another script): ``print`` raised
    UnicodeEncodeError. A real console is left alone (Python writes it as UTF-16 there), and so
    is a stream already in a UTF encoding or without ``reconfigure`` (a test's StringIO);
    a None stream (``pythonw.exe``) is skipped.
    """
    for stream in streams:
        if stream is None:
            continue
        with contextlib.suppress(Exception):  # a closed or odd stream: leave it as it is
            if stream.isatty() or _is_utf(getattr(stream, "encoding", None)):
                continue
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(encoding="utf-8")


def _is_utf(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "").name.startswith("utf")
    except LookupError:
        return False

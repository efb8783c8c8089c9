"""A guide as a self-contained local HTML page the front desk can read, print and follow.

The page works with no network and trusts nothing it did not bring: no scripts at all (and a
Content-Security-Policy that would block any), inline CSS only, every text escaped. It is
``templates/guide.html.j2`` in the frame, stylesheet and policy it shares with the history report
(:mod:`watchdog.pages.frame`, Jinja2 with autoescape). Links are made only from addresses in the
package's own guide files (:func:`watchdog.core.guidance.link_spans`, in :func:`_inline`); the
server's reply, the office name and the support contact are shown as plain text, never linked,
because a mail server's words are not ours to vouch for.
"""

from __future__ import annotations

import os
import re
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.core.guidance import Guide, link_spans, phrase
from watchdog.core.models import Diagnosis
from watchdog.storage.atomic_file import PRIVATE, READABLE_BY_ALL, write_text_atomically

if TYPE_CHECKING:
    from markupsafe import Markup

_HEADINGS = ("How to check that it is fixed", "If it keeps happening")
_CALM_HEADINGS = ("Checking again", "To keep it this way")


def render_html(
    guide: Guide,
    *,
    since: float | None,
    office: str,
    support_contact: str,
    last_reply: str | None = None,
    generated_at: float,
) -> str:
    """The guide as one self-contained HTML page.

    ``since`` is when the problem began (Unix time, None when not known); ``office`` and
    ``support_contact`` come from the config; ``last_reply`` is the mail server's last words,
    shown verbatim for support; ``generated_at`` dates the page (it may be printed and kept).
    """
    from watchdog.pages.frame import render_page

    office = office.strip()
    # "Fixed" and "keeps happening" would puzzle someone reading that all is well.
    headings = _CALM_HEADINGS if guide.diagnosis is Diagnosis.OK else _HEADINGS
    reply = last_reply if last_reply and last_reply.strip() else None
    return render_page(
        "guide.html.j2",
        title=f"{guide.title} - {office}" if office else guide.title,
        page_class="guide",
        guide=guide,
        inline=_inline,
        office=office,
        since=_since(since, generated_at),
        headings=headings,
        support_contact=support_contact.strip(),
        no_support_contact=phrase("no_support_contact"),  # plain: links only in guides
        last_reply=reply,
        made_on=_date_time(generated_at),
    )


def write_guide(path: str | os.PathLike[str], html: str, *, private: bool = False) -> Path:
    """Write the page to ``path`` (folders made as needed) and return the absolute path.

    Written whole (:mod:`watchdog.storage.atomic_file`), so a browser that has the old page open
    never reads half a page. Mode 0644: a guide holds no secrets, and support may need to read it;
    with ``private`` 0600, for pages made from the history (addresses, server replies).
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(target, html, mode=PRIVATE if private else READABLE_BY_ALL)
    return target


#: Where an installed copy keeps the documents (pyproject.toml: [tool.setuptools.data-files]).
DOCS_INSTALL_DIR = Path("share") / "doc" / "delivery-watchdog"


def doc_path(name: str) -> Path | None:
    """The document ``name`` (e.g. ``"oauth.md"``) on this PC, or None where it is not.

    A source checkout (or an editable install) has it in ``docs/`` beside the package; an
    installed copy under ``<prefix>/share/doc/delivery-watchdog`` (the environment's prefix, or
    the user's for ``pip install --user``).
    """
    import site
    import sysconfig

    candidates = [Path(__file__).resolve().parents[2] / "docs" / name]
    for base in (sysconfig.get_path("data"), getattr(site, "USER_BASE", None)):
        if base:
            candidates.append(Path(base) / DOCS_INSTALL_DIR / name)
    return next((path for path in candidates if path.is_file()), None)


def doc_reference(name: str) -> str:
    """How a message names a document: its full path on this PC where there is one, so a
    support person can open it from an installed copy too; else its name in the sources."""
    path = doc_path(name)
    return str(path) if path is not None else f"docs/{name} in the Delivery Watchdog sources"


#: How long a browser command may run before it counts as started. A browser that cannot start
#: (no display, a broken desktop entry) exits within a moment with an error; one that works
#: either hands the page to a running browser and exits with 0, or keeps running as the window.
BROWSER_START_GRACE_S = 3.0


def open_in_browser(path: str | os.PathLike[str]) -> bool:
    """Open the page in the default browser; False (never an exception) if it did not start.

    A PC without a browser, or a service session without a desktop, must not crash the watchdog:
    the caller then says where the file is instead. ``webbrowser.open`` alone answers True as
    soon as a command could be launched, even when that command fails a moment later (``xdg-open``
    without a display), and Python's generic ``BROWSER`` launcher waits for the browser window to
    close. So where the browser is a command, it is started here and watched for a few seconds.
    """
    url = Path(path).resolve().as_uri()
    try:
        command = None
        if webbrowser.open is _STANDARD_OPEN:  # not replaced (tests record the page instead)
            command = _browser_command(webbrowser.get(), url)
        if command is None:
            return bool(webbrowser.open(url))
    except (webbrowser.Error, OSError):
        return False
    return start_browser_command(command)


#: ``webbrowser.open`` as Python has it. Where it was replaced (the tests record the page
#: instead of opening a browser; an embedding program may route pages elsewhere), the
#: replacement is used as it is.
_STANDARD_OPEN = webbrowser.open


def start_browser_command(command: list[str], grace_s: float = BROWSER_START_GRACE_S) -> bool:
    """Start ``command``; True unless it cannot be started or ends with an error within
    ``grace_s`` (a command still running then is a browser window: started)."""
    import subprocess
    import sys

    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # The browser outlives the watchdog's own signals (POSIX; ignored on Windows).
            start_new_session=sys.platform != "win32",
        )
    except OSError:
        return False
    try:
        return process.wait(timeout=grace_s) == 0
    except subprocess.TimeoutExpired:
        return True


def _browser_command(controller: webbrowser.BaseBrowser, url: str) -> list[str] | None:
    """The command line of a command-style browser (``BROWSER``, ``xdg-open``...), or None for
    one that is not a plain command (macOS, Windows, a browser's remote-control protocol)."""
    if type(controller) not in (webbrowser.GenericBrowser, webbrowser.BackgroundBrowser):
        return None
    name = str(getattr(controller, "name", ""))
    args = [str(a) for a in getattr(controller, "args", ["%s"])]
    if not name:
        return None
    return [name, *(a.replace("%s", url) for a in args)]


# --- internals ----------------------------------------------------------------------------------


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> Markup:
    """Escape a text from the guide files and turn its addresses and light markup into HTML.

    Only ever called on the package's own texts (the template passes nothing else to it): this
    is the one place links are made.
    """
    from markupsafe import Markup, escape

    out, at = [], 0
    for start, end, url in link_spans(text):
        out.append(escape(text[at:start]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        at = end
    out.append(escape(text[at:]))
    joined = str(Markup("").join(out))
    # After escaping, back-ticks and stars are still themselves and can no longer form tags.
    joined = _CODE.sub(r"<code>\1</code>", joined)
    return Markup(_BOLD.sub(r"<strong>\1</strong>", joined))


def _since(since: float | None, now: float) -> str:
    if since is None:
        return "not known yet."
    ago = now - since
    when = _date_time(since)
    return f"{when} ({_ago(ago)})." if ago >= 0 else f"{when}."


def _date_time(ts: float) -> str:
    """``Tuesday 14 March 2026, 09:05``: the month in words, so no one misreads 03/04."""
    t = time.localtime(ts)
    day, month_year = time.strftime("%A", t), time.strftime("%B %Y", t)
    return f"{day} {t.tm_mday} {month_year}, {t.tm_hour:02d}:{t.tm_min:02d}"


def _ago(seconds: float) -> str:
    """Rounded the way people say it: a page read at a glance needs no seconds."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{_plural(minutes, 'minute')} ago"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        extra = f" {_plural(rest, 'minute')}" if rest and hours < 6 else ""
        return f"{_plural(hours, 'hour')}{extra} ago"
    return f"{_plural(hours // 24, 'day')} ago"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"

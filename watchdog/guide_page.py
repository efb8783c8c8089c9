"""A guide as a self-contained local HTML page the front desk can read, print and follow.

The page works with no network and trusts nothing it did not bring: no scripts at all (and a
Content-Security-Policy that would block any), inline CSS only, every text escaped. Links are made
only from addresses in the package's own guide files (:func:`watchdog.guidance.link_spans`); the
server's reply, the office name and the support contact are shown as plain text, never linked,
because a mail server's words are not ours to vouch for.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import time
import webbrowser
from pathlib import Path

from .guidance import Guide, link_spans, phrase
from .models import Diagnosis

#: Large, high-contrast, relative units only, so it reflows at 200-400 % zoom without sideways
#: scrolling. Long addresses wrap anywhere rather than widening the page.
_CSS = """
:root { color-scheme: light; }
html { font-size: 100%; }
body { margin: 0; background: #ffffff; color: #111111;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  font-size: 1.25rem; line-height: 1.55; }
main { max-width: 44rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0.4rem 0 1rem; }
h2 { font-size: 1.45rem; line-height: 1.25; margin: 2rem 0 0.6rem;
  border-bottom: 0.12rem solid #111111; padding-bottom: 0.2rem; }
p, li { overflow-wrap: anywhere; }
a { color: #0a3a8c; text-decoration: underline; text-underline-offset: 0.15em; }
a:focus, a:hover { outline: 0.2rem solid #b34700; outline-offset: 0.1rem; }
code { font-family: Consolas, "DejaVu Sans Mono", monospace; font-size: 0.95em;
  background: #eef0f3; border: 1px solid #8a8f98; border-radius: 0.2rem; padding: 0 0.2em; }
.context { margin: 0; color: #333333; }
.banner { border-left: 0.5rem solid #b00020; background: #fdf0f1; padding: 0.8rem 1rem;
  margin: 1rem 0; }
.banner.calm { border-left-color: #1b6e20; background: #eef7ee; }
.banner p { margin: 0.3rem 0; }
.label { font-weight: 700; }
ol.steps { list-style: none; counter-reset: step; padding: 0; margin: 0; }
ol.steps > li { counter-increment: step; position: relative; margin: 0 0 1.1rem;
  padding-left: 3.2rem; min-height: 2.4rem; }
ol.steps > li::before { content: counter(step); position: absolute; left: 0; top: -0.1rem;
  width: 2.3rem; height: 2.3rem; line-height: 2.3rem; border-radius: 50%; text-align: center;
  background: #0a3a8c; color: #ffffff; font-weight: 700; font-size: 1.3rem; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1rem; background: #f3f3f3;
  border: 1px solid #555555; padding: 0.8rem; }
footer { margin-top: 2.5rem; font-size: 1rem; color: #333333; }
@media print {
  body { font-size: 12pt; }
  a { color: #000000; }
  ol.steps > li::before { border: 1px solid #000000; color: #000000; background: #ffffff; }
}
"""

#: Defence in depth: even if something slipped past the escaping, the browser runs no script and
#: loads nothing, from anywhere.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


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
    office = office.strip()
    # "Fixed" and "keeps happening" would puzzle someone reading that all is well.
    headings = _CALM_HEADINGS if guide.diagnosis is Diagnosis.OK else _HEADINGS
    title = f"{guide.title} - {office}" if office else guide.title
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f'<p class="context">{_context(office, guide)}</p>',
        f"<h1>{_inline(guide.title)}</h1>",
        _banner(guide, since, generated_at),
        '<h2 id="steps">What to do</h2>',
        '<ol class="steps" role="list">',
        *(f"<li>{_inline(step)}</li>" for step in guide.steps),
        "</ol>",
        f'<h2 id="confirm">{headings[0]}</h2>',
        f"<p>{_inline(guide.confirm)}</p>",
        f'<h2 id="lasting">{headings[1]}</h2>',
        f"<p>{_inline(guide.lasting_fix)}</p>",
        '<h2 id="call">Who to call</h2>',
        _who_to_call(guide, support_contact),
        _server_reply(last_reply),
        f"<footer><p>{_footer(guide, generated_at)}</p></footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def write_guide(path: str | os.PathLike[str], html: str, *, private: bool = False) -> Path:
    """Write the page to ``path`` (folders made as needed) and return the absolute path.

    Written to a temporary file and renamed, so a browser that has the old page open never reads
    half a page. Mode 0644: a guide holds no secrets, and support may need to read it; with
    ``private`` 0600, for pages made from the history (addresses, server replies). (The
    parameter ``html`` hides the module of that name here only; nothing here escapes.)
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(html)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
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

    candidates = [Path(__file__).resolve().parent.parent / "docs" / name]
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


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape a text from the guide files and turn its addresses and light markup into HTML.

    Only ever called on the package's own texts: this is the one place links are made.
    """
    out, at = [], 0
    for start, end, url in link_spans(text):
        out.append(_esc(text[at:start]))
        out.append(f'<a href="{_esc(url)}">{_esc(url)}</a>')
        at = end
    out.append(_esc(text[at:]))
    joined = "".join(out)
    # After escaping, back-ticks and stars are still themselves and can no longer form tags.
    joined = _CODE.sub(r"<code>\1</code>", joined)
    return _BOLD.sub(r"<strong>\1</strong>", joined)


def _context(office: str, guide: Guide) -> str:
    where = f"{_esc(office)} &middot; " if office else ""
    return f"{where}Delivery Watchdog &middot; {_esc(guide.provider_name)}"


def _banner(guide: Guide, since: float | None, now: float) -> str:
    state = "Action needed" if guide.action_needed else "No action needed right now"
    calm = "" if guide.action_needed else " calm"
    return "\n".join(
        [
            f'<div class="banner{calm}">',
            f'<p><span class="label">{state}.</span> {_inline(guide.what_happened)}</p>',
            f'<p><span class="label">Since:</span> {_esc(_since(since, now))}</p>',
            "</div>",
        ]
    )


def _who_to_call(guide: Guide, support_contact: str) -> str:
    contact = support_contact.strip()
    if contact:
        lines = [
            f'<p><span class="label">Support:</span> {_esc(contact)}</p>',
            "<p>Tell them what this page says and since when; keep this page open.</p>",
        ]
    else:
        lines = [f"<p>{_esc(phrase('no_support_contact'))}</p>"]  # plain: links only in guides
    if guide.call_provider:
        lines.append(f"<p>{_inline(guide.call_provider)}</p>")
    return "\n".join(lines)


def _server_reply(last_reply: str | None) -> str:
    if not last_reply or not last_reply.strip():
        return ""
    return "\n".join(
        [
            '<h2 id="reply">For support: what the mail server last said</h2>',
            f"<pre>{_esc(last_reply)}</pre>",
        ]
    )


def _footer(guide: Guide, generated_at: float) -> str:
    return (
        f"Page made on {_esc(_date_time(generated_at))}. "
        f"Guide text: <code>{_esc(guide.source)}</code> in the Watchdog package."
    )


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

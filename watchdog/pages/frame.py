"""The HTML pages (the front desk's guide, the history report) from Jinja2 templates.

One frame for both (``templates/page.html.j2``): one Content-Security-Policy, defined here, and
one stylesheet (``templates/pages.css``), inlined because the pages are opened from ``file://``
and mailed as attachments, so they must work offline and load nothing. Autoescape is on for
every value: a text is only ever HTML when it was made so on purpose (``markupsafe.Markup``, as
``guide_page`` does for the package's own guide texts).

Jinja2 is imported on the first page made, never when this module is imported: ``watchdog
check`` and the tray's polls pay nothing for it (about 55 ms).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

#: Defence in depth: even if something slipped past the escaping, the browser runs no script
#: and loads nothing, from anywhere; inline styles only, no <base>, no form sent anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

#: Where the templates and the stylesheet are, inside the package (package data; the frozen
#: program ships them, see packaging/watchdog.spec).
TEMPLATE_FOLDER = "templates"


def render_page(template: str, **values: Any) -> str:
    """``template`` (a name in ``watchdog/templates``) rendered with ``values``; one page."""
    return _environment().get_template(template).render(**values)


def stylesheet() -> str:
    """The one stylesheet both pages carry, as it is inlined into them."""
    return _read_template("pages.css")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_read_template),
        autoescape=True,  # every template is HTML (or CSS included into HTML)
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Our own constant, with no quote or angle bracket in it; Markup so that its quotes stay
    # readable in the page source (escaped or not, the browser reads the same policy).
    env.globals["csp"] = Markup(CONTENT_SECURITY_POLICY)
    return env


def _read_template(name: str) -> str:
    """A template's text from the package (works from a wheel, a checkout and the frozen
    program alike, through importlib.resources)."""
    return resources.files("watchdog").joinpath(TEMPLATE_FOLDER, name).read_text(encoding="utf-8")

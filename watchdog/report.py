"""A self-contained HTML page of the recent checks, for the tray's "Open history report".

No network, no scripts; every text that came from a server is escaped.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence

from .models import CheckResult, StatusSnapshot

_STYLE = """
body{font-family:system-ui,sans-serif;font-size:1.1rem;line-height:1.5;margin:1.5rem auto;
max-width:60rem;padding:0 1rem;color:#111}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top}td.reply{font-family:monospace;font-size:.9rem;
overflow-wrap:anywhere}.delivered{color:#0a6a2a}.lost,.send_failed,.bounced{color:#a30000}
.junk,.late{color:#8a5a00}
"""


def render_history_html(
    rows: Sequence[CheckResult], status: StatusSnapshot, *, office: str, generated_at: float
) -> str:
    """The page: status line, then one row per check, newest first."""

    def when(ts: float | None) -> str:
        return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))

    body = []
    for r in rows:
        latency = f"{r.latency_s:.1f} s" if r.latency_s is not None else "-"
        reply = html.escape(str(r.smtp_reply)) if r.smtp_reply else ""
        body.append(
            f"<tr><td>{when(r.sent_at)}</td><td class='{html.escape(r.outcome.value)}'>"
            f"{html.escape(r.outcome.value)}</td><td>{latency}</td>"
            f"<td>{html.escape(r.folder or '-')}</td><td>{html.escape(r.diagnosis.value)}</td>"
            f"<td class='reply'>{reply}</td></tr>"
        )
    title = f"Delivery Watchdog history{' - ' + office if office else ''}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p><strong>Status: {html.escape(status.status.value)}</strong> since "
        f"{when(status.since)}. {html.escape(status.reason)}</p>"
        "<table><thead><tr><th>Sent</th><th>Outcome</th><th>Latency</th><th>Folder</th>"
        "<th>Diagnosis</th><th>Server reply</th></tr></thead><tbody>"
        + "".join(body)
        + f"</tbody></table><p>Made {when(generated_at)}.</p></body></html>"
    )

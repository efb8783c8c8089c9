"""Webhook channels: a generic JSON hook, Slack, Microsoft Teams and ntfy.

One class, :class:`WebhookChannel`, posts an :class:`~watchdog.notify.Alert` in the shape the
receiving service expects and retries what may pass (timeouts, refused connections, 5xx, 429)
with a doubling back-off. The rules it keeps, and why:

* **Never raise, never stall.** ``send`` runs on the alert sender's thread
  (:mod:`watchdog.notify.sender`), so a slow endpoint never delays a check, but it holds up
  the alerts queued behind it, and an exception there would be a lost alert. Every attempt has
  a hard wall-clock limit (see :func:`post_once`), so ``send`` returns within about
  ``retries x timeout_s`` plus the back-off sleeps.
* **The URL is a secret.** Slack, Teams and ntfy put the credential in the address itself, so
  details and log lines name only scheme and host (:func:`safe_url`), and any echo of the path
  from a server or an exception is scrubbed (:class:`Redactor`).
* **Server text is data.** The mail server's reply is quoted for support, but never as markup:
  escaped for Slack, plain text runs (no Markdown) for Teams, a plain body for ntfy.
* **No links.** Alerts carry no links at all, so the staff can be told: a "watchdog" message
  with a link in it is not from the watchdog.

The shared HTTP pieces (:func:`post_once`, :func:`safe_url`, :class:`Redactor`,
:func:`new_session`) are reused by :mod:`watchdog.notify.heartbeat`.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast, get_args
from urllib.parse import parse_qsl, urlsplit

from watchdog import __version__
from watchdog.core.clock import Clock, SystemClock
from watchdog.core.humanize import format_duration
from watchdog.core.textfit import clip_text
from watchdog.core.timefmt import iso_utc
from watchdog.notify import Alert, AlertKind, AttemptResult

if TYPE_CHECKING:  # requests costs ~80 ms to import; only a configured webhook pays for it
    import requests

log = logging.getLogger(__name__)

WebhookKind = Literal["json", "slack", "teams", "ntfy"]
WEBHOOK_KINDS: Final[tuple[str, ...]] = get_args(WebhookKind)

#: ``version`` of the generic JSON payload; bumped only on an incompatible change.
PAYLOAD_VERSION: Final = 1
#: The longest ``Retry-After`` honoured; a server asking for more is not retried in this send.
MAX_RETRY_AFTER_S: Final = 60.0
USER_AGENT: Final = f"delivery-watchdog/{__version__}"

_T = TypeVar("_T")

# How much of an error reply we read and quote: enough for Slack's "no_service" or a JSON error,
# never a whole HTML page (and never unbounded memory for a hostile endpoint).
_SNIPPET_BYTES = 4096
_SNIPPET_CHARS = 160
# Slack block limits (header 150, section text 3000, field 2000 characters).
_SLACK_HEADER_MAX = 150
_SLACK_TEXT_MAX = 2900
_SLACK_FIELD_MAX = 1900
_NTFY_TITLE_MAX = 200

_NTFY_TAGS: Final[Mapping[AlertKind, str]] = {
    AlertKind.DOWN: "rotating_light",
    AlertKind.DEGRADED: "warning",
    AlertKind.REMINDER: "hourglass",
    AlertKind.RECOVERED: "white_check_mark",
    AlertKind.UNKNOWN: "grey_question",
    AlertKind.TEST: "test_tube",
    AlertKind.BUDGET: "chart_with_upwards_trend",
}
_TEAMS_COLOR: Final[Mapping[AlertKind, str]] = {
    AlertKind.DOWN: "Attention",
    AlertKind.REMINDER: "Attention",
    AlertKind.DEGRADED: "Warning",
    AlertKind.UNKNOWN: "Warning",
    AlertKind.RECOVERED: "Good",
    AlertKind.TEST: "Accent",
    AlertKind.BUDGET: "Warning",
}


# --------------------------------------------------------------------------------------------
# URLs and secrets


def safe_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be shown or logged of a secret address.

    User name, password, path, query and fragment are dropped, because Slack, Teams, ntfy and
    Healthchecks all carry the credential in one of them.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an invalid address)"
    if not parts.scheme or not host:
        return "(an invalid address)"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class Redactor:
    """Removes the secret parts of one URL from any text: server replies, exception messages.

    A 404 page may echo the request path ("Cannot POST /services/T0/B0/secret") and requests'
    exceptions quote the whole URL, so every text that can reach a detail or a log line passes
    through :meth:`scrub` first.
    """

    _MIN_PIECE = 4  # shorter pieces ("api", "v1") are not secrets and would mangle ordinary words

    def __init__(self, url: str) -> None:
        pieces: set[str] = {url.strip()}
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            parts = None
        if parts is not None:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            pieces.update({target, parts.path, parts.query, parts.fragment})
            pieces.update(segment for segment in parts.path.split("/"))
            for key, value in parse_qsl(parts.query, keep_blank_values=True):
                pieces.update({f"{key}={value}", value})
            pieces.update({parts.username or "", parts.password or ""})
        keep = sorted((p for p in pieces if len(p) >= self._MIN_PIECE), key=len, reverse=True)
        self._pattern: re.Pattern[str] | None = None
        if keep:
            self._pattern = re.compile("|".join(self._whole(piece) for piece in keep))

    @staticmethod
    def _whole(piece: str) -> str:
        """A pattern for ``piece`` as a whole word, so a topic name cannot eat part of a word.

        The boundary is only asserted on a side where the piece itself starts or ends with a
        word character: ``/services/...`` must still match right after ``:8080``.
        """
        before = r"(?<![\w-])" if re.match(r"[\w-]", piece[0]) else ""
        after = r"(?![\w-])" if re.match(r"[\w-]", piece[-1]) else ""
        return before + re.escape(piece) + after

    def scrub(self, text: str) -> str:
        """``text`` with every secret piece of the URL replaced by ``[redacted]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub("[redacted]", text)


class _Urllib3LogScrubber(logging.Filter):
    """Scrubs webhook paths from urllib3's debug lines (``"POST /services/T0/B0/secret" 200``).

    The product logs at DEBUG with ``-vv``, and urllib3 logs every request line there; without
    this the secret part of every configured URL would land in the log file.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._redactors: list[Redactor] = []

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._redactors.append(redactor)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            redactors = list(self._redactors)
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix; let logging report it
            return True
        scrubbed = message
        for redactor in redactors:
            scrubbed = redactor.scrub(scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_LOG_SCRUBBER = _Urllib3LogScrubber()
logging.getLogger("urllib3.connectionpool").addFilter(_LOG_SCRUBBER)


def protect_in_logs(redactor: Redactor) -> None:
    """Keep the secret parts of a URL out of urllib3's request log lines from now on."""
    _LOG_SCRUBBER.add(redactor)


def check_url(url: str, what: str) -> None:
    """Raise ``ValueError`` unless ``url`` is an absolute http(s) URL; never quotes the URL."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - parses the port, raising on garbage
    except ValueError:
        raise ValueError(f"{what}: the address is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what}: the address must start with https:// (or http:// on a LAN)")


# --------------------------------------------------------------------------------------------
# One HTTP attempt, bounded


@dataclass(frozen=True)
class HttpOutcome:
    """What one HTTP attempt came to, already judged.

    ``detail`` is in words support can act on and holds no secret: scheme and host only, the
    server's short reply scrubbed.
    """

    ok: bool
    detail: str = ""
    retryable: bool = False  # a passing failure: another try may work
    permanent: bool = False  # the setup is wrong: no retry helps until the config changes
    status: int | None = None
    retry_after: float | None = None  # seconds the server asked us to wait, if it did


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: Mapping[str, str]
    snippet: bytes


class _Overran(Exception):
    """The attempt did not finish within its wall-clock limit."""


def new_session() -> requests.Session:
    """A ``requests`` session with TLS verification on (its default; never turned off here).

    It trusts the environment on purpose: an office behind a proxy sets ``HTTPS_PROXY``, and a
    system CA bundle arrives through ``REQUESTS_CA_BUNDLE``.
    """
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def check_session(session: requests.Session, what: str) -> None:
    """Refuse a session with certificate checks off: alerts would go to whoever answers."""
    if session.verify is False:
        raise ValueError(f"{what}: the HTTP session must verify TLS certificates")


def _run_bounded(fn: Callable[[], _T], limit_s: float) -> _T:
    """Run ``fn`` in a daemon thread; raise :class:`_Overran` if it is not done in ``limit_s``.

    requests' (connect, read) timeouts bound each socket operation, not the whole request: a
    server that trickles its reply a byte at a time, or a DNS lookup that hangs (getaddrinfo
    has no timeout), would hold the caller indefinitely. The thread gives a hard limit; an
    abandoned attempt finishes on its own when its socket times out or closes.
    """
    result: list[_T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller, who judges it
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name="watchdog-http", daemon=True).start()
    if not done.wait(limit_s):
        raise _Overran
    if error:
        raise error[0]
    return result[0]


def attempt_limit(timeout_s: float) -> float:
    """The hard wall-clock limit of one attempt: ``timeout_s`` plus a little grace.

    The grace lets requests' own timeout fire first when it can, since it says which phase
    (connect or read) failed and frees the socket at once.
    """
    return timeout_s + min(1.0, timeout_s / 2)


def post_once(
    session: requests.Session,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    clock: Clock,
    redactor: Redactor,
    what: str = "the alert",
) -> HttpOutcome:
    """POST ``body`` once and judge the answer; never raises, never exceeds the attempt limit.

    2xx is success. 408, 425, 429 and 5xx, timeouts and connection failures are retryable.
    Redirects are not followed and count as permanent, like other 4xx: requests would turn a
    redirected POST into a GET, dropping the alert while reporting success.
    """
    import requests

    where = safe_url(url)

    def request() -> _Reply:
        with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(timeout_s, timeout_s),
            allow_redirects=False,
            stream=True,  # read at most a snippet of an error page, and nothing of a success
        ) as response:
            snippet = b""
            if not 200 <= response.status_code < 300:
                # The status decides; a body that breaks off must not turn a 404 into a retry.
                with contextlib.suppress(Exception):
                    snippet = response.raw.read(_SNIPPET_BYTES, decode_content=True) or b""
            return _Reply(
                response.status_code, response.reason or "", dict(response.headers), snippet
            )

    try:
        reply = _run_bounded(request, attempt_limit(timeout_s))
    except _Overran:
        return HttpOutcome(
            False, f"no complete answer from {where} within {timeout_s:g} s", retryable=True
        )
    except requests.exceptions.ConnectTimeout:
        return HttpOutcome(
            False, f"could not connect to {where} within {timeout_s:g} s", retryable=True
        )
    except requests.exceptions.Timeout:
        return HttpOutcome(False, f"no answer from {where} within {timeout_s:g} s", retryable=True)
    except requests.exceptions.SSLError as exc:
        # Not retried now (seconds will not change a certificate), not permanent either: a
        # captive portal or an intercepting proxy gives the same error and may go away.
        reason = _root_reason(exc, redactor)
        return HttpOutcome(False, f"the TLS certificate of {where} was not accepted ({reason})")
    except requests.exceptions.ConnectionError as exc:
        reason = _root_reason(exc, redactor)
        return HttpOutcome(False, f"could not reach {where}: {reason}", retryable=True)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as exc:
        reason = redactor.scrub(type(exc).__name__)
        return HttpOutcome(False, f"the request to {where} is invalid ({reason})", permanent=True)
    except Exception as exc:  # anything else from deep inside requests/urllib3
        reason = _root_reason(exc, redactor)
        return HttpOutcome(False, f"sending to {where} failed: {reason}", retryable=True)
    return _judge(reply, where, what, clock, redactor)


def _judge(reply: _Reply, where: str, what: str, clock: Clock, redactor: Redactor) -> HttpOutcome:
    status = reply.status
    said = f"HTTP {status} {reply.reason}".rstrip()
    quoted = _quote_snippet(reply, redactor)
    if quoted:
        said += f" ({quoted})"
    if 200 <= status < 300:
        return HttpOutcome(True, f"{where} accepted {what} ({said})", status=status)
    if status in (408, 425, 429) or status >= 500:
        wait = _retry_after(reply.headers.get("Retry-After"), clock)
        return HttpOutcome(
            False, f"{where} answered {said}", retryable=True, status=status, retry_after=wait
        )
    if 300 <= status < 400:
        target = safe_url(reply.headers.get("Location", ""))
        return HttpOutcome(
            False,
            f"{where} redirected {what} to {target} ({said}); not followed: put the final "
            "address in the configuration",
            permanent=True,
            status=status,
        )
    return HttpOutcome(
        False, f"{where} refused {what}: {said}; {_hint(status)}", permanent=True, status=status
    )


def _hint(status: int) -> str:
    """What a permanent status most likely means for someone fixing the configuration."""
    if status in (401, 403):
        return "the address is no longer authorised (revoked or restricted): create a new one"
    if status in (404, 410):
        return "the address does not exist (deleted, or the channel archived): check it"
    if status in (400, 413, 415, 422):
        return "the service did not accept the message: check the kind matches the service"
    return "this will not fix itself: check the address and kind in the configuration"


def _quote_snippet(reply: _Reply, redactor: Redactor) -> str:
    """A short, single-line, scrubbed quote of an error body, or "" for HTML and binary."""
    if not reply.snippet:
        return ""
    content_type = reply.headers.get("Content-Type", "").lower()
    if "html" in content_type:
        return ""  # a whole error page says nothing a status line does not
    text = reply.snippet.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    if not text or "\ufffd" in text[:32]:
        return ""
    text = redactor.scrub(text)
    text = clip_text(text, _SNIPPET_CHARS)
    return f'"{text}"'


def _root_reason(exc: BaseException, redactor: Redactor) -> str:
    """Plain words for the innermost cause of a network error, scrubbed of the URL.

    requests' messages are long chains quoting the URL ("HTTPSConnectionPool(host=...): Max
    retries exceeded with url: /services/..."); the innermost OS error is what support needs.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost: BaseException = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        if current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
            continue
        current = current.__cause__ or current.__context__
    if isinstance(innermost, ConnectionRefusedError):
        return "connection refused (nothing is listening there, or a firewall said no)"
    if isinstance(innermost, ConnectionResetError):
        return "the connection was reset"
    if isinstance(innermost, TimeoutError):
        return "timed out"
    import ssl

    if isinstance(innermost, ssl.SSLCertVerificationError):
        # "unable to get local issuer certificate", "Hostname mismatch, ...": what to fix
        return f"certificate verify failed: {innermost.verify_message}"
    text = str(innermost)
    lowered = text.lower()
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "the host name was not found (no network, or a typo in the address)"
    if "temporary failure in name resolution" in lowered or "getaddrinfo failed" in lowered:
        return "the host name could not be looked up (no network or no DNS)"
    if "certificate verify failed" in lowered:
        return "certificate verify failed"
    if "connection refused" in lowered:
        return "connection refused (nothing is listening there, or a firewall said no)"
    words = " ".join(redactor.scrub(text).split())[:_SNIPPET_CHARS]
    return f"{type(innermost).__name__}: {words}" if words else type(innermost).__name__


def _retry_after(value: str | None, clock: Clock) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - clock.now()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------------------------
# Payloads


def _readable_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def json_payload(alert: Alert, at: float) -> dict[str, Any]:
    """The generic JSON payload, version 1 (documented in docs/escalation.md)."""
    return {
        "version": PAYLOAD_VERSION,
        "kind": alert.kind.value,  # the wire carries the enum's value
        "status": str(alert.status),
        "title": alert.title,
        "message": alert.message,
        "summary": alert.summary,
        "office": alert.office,
        "provider": alert.provider,
        "provider_name": alert.provider_name,
        "diagnosis": str(alert.diagnosis) if alert.diagnosis is not None else None,
        "since": iso_utc(alert.since) if alert.since is not None else None,
        "at": iso_utc(at),
        "last_reply": alert.last_reply,
        "details": dict(alert.details),
    }


def _facts(alert: Alert, at: float) -> list[tuple[str, str]]:
    """Label/value lines shared by the chat payloads; plain text, escaped by each caller."""
    facts: list[tuple[str, str]] = []
    if alert.office:
        facts.append(("Office", alert.office))
    facts.append(("Provider", alert.provider_name or alert.provider))
    status = str(alert.status)
    if alert.since is not None:
        ago = format_duration(max(0.0, at - alert.since))
        status += f" since {_readable_utc(alert.since)} ({ago})"
    facts.append(("Status", status))
    if alert.diagnosis is not None:
        facts.append(("Diagnosis", str(alert.diagnosis)))
    return facts


def slack_escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack requires, so ``<!channel>`` or ``<url|text>`` in
    server text is shown, not obeyed (no mass mention, no disguised link)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(text: str) -> str:
    """Server text as a Slack code block: escaped, and unable to close the block early."""
    return "```" + slack_escape(text).replace("```", "'''") + "```"


def slack_payload(alert: Alert, at: float) -> dict[str, Any]:
    """An incoming-webhook message: full mrkdwn ``text`` (what notifications and receivers that
    ignore blocks show) plus header/section blocks for Slack itself."""
    facts = _facts(alert, at)
    fact_lines = [f"*{slack_escape(label)}:* {slack_escape(value)}" for label, value in facts]
    lines = [f"*{slack_escape(alert.title)}*", slack_escape(alert.message)]
    if alert.summary:
        lines.append(slack_escape(alert.summary))
    lines += fact_lines
    if alert.last_reply:
        lines.append("Last server reply:\n" + _slack_code(alert.last_reply))
    blocks: list[dict[str, Any]] = [
        # plain_text is never parsed for mentions or links, so the title needs no escaping
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip_text(alert.title, _SLACK_HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip_text(slack_escape(alert.message), 2900)},
        },
    ]
    if alert.summary:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip_text(slack_escape(alert.summary), 2900)},
            }
        )
    blocks.append(
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": clip_text(
                        f"*{slack_escape(label)}*\n{slack_escape(value)}", _SLACK_FIELD_MAX
                    ),
                }
                for label, value in facts
            ],
        }
    )
    if alert.last_reply:
        reply = _slack_code(clip_text(alert.last_reply, _SLACK_TEXT_MAX - 40))
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Last server reply*\n" + reply}}
        )
    return {
        "text": clip_text("\n".join(lines), _SLACK_TEXT_MAX),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _run(text: str, **style: Any) -> dict[str, Any]:
    """An Adaptive Card ``TextRun``: Teams renders its text as is, with no Markdown at all."""
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **block: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **block}


def teams_payload(alert: Alert, at: float) -> dict[str, Any]:
    """A message with one Adaptive Card, the form both Teams Workflows ("Post to a channel when
    a webhook request is received") and the older Office 365 incoming webhooks accept.

    Every text is a ``TextRun`` inside a ``RichTextBlock``, not a ``TextBlock``: TextBlocks parse
    Markdown, so ``[Reset password](https://evil.example)`` in a server reply would become a
    link; TextRuns show it as typed.
    """
    color = _TEAMS_COLOR.get(alert.kind, "Default")
    body: list[dict[str, Any]] = [
        _rich(_run(alert.title, size="Large", weight="Bolder", color=color)),
        _rich(_run(alert.message)),
    ]
    if alert.summary:
        body.append(_rich(_run(alert.summary)))
    for label, value in _facts(alert, at):
        body.append(_rich(_run(f"{label}: ", weight="Bolder"), _run(value), spacing="None"))
    if alert.last_reply:
        body.append(_rich(_run("Last server reply", weight="Bolder")))
        body.append(_rich(_run(alert.last_reply, fontType="Monospace"), spacing="None"))
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def ntfy_header(text: str, limit: int = _NTFY_TITLE_MAX) -> str:
    """A header-safe value: one line, and RFC 2047 encoded words if it is not plain ASCII.

    HTTP headers are Latin-1 at best (requests raises on anything else) and ntfy decodes
    ``=?utf-8?b?...?=`` words in its headers, so an office called "Zahnärzte Łódź" keeps its name.
    """
    text = clip_text(" ".join(text.split()), limit)
    if text.isascii():
        return text
    words: list[str] = []
    chunk = ""
    for char in text:  # whole characters per word, at most 45 bytes (60 base64 chars) each
        if len((chunk + char).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    if chunk:
        words.append(chunk)
    return " ".join(
        "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?="
        for word in words
    )


def ntfy_request(alert: Alert, at: float) -> tuple[bytes, dict[str, str]]:
    """The plain-text body and the ``Title``/``Priority``/``Tags`` headers for ntfy.

    No ``Markdown`` header is sent, so ntfy shows the body (server reply included) as typed.
    """
    lines = [alert.message]
    if alert.summary:
        lines.append(alert.summary)
    lines.append("")
    lines += [f"{label}: {value}" for label, value in _facts(alert, at)]
    if alert.last_reply:
        lines += ["", "Last server reply:", alert.last_reply]
    headers = {
        "Title": ntfy_header(alert.title),
        "Priority": "urgent" if alert.kind is AlertKind.DOWN else "default",
        "Tags": f"{_NTFY_TAGS.get(alert.kind, 'bell')},{alert.kind.value}",
        "Content-Type": "text/plain; charset=utf-8",
    }
    return "\n".join(lines).encode("utf-8"), headers


def _json_body(payload: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return body, {"Content-Type": "application/json; charset=utf-8"}


def build_request(kind: WebhookKind, alert: Alert, at: float) -> tuple[bytes, dict[str, str]]:
    """Body and headers for ``kind``; ``at`` is the alert's time (Unix seconds)."""
    if kind == "slack":
        return _json_body(slack_payload(alert, at))
    if kind == "teams":
        return _json_body(teams_payload(alert, at))
    if kind == "ntfy":
        return ntfy_request(alert, at)
    return _json_body(json_payload(alert, at))


# --------------------------------------------------------------------------------------------
# The channel


class WebhookChannel:
    """Posts alerts to one webhook, retrying what may pass; ``send`` never raises.

    ``retries`` is the most attempts one ``send`` makes (at least 1), so with the defaults a
    dead endpoint costs at most 3 attempts of ``timeout_s`` (plus a little grace each) and
    back-off sleeps of 2 s and 4 s: about 39 s. A ``Retry-After`` up to ``max_retry_after_s``
    replaces the back-off; a longer one ends the send (retrying sooner would be refused again).

    ``clock`` is used for the back-off sleeps (and the time of an alert without ``at``), so tests
    run them instantly; network timeouts are real time. ``session`` defaults to
    :func:`new_session`. A session with a private CA should set ``trust_env = False``:
    requests lets ``REQUESTS_CA_BUNDLE`` from the environment override ``session.verify``.
    """

    def __init__(
        self,
        url: str,
        kind: str = "json",
        *,
        name: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 2.0,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        checked = _as_kind(kind)  # a plain str is accepted: it comes straight from the config
        label = (name or "").strip() or checked
        self._name = f"webhook:{label}"
        check_url(url, self._name)
        if not timeout_s > 0:
            raise ValueError(f"{self._name}: timeout_s must be more than 0")
        if retries < 1:
            raise ValueError(f"{self._name}: retries must be at least 1")
        if backoff_s < 0 or max_retry_after_s < 0:
            raise ValueError(f"{self._name}: backoff_s and max_retry_after_s cannot be negative")
        if session is not None:
            check_session(session, self._name)
        self._url = url.strip()
        self._kind = checked
        self._timeout_s = float(timeout_s)
        self._retries = int(retries)
        self._backoff_s = float(backoff_s)
        self._max_retry_after_s = float(max_retry_after_s)
        self._clock: Clock = clock or SystemClock()
        self._session = session
        self._redactor = Redactor(self._url)
        protect_in_logs(self._redactor)
        if urlsplit(self._url).scheme == "http" and not _is_loopback(self._url):
            log.warning(
                "%s: %s is plain http; the alert and the secret address travel unencrypted",
                self._name,
                self.where,
            )

    @property
    def name(self) -> str:
        """``webhook:<name>`` when configured with a name, else ``webhook:<kind>``."""
        return self._name

    @property
    def kind(self) -> WebhookKind:
        """The payload shape: json, slack, teams or ntfy."""
        return self._kind

    @property
    def where(self) -> str:
        """Scheme and host of the webhook: the only part of its address ever shown."""
        return safe_url(self._url)

    def __repr__(self) -> str:  # never the full URL, even in a debugger or a log of objects
        return f"WebhookChannel(name={self._name!r}, kind={self._kind!r}, url={self.where!r})"

    def send(self, alert: Alert) -> AttemptResult:
        """Deliver ``alert``, retrying passing failures; never raises."""
        try:
            return self._send(alert)
        except Exception as exc:  # a bug here must not stop the checking loop
            reason = self._redactor.scrub(f"{type(exc).__name__}: {exc}")
            log.error("%s: could not send the alert: %s", self._name, reason)
            return AttemptResult(self._name, ok=False, detail=f"internal error: {reason}")

    def _send(self, alert: Alert) -> AttemptResult:
        at = alert.at or self._clock.now()
        body, headers = build_request(self._kind, alert, at)
        if self._session is None:
            self._session = new_session()
        backoff = self._backoff_s
        attempts = 0
        while True:
            attempts += 1
            outcome = post_once(
                self._session,
                self._url,
                body=body,
                headers={"User-Agent": USER_AGENT, **headers},
                timeout_s=self._timeout_s,
                clock=self._clock,
                redactor=self._redactor,
            )
            if outcome.ok:
                log.info("%s: %s alert delivered (%s)", self._name, alert.kind, outcome.detail)
                return AttemptResult(self._name, ok=True, detail=outcome.detail, attempts=attempts)
            note = ""
            if outcome.retryable and attempts < self._retries:
                # Our own back-off is capped; only a server's longer Retry-After ends the send.
                wait = outcome.retry_after
                if wait is None:
                    wait = min(backoff, self._max_retry_after_s)
                if wait <= self._max_retry_after_s:
                    log.info(
                        "%s: attempt %d failed (%s); retrying in %s",
                        self._name,
                        attempts,
                        outcome.detail,
                        format_duration(wait),
                    )
                    self._clock.sleep(wait)
                    backoff *= 2
                    continue
                note = (
                    f"; it asked to wait {format_duration(wait)}, longer than the "
                    f"{format_duration(self._max_retry_after_s)} a send may wait"
                )
            tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
            detail = self._redactor.scrub(f"{outcome.detail} ({tries}){note}")
            log.warning("%s: %s alert not delivered: %s", self._name, alert.kind, detail)
            return AttemptResult(
                self._name,
                ok=False,
                detail=detail,
                permanent=outcome.permanent,
                attempts=attempts,
            )


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def _as_kind(kind: str) -> WebhookKind:
    """``kind`` as a :data:`WebhookKind`, or ``ValueError`` naming the allowed values."""
    if kind in WEBHOOK_KINDS:
        return cast(WebhookKind, kind)
    raise ValueError(f"webhook kind must be one of {', '.join(WEBHOOK_KINDS)}, not {kind!r}")

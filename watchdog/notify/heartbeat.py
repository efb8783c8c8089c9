"""A dead man's switch: pings a Healthchecks-compatible URL so silence itself raises an alarm.

Every other channel needs the watchdog alive to speak. If the office PC is switched off, asleep
or the watchdog has crashed, nothing is sent and nobody knows the reminders are unwatched. A
heartbeat turns that around: the watchdog pings after every check, and the monitoring service
(healthchecks.io, a self-hosted Healthchecks, Uptime Kuma's push monitor, ...) alerts IT support
when the pings stop, or when a ping says ``/fail``.

Endpoints, as Healthchecks defines them: ``<url>/start`` (a check began), ``<url>`` (success),
``<url>/fail`` (failure; the body is shown in the service's event log). All are POSTs here.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Final

from watchdog.core.clock import Clock, SystemClock
from watchdog.notify import AttemptResult
from watchdog.notify.webhook import (
    USER_AGENT,
    HttpOutcome,
    Redactor,
    check_session,
    check_url,
    new_session,
    post_once,
    protect_in_logs,
    safe_url,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Healthchecks keeps 100 kB of a ping body by default; a diagnosis needs far less, and a small
#: body keeps a ping quick on a slow office line.
MAX_BODY_BYTES: Final = 10_000
#: The single retry waits this long, unless the server asks for a (short) ``Retry-After``.
RETRY_DELAY_S: Final = 1.0
#: A ``Retry-After`` longer than this is not waited for: a heartbeat must stay quick.
_MAX_RETRY_WAIT_S: Final = 5.0

# user:password@ inside any URL in a body: a diagnosis text quoting a URL must not carry it.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
# Control characters other than tab and newline: nothing a log viewer should be fed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Heartbeat:
    """Pings a Healthchecks-compatible check; every method returns an ``AttemptResult``.

    Each ping makes at most two attempts (one quick retry for a passing failure) of at most
    ``timeout_s`` each, and never raises: a heartbeat that cannot be delivered is exactly what
    the monitoring service notices on its own.
    """

    name: Final = "heartbeat"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        check_url(url, self.name)
        if not timeout_s > 0:
            raise ValueError("heartbeat: timeout_s must be more than 0")
        if session is not None:
            check_session(session, self.name)
        # Healthchecks URLs have no trailing slash; "<url>//start" would be a 404.
        self._url = url.strip().rstrip("/")
        self._timeout_s = float(timeout_s)
        self._session = session
        self._clock: Clock = clock or SystemClock()
        self._retry_delay_s = max(0.0, float(retry_delay_s))
        self._redactor = Redactor(self._url)
        protect_in_logs(self._redactor)

    @property
    def where(self) -> str:
        """Scheme and host of the check: the only part of its address ever shown."""
        return safe_url(self._url)

    def __repr__(self) -> str:  # the check's UUID lets anyone ping it: never show it
        return f"Heartbeat(url={self.where!r})"

    def start(self) -> AttemptResult:
        """Tell the service a check began (``POST <url>/start``), so it can time the run."""
        return self._ping("/start", "")

    def success(self, note: str = "") -> AttemptResult:
        """Tell the service all is well (``POST <url>``), with a short ``note`` as the body."""
        return self._ping("", note)

    def fail(self, diagnosis_text: str) -> AttemptResult:
        """Tell the service reminders are failing (``POST <url>/fail``), with the diagnosis."""
        return self._ping("/fail", diagnosis_text)

    def _ping(self, suffix: str, text: str) -> AttemptResult:
        try:
            return self._ping_unguarded(suffix, text)
        except Exception as exc:  # a bug here must not stop the checking loop
            reason = self._redactor.scrub(f"{type(exc).__name__}: {exc}")
            log.error("heartbeat: ping failed: %s", reason)
            return AttemptResult(self.name, ok=False, detail=f"internal error: {reason}")

    def _ping_unguarded(self, suffix: str, text: str) -> AttemptResult:
        if self._session is None:
            self._session = new_session()
        body = self.clean_body(text)
        what = suffix.lstrip("/") or "success"
        attempts = 0
        outcome: HttpOutcome
        while True:
            attempts += 1
            outcome = post_once(
                self._session,
                self._url + suffix,
                body=body,
                headers={"User-Agent": USER_AGENT, "Content-Type": "text/plain; charset=utf-8"},
                timeout_s=self._timeout_s,
                clock=self._clock,
                redactor=self._redactor,
                what=f"the {what} ping",
            )
            if outcome.ok or not outcome.retryable or attempts >= 2:
                break
            wait = self._retry_delay_s if outcome.retry_after is None else outcome.retry_after
            if wait > _MAX_RETRY_WAIT_S:
                break
            self._clock.sleep(wait)
        if outcome.ok:
            log.debug("heartbeat: %s ping delivered to %s", what, self.where)
            return AttemptResult(self.name, ok=True, detail=outcome.detail, attempts=attempts)
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        detail = self._redactor.scrub(f"{outcome.detail} ({tries})")
        log.warning("heartbeat: %s", detail)
        return AttemptResult(
            self.name, ok=False, detail=detail, permanent=outcome.permanent, attempts=attempts
        )

    def clean_body(self, text: str) -> bytes:
        """The ping body: no control characters, no credentials in quoted URLs, no address of
        this check, at most :data:`MAX_BODY_BYTES` of UTF-8.

        The body ends up in the service's event log, which more people can read than the
        watchdog's config; a diagnosis quoting a URL must not hand them a password or the
        check's own ping address.
        """
        text = _CONTROL.sub(" ", text.replace("\r\n", "\n"))
        text = _USERINFO.sub(r"\1", text)
        text = self._redactor.scrub(text)
        data = text.encode("utf-8")
        if len(data) > MAX_BODY_BYTES:
            data = data[: MAX_BODY_BYTES - 3].decode("utf-8", errors="ignore").encode() + b"..."
        return data

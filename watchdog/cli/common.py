"""What every command of the CLI shares: printing safely, loading the config, formatting times
and results. The command families (``monitor``, ``records``, ``support``, ``advice``) import from
here; nothing here imports them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, TextIO

from watchdog.config import Config, load_config
from watchdog.core.errors import ConfigError
from watchdog.core.models import CheckResult, StatusSnapshot
from watchdog.core.terminal import safe_text
from watchdog.core.textfit import clip_text
from watchdog.core.timefmt import iso_utc_or_none


class NoConfigError(ConfigError):
    """There is no configuration yet: the way on is ``watchdog setup``, not a file to fix."""


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def say(text: object = "", *, file: TextIO | None = None, flush: bool = False) -> None:
    """Print one piece of output, made safe for a terminal first (:func:`terminal.safe_text`).

    Every line the commands print goes through here, because so much of it is written by
    servers: replies, folder names, bounce texts, a webhook's answer, error messages.
    """
    print(safe_text(str(text)), file=file, flush=flush)


def config_from(args: argparse.Namespace) -> Config:
    """The config, or :class:`NoConfigError` pointing to ``watchdog setup`` when there is none."""
    from watchdog.config import default_config_path

    path: Path = args.config or default_config_path()
    if not path.exists():
        given = " --config " + str(args.config) if args.config else ""
        raise NoConfigError(
            f"This PC is not set up yet: there is no configuration at {path}. Run "
            f"`watchdog{given} setup` to set it up (it asks for the accounts step by step and "
            "tests them), or point --config or WATCHDOG_CONFIG at an existing configuration."
        )
    return load_config(args.config)


# -- formatting ------------------------------------------------------------------------------------


def result_json(r: CheckResult) -> dict[str, Any]:
    reply = r.smtp_reply
    return {
        "token": r.token,
        "outcome": r.outcome.value,
        "diagnosis": r.diagnosis.value,
        "sent_at": iso_utc_or_none(r.sent_at),
        "deadline_at": iso_utc_or_none(r.deadline_at),
        "found_at": iso_utc_or_none(r.found_at),
        "latency_s": None if r.latency_s is None else round(r.latency_s, 3),
        "folder": r.folder,
        "smtp_reply": (
            None
            if reply is None
            else {"code": reply.code, "enhanced": reply.enhanced, "text": reply.text}
        ),
        "detail": r.detail,
        "bounce": r.bounce,
    }


def status_json(s: StatusSnapshot) -> dict[str, Any]:
    return {
        "status": s.status.value,
        "since": iso_utc_or_none(s.since),
        "reason": s.reason,
        "diagnosis": s.diagnosis.value if s.diagnosis else None,
        "consecutive_lost": s.consecutive_lost,
        "consecutive_refused": s.consecutive_refused,
    }


def describe_status_line(s: StatusSnapshot, *, unconfirmed: str = "") -> str:
    """``UP since ...``; with ``unconfirmed`` (why the stored status may be stale), never a
    bare status: ``UP (unconfirmed: ...)``."""
    if unconfirmed:
        return f"{s.status.value} (unconfirmed: {unconfirmed})"
    if s.since is None:
        return f"{s.status.value} (no checks yet)"
    return f"{s.status.value} since {clock(s.since, date=True)}"


def clock(ts: float, *, date: bool = False) -> str:
    """A local time stamp for people: ``14:05:09``, with ``date``: ``2026-12-06 14:05:09``."""
    return time.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S", time.localtime(ts))


def one_line(text: str, width: int) -> str:
    """``text`` on one line (every run of whitespace one space), clipped to ``width``."""
    return clip_text(" ".join(text.split()), width)

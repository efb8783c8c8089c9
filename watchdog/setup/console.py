"""The terminal side of ``watchdog setup``: asking, reading what was typed, and stopping.

``Console`` asks with ``input()`` and ``getpass`` (tests drive it through a pty); the ``parse_*``
functions check one typed value by the same rules as the config and say in one sentence what is
allowed; ``SetupStopped`` / ``BadInput`` carry the message and exit code setup ends with.

Why separate: the wizard, the OAuth2 sign-in and ``--reauth`` all talk to the person and stop the
same way. Kept apart from the wizard's flow, this layer is the one place that knows about the
terminal and the exit codes, and the OAuth2 module can use it without importing the wizard.
"""

from __future__ import annotations

import getpass
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from watchdog.config import (
    daily_share_problem,
    deadline_minutes_problem,
    every_minutes_problem,
    is_local_host,
    no_provider_behind,
)
from watchdog.core.exit_status import ExitStatus
from watchdog.core.inputs import address_problem, host_problem, single_line_problem
from watchdog.core.models import Security
from watchdog.core.terminal import safe_text

_T = TypeVar("_T")


class SetupStopped(Exception):
    """Setup ends here, with ``code``, after the message was shown; nothing has been written."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class BadInput(SetupStopped):
    """A value given on the command line (or missing from it) is not usable."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}", ExitStatus.CONFIG)
        self.option = option


# --- checking what was typed --------------------------------------------------------------------


def parse_address(value: str) -> str:
    """A bare e-mail address, by the config's own rule (:func:`inputs.address_problem`)."""
    return _by_rule(one_line(value), address_problem)


def parse_host(value: str) -> str:
    """A server name or IP address, by the config's own rule (:func:`inputs.host_problem`)."""
    return _by_rule(one_line(value), host_problem)


def parse_port(value: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        port = int(value.strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r} must be a whole number from 1 to 65535")
    return port


def parse_security(value: str) -> Security:
    """ssl, starttls or none."""
    try:
        return Security(value.strip().lower())
    except ValueError:
        raise ValueError(f"{value!r} is not allowed; use ssl, starttls or none") from None


def parse_minutes(value: str) -> float:
    """A number of minutes above 0; fractions allowed."""
    try:
        minutes = float(value.strip().replace(",", "."))
    except ValueError:
        minutes = math.nan
    if not math.isfinite(minutes) or minutes <= 0:
        raise ValueError(f"{value!r} must be a number of minutes above 0 (e.g. 30 or 0.5)")
    return minutes


def every_minutes_parser(
    smtp_host: str, address: str, provider: str = ""
) -> Callable[[str], float]:
    """A parser of ``every_minutes`` for this sending account, by the config's own bounds."""

    def parse(value: str) -> float:
        minutes = parse_minutes(value)
        exempt = no_provider_behind(smtp_host)
        problem = every_minutes_problem(minutes, on_this_pc=exempt)
        if problem is None and not exempt:
            problem = daily_share_problem(minutes, smtp_host, address, provider=provider)
        if problem is not None:
            raise ValueError(f"{minutes:g} {problem}")
        return minutes

    return parse


def deadline_minutes_parser(smtp_host: str) -> Callable[[str], float]:
    """A parser of ``deadline_minutes`` for this outgoing server, by the config's own bounds."""

    def parse(value: str) -> float:
        minutes = parse_minutes(value)
        problem = deadline_minutes_problem(minutes, on_this_pc=no_provider_behind(smtp_host))
        if problem is not None:
            raise ValueError(f"{minutes:g} {problem}")
        return minutes

    return parse


def parse_ca_file(value: str) -> Path | None:
    """An existing PEM file (made absolute), or None for an empty answer."""
    value = one_line(value)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"{value!r}: no such file (the PEM file of the private CA)")
    return path.resolve()


def one_line(value: str) -> str:
    """Free text on one line, trimmed; a line break or other control character is refused.

    The config's rule (:func:`inputs.single_line_problem`), in its words, so a typed value the
    config would refuse is refused here already.
    """
    return _by_rule(value, single_line_problem).strip()


def _by_rule(value: str, problem_of: Callable[[str], str | None]) -> str:
    """``value`` when the rule ``problem_of`` (from :mod:`watchdog.core.inputs`) finds nothing.

    Otherwise ValueError ``'value' <problem>``: the config says the same words after the key, so
    the prompt and the config file refuse a value alike.
    """
    problem = problem_of(value)
    if problem is not None:
        raise ValueError(f"{value!r} {problem}")
    return value


def check_plain(host: str, security: Security) -> None:
    """The config refuses an unencrypted connection to the internet; say so at once."""
    if security is Security.NONE and not is_local_host(host):
        raise ValueError(
            f'"none" (no encryption) is only allowed for a server on this PC or the office '
            f"network; {host} is neither. Use ssl or starttls."
        )


# --- talking to the person ----------------------------------------------------------------------


class Console:
    """Questions and answers with ``input()`` and ``getpass``; tests drive it through a pty."""

    def say(self, text: str = "") -> None:
        """One line (or a few) for the person; servers' words are among them, so made safe."""
        print(safe_text(text), flush=True)

    def ask(self, question: str, default: str | None = None, *, optional: bool = False) -> str:
        """One answer; Enter takes the default. Required unless ``optional``."""
        prompt = f"{question} [{default}]: " if default not in (None, "") else f"{question}: "
        while True:
            answer = input(prompt).strip()
            if not answer and default:
                return default
            if answer or optional:
                return answer
            self.say("  Please type an answer (Ctrl-C stops setup without saving anything).")

    def ask_as(
        self,
        question: str,
        parse: Callable[[str], _T],
        default: str | None = None,
        *,
        optional: bool = False,
    ) -> _T:
        """Ask until ``parse`` accepts the answer; its ValueError is shown as the reason."""
        while True:
            answer = self.ask(question, default, optional=optional)
            try:
                return parse(answer)
            except ValueError as e:
                self.say(f"  {e}")

    def yes(self, question: str, *, default: bool) -> bool:
        hint = "Y/n" if default else "y/N"
        while True:
            answer = input(f"{question} [{hint}]: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.say("  Please answer y or n.")

    def choose(self, question: str, options: dict[str, str], default: str) -> str:
        """One letter out of ``options`` (letter -> meaning)."""
        listed = ", ".join(f"{meaning} ({letter})" for letter, meaning in options.items())
        while True:
            answer = input(f"{question}: {listed} [{default}]: ").strip().lower() or default
            if answer in options:
                return answer
            self.say(f"  Please type one of {', '.join(options)}.")

    def secret(self, prompt: str) -> str:
        """A password, not shown while typed; asked again when empty."""
        while True:
            value = getpass.getpass(prompt)
            if value:
                return value
            self.say("  A password is needed here.")

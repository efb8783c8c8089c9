"""The commands that advise: ``guide`` (the step-by-step page for a problem) and ``explain`` (an
SMTP error pasted from the practice software, in plain words).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from watchdog.cli.common import config_from, say
from watchdog.config import Config
from watchdog.core.errors import ConfigError
from watchdog.core.exit_status import ExitStatus
from watchdog.core.models import Diagnosis
from watchdog.storage.history import History

# -- guide -----------------------------------------------------------------------------------------


def add_guide_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog guide [--provider NAME] [--diagnosis NAME] [--output FILE] [--no-open]``."""
    parser.add_argument(
        "--provider", type=provider_argument, metavar="NAME", help="gmail, outlook, ..., other"
    )
    parser.add_argument(
        "--diagnosis",
        type=diagnosis_argument,
        metavar="NAME",
        help="e.g. sending_limit, silent_drop, auth_rejected (`watchdog guide --diagnosis x` "
        "lists them all)",
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="where to write the HTML page")
    parser.add_argument("--no-open", action="store_true", help="only write the page")


def cmd_guide(args: argparse.Namespace) -> int:
    from watchdog.pages.guide import open_in_browser, write_guide
    from watchdog.storage.paths import data_dir

    config: Config | None = None
    try:
        config = config_from(args)
    except ConfigError:
        # Without a config, a given provider and diagnosis still make a page; the current
        # problem needs the config and its history.
        if args.provider is None or args.diagnosis is None:
            raise
    if args.diagnosis is None:
        assert config is not None
        title, page = _current_guide(config, args.provider)
    else:
        title, page = _guide_for_diagnosis(config, args.provider, args.diagnosis)
    output = args.output or (data_dir(config) / "guide.html")
    # 0600: the page can hold the server's last reply and the office's details (issue 11, 21).
    path = write_guide(output, page, private=True)
    say(f"Guide: {title}")
    say(f"Written to {path}")
    if not args.no_open and not open_in_browser(path):
        say(f"No web browser could be started to show it; open this file by hand: {path}")
    return ExitStatus.OK


def _current_guide(config: Config, provider: str | None) -> tuple[str, str]:
    """The guide for the problem now, the very page the tray's "What to do" opens
    (:func:`app.current_guide_html`); ``provider`` given: as if the config named it."""
    from dataclasses import replace

    from watchdog.app import current_guide_html
    from watchdog.core.clock import SystemClock
    from watchdog.storage.paths import history_path

    if provider is not None:
        config = replace(config, sender=replace(config.sender, provider=provider))
    with History(history_path(config)) as history:
        return current_guide_html(config, history, SystemClock())


def _guide_for_diagnosis(
    config: Config | None, provider_name: str | None, diagnosis: Diagnosis
) -> tuple[str, str]:
    """The guide for a diagnosis asked for (not the current one): no history, no reply.

    The office's name and support contact stay on the page whichever provider or diagnosis was
    asked for: the page is for this office's front desk.
    """
    from watchdog.core.guidance import guide_for
    from watchdog.core.providers import get_provider, sender_provider
    from watchdog.pages.guide import render_html

    if provider_name is not None:
        provider = get_provider(provider_name)
    else:
        assert config is not None
        provider = sender_provider(config.sender)
    guide = guide_for(provider.name, diagnosis)
    page = render_html(
        guide,
        since=None,
        office=config.office if config else "",
        support_contact=config.alerts.support_contact if config else "",
        last_reply=None,
        generated_at=time.time(),
    )
    return guide.title, page


# -- explain ---------------------------------------------------------------------------------------


def add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    """``watchdog explain --smtp-code CODE --smtp-message TEXT [--provider NAME] [--json]``."""
    parser.description = (
        "Explain a mail server's refusal in plain words, with the fix. Paste the code and "
        "the text from the practice software's failed test e-mail."
    )
    parser.add_argument(
        "--smtp-code", type=smtp_code_argument, required=True, metavar="CODE", help="e.g. 550"
    )
    parser.add_argument(
        "--smtp-message", required=True, metavar="TEXT", help='e.g. "5.4.5 Daily user sending..."'
    )
    parser.add_argument(
        "--provider",
        type=provider_argument,
        metavar="NAME",
        help="gmail, outlook, microsoft365, yahoo, att, aol, comcast, icloud or other "
        "(default: the one the error names, e.g. gsmtp, else the config's, else other)",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")


def cmd_explain(args: argparse.Namespace) -> int:
    from watchdog.core.classifier import diagnose_reply, find_rule, parse_smtp_reply
    from watchdog.core.providers import get_provider, sender_provider

    configured = "other"
    if not args.provider:
        try:
            config = config_from(args)
            configured = sender_provider(config.sender).name
        except ConfigError:
            pass  # no config is fine here: explain works on any pasted error
    text = _strip_code(args.smtp_code, args.smtp_message)
    # A reply that names its provider is that provider's, whatever the config says: the
    # practice software may send through another account than the one the watchdog checks.
    # --provider, given by the person, is taken as said.
    named = args.provider or provider_named_in_reply(text, configured) or configured
    provider = get_provider(named)
    reply = parse_smtp_reply(args.smtp_code, text)
    diagnosis = diagnose_reply(reply, provider.name)
    rule = find_rule(reply, provider.name)
    summary, fix = practice_software_words(diagnosis, provider.name)
    if args.json:
        say(
            json.dumps(
                {
                    "diagnosis": diagnosis.value,
                    "provider": provider.name,
                    "provider_name": provider.display_name,
                    "summary": summary,
                    "fix": fix,
                    "smtp_reply": {
                        "code": reply.code,
                        "enhanced": reply.enhanced,
                        "text": reply.text,
                    },
                    "rule": rule.id if rule else None,
                },
                indent=2,
            )
        )
        return ExitStatus.OK
    say(f"Diagnosis: {diagnosis.value}")
    say(f"What it means: {summary}")
    say(f"What to do ({provider.display_name}): {fix}")
    return ExitStatus.OK


def smtp_code_argument(value: str) -> int:
    """``--smtp-code``: a reply code, 200 to 599; a wrong one is a usage error (argparse's)."""
    try:
        code = int(value.strip())
    except ValueError:
        code = 0
    if not 200 <= code <= 599:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an SMTP reply code: give the three-digit number the error starts "
            "with, from 200 to 599 (e.g. 550)"
        )
    return code


def provider_argument(value: str) -> str:
    """``--provider``: one of the known providers; a wrong one is a usage error."""
    from watchdog.core.providers import get_provider

    try:
        return get_provider(value.strip().lower()).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{value!r}: {e}") from None


def diagnosis_argument(value: str) -> Diagnosis:
    """``--diagnosis``: a diagnosis name; a wrong one is a usage error."""
    try:
        return Diagnosis(value.strip().lower())
    except ValueError:
        allowed = ", ".join(d.value for d in Diagnosis)
        raise argparse.ArgumentTypeError(f"{value!r}: use one of {allowed}") from None


#: Families of providers that share their servers' wording: a Yahoo-style code in an AOL or
#: AT&T account's reply is that account's own, not Yahoo's.
_REPLY_FAMILIES: dict[str, frozenset[str]] = {
    "gmail": frozenset({"gmail"}),
    "outlook": frozenset({"outlook", "microsoft365"}),
    "yahoo": frozenset({"yahoo", "aol", "att"}),
    "icloud": frozenset({"icloud"}),
    "comcast": frozenset({"comcast"}),
}

#: What in a reply names the provider that wrote it, e.g. Gmail's "- gsmtp" at the end of every
#: reply, Microsoft's server names, Yahoo's bracketed codes ("[PH01]", "(#AUTH005)").
_REPLY_MARKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gmail", re.compile(r"\bgsmtp\b|support\.google\.com|\bgoogle\.com\b", re.I)),
    ("outlook", re.compile(r"\boutlook\.com\b|\bhotmail\.com\b|\blive\.com\b", re.I)),
    (
        "yahoo",
        re.compile(
            r"\[(?:PH|TS|TSS|GL|BL|DM|IP|SU)\d\d\]|\(#(?:AUTH|MBR|CON)\d+\)"
            r"|\byahoo(?:inc)?\.com\b",
            re.I,
        ),
    ),
    ("icloud", re.compile(r"\bicloud\.com\b|\bme\.com\b|\bapple\.com\b", re.I)),
    ("comcast", re.compile(r"\bcomcast\.net\b|\bxfinity\b", re.I)),
)


def provider_named_in_reply(text: str, configured: str) -> str | None:
    """The provider a reply names ("gsmtp", "outlook.com", "[PH01]"), or None.

    The configured provider is kept when it belongs to the named family (Microsoft 365 for an
    "outlook.com" server name, AOL or AT&T for a Yahoo code): their servers speak alike.
    """
    for family, pattern in _REPLY_MARKS:
        if pattern.search(text):
            return configured if configured in _REPLY_FAMILIES[family] else family
    return None


def practice_software_words(diagnosis: Diagnosis, provider: str) -> tuple[str, str]:
    """What a refusal means and what to do, for an error the practice software showed.

    ``watchdog explain`` is read about the practice's own account: the texts the watchdog uses
    for its own checks speak of "this program", "the keyring for Watchdog" and "the history",
    which do not apply to an error pasted from the practice software.
    """
    from watchdog.core.classifier import describe
    from watchdog.core.guidance import short_fix
    from watchdog.core.providers import get_provider

    info = get_provider(provider)
    where = f" at {info.sign_in_url}" if info.sign_in_url else " in the account's security settings"
    settings = "the practice software's mail settings"
    words: dict[Diagnosis, tuple[str, str]] = {
        Diagnosis.APP_PASSWORD_REQUIRED: (
            "The mail provider no longer accepts the account's normal password from a program "
            "like the practice software; it needs an app password made in the account's "
            "security settings.",
            f"Create an app password{where} and type it into {settings} in place of the "
            "normal password.",
        ),
        Diagnosis.AUTH_REJECTED: (
            "The mail provider did not accept the user name or password in the practice "
            "software's mail settings.",
            f"Check the user name and the password in {settings} (many providers want an app "
            f"password there, made{where}); then send a test e-mail again.",
        ),
        Diagnosis.BASIC_AUTH_DISABLED: (
            "The mail provider has switched off signing in with a password from programs like "
            "the practice software, so it cannot send this way any more.",
            short_fix(provider, diagnosis),
        ),
        Diagnosis.SIGNIN_EXPIRED: (
            "The mail provider no longer accepts the sign-in the practice software uses (it "
            "was withdrawn or the password changed).",
            f"Sign in again in {settings} (or type the new password there).",
        ),
        Diagnosis.MESSAGE_REJECTED: (
            describe(diagnosis),
            "A junk-mail filter refused the message; the error's own words say which rule. "
            "If it keeps happening, ask the provider, or send reminders through a sending "
            "service.",
        ),
        Diagnosis.UNKNOWN: (
            "The mail provider refused the message for a reason not recognised here.",
            "The error's own words say why; if it continues, send them to the provider's support.",
        ),
        Diagnosis.SERVER_UNREACHABLE: (
            "The mail server could not be reached; it may be down, or the server name or port "
            f"in {settings} may be wrong.",
            f"Check the server name and port in {settings}; if they are right, the provider "
            "may be down: try again later.",
        ),
        Diagnosis.WRONG_SERVER_SETTINGS: (
            f"The server and port in {settings} answered, but not as a mail server for "
            "sending, so the port, the server name or the security setting is probably wrong.",
            f"Compare the server name, port and security in {settings} with the provider's "
            "settings page (sending is usually port 465 with SSL or 587 with STARTTLS).",
        ),
        Diagnosis.RELAY_DENIED: (
            describe(diagnosis),
            f"Check in {settings} that signing in is switched on, with the account's own user "
            "name, and that the From address is that account's address.",
        ),
    }
    if diagnosis in words:
        return words[diagnosis]
    return describe(diagnosis), short_fix(provider, diagnosis)


def _strip_code(code: int, text: str) -> str:
    """Pasted errors often repeat the code on every line ("550-5.4.5 ..."): keep the rest."""
    lines = text.replace("\\n", "\n").strip().splitlines()
    prefix = str(code)
    cleaned = []
    for line in lines:
        stripped = line.strip()
        if stripped[:3] == prefix and stripped[3:4] in (" ", "-"):
            stripped = stripped[4:]
        cleaned.append(stripped)
    return "\n".join(cleaned)

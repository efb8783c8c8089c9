"""The commands that set up and support this PC: ``setup``, ``doctor``, ``autostart`` and
``support-bundle``.

Each turns its parsed options into typed values (:class:`~watchdog.setup.options.SetupOptions`,
keyword arguments) for the feature module, which is imported only when its command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.config import DEFAULT_DEADLINE_MINUTES, DEFAULT_EVERY_MINUTES

if TYPE_CHECKING:
    from watchdog.setup.options import SetupOptions


# -- setup -----------------------------------------------------------------------------------------


def add_setup_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``watchdog setup`` (``--config`` comes from the common options).

    Every value is read as text and checked by setup itself, so a bad value exits with 3 and a
    message naming the option (argparse's own errors would exit with 2, the code of a failed
    live test).
    """
    from watchdog.setup.oauth import oauth_secret_var

    if parser.description is None:
        parser.description = (
            "Set up Delivery Watchdog on this PC: the practice's sending account, the seed "
            "mailbox, the passwords (kept in the system keyring) and the schedule. Both "
            "sign-ins and a first test message are tried live before anything is saved. Given "
            "values become the defaults of the questions; with --non-interactive nothing is "
            "asked. Exit 0: done; 2: a live test failed; 3: bad input; nothing is written "
            "unless the exit code is 0."
        )
    parser.add_argument(
        "--non-interactive",
        action="store_true",
        help="ask nothing: take every value from the options and the passwords from "
        "WATCHDOG_SENDER_PASSWORD / WATCHDOG_SEED_PASSWORD (or the keyring)",
    )
    values = [
        ("--sender-address", "ADDRESS", "the practice's sending e-mail address"),
        ("--smtp-host", "HOST", "outgoing server (default: the provider's)"),
        ("--smtp-port", "PORT", "outgoing server port (default: the provider's)"),
        ("--smtp-security", "MODE", "ssl, starttls or none (default: the provider's)"),
        ("--sender-username", "NAME", 'sign-in name (default: the address; "" for no AUTH)'),
        ("--seed-address", "ADDRESS", "the seed mailbox's e-mail address"),
        ("--imap-host", "HOST", "seed mailbox IMAP server (default: the provider's)"),
        ("--imap-port", "PORT", "seed mailbox IMAP port (default: the provider's)"),
        ("--imap-security", "MODE", "ssl, starttls or none (default: the provider's)"),
        ("--seed-username", "NAME", "seed mailbox sign-in name (default: per provider)"),
        ("--ca-file", "PEM", "a private CA for both servers (not needed for the big providers)"),
        ("--every-minutes", "MINUTES", f"how often to check (default {DEFAULT_EVERY_MINUTES:g})"),
        (
            "--deadline-minutes",
            "MINUTES",
            f"when a canary counts as lost (default {DEFAULT_DEADLINE_MINUTES:g})",
        ),
        ("--office", "NAME", "the practice's name, shown in messages"),
        ("--support-contact", "TEXT", "who the staff should call, shown in alerts"),
    ]
    for option, metavar, text in values:
        parser.add_argument(option, metavar=metavar, default=None, help=text)
    for role in ("sender", "seed"):
        which = "sending account" if role == "sender" else "seed mailbox"
        oauth = [
            (
                f"--{role}-auth",
                "KIND",
                f"how the {which} signs in: password or oauth2 (default: password; oauth2 "
                "where the provider takes no password, Outlook.com)",
            ),
            (
                f"--{role}-oauth-provider",
                "NAME",
                "oauth2: microsoft or google (default: from the provider)",
            ),
            (
                f"--{role}-oauth-client-id",
                "ID",
                "oauth2: the application (client) id of your own app registration (see "
                "docs/oauth.md)",
            ),
            (
                f"--{role}-oauth-client-secret",
                "TEXT",
                "oauth2, Google only: the Desktop-app client's secret (not confidential; written "
                f"to the config), or set {oauth_secret_var(role)}",
            ),
            (
                f"--{role}-oauth-authority",
                "URL",
                "oauth2: the sign-in service (default: Microsoft's common one, or Google's)",
            ),
            (
                f"--{role}-oauth-scopes",
                "SCOPES",
                "oauth2: scopes separated by spaces or commas (default: SMTP and IMAP)",
            ),
        ]
        for option, metavar, text in oauth:
            parser.add_argument(option, metavar=metavar, default=None, help=text)
    parser.add_argument(
        "--reauth",
        nargs="?",
        const="both",
        default=None,
        metavar="sender|seed",
        help="sign in again with OAuth2 for the accounts of the existing config that use it "
        "(or only the sender or the seed mailbox), store the new sign-in and test the logins; "
        "the config is not changed",
    )
    parser.add_argument(
        "--no-test",
        action="store_true",
        help="skip the live sign-in tests and the first test message (save without proof)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing configuration without asking"
    )
    parser.add_argument(
        "--autostart",
        action="store_true",
        help="with --non-interactive: also start the watchdog with the PC",
    )


def cmd_setup(args: argparse.Namespace) -> int:
    """``watchdog setup``: 0 done, 2 a live test failed, 3 bad input, 130 stopped."""
    from watchdog.setup.wizard import run_setup

    return run_setup(setup_options(args))


def setup_options(args: argparse.Namespace) -> SetupOptions:
    """The parsed options of ``watchdog setup`` as the typed record set-up takes.

    Every field of :class:`SetupOptions` is an option of :func:`add_setup_arguments` (or the
    common ``--config``) of the same name, so the record is filled field by field.
    """
    from watchdog.setup.options import SetupOptions

    return SetupOptions(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(SetupOptions)}
    )


# -- doctor ----------------------------------------------------------------------------------------


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``watchdog doctor`` (``--config`` comes from the common options)."""
    from watchdog.setup.doctor import DEFAULT_TIMEOUT_S

    if parser.description is None:
        parser.description = (
            "Check the configuration, the passwords, both mail servers (DNS, connection, "
            "TLS, sign-in), the seed mailbox's junk folder and IDLE, and the desktop. "
            "Exit 0: all OK or WARN; 2: something FAILed; 3: the configuration cannot be loaded."
        )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"the most any one network step may take (default {DEFAULT_TIMEOUT_S:g})",
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    """``watchdog doctor``: 0 all OK/WARN, 2 any FAIL, 3 the config cannot be loaded."""
    from watchdog.setup.doctor import run_doctor

    config: Path | None = args.config
    return run_doctor(config_path=config, as_json=bool(args.json), timeout=float(args.timeout))


# -- autostart -------------------------------------------------------------------------------------


def add_autostart_arguments(parser: argparse.ArgumentParser) -> None:
    """``enable|disable|status`` and ``--dry-run`` for the ``watchdog autostart`` subcommand."""
    from watchdog.desktop.autostart import AUTOSTART_ACTIONS

    parser.add_argument(
        "action",
        choices=AUTOSTART_ACTIONS,
        help="enable: start the tray icon at every login; disable: stop that; status: show it",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="only show what would be written or removed; change nothing",
    )


def cmd_autostart(args: argparse.Namespace) -> int:
    """``watchdog autostart enable|disable|status [--dry-run]``."""
    from watchdog.desktop.autostart import run_autostart

    config: Path | None = args.config
    return run_autostart(args.action, dry_run=bool(args.dry_run), config_path=config)


# -- support-bundle --------------------------------------------------------------------------------


def add_support_bundle_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``watchdog support-bundle`` (``--config`` comes from the common options)."""
    from watchdog.setup.support_bundle import DOCTOR_STEP_TIMEOUT_S

    if parser.description is None:
        parser.description = (
            "Write one zip file for support: the config (no passwords, web hook addresses "
            "shortened), a copy of the history, recent logs, `watchdog doctor` output and "
            "versions. Nothing about patients, and no passwords, are ever in it."
        )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write the zip (default: watchdog-support-DATE.zip in your home folder)",
    )
    parser.add_argument(
        "--doctor-timeout",
        type=float,
        default=DOCTOR_STEP_TIMEOUT_S,
        metavar="SECONDS",
        help=f"the most any one doctor network step may take (default {DOCTOR_STEP_TIMEOUT_S:g})",
    )


def cmd_support_bundle(args: argparse.Namespace) -> int:
    """``watchdog support-bundle``: 0 when the zip was written, 2 when it could not be."""
    from watchdog.setup.support_bundle import run_support_bundle

    config: Path | None = args.config
    output: Path | None = args.output
    return run_support_bundle(
        config_path=config, output=output, doctor_step_timeout=float(args.doctor_timeout)
    )

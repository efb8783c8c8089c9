"""The options of ``watchdog setup`` as one typed record, the only form set-up receives them in.

The command line (:mod:`watchdog.cli.support`) parses them and builds a :class:`SetupOptions`;
set-up never sees an ``argparse.Namespace``. The values stay the text that was typed: set-up
checks each one itself, so a bad value is a message naming the option (:class:`BadInput`), the
same rule as for the answers typed at its prompts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SetupOptions:
    """What ``watchdog setup`` was given; None: the option was not given."""

    #: ``--config``: where the configuration goes (None: the platform's default place).
    config: Path | None = None
    non_interactive: bool = False
    reauth: str | None = None
    no_test: bool = False
    force: bool = False
    autostart: bool = False
    sender_address: str | None = None
    smtp_host: str | None = None
    smtp_port: str | None = None
    smtp_security: str | None = None
    sender_username: str | None = None
    seed_address: str | None = None
    imap_host: str | None = None
    imap_port: str | None = None
    imap_security: str | None = None
    seed_username: str | None = None
    ca_file: str | None = None
    every_minutes: str | None = None
    deadline_minutes: str | None = None
    office: str | None = None
    support_contact: str | None = None
    sender_auth: str | None = None
    sender_oauth_provider: str | None = None
    sender_oauth_client_id: str | None = None
    sender_oauth_client_secret: str | None = None
    sender_oauth_authority: str | None = None
    sender_oauth_scopes: str | None = None
    seed_auth: str | None = None
    seed_oauth_provider: str | None = None
    seed_oauth_client_id: str | None = None
    seed_oauth_client_secret: str | None = None
    seed_oauth_authority: str | None = None
    seed_oauth_scopes: str | None = None

    def given(self, option: str) -> str | None:
        """The text given for a value option by its name on the command line (``--smtp-host``).

        Why by name: set-up's messages and questions speak of the option the person typed, so
        the name is what it has at hand. A name that is no value option is a programming error.
        """
        name = option.lstrip("-").replace("-", "_")
        if name not in _TEXT_OPTIONS:
            raise KeyError(f"{option} is not a value option of watchdog setup")
        value: str | None = getattr(self, name)
        return value


#: The options that carry typed text (the rest are the config path and on/off switches).
_TEXT_OPTIONS = frozenset(
    field.name for field in dataclasses.fields(SetupOptions) if field.type == "str | None"
)

"""The one place that builds real objects from the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .clock import Clock, SystemClock
from .config import APP_NAME, Config
from .credentials import PasswordLookup, lookup_password, password_signin
from .history import History
from .mailbox import SeedMailbox
from .probe import SmtpProbe
from .runner import Listener, Runner
from .tokens import load_or_create_key


def data_dir(config: Config | None = None) -> Path:
    """Where history and the signing key live: ``data_dir`` from config, else the platform's."""
    if config is not None and config.data_dir is not None:
        return config.data_dir
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def history_path(config: Config | None = None) -> Path:
    return data_dir(config) / "history.sqlite3"


@dataclass
class App:
    """Everything a command needs, built once."""

    config: Config
    clock: Clock
    history: History
    runner: Runner
    provider: str

    def close(self) -> None:
        self.history.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_app(
    config: Config,
    *,
    clock: Clock | None = None,
    listeners: list[Listener] | None = None,
    passwords: PasswordLookup = lookup_password,
) -> App:
    """Open the history and wire the probe, the mailbox and the runner for ``config``.

    ``passwords`` is how secrets are found (keyring, then environment); the demo passes its own.
    """
    from .providers import detect_provider

    clock = clock or SystemClock()
    folder = data_dir(config)
    history = History(folder / "history.sqlite3")
    key = load_or_create_key(folder / "canary.key")
    sender_signin = password_signin("sender", config.sender.username, passwords)
    seed_signin = password_signin("seed", config.seed.username, passwords)
    probe = SmtpProbe(config.sender, sender_signin)
    provider = detect_provider(config.sender.smtp_host, config.sender.address).name

    def open_mailbox() -> SeedMailbox:
        return SeedMailbox(config.seed, seed_signin, clock)

    inbox = config.sender_inbox
    open_sender_inbox = None
    if inbox is not None:
        inbox_signin = password_signin("sender", inbox.username, passwords)

        def open_sender_inbox() -> SeedMailbox:
            assert inbox is not None
            return SeedMailbox(inbox, inbox_signin, clock)

    runner = Runner(
        config=config,
        history=history,
        probe=probe,
        open_mailbox=open_mailbox,
        key=key,
        clock=clock,
        provider=provider,
        listeners=listeners,
        open_sender_inbox=open_sender_inbox,
    )
    return App(config=config, clock=clock, history=history, runner=runner, provider=provider)

"""Where this PC keeps the watchdog's files: the data folder and each account pair's history."""

from __future__ import annotations

import logging
from pathlib import Path

from watchdog.config import APP_NAME, Config, default_config_path

log = logging.getLogger(__name__)


def data_dir(config: Config | None = None) -> Path:
    """Where history and the signing key live: ``data_dir`` from config, else the platform's."""
    if config is not None and config.data_dir is not None:
        return config.data_dir
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


#: The history file in a folder of its own (a ``data_dir`` set in the config, or before any
#: config exists), and the single shared history of versions before per-account histories.
HISTORY_FILE = "history.sqlite3"


def history_path(config: Config | None = None) -> Path:
    """The history of ``config``'s account pair: one config, one history and one status.

    In the platform's shared data folder each pair of accounts (sender -> seed) has its own
    file, so ``watchdog --config other.toml check`` never writes into the office's history,
    moves its status or sends its alerts. A config with its own ``data_dir`` owns that folder.
    The shared history of earlier versions is moved to the office's own config (the default
    config file) the first time it is opened, without losing a row.
    """
    folder = data_dir(config)
    if config is None or config.data_dir is not None:
        return folder / HISTORY_FILE
    path = folder / "accounts" / f"{account_pair_name(config)}.sqlite3"
    legacy = folder / HISTORY_FILE
    if not path.exists() and legacy.exists() and _is_office_config(config):
        from watchdog.storage.history import move_history

        move_history(legacy, path)
        log.info("The history %s now lives in %s", legacy, path)
    return path


def account_pair_name(config: Config) -> str:
    """A file name for the sender -> seed pair: readable, and safe on every platform."""
    pair = f"{config.sender.address}_to_{config.seed.address}".lower()
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "@._+-") else "_" for c in pair)
    return safe[:150]


def _is_office_config(config: Config) -> bool:
    """True for the config the office runs (the default file), which inherits the old history."""
    try:
        return config.path.resolve() == default_config_path().resolve()
    except OSError:
        return False

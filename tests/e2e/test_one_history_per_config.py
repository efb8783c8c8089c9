"""One config, one history: a check of another config never moves the office's status.

The office runs the default config (the platform's config file, no ``--config``); support tries
another account pair with ``watchdog --config other.toml check``. Each pair keeps its own history
and status, and the single shared history of earlier versions moves to the office's config.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog, watchdog_json
from watchdog.config import APP_NAME
from watchdog.core.models import Canary
from watchdog.storage.history import History

pytestmark = pytest.mark.servers


def office_config(tmp_path: Path, servers: Any, write_config: Any, env: dict[str, str]) -> Path:
    """The office's config, at the default place the tray and `watchdog run` read."""
    written = Path(write_config(tmp_path / "office", servers))
    default = Path(env["XDG_CONFIG_HOME"]) / APP_NAME / "config.toml"
    default.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(written, default)
    return default


def data_folder(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / APP_NAME


def tokens(env: dict[str, str], config: Path | None = None) -> set[str]:
    args = ["history", "-n", "50", "--json"]
    done = watchdog(*args, env=env, config=config)
    assert done.returncode == 0, done.stderr
    import json

    return {row["token"] for row in json.loads(done.stdout)}


def test_a_check_of_another_config_never_touches_the_offices_history_or_status(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    (tmp_path / "office").mkdir()
    (tmp_path / "other").mkdir()
    office_config(tmp_path, servers, write_config, watchdog_env)
    done = watchdog("check", "--json", env=watchdog_env)
    assert done.returncode == 0, done.stderr
    office_tokens = tokens(watchdog_env)
    assert len(office_tokens) == 1

    # Support tries another account pair while the provider refuses everything.
    other = Path(
        write_config(
            tmp_path / "other",
            servers,
            sender={"address": "other-sender@example.test"},
        )
    )
    servers.smtp.set_mode("reject", reply="550 5.4.5 Daily user sending limit exceeded")
    code, result = watchdog_json("check", env=watchdog_env, config=other)
    assert code == 2 and result["status"]["status"] == "DOWN"

    code, status = watchdog_json("status", env=watchdog_env, config=None)  # type: ignore[arg-type]
    assert status["status"]["status"] == "UP", status
    assert tokens(watchdog_env) == office_tokens  # the other check wrote elsewhere
    assert tokens(watchdog_env, other) == {result["token"]}


def test_the_shared_history_of_an_earlier_version_moves_to_the_office_config_without_loss(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    (tmp_path / "office").mkdir()
    office_config(tmp_path, servers, write_config, watchdog_env)
    legacy = data_folder(watchdog_env) / "history.sqlite3"
    with History(legacy) as old:
        old.record_pending(Canary("v1.1.aa.bb", "<m@x>", 1_800_000_000.0, 1_800_000_600.0), 1.0)
    assert Path(f"{legacy}-wal").exists() or legacy.exists()

    assert "v1.1.aa.bb" in tokens(watchdog_env)
    assert not legacy.exists()
    moved = list((data_folder(watchdog_env) / "accounts").glob("*.sqlite3"))
    assert len(moved) == 1 and "sender@example.test" in moved[0].name

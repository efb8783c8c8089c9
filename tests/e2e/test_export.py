"""`watchdog export`: every check, one row each, stable columns, CSV and JSON agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.e2e.cli import watchdog, watchdog_json
from watchdog.storage.export import COLUMNS

#: The documented columns (docs/export.md). Changing this list breaks support's scripts.
STABLE_COLUMNS = [
    "token",
    "sent_at",
    "deadline_at",
    "outcome",
    "diagnosis",
    "found_at",
    "latency_s",
    "folder",
    "smtp_code",
    "smtp_enhanced",
    "smtp_text",
    "detail",
]


def test_the_columns_are_the_documented_ones_in_order() -> None:
    assert list(COLUMNS) == STABLE_COLUMNS
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    for name in STABLE_COLUMNS:
        assert f"`{name}`" in doc


def test_csv_and_json_exports_hold_every_check_once_and_agree(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, deadline_minutes=0.02))
    watchdog_json("check", env=watchdog_env, config=config)
    servers.smtp.set_mode(
        "reject", reply='550 5.7.1 "quoted", comma\nsecond line <b>', stage="data"
    )
    watchdog_json("check", env=watchdog_env, config=config)

    as_csv = watchdog("export", "--format", "csv", env=watchdog_env, config=config)
    as_json = watchdog("export", "--format", "json", env=watchdog_env, config=config)
    assert as_csv.returncode == as_json.returncode == 0
    csv_rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    json_rows = json.loads(as_json.stdout)
    assert list(csv_rows[0]) == STABLE_COLUMNS
    assert [r["outcome"] for r in json_rows] == ["delivered", "send_failed"]
    assert len({r["token"] for r in json_rows}) == 2
    # The multi-line, quoted server reply survives both formats whole.
    assert json_rows[1]["smtp_text"] == '5.7.1 "quoted", comma\nsecond line <b>'
    assert csv_rows[1]["smtp_text"] == json_rows[1]["smtp_text"]
    assert csv_rows[1]["smtp_code"] == "550" and json_rows[1]["smtp_code"] == 550
    assert csv_rows[0]["sent_at"] == json_rows[0]["sent_at"] and json_rows[0]["sent_at"][-1] == "Z"


def test_export_since_a_date_in_the_future_is_empty_and_a_bad_date_exits_3(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers))
    watchdog_json("check", env=watchdog_env, config=config)
    future = watchdog(
        "export", "--format", "json", "--since", "2999-01-01", env=watchdog_env, config=config
    )
    assert json.loads(future.stdout) == []
    bad = watchdog("export", "--since", "last tuesday", env=watchdog_env, config=config)
    assert bad.returncode == 3 and "2026-11-01" in bad.stderr


def test_an_export_to_a_file_is_readable_by_this_user_only_and_matches_stdout(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers))
    watchdog_json("check", env=watchdog_env, config=config)
    target = tmp_path / "out" / "checks.json"
    target.parent.mkdir()
    written = watchdog(
        "export", "--format", "json", "--output", str(target), env=watchdog_env, config=config
    )
    assert written.returncode == 0 and "1 checks written" in written.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(target.parent.glob("*.partial"))
    printed = watchdog("export", "--format", "json", env=watchdog_env, config=config)
    assert json.loads(target.read_text()) == json.loads(printed.stdout)

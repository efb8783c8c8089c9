"""``watchdog status`` says which deadlines the next canaries get, by the runner's own rules."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.history_builder import HistoryBuilder
from tests.unit.test_inputs_terminal import _config
from watchdog import cli
from watchdog.core.models import Outcome


def history_with(tmp_path: Path, latencies: list[float]) -> Path:
    config = _config(tmp_path)
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    now = time.time()
    for n, latency in enumerate(latencies):
        builder.add(now - 1800 * (len(latencies) - n), Outcome.DELIVERED, latency_s=latency)
    builder.close()
    return config


def test_status_names_the_deadline_and_the_plan_after_the_reminders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = history_with(tmp_path, [2.0] * 150)  # quick arrivals, enough to trust the tail
    assert cli.main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "Deadline: 2 min (" in out  # the learned floor, under the configured 10 min
    assert "After the reminders: suspected after 60 s, confirmed by" in out
    assert cli.main(["--config", str(config), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["deadline"]["seconds"] == 120 and shown["deadline"]["learned"] is True
    assert shown["after_reminders"]["suspect_after_s"] == 60
    assert shown["after_reminders"]["confirmations"] >= 1


def test_with_few_arrivals_status_says_the_configured_deadline_is_used_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = history_with(tmp_path, [2.0] * 5)
    assert cli.main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "5 arrivals so far, fewer than 30: the configured deadline is used" in out
    assert "After the reminders: judged like any other canary" in out
    assert cli.main(["--config", str(config), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["after_reminders"] is None and shown["deadline"]["learned"] is False

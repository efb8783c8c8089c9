"""``watchdog export --incidents``: one row per incident, with the e-mails sent meanwhile."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.history_builder import HistoryBuilder, local_noon
from watchdog import cli
from watchdog.core.models import Outcome
from watchdog.storage.export import INCIDENT_COLUMNS

#: The documented incident columns (docs/export.md). Changing this list breaks support's scripts.
STABLE_INCIDENT_COLUMNS = [
    "status",
    "start",
    "end",
    "ongoing",
    "duration_s",
    "diagnoses",
    "canaries_failed",
    "emails_sent_meanwhile",
    "first_sent_at",
    "last_sent_at",
]


def test_the_incident_columns_are_the_documented_ones_in_order() -> None:
    assert list(INCIDENT_COLUMNS) == STABLE_INCIDENT_COLUMNS
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    assert "--incidents" in doc
    for name in STABLE_INCIDENT_COLUMNS:
        assert f"`{name}`" in doc


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose history holds two silent-drop incidents; the Sent folder read on one day."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""data_dir = "{(tmp_path / "data").as_posix()}"

[sender]
address = "frontdesk@smiledental.com"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = ""

[seed]
address = "canary@smiledental.com"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "canary"
""",
        encoding="utf-8",
    )
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    try:
        for day in ("2026-11-12", "2026-11-17"):
            noon = local_noon(day)
            for i, outcome in enumerate(
                [Outcome.DELIVERED, Outcome.LOST, Outcome.LOST, Outcome.DELIVERED]
            ):
                builder.add(noon + i * 1800, outcome)
    finally:
        builder.close()
    return path


def _run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["--config", str(config), *args]) == 0
    return capsys.readouterr().out


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_each_incident_is_one_row_with_the_e_mails_sent_meanwhile_as_incidents_json_has_them(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = json.loads(_run(config, capsys, "incidents", "--json"))
    assert [i["status"] for i in listed] == ["DOWN", "DOWN"]
    start, end = _ts(listed[0]["start"]), _ts(listed[0]["end"])
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    try:  # the Sent folder was read on the first incident's day only: 3 e-mails inside it
        midnight = local_noon("2026-11-12") - 12 * 3600
        inside = [start + 60, start + 120, end - 1]
        builder.history.record_sent(midnight, [midnight + 60, *inside])
    finally:
        builder.close()
    listed = json.loads(_run(config, capsys, "incidents", "--json"))

    rows = list(csv.DictReader(io.StringIO(_run(config, capsys, "export", "--incidents"))))
    as_json = json.loads(_run(config, capsys, "export", "--incidents", "--format", "json"))

    assert list(rows[0]) == STABLE_INCIDENT_COLUMNS
    assert [r["emails_sent_meanwhile"] for r in rows] == ["3", ""]  # "": not known, never 0
    assert [r["emails_sent_meanwhile"] for r in as_json] == [3, None]
    assert [r["emails_sent_meanwhile"] for r in as_json] == [
        i["emails_sent_meanwhile"] for i in listed
    ]
    first = as_json[0]
    assert _ts(first["first_sent_at"]) == (start + 60) // 60 * 60  # whole minutes
    assert _ts(first["last_sent_at"]) == (end - 1) // 60 * 60
    assert rows[0]["first_sent_at"] == first["first_sent_at"]
    assert rows[1]["first_sent_at"] == rows[1]["last_sent_at"] == ""
    for row, item, incident in zip(rows, as_json, listed, strict=True):
        # The same moments (the text of time stamps is being unified, issue 13).
        assert row["start"] == item["start"]
        assert _ts(item["start"]) == _ts(incident["start"])
        assert row["end"] == item["end"]
        assert _ts(item["end"]) == _ts(incident["end"])
        assert row["diagnoses"] == "; ".join(item["diagnoses"]) == "silent_drop"
        assert row["ongoing"] == "false" and item["ongoing"] is False
        assert int(row["canaries_failed"]) == item["canaries_failed"] == 2
        assert float(row["duration_s"]) == item["duration_s"] > 0


def test_a_day_read_with_nothing_sent_in_the_block_counts_zero_not_unknown(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    try:
        midnight = local_noon("2026-11-17") - 12 * 3600
        builder.history.record_sent(midnight, [midnight + 60])  # early morning only
    finally:
        builder.close()
    as_json: list[dict[str, Any]] = json.loads(
        _run(config, capsys, "export", "--incidents", "--format", "json")
    )
    assert [r["emails_sent_meanwhile"] for r in as_json] == [None, 0]
    assert as_json[1]["first_sent_at"] is None


def test_the_incidents_file_appears_whole_and_says_how_many_it_holds(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "incidents.csv"
    args = ["--config", str(config), "export", "--incidents", "--output", str(target)]
    assert cli.main(args) == 0
    assert "2 incidents written to" in capsys.readouterr().err
    assert target.stat().st_mode & 0o777 == 0o600
    assert not target.with_name("incidents.csv.partial").exists()
    with target.open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_the_batch_a_lost_canary_answers_for_counts_in_incidents_and_the_export_as_in_alerts(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reminder batch goes out just before the canary that finds the block: it may have
    gone into the block, so it counts. One window for alerts, incidents, report and export:
    from the send of the last canary that arrived before the problem began."""
    listed = json.loads(_run(config, capsys, "incidents", "--json"))
    start = _ts(listed[0]["start"])
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    try:
        midnight = local_noon("2026-11-12") - 12 * 3600
        batch = [start - 300 + i for i in range(5)]  # five minutes before the lost canary
        builder.history.record_sent(midnight, batch)
        history = builder.history
        alert_window = history.sent_while_down(start, start + 3600)[0]
    finally:
        builder.close()

    listed = json.loads(_run(config, capsys, "incidents", "--json"))
    as_json = json.loads(_run(config, capsys, "export", "--incidents", "--format", "json"))

    assert alert_window == 5
    assert listed[0]["emails_sent_meanwhile"] == 5
    assert as_json[0]["emails_sent_meanwhile"] == 5

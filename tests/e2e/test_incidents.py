"""`watchdog incidents`: support answers "did our reminders go out last week?" in a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cli import watchdog, watchdog_json


def test_a_silent_block_shows_as_one_incident_with_its_lost_canaries(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, deadline_minutes=0.02))
    code, none_yet = watchdog_json("incidents", env=watchdog_env, config=config)
    assert (code, none_yet) == (0, [])
    watchdog_json("check", env=watchdog_env, config=config)
    servers.smtp.set_mode("blackhole")
    for _ in range(3):
        watchdog_json("check", env=watchdog_env, config=config)
    code, ongoing = watchdog_json("incidents", env=watchdog_env, config=config)
    assert [i["ongoing"] for i in ongoing] == [True]
    servers.smtp.set_mode("deliver")
    watchdog_json("check", env=watchdog_env, config=config)

    code, incidents = watchdog_json("incidents", env=watchdog_env, config=config)
    assert code == 0
    (incident,) = incidents
    assert (incident["status"], incident["ongoing"]) == ("DOWN", False)
    assert incident["diagnoses"] == ["silent_drop"]
    assert incident["canaries_failed"] == 3
    assert incident["duration_s"] > 0
    text = watchdog("incidents", env=watchdog_env, config=config).stdout
    assert text.startswith("DOWN") and "canaries failed: 3" in text

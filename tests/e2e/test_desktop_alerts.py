"""The front desk is told: real `watchdog check` runs notify a real daemon (Xvfb, D-Bus, dunst)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog_json
from tests.servers.notification_daemon import NotificationDaemon, missing_tools

pytestmark = pytest.mark.skipif(
    bool(missing_tools()) and os.environ.get("CI") != "true",
    reason=f"needs {', '.join(missing_tools())} for a headless notification daemon",
)


def test_a_silent_block_and_its_recovery_give_exactly_two_desktop_notifications(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, deadline_minutes=0.02))
    with NotificationDaemon() as daemon:
        env = {**watchdog_env, **daemon.env}
        assert watchdog_json("check", env=env, config=config)[0] == 0
        servers.smtp.set_mode("blackhole")
        for _ in range(3):
            watchdog_json("check", env=env, config=config)
        servers.smtp.set_mode("deliver")
        assert watchdog_json("check", env=env, config=config)[0] == 0
        received = daemon.received()

    assert [n["summary"] for n in received] == [
        # The office's account, never "(Other provider)" (issue 12).
        "Reminder e-mails from sender@example.test are not going out",
        "Reminder e-mails from sender@example.test are going out again",
    ]
    down, up = received
    assert down["appname"] == "Delivery Watchdog"
    assert "accepted the test messages but they never arrived" in down["body"]
    assert "Show guidance" in down["body"]
    assert down["urgency"] == "critical"
    assert Path(down["icon_path"]).is_file() and down["icon_path"].endswith(".png")
    assert "may not have arrived" in up["body"]

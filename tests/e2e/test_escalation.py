"""Support hears of it: webhook alerts and the heartbeat, from the real CLI and loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cli import watchdog, watchdog_json
from tests.servers.http_sink import HttpSink, Reply


def add_alerts(config: Path, text: str) -> None:
    """Append an [alerts] section (arrays of tables are easier to read written out)."""
    config.write_text(config.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_a_silent_block_and_its_recovery_reach_the_webhook_once_each_with_heartbeats(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    with HttpSink() as sink:
        config = Path(write_config(tmp_path, servers, deadline_minutes=0.02, office="Smile"))
        add_alerts(
            config,
            f"""
[alerts]
desktop = false
support_contact = "Acme IT 555-0100"

[[alerts.webhook]]
kind = "json"
url = "{sink.url_for("/hook")}"
name = "support"

[alerts.heartbeat]
url = "{sink.url_for("/ping/office-1")}"
""",
        )
        assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0
        servers.smtp.set_mode("blackhole")
        for _ in range(3):  # UP -> (1 lost) -> DOWN -> still DOWN: one alert, not three
            watchdog_json("check", env=watchdog_env, config=config)
        servers.smtp.set_mode("deliver")
        assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0

        hooks = [r.json() for r in sink.requests_to("/hook")]
        pings = [r.path for r in sink.requests if r.path.startswith("/ping")]

    assert [h["kind"] for h in hooks] == ["down", "recovered"]
    down = hooks[0]
    assert (down["status"], down["diagnosis"], down["office"]) == ("DOWN", "silent_drop", "Smile")
    assert down["title"] == "Reminder e-mails from sender@example.test are not going out"
    # Five checks: each starts, then succeeds (arrived) or fails (lost).
    assert pings == [
        "/ping/office-1/start",
        "/ping/office-1",
        *(["/ping/office-1/start", "/ping/office-1/fail"] * 3),
        "/ping/office-1/start",
        "/ping/office-1",
    ]


def test_test_alert_sends_a_sample_on_every_channel_and_reports_each(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    with HttpSink() as sink:
        sink.script("/gone", Reply(404))
        config = Path(write_config(tmp_path, servers))
        add_alerts(
            config,
            f"""
[alerts]
desktop = false

[[alerts.webhook]]
kind = "slack"
url = "{sink.url_for("/slack")}"

[[alerts.webhook]]
kind = "ntfy"
url = "{sink.url_for("/gone")}"
name = "old ntfy"
""",
        )
        done = watchdog("test-alert", env=watchdog_env, config=config)
        slack = sink.requests_to("/slack")
        status = watchdog("status", env=watchdog_env, config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "webhook:slack" in done.stdout and "sent" in done.stdout
    assert "webhook:old ntfy" in done.stdout and "FAILED (check the settings)" in done.stdout
    assert "Test alert from Delivery Watchdog" in slack[0].text()
    assert "/gone" not in done.stdout  # the webhook's path (its secret) is never shown
    # Support sees the broken channel in the status until it works again.
    assert "Alert channel webhook:old ntfy failed" in status.stdout
    assert "(fix the settings)" in status.stdout
    assert "webhook:slack" not in status.stdout

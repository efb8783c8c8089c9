"""The canary round trip end to end: the CLI as a user runs it, against Dovecot and aiosmtpd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog, watchdog_json

pytestmark = pytest.mark.servers


@pytest.fixture
def config_for(tmp_path: Path, servers: Any, write_config: Any) -> Any:
    """``config_for(**options)``: a config file for the test servers (see tests.servers)."""

    def make(**options: Any) -> Path:
        return Path(write_config(tmp_path, servers, **options))

    return make


def history_rows(env: dict[str, str], config: Path) -> list[dict[str, Any]]:
    code, rows = watchdog_json("history", "-n", "50", env=env, config=config)
    assert code == 0
    return list(reversed(rows))  # oldest first


def test_a_healthy_round_trip_is_delivered_and_exits_zero(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(smtp_security="starttls", imap_security="ssl")
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 0, result
    assert result["outcome"] == "delivered"
    assert result["folder"] == "INBOX"
    assert 0 <= result["latency_s"] < 5
    assert result["status"]["status"] == "UP"
    assert result["smtp_reply"]["code"] == 250
    # The canary was found, then deleted from the seed mailbox.
    assert servers.dovecot.count(servers.seed_user, "INBOX") == 0
    content = servers.smtp.received[-1].content
    assert b"X-Watchdog-Canary: " + result["token"].encode() in content
    assert b"no patient" in content.replace(b"\r\n", b" ")


@pytest.mark.parametrize(
    ("smtp_security", "imap_security"),
    [("ssl", "starttls"), ("none", "none"), ("starttls", "ssl")],
)
def test_every_connection_security_works_with_verified_certificates(
    servers: Any,
    watchdog_env: dict[str, str],
    config_for: Any,
    smtp_security: str,
    imap_security: str,
) -> None:
    config = config_for(smtp_security=smtp_security, imap_security=imap_security)
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, result["outcome"]) == (0, "delivered"), result


def test_the_plain_words_output_says_where_the_canary_was_found(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    done = watchdog("check", env=watchdog_env, config=config_for())
    assert done.returncode == 0, done.stderr
    assert "Sent at" in done.stdout
    assert "Delivered: found in INBOX after" in done.stdout
    assert "Status: UP since" in done.stdout


def test_by_default_a_silent_block_turns_down_at_the_first_lost_canary_and_recovers(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(deadline_minutes=0.02)  # 1.2 s
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0
    servers.smtp.set_mode("blackhole")
    code, lost = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, lost["outcome"], lost["diagnosis"]) == (2, "lost", "silent_drop")
    assert lost["status"]["status"] == "DOWN"
    assert "was accepted by the server but never arrived" in lost["status"]["reason"]
    servers.smtp.set_mode("deliver")
    code, back = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, back["outcome"], back["status"]["status"]) == (0, "delivered", "UP")


def test_a_forgiving_policy_turns_down_after_two_lost_canaries_and_recovers(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(deadline_minutes=0.02, policy={"down_after_lost": 2})  # 1.2 s
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0

    servers.smtp.set_mode("blackhole")
    code, first = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, first["outcome"], first["status"]["status"]) == (2, "lost", "UP")
    code, second = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, second["outcome"], second["diagnosis"]) == (2, "lost", "silent_drop")
    assert second["status"]["status"] == "DOWN"
    assert "2 canaries in a row" in second["status"]["reason"]

    servers.smtp.set_mode("deliver")
    code, third = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, third["outcome"], third["status"]["status"]) == (0, "delivered", "UP")

    rows = history_rows(watchdog_env, config)
    assert [r["outcome"] for r in rows] == ["delivered", "lost", "lost", "delivered"]
    assert [r["diagnosis"] for r in rows] == ["ok", "silent_drop", "silent_drop", "ok"]
    _code, status = watchdog_json("status", env=watchdog_env, config=config)
    assert status["status"]["status"] == "UP"
    assert status["pending"] == []


def test_a_canary_in_the_junk_folder_is_degraded(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for()
    servers.smtp.set_mode("junk")
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 1, result
    assert result["outcome"] == "junk"
    assert result["folder"] == "Junk"
    assert result["diagnosis"] == "junk_placement"
    assert result["status"]["status"] == "DEGRADED"


def test_a_late_canary_is_matched_after_a_restart_and_counted_once(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(deadline_minutes=0.02)  # 1.2 s
    servers.smtp.set_mode("delay", seconds=2.5)
    code, first = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, first["outcome"]) == (2, "lost")
    servers.dovecot.wait_for_count(servers.seed_user, "INBOX", 1, timeout=10)

    servers.smtp.set_mode("deliver")
    # A new process: the earlier canary is found and recorded as late, not lost twice.
    code, second = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, second["outcome"]) == (0, "delivered")
    rows = history_rows(watchdog_env, config)
    assert [r["outcome"] for r in rows] == ["late", "delivered"]
    assert rows[0]["token"] == first["token"]
    # Judged by the server's INTERNALDATE (whole seconds): later than the 1.2 s deadline.
    assert rows[0]["latency_s"] > 1.2
    assert servers.dovecot.count(servers.seed_user, "INBOX") == 0


@pytest.mark.parametrize(
    ("reply", "stage", "diagnosis"),
    [
        (
            "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail",
            "data",
            "sending_limit",
        ),
        (
            "554 5.2.0 STOREDRV.Submission.Exception:OutboundSpamException; WASCL UserAction "
            "verdict is not None. Actual verdict is HipNotify.",
            "data",
            "verification_required",
        ),
        ("550 5.1.8 Access denied, bad outbound sender", "mail", "sender_blocked"),
        (
            "535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
            "auth",
            "basic_auth_disabled",
        ),
    ],
)
def test_a_refusal_fails_the_check_keeps_the_full_reply_and_is_diagnosed(
    servers: Any,
    watchdog_env: dict[str, str],
    config_for: Any,
    reply: str,
    stage: str,
    diagnosis: str,
) -> None:
    config = config_for()
    servers.smtp.set_mode("reject", reply=reply, stage=stage)
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 2, result
    assert result["outcome"] == "send_failed"
    assert result["diagnosis"] == diagnosis
    assert result["smtp_reply"]["code"] == int(reply[:3])
    assert result["smtp_reply"]["text"] == reply[4:]
    assert result["status"]["status"] == "DOWN"
    rows = history_rows(watchdog_env, config)
    assert rows[-1]["smtp_reply"]["text"] == reply[4:]


def test_a_wrong_password_is_reported_as_rejected_sign_in(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    env = {**watchdog_env, "WATCHDOG_SENDER_PASSWORD": "not-the-password"}
    code, result = watchdog_json("check", env=env, config=config_for())
    assert code == 2
    assert (result["outcome"], result["diagnosis"]) == ("send_failed", "auth_rejected")
    assert result["smtp_reply"]["code"] == 535
    done = watchdog("history", env=env, config=config_for())
    assert "not-the-password" not in done.stdout


def test_a_temporary_failure_then_success_recovers(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for()
    servers.smtp.set_mode("tempfail", times=1)
    code, first = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, first["outcome"], first["diagnosis"]) == (2, "send_failed", "rate_limited")
    code, second = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, second["outcome"], second["status"]["status"]) == (0, "delivered", "UP")


def test_a_connection_dropped_mid_data_is_a_failed_send(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    servers.smtp.set_mode("drop")
    code, result = watchdog_json("check", env=watchdog_env, config=config_for())
    assert code == 2
    assert result["outcome"] == "send_failed"
    assert result["diagnosis"] == "server_unreachable"


def test_an_unreachable_seed_mailbox_is_not_blamed_on_the_provider(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(seed={"imap_port": 1})  # nothing listens there
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 2
    assert result["outcome"] == "seed_unreachable"
    assert result["diagnosis"] == "seed_unreachable"
    assert result["status"]["status"] == "UNKNOWN"


def test_a_bad_config_value_exits_3_naming_file_and_key(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for()
    config.write_text(config.read_text().replace("every_minutes = ", "every_minutes = -"))
    done = watchdog("check", env=watchdog_env, config=config)
    assert done.returncode == 3
    assert f"{config}: [schedule] every_minutes = -" in done.stderr


def test_a_missing_password_exits_3_and_says_where_passwords_go(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    env = {k: v for k, v in watchdog_env.items() if k != "WATCHDOG_SENDER_PASSWORD"}
    env["WATCHDOG_SENDER_PASSWORD"] = ""
    done = watchdog("check", env=env, config=config_for())
    assert done.returncode == 3, done.stdout + done.stderr
    assert "WATCHDOG_SENDER_PASSWORD" in done.stderr


def test_run_checks_on_schedule_and_stops_cleanly_keeping_the_pending_canary(
    servers: Any, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(every_minutes=0.02, deadline_minutes=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "--config", str(config), "run"],
        env={**os.environ, **watchdog_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Two delivered checks about 1.2 s apart, then a blackhole so one canary stays pending.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(servers.smtp.received) < 2:
            time.sleep(0.1)
        servers.smtp.set_mode("blackhole")
        accepted = len(servers.smtp.received)
        while time.monotonic() < deadline and len(servers.smtp.received) == accepted:
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Stopped." in out
    assert out.count("delivered") >= 2
    # The loop also logs to the platform's log folder ($XDG_STATE_HOME on Linux), for support.
    log_file = Path(watchdog_env["XDG_STATE_HOME"]) / "delivery-watchdog" / "log" / "watchdog.log"
    log_text = log_file.read_text(encoding="utf-8")
    assert "Sending canary" in log_text
    assert "Stopping (signal 15)" in log_text
    assert watchdog_env["WATCHDOG_SENDER_PASSWORD"] not in log_text
    _code, status = watchdog_json("status", env=watchdog_env, config=config)
    assert len(status["pending"]) == 1
    assert status["status"]["status"] == "UP"

"""``watchdog support-bundle`` as support asks an office to run it, against the test servers."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import stat
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog
from watchdog import __version__
from watchdog.setup.support_bundle import build_bundle

SLACK_SECRET = "T0SECRET/B0SECRET/xoxSlackWebhookSecret"


def members_of(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as z:
        return {name: z.read(name) for name in z.namelist()}


def with_webhook(config: Path) -> Path:
    """Add a Slack webhook whose address holds a secret, as real Slack addresses do."""
    with config.open("a", encoding="utf-8") as f:
        f.write(
            '\n[[alerts.webhook]]\nkind = "slack"\n'
            f'url = "https://hooks.slack.com/services/{SLACK_SECRET}"\n'
        )
    return config


def test_the_bundle_holds_config_history_logs_doctor_and_versions_in_a_private_file(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = with_webhook(write_config(tmp_path, servers, office="Smile Dental"))
    home = tmp_path / "home"
    home.mkdir()
    env = {**watchdog_env, "HOME": str(home)}
    checked = watchdog("check", "--json", env=env, config=config)
    assert checked.returncode == 0, checked.stderr
    token = json.loads(checked.stdout)["token"]
    log_dir = tmp_path / "xdg-state" / "delivery-watchdog" / "log"
    log_dir.mkdir(parents=True)
    (log_dir / "watchdog.log").write_text(
        "INFO webhook posted to https://hooks.slack.com/services/" + SLACK_SECRET + "\n"
    )
    (log_dir / "watchdog.log.1").write_text("INFO an older line\n")

    done = watchdog("support-bundle", env=env, config=config)

    assert done.returncode == 0, done.stderr
    [bundle] = home.glob("watchdog-support-*.zip")  # dated, in the home folder by default
    assert re.fullmatch(r"watchdog-support-\d{8}-\d{6}\.zip", bundle.name)
    assert str(bundle) in done.stdout
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    members = members_of(bundle)
    assert set(members) == {
        "README.txt",
        "config.toml",
        "history.sqlite3",
        "logs/watchdog.log",
        "logs/watchdog.log.1",
        "doctor.txt",
        "doctor.json",
        "versions.txt",
    }
    readme = members["README.txt"].decode()
    for name in members:
        if name != "README.txt":
            assert f"  {name}: " in readme
    assert "passwords" in readme

    config_text = members["config.toml"].decode()
    assert servers.sender_address in config_text and servers.seed_address in config_text
    assert 'url = "https://hooks.slack.com/<redacted>"' in config_text
    assert 'office = "Smile Dental"' in config_text
    for name, data in members.items():
        assert SLACK_SECRET.encode() not in data, name
        assert b"xoxSlackWebhookSecret" not in data, name
    assert b"hooks.slack.com/<redacted>" in members["logs/watchdog.log"]

    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(members["history.sqlite3"])
    db = sqlite3.connect(copy)
    try:
        assert db.execute("SELECT token, outcome FROM canaries").fetchall() == [
            (token, "delivered")
        ]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one whole file
    finally:
        db.close()

    doctor = json.loads(members["doctor.json"])
    assert doctor["finished"] is True
    levels = {c["name"]: c["level"] for c in doctor["checks"]}
    assert levels["config"] == "OK"
    assert levels.get("smtp.login") == "OK" or "smtp.login" not in levels
    assert any(name.startswith("smtp") and level == "OK" for name, level in levels.items())
    assert "Doctor finished" in members["doctor.txt"].decode()

    versions = members["versions.txt"].decode()
    assert f"Delivery Watchdog {__version__}" in versions
    assert re.search(r"^Python 3\.\d+", versions, re.M)
    assert re.search(r"^OS \S+", versions, re.M)
    assert re.search(r"^  imapclient \d", versions, re.M)
    assert "WATCHDOG_SENDER_PASSWORD: set\n" in versions
    assert watchdog_env["WATCHDOG_SENDER_PASSWORD"] not in versions


def test_a_config_that_does_not_load_still_gives_a_bundle_with_the_password_blanked(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = write_config(tmp_path, servers)
    text = config.read_text().replace(
        "[sender]\n", "[sender]\npassword = \"hunter2-Typed-In\"\napi_token = 'tok-9f8e7d6c'\n"
    )
    config.write_text(text + "\n# heartbeat was https://hc-ping.com/0b1c2d3e-uuid-secret\n")
    output = tmp_path / "out" / "bundle.zip"

    done = watchdog("support-bundle", "--output", str(output), env=watchdog_env, config=config)

    assert done.returncode == 0, done.stderr
    assert "The config did not load" in done.stderr
    members = members_of(output)
    config_text = members["config.toml"].decode()
    assert 'password = "<redacted>"' in config_text
    assert 'api_token = "<redacted>"' in config_text
    assert "https://hc-ping.com/<redacted>" in config_text
    assert servers.sender_address in config_text
    for name, data in members.items():
        for secret in (b"hunter2-Typed-In", b"tok-9f8e7d6c", b"0b1c2d3e-uuid-secret"):
            assert secret not in data, (name, secret)
    assert "did not run: the config did not load" in members["doctor.txt"].decode()
    assert "The config did not load" in members["README.txt"].decode()
    assert "There is no history yet" in members["README.txt"].decode()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a stalled mail server."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in held:
            connection.close()


def test_a_doctor_that_hangs_does_not_stop_the_bundle(
    tmp_path: Path,
    servers: Any,
    watchdog_env: dict[str, str],
    write_config: Any,
    silent_server: int,
) -> None:
    config = write_config(
        tmp_path, servers, smtp_security="ssl", sender={"smtp_port": silent_server}
    )
    output = tmp_path / "bundle.zip"

    result = build_bundle(config, output, doctor_step_timeout=30.0, doctor_total_timeout=0.5)

    members = members_of(output)
    assert "doctor.txt" in result.members
    doctor_text = members["doctor.txt"].decode()
    assert "did not finish within 0.5 s" in doctor_text
    assert json.loads(members["doctor.json"])["finished"] is False
    assert "config.toml" in members and "versions.txt" in members

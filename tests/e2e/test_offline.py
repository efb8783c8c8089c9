"""An office PC without network is told apart from a provider that is down.

The offline case runs the real CLI inside a fresh network namespace (``unshare -n``): no
interface but a loopback that is down, so DNS and routes fail exactly as on an unplugged PC, and
nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import watchdog_json

REAL_LOOKING = """
[sender]
address = "frontdesk@att.net"
smtp_host = "smtp.mail.att.net"
smtp_port = 465
security = "ssl"
username = "frontdesk@att.net"

[seed]
address = "canary.frontdesk@gmail.com"
imap_host = "imap.gmail.com"
imap_port = 993
security = "ssl"
username = "canary.frontdesk@gmail.com"

[schedule]
every_minutes = 30
deadline_minutes = 1
"""


def can_unshare_network() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(
    not can_unshare_network() and os.environ.get("CI") != "true",
    reason="needs `unshare -n` (root or user namespaces) to cut this process off the network",
)
def test_a_pc_with_no_network_is_offline_and_the_provider_is_not_blamed(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(REAL_LOOKING, encoding="utf-8")
    command = [sys.executable, "-m", "watchdog", "--config", str(config), "check", "--json"]
    done = subprocess.run(
        ["unshare", "-n", *command],
        env={**os.environ, **watchdog_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "offline"
    assert result["diagnosis"] == "offline"
    assert "not a problem of the mail provider" in result["detail"]
    assert result["status"]["status"] == "UNKNOWN"


def test_servers_that_refuse_connections_are_unreachable_servers_not_an_offline_pc(
    tmp_path: Path, servers: object, watchdog_env: dict[str, str], write_config: object
) -> None:
    assert callable(write_config)
    config = Path(
        write_config(
            tmp_path,
            servers,
            smtp_security="none",
            imap_security="none",
            sender={"smtp_port": 1},
            seed={"imap_port": 1},
        )
    )
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 2
    assert (result["outcome"], result["diagnosis"]) == ("send_failed", "server_unreachable")
    assert "refused" in result["detail"].lower()


def test_a_certificate_that_cannot_be_verified_is_a_tls_error_with_plain_words(
    tmp_path: Path, servers: object, watchdog_env: dict[str, str], write_config: object
) -> None:
    assert callable(write_config)
    # Without the test CA, the server's certificate is from an unknown authority.
    config = Path(write_config(tmp_path, servers, smtp_security="ssl", sender={"ca_file": None}))
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert code == 2
    assert (result["outcome"], result["diagnosis"]) == ("send_failed", "tls_error")
    assert "security certificate of 127.0.0.1 is not valid" in result["detail"]

"""`watchdog run` stops promptly on SIGTERM during a slow connect, and nothing is called lost.

The outgoing server is a loopback port whose accept queue is full: the connect hangs as it would
for a far server behind a firewall that drops packets. Before the send had its own cancellable
limit, SIGTERM waited for the connect timeout (up to 28 s seen); now the send is cut at once,
the canary's row is closed as ``not_sent`` and the status is not moved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog
from tests.servers.hostile_smtp import full_backlog_port

pytestmark = pytest.mark.servers


def test_sigterm_during_a_slow_connect_stops_run_within_seconds_and_nothing_is_lost(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    with full_backlog_port() as port:
        config = Path(
            write_config(
                tmp_path,
                servers,
                smtp_security="none",
                sender={"smtp_port": port, "ca_file": None},
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "watchdog", "--config", str(config), "run", "-v"],
            env={**os.environ, **watchdog_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(3)  # the first check is connecting now, and hangs
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            _out, err = process.communicate(timeout=20)
            took = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert took < 10, f"run took {took:.1f} s to stop"
    assert "Traceback" not in err
    done = watchdog("history", "--json", env=watchdog_env, config=config)
    rows = json.loads(done.stdout)
    assert rows and all(r["outcome"] == "not_sent" for r in rows), rows
    status = json.loads(watchdog("status", "--json", env=watchdog_env, config=config).stdout)
    assert status["status"]["status"] == "UNKNOWN"  # no check ran: never DOWN, never UP

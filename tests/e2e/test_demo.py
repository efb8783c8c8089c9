"""`watchdog demo` on a fresh machine: no accounts, no config, and nothing of the user's touched."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import watchdog


def test_the_demo_catches_the_silent_block_and_the_recovery_and_touches_nothing(
    watchdog_env: dict[str, str],
) -> None:
    done = watchdog("demo", env=watchdog_env, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "1. Mail is flowing normally." in out
    assert "status changed UP -> DOWN: The canary sent at" in out
    assert "was accepted by the server but never arrived" in out
    assert "status changed DOWN -> UP" in out
    assert "Back to UP" in out
    # The narrated history lists the real rows: delivered, then lost, then delivered again.
    history = out.split("The history of this demo", 1)[1]
    outcomes = [line.split()[1] for line in history.splitlines()[1:] if line.startswith("  ")]
    assert outcomes[:2] == ["delivered", "delivered"]
    assert outcomes.count("lost") >= 1
    assert outcomes[-1] == "delivered"
    # The user's own config, data and state folders stay empty.
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert list(Path(watchdog_env[name]).iterdir()) == [], name

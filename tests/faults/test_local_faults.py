"""Fault matrix, this PC: bad config, no keyring, no notification daemon, sleep, restart.

Same five checks as every fault test (``docs/reliability.md``). The sleep test runs the real
background loop in a thread with a clock whose wall time can jump while its monotonic time does
not: exactly what a suspend and resume looks like to the product.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from tests.conftest import in_ci
from tests.e2e.cli import watchdog, watchdog_json
from tests.faults.rig import FaultRig, open_rig, status_of
from tests.servers import INBOX, MailServers, write_config
from tests.servers.notification_daemon import NotificationDaemon, missing_tools
from tests.servers.proxy import FaultProxy
from tests.support.clock import RealClock
from watchdog.core.models import Diagnosis, Outcome, Status
from watchdog.notify.desktop import DesktopChannel

MakeRig = Callable[..., FaultRig]
MakeProxy = Callable[[int], FaultProxy]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _wait_for_delayed_delivery(servers: MailServers) -> None:
    _wait_until(lambda: servers.smtp.pending_deliveries == 0)
    assert servers.dovecot.wait_for_count(servers.seed_user, INBOX, 1) == 1


def test_an_invalid_config_is_refused_naming_file_and_key_and_runs_once_fixed(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    config = write_config(tmp_path, servers, data_dir=tmp_path / "data", deadline_minutes=0.05)
    good = config.read_text()
    config.write_text(good.replace("deadline_minutes = 0.05", "deadline_minutes = -1"))
    for command in ("check", "run"):
        done = watchdog(command, env=watchdog_env, config=config)
        assert done.returncode == 3, done.stderr
        assert f"{config}: [schedule] deadline_minutes" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "history.sqlite3").exists()  # nothing started half-way
    config.write_text(good)
    code, result = watchdog_json("check", env=watchdog_env, config=config)
    assert (code, result["outcome"], result["status"]["status"]) == (0, "delivered", "UP")


@pytest.fixture
def broken_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No passwords in the environment, and a keyring that fails on every call."""
    monkeypatch.delenv("WATCHDOG_SENDER_PASSWORD")
    monkeypatch.delenv("WATCHDOG_SEED_PASSWORD")
    previous = keyring.get_keyring()
    # keyring 25's KeyringBackend.__init__ has no annotations, so mypy calls it untyped.
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_an_unavailable_keyring_is_our_problem_the_status_stays_and_nobody_blames_the_provider(
    servers: MailServers,
    make_rig: MakeRig,
    broken_keyring: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = make_rig()
    with caplog.at_level("ERROR", logger="watchdog.engine.runner"):
        assert rig.cycle() is None  # logged, and the loop goes on
    assert any("keyring could not be read" in r.getMessage() for r in caplog.records)
    [row] = rig.rows()
    assert row.outcome is Outcome.NOT_SENT  # closed, not left pending, never lost
    assert "keyring could not be read" in row.detail
    assert servers.smtp.received == []
    # Checks that cannot run are a status of their own: UNKNOWN with the reason, never UP and
    # never the provider's block; support is told once, not at every failing check.
    status = rig.app.history.status()
    assert status.status is Status.UNKNOWN and "keyring could not be read" in status.reason
    assert [a.diagnosis for a in rig.alerts] == [Diagnosis.CANNOT_CHECK]
    assert rig.cycle() is None
    assert len(rig.alerts) == 1
    from tests.servers import SEED_PASSWORD, SENDER_PASSWORD

    monkeypatch.setenv("WATCHDOG_SENDER_PASSWORD", SENDER_PASSWORD)
    monkeypatch.setenv("WATCHDOG_SEED_PASSWORD", SEED_PASSWORD)
    rig.assert_back_up()
    unsent = tuple(r.token for r in rig.rows() if r.outcome is Outcome.NOT_SENT)
    assert len(unsent) == 2
    rig.assert_one_row_per_canary(extra_tokens=unsent)
    rig.assert_no_provider_blame()


@pytest.mark.skipif(
    bool(missing_tools()) and not in_ci(), reason=f"not installed: {missing_tools()}"
)
def test_a_missing_notification_daemon_is_a_recorded_alert_failure_and_the_loop_goes_on(
    servers: MailServers,
    tmp_path: Path,
    watchdog_env: dict[str, str],
    make_proxy: MakeProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp = make_proxy(servers.smtp_starttls_port)
    with NotificationDaemon(start_dunst=False) as desktop:  # a session bus, nobody to show
        for name, value in desktop.env.items():
            monkeypatch.setenv(name, value)
        rig = open_rig(
            tmp_path, servers, sender={"smtp_port": smtp.port}, channels=[DesktopChannel()]
        )
        try:
            smtp.down()
            down = rig.check()
            assert down.result.diagnosis is Diagnosis.SERVER_UNREACHABLE
            smtp.up()
            rig.assert_back_up()
            attempts = rig.app.history.alert_attempts()
            desktop_attempts = [a for a in attempts if a.channel == "desktop"]
            assert [a.kind for a in desktop_attempts] == ["recovered", "down"]
            assert not any(a.ok for a in desktop_attempts)
            assert all(a.detail for a in desktop_attempts)
            # The other channel still got both alerts.
            assert [a.kind.value for a in rig.alerts] == ["down", "recovered"]
            rig.assert_one_row_per_canary()
            rig.assert_no_provider_blame()
        finally:
            rig.close()


def test_a_pc_that_sleeps_with_a_canary_in_flight_gives_it_its_time_back_and_never_calls_it_lost(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    clock = RealClock()  # the wall clock can jump ahead while monotonic time does not
    rig = open_rig(tmp_path, servers, clock=clock, every_minutes=10, deadline_minutes=0.1)
    loop = rig.app.loop
    thread = threading.Thread(target=loop.run, daemon=True)
    try:
        servers.smtp.set_mode("delay", seconds=2.5)
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        in_flight = rig.cycle(stop)  # the PC goes to sleep while this canary is on its way
        assert in_flight is not None and in_flight.result.outcome is Outcome.PENDING
        token = in_flight.result.token
        deadline_before = rig.row(token).deadline_at
        servers.smtp.set_mode("deliver")
        thread.start()  # the loop checks at once, then would wait 10 minutes
        _wait_until(lambda: len(rig.rows()) == 2 and status_of(rig) is Status.UP)
        clock.wall_offset = 2 * 3600.0  # two hours asleep: the wall clock jumped, monotonic did not
        loop.request_check()
        _wait_until(lambda: len(rig.rows()) == 3)
        assert rig.row(token).outcome is Outcome.PENDING  # not lost: its deadline moved
        assert rig.row(token).deadline_at == pytest.approx(deadline_before + 7200, abs=5)
        _wait_for_delayed_delivery(servers)
        loop.request_check()
        _wait_until(lambda: rig.row(token).outcome is not Outcome.PENDING)
        _wait_until(lambda: len(rig.rows()) == 4 and not rig.history.pending())
        assert thread.is_alive()  # the loop is still running
        outcomes = [r.outcome for r in rig.rows()]
        assert outcomes == [Outcome.DELIVERED] * 4
        assert rig.app.history.status().status is Status.UP
        rig.assert_no_provider_blame()
    finally:
        loop.stop()
        thread.join(timeout=15)
        rig.close()
    assert not thread.is_alive()  # and it ends when told to


def test_a_restart_with_a_canary_in_flight_matches_it_after_the_restart_once(
    tmp_path: Path, servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    before = open_rig(tmp_path, servers)
    servers.smtp.set_mode("delay", seconds=1.0)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    in_flight = before.cycle(stop)  # the loop is stopped (quit, reboot) mid-wait
    before.close()
    assert in_flight is not None and in_flight.result.outcome is Outcome.PENDING
    servers.smtp.set_mode("deliver")
    _wait_for_delayed_delivery(servers)
    after = open_rig(tmp_path, servers, config_path=tmp_path / "config.toml")
    try:
        report = after.assert_back_up()
        assert [(r.token, r.outcome) for r in report.settled] == [
            (in_flight.result.token, Outcome.DELIVERED)
        ]
        rows = after.rows()
        assert [r.token for r in rows] == [in_flight.result.token, report.result.token]
        assert all(r.outcome is Outcome.DELIVERED for r in rows)
        after.assert_no_provider_blame()
    finally:
        after.close()

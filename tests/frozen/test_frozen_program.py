"""The frozen program, from a folder outside the source tree, with no Python on PATH.

Run by ``scripts/smoke_frozen.sh`` (which builds nothing: run ``scripts/freeze.sh`` first). The
same commands a person runs on an office PC: the demo, a check against the real test servers
(Dovecot + aiosmtpd with a test CA), the report, a guide, the doctor, and the tray icon docked
in a real X system tray under Xvfb. Each one needs something PyInstaller's analysis cannot see:
data files, lazily imported command modules, pymap's plugins, keyring's backends, pystray's
backend. Without ``$WATCHDOG_FROZEN_PROGRAM`` the module is skipped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.frozen.program import (
    PROGRAM_ENV,
    frozen_env,
    frozen_program,
    python_free_bin,
    run_frozen,
)
from tests.servers.notification_daemon import NotificationDaemon
from tests.servers.notification_daemon import missing_tools as notification_tools_missing
from tests.servers.tray_host import TrayHost, missing_tools

PROGRAM = frozen_program()
pytestmark = pytest.mark.skipif(
    PROGRAM is None, reason=f"no frozen program: run scripts/smoke_frozen.sh (sets {PROGRAM_ENV})"
)

#: How the tray's title starts ("Reminder e-mails: ..." before the account is known, then
#: "Reminders from <account>: ..."), which pystray's xorg backend names its window.
TRAY_TITLE = "Reminder"


@pytest.fixture(scope="module")
def program() -> Path:
    """The frozen program, checked to be outside the source tree and to run at all."""
    assert PROGRAM is not None
    assert PROGRAM.is_file(), f"{PROGRAM_ENV}={PROGRAM} does not exist"
    source_tree = Path(__file__).resolve().parents[2]
    assert not PROGRAM.resolve().is_relative_to(source_tree), "copy it out of the tree first"
    return PROGRAM


@pytest.fixture(scope="module")
def clean_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH folder with every program of this machine's PATH except Python's."""
    return python_free_bin(tmp_path_factory.mktemp("bin") / "bin")


@pytest.fixture
def env(clean_bin: Path, watchdog_env: dict[str, str]) -> dict[str, str]:
    """The frozen program's environment: temporary XDG folders, null keyring, test passwords."""
    return frozen_env(clean_bin, watchdog_env)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working folder (no ``watchdog`` package next to it to import by accident)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def frozen(program: Path, env: dict[str, str], workdir: Path) -> Callable[..., Any]:
    """``frozen(*args, config=None, timeout=90)``: run the frozen program."""

    def run(*args: str, config: Path | None = None, timeout: float = 90) -> Any:
        return run_frozen(program, *args, env=env, cwd=workdir, config=config, timeout=timeout)

    return run


def test_the_frozen_demo_catches_the_silent_block_and_the_recovery(
    frozen: Callable[..., Any], watchdog_env: dict[str, str]
) -> None:
    done = frozen("demo", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1. Mail is flowing normally." in done.stdout
    assert "status changed UP -> DOWN" in done.stdout
    assert "Back to UP" in done.stdout
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert list(Path(watchdog_env[name]).iterdir()) == [], name


def test_a_frozen_check_against_the_test_servers_is_delivered(
    tmp_path: Path, servers: Any, write_config: Any, frozen: Callable[..., Any]
) -> None:
    config = Path(write_config(tmp_path, servers, smtp_security="starttls", imap_security="ssl"))
    done = frozen("check", "--json", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "delivered"
    assert result["status"]["status"] == "UP"
    assert servers.dovecot.count(servers.seed_user, "INBOX") == 0  # found, then deleted


def test_the_frozen_report_counts_the_checks_it_made(
    tmp_path: Path, servers: Any, write_config: Any, frozen: Callable[..., Any]
) -> None:
    config = Path(write_config(tmp_path, servers, office="Smile Dental"))
    assert frozen("check", config=config).returncode == 0
    target = tmp_path / "out" / "report.html"
    done = frozen("report", "--output", str(target), config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    page = target.read_text(encoding="utf-8")
    assert "Delivery Watchdog report - Smile Dental" in page
    assert "1 check" in page


def test_the_frozen_guide_is_written_from_the_bundled_guide_files(
    tmp_path: Path, frozen: Callable[..., Any]
) -> None:
    target = tmp_path / "guide.html"
    done = frozen(
        "guide",
        "--provider",
        "gmail",
        "--diagnosis",
        "app_password_required",
        "--output",
        str(target),
        "--no-open",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Guide: " in done.stdout
    page = target.read_text(encoding="utf-8")
    assert "<html" in page.lower()
    assert "app password" in page.lower()  # from watchdog/data/guides, not a fallback


def test_the_frozen_doctor_passes_every_server_check(
    tmp_path: Path, servers: Any, write_config: Any, frozen: Callable[..., Any]
) -> None:
    config = Path(write_config(tmp_path, servers))
    done = frozen("doctor", "--json", config=config)
    report = json.loads(done.stdout)
    levels = {check["name"]: check["level"] for check in report["checks"]}
    assert done.returncode == report["exit_code"] == 0, done.stdout + done.stderr
    for name in ("config", "smtp.connect", "smtp.tls", "smtp.login", "imap.tls", "imap.login"):
        assert levels[name] == "OK", (name, levels)


@pytest.fixture
def tray_host() -> Iterator[TrayHost]:
    """Xvfb with a real X system tray (trayer)."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (apt-get install xvfb trayer)")
    with TrayHost() as host:
        yield host


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def test_the_frozen_tray_docks_shows_up_after_a_check_and_stops_on_sigterm(
    tmp_path: Path,
    servers: Any,
    write_config: Any,
    program: Path,
    env: dict[str, str],
    workdir: Path,
    tray_host: TrayHost,
) -> None:
    config = Path(write_config(tmp_path, servers, every_minutes=0.05))
    tray_env = {**env, "DISPLAY": tray_host.display, "PYSTRAY_BACKEND": "xorg"}
    tray_env.pop("WAYLAND_DISPLAY", None)
    process = subprocess.Popen(
        [str(program), "--config", str(config), "tray"],
        env=tray_env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        window = tray_host.wait_for_window(lambda name: name.startswith(TRAY_TITLE), timeout=30)
        wait_until(lambda: tray_host.is_viewable(window), "the icon to be docked in the tray")
        wait_until(
            lambda: any(
                name.startswith(TRAY_TITLE) and ": getting through" in name
                for name in tray_host.window_names().values()
            ),
            "the icon's title to say UP after the first check",
        )
        assert process.poll() is None, "the tray exited on its own"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out + err
    assert len(servers.smtp.received) >= 1


def test_the_frozen_support_bundle_lists_every_library_with_its_version(
    tmp_path: Path, frozen: Callable[..., Any]
) -> None:
    # The versions come from the distributions' metadata, which the spec copies (copy_metadata);
    # keyring finds its backends through the same metadata (entry points).
    target = tmp_path / "bundle.zip"
    done = frozen("support-bundle", "--output", str(target), "--doctor-timeout", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(target) as bundle:
        versions = bundle.read("versions.txt").decode("utf-8")
    assert "Keyring backend: keyring.backends.null.Keyring" in versions
    libraries = versions.split("Libraries:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(libraries) >= 10, versions
    assert not [line for line in libraries if "not installed" in line], versions


def test_a_browser_started_by_the_frozen_program_gets_the_systems_libraries_not_the_bundles(
    tmp_path: Path, program: Path, env: dict[str, str], workdir: Path
) -> None:
    # The bundle has its own libstdc++/libssl; a browser that loaded them could fail to start
    # ("GLIBCXX_... not found"), and the guide would silently not open.
    seen = tmp_path / "browser-env.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nenv > "{seen}.partial" && mv "{seen}.partial" "{seen}"\n')
    browser.chmod(0o755)
    browser_env = {**env, "BROWSER": str(browser), "DISPLAY": env.get("DISPLAY", ":99")}
    browser_env.pop("LD_LIBRARY_PATH", None)
    done = run_frozen(
        program,
        "guide",
        "--provider",
        "gmail",
        "--diagnosis",
        "ok",
        "--output",
        str(tmp_path / "guide.html"),
        env=browser_env,
        cwd=workdir,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(seen.exists, "the browser to be started with the guide")
    child_env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    bundle = str(program.parent)
    assert bundle not in child_env.get("LD_LIBRARY_PATH", ""), child_env.get("LD_LIBRARY_PATH")


def test_the_frozen_test_alert_reaches_a_real_notification_daemon_with_name_and_icon(
    tmp_path: Path, servers: Any, write_config: Any, frozen: Callable[..., Any], env: dict[str, str]
) -> None:
    # D-Bus (dbus-python, the desktop extra) in the bundle: the notification carries the
    # product's name and its icon file from the bundle's data folder.
    missing = notification_tools_missing()
    if missing:
        pytest.fail(f"not installed: {', '.join(missing)} (scripts/test.sh installs them)")
    config = Path(write_config(tmp_path, servers))
    with NotificationDaemon() as daemon:
        env.update(daemon.env)
        done = frozen("test-alert", config=config)
        received = daemon.received()
    assert done.returncode == 0, done.stdout + done.stderr
    assert received, done.stdout + done.stderr
    assert received[0]["appname"] == "Delivery Watchdog"
    icon = Path(received[0]["icon_path"])
    assert icon.is_file() and icon.suffix == ".png"

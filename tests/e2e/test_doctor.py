"""``watchdog doctor`` as support runs it, against the real Dovecot and aiosmtpd test servers."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog
from tests.support import file_keyring_env

pytestmark = pytest.mark.servers


def lines_of(output: str) -> dict[str, str]:
    """The report's lines by their first words after the level, e.g. ``"Sign-in to the seed"``."""
    return {line[5:]: line[:4].strip() for line in output.splitlines() if line[:4] in _LEVELS}


_LEVELS = ("OK  ", "WARN", "FAIL")


def level_of(output: str, start: str) -> str:
    """The level of the one line whose text starts with ``start``."""
    found = [level for text, level in lines_of(output).items() if text.startswith(start)]
    assert len(found) == 1, f"expected one line starting {start!r} in:\n{output}"
    return found[0]


def line_starting(output: str, start: str) -> str:
    found = [line for line in output.splitlines() if line[5:].startswith(start)]
    assert len(found) == 1, f"expected one line starting {start!r} in:\n{output}"
    return found[0]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_every_check_passes_against_working_servers_with_passwords_in_the_keyring(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    keyring_file = tmp_path / "keyring.json"
    keyring_file.write_text(
        json.dumps(
            {
                "delivery-watchdog": {
                    "sender:sender": servers.sender_password,
                    "seed:seed": servers.seed_password,
                }
            }
        ),
        encoding="utf-8",
    )
    env = {**watchdog_env, **file_keyring_env(keyring_file)}
    env["WATCHDOG_SENDER_PASSWORD"] = env["WATCHDOG_SEED_PASSWORD"] = ""  # the keyring, please
    config = write_config(tmp_path, servers, office="Smile Dental")
    done = watchdog("doctor", env=env, config=config)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "FAIL" not in out
    for start in (
        "Configuration",
        "Password for the sending account: in the system keyring",
        "Password for the seed mailbox: in the system keyring",
        "DNS for the outgoing server: 127.0.0.1",
        "DNS for the seed mailbox: 127.0.0.1",
        f"Connection to the outgoing server 127.0.0.1:{servers.smtp_starttls_port}",
        "Secure connection (starttls, certificate verified)",
        "Sign-in to the outgoing server as sender",
        f"Connection to the seed mailbox 127.0.0.1:{servers.imaps_port}",
        "Secure connection (ssl, certificate verified)",
        "Sign-in to the seed mailbox as seed",
        'Junk folders the search for test messages looks in: "Junk"',
        "The seed mailbox supports IDLE",
    ):
        assert level_of(out, start) == "OK", start
    assert level_of(out, "Desktop notifications") in ("OK", "WARN")  # depends on the session
    assert servers.sender_password not in out + done.stderr
    assert servers.seed_password not in out + done.stderr


def test_a_wrong_seed_password_fails_the_imap_sign_in_with_what_to_do_and_exits_2(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    env = {
        **watchdog_env,
        **file_keyring_env(tmp_path / "keyring.json"),  # a real keyring: `keyring set` is safe
        "WATCHDOG_SEED_PASSWORD": "not-the-password",
    }
    config = write_config(tmp_path, servers)
    done = watchdog("doctor", env=env, config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    line = line_starting(done.stdout, "Sign-in to the seed mailbox as seed")
    assert line.startswith("FAIL ")
    assert "did not accept the user name or password" in line
    assert "keyring set delivery-watchdog seed:seed" in line  # what to do, concretely
    assert level_of(done.stdout, "Sign-in to the outgoing server as sender") == "OK"
    assert "not-the-password" not in done.stdout + done.stderr


def test_a_dead_smtp_port_fails_the_connection_line_naming_host_and_port(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    port = free_port()
    config = write_config(tmp_path, servers, sender={"smtp_port": port})
    done = watchdog("doctor", env=watchdog_env, config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    line = line_starting(done.stdout, "Cannot connect to the outgoing server")
    assert line.startswith(f"FAIL Cannot connect to the outgoing server 127.0.0.1:{port}: ")
    assert "refused" in line
    assert "smtp_port and security in [sender]" in line
    # The sign-in was not tried on a server that cannot be reached; the seed mailbox still was.
    assert "Sign-in to the outgoing server" not in done.stdout
    assert level_of(done.stdout, "Sign-in to the seed mailbox as seed") == "OK"


def test_without_a_config_file_doctor_says_so_and_exits_3(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    done = watchdog("doctor", env=watchdog_env, config=missing)
    assert done.returncode == 3
    line = line_starting(done.stdout, "This PC is not set up yet")
    assert line.startswith("FAIL ")
    assert str(missing) in line
    assert f"watchdog --config {missing} setup" in line


def test_json_output_lists_every_check_with_level_text_and_fix(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    env = {
        **watchdog_env,
        **file_keyring_env(tmp_path / "keyring.json"),  # a real keyring: `keyring set` is safe
        "WATCHDOG_SEED_PASSWORD": "not-the-password",
    }
    config = write_config(tmp_path, servers)
    done = watchdog("doctor", "--json", env=env, config=config)
    report = json.loads(done.stdout)
    assert done.returncode == report["exit_code"] == 2
    assert report["ok"] is False
    assert report["config"] == str(config)
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks["imap.login"]) == {"name", "level", "what", "fix"}
    assert checks["imap.login"]["level"] == "FAIL"
    assert "keyring set" in checks["imap.login"]["fix"]
    assert checks["smtp.login"]["level"] == "OK"
    assert checks["password.seed"]["what"].endswith("(it wins over the keyring)")
    assert {"config", "smtp.dns", "smtp.connect", "smtp.tls", "imap.tls"} <= set(checks)
    assert all(c["level"] in ("OK", "WARN", "FAIL") for c in report["checks"])


def test_json_output_of_a_missing_config_is_one_failed_check_and_exit_3(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    done = watchdog("doctor", "--json", env=watchdog_env, config=tmp_path / "none.toml")
    report = json.loads(done.stdout)
    assert done.returncode == report["exit_code"] == 3
    assert [c["name"] for c in report["checks"]] == ["config"]
    assert report["checks"][0]["level"] == "FAIL"


def test_doctor_questions_a_deadline_longer_than_the_interval_and_still_exits_0(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = write_config(tmp_path, servers, every_minutes=10, deadline_minutes=20)
    done = watchdog("doctor", env=watchdog_env, config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    line = line_starting(done.stdout, "Schedule:")
    assert line.startswith("WARN Schedule: ")
    assert "deadline_minutes = 20 is longer than every_minutes = 10" in line


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("keyring.backends.null.Keyring", "keeps nothing"),
        ("keyring.backends.fail.Keyring", "no system keyring that Watchdog can use"),
    ],
)
def test_without_a_safe_keyring_doctor_says_what_to_install_and_never_suggests_keyring_set(
    tmp_path: Path,
    servers: Any,
    watchdog_env: dict[str, str],
    write_config: Any,
    backend: str,
    says: str,
) -> None:
    env = {
        **watchdog_env,
        "PYTHON_KEYRING_BACKEND": backend,
        "WATCHDOG_SENDER_PASSWORD": "",
        "WATCHDOG_SEED_PASSWORD": "not-the-password",
    }
    config = write_config(tmp_path, servers)
    done = watchdog("doctor", env=env, config=config)
    out = done.stdout
    line = line_starting(out, "Password for the sending account")
    assert line.startswith("FAIL ")
    assert says in line
    assert "gnome-keyring" in line and "Secret Service" in line  # what to install, on Linux
    assert "keyring set" not in out  # it would write nothing, or a plain file
    assert "autostart" not in line.lower()
    seed_login = line_starting(out, "Sign-in to the seed mailbox as seed")
    assert "watchdog setup" in seed_login


def test_doctor_before_any_config_points_to_setup_in_a_sentence(
    tmp_path: Path, watchdog_env: dict[str, str]
) -> None:
    done = watchdog("doctor", env=watchdog_env)
    assert done.returncode == 3
    line = next(x for x in done.stdout.splitlines() if x.startswith("FAIL"))
    assert line.startswith("FAIL This PC is not set up yet: there is no configuration at ")
    assert line.endswith("What to do: Run `watchdog setup` to set it up step by step.")


def test_every_doctor_line_reads_as_a_sentence(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = write_config(tmp_path, servers, sender={"smtp_port": free_port()})
    done = watchdog("doctor", env=watchdog_env, config=config)
    for line in done.stdout.splitlines():
        if line[:4] not in _LEVELS:
            continue
        text = line[5:]
        assert text[0].isupper(), line
        assert text.endswith((".", "!", "?")), line
        assert ".:" not in text, line
        if line.startswith(("WARN", "FAIL")) and "What to do: " in text:
            assert text.split("What to do: ", 1)[1][0].isupper(), line

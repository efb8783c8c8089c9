"""``watchdog setup`` as support runs it: typed into through a terminal, or scripted with options.

The wizard runs in its own process on a pseudo-terminal (pexpect), so ``input()`` and the hidden
``getpass`` prompt behave as at an office PC, against the real Dovecot and aiosmtpd test servers.
Passwords land in a JSON-file keyring (``tests.support.file_keyring``) the test can read.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.e2e.cli import watchdog
from tests.support import REPO_ROOT, file_keyring_env, read_keyring
from watchdog.config import load_config

SERVICE = "delivery-watchdog"


@pytest.fixture
def env(tmp_path: Path, watchdog_env: dict[str, str]) -> dict[str, str]:
    """The isolated product environment with a writable test keyring and no passwords preset."""
    return {
        **watchdog_env,
        **file_keyring_env(tmp_path / "keyring.json"),
        "WATCHDOG_SENDER_PASSWORD": "",
        "WATCHDOG_SEED_PASSWORD": "",
    }


class Wizard:
    """The wizard in a pseudo-terminal, with everything it printed kept for the assertions."""

    def __init__(self, config: Path, env: dict[str, str], *options: str) -> None:
        self.transcript = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "watchdog", "setup", "--config", str(config), *options],
            env={**os.environ, **env},
            cwd=str(REPO_ROOT),
            encoding="utf-8",
            timeout=30,
            dimensions=(50, 400),  # wide: no prompt is wrapped
        )
        self.child.logfile_read = self.transcript

    def answer(self, prompt: str, text: str) -> None:
        """Wait for a prompt (a regular expression), then type ``text`` and Enter."""
        self.child.expect(prompt)
        self.child.sendline(text)

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def finish(self) -> int:
        """Answer "no" to the autostart question if this version asks it; the exit code."""
        index = self.child.expect([r"automatically when this PC starts\? \[Y/n\]: ", pexpect.EOF])
        if index == 0:
            self.child.sendline("n")
            self.child.expect(pexpect.EOF)
        return self.exit_code()

    def exit_code(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        code = self.child.exitstatus
        assert code is not None, f"killed by signal {self.child.signalstatus}\n{self.output}"
        return int(code)

    @property
    def output(self) -> str:
        return self.transcript.getvalue().replace("\r\n", "\n")


def other_sender(w: Wizard, servers: Any, password: str) -> None:
    """Type the sending account of the test servers, as "other" provider, STARTTLS + test CA."""
    w.answer(r"sending e-mail address: ", servers.sender_address)
    w.answer(r"Mail provider \(gmail, .*other\) \[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\): ", servers.smtp_host)
    w.answer(r"Port: ", str(servers.smtp_starttls_port))
    w.answer(r"Security: ssl, starttls or none: ", "starttls")
    w.answer(r"User name for signing in .*\[sender@example\.test\]: ", servers.sender_user)
    w.answer(r"Private certificate authority .*: ", str(servers.ca_file))
    w.answer(r"Password for sender \(not shown as you type\): ", password)


def other_seed(w: Wizard, servers: Any) -> None:
    """Type the seed mailbox of the test servers: IMAPS, the CA offered from the sender."""
    w.answer(r"seed mailbox's e-mail address: ", servers.seed_address)
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Incoming mail server \(IMAP\) of the seed mailbox: ", servers.imap_host)
    w.answer(r"Port: ", str(servers.imaps_port))
    w.answer(r"Security: ssl, starttls or none: ", "ssl")
    w.answer(r"User name for signing in \[seed@example\.test\]: ", servers.seed_user)
    w.answer(rf"Private certificate authority .*\[{re.escape(str(servers.ca_file))}\]: ", "")
    w.answer(r"Password for seed \(not shown as you type\): ", servers.seed_password)


def schedule_and_office(w: Wizard) -> None:
    w.answer(r"Check every how many minutes \[30\]: ", "")
    w.answer(r"counts as lost \[10\]: ", "0.5")  # a lost canary must not hold the test long
    w.answer(r"Name of the practice.*: ", "Smile Dental")
    w.answer(r"Who should the staff call.*: ", "Acme IT, 555-0100")


@pytest.mark.servers
def test_the_wizard_sets_up_an_other_provider_office_and_delivers_a_first_canary(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "office" / "config.toml"
    w = Wizard(config, env)
    other_sender(w, servers, servers.sender_password)
    w.expect(r"OK: signed in\.")
    other_seed(w, servers)
    w.expect(r"OK: signed in\.")
    schedule_and_office(w)
    w.expect(r"Delivered: the test message arrived in INBOX after ")
    assert w.finish() == 0, w.output

    # The passwords are in the keyring under the documented entries, and nowhere on screen.
    assert read_keyring(tmp_path / "keyring.json")[SERVICE] == {
        "sender:sender": servers.sender_password,
        "seed:seed": servers.seed_password,
    }
    assert servers.sender_password not in w.output
    assert servers.seed_password not in w.output
    # The config holds no password, is private, and loads as typed.
    text = config.read_text(encoding="utf-8")
    assert servers.sender_password not in text and servers.seed_password not in text
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    loaded = load_config(config)
    assert loaded.sender.smtp_port == servers.smtp_starttls_port
    assert loaded.sender.security.value == "starttls"
    assert loaded.sender.ca_file == servers.ca_file
    assert (loaded.seed.imap_port, loaded.seed.security.value) == (servers.imaps_port, "ssl")
    assert loaded.seed.username == "seed"
    assert loaded.schedule.deadline_minutes == 0.5
    assert loaded.office == "Smile Dental"
    assert loaded.alerts.support_contact == "Acme IT, 555-0100"
    # The first canary really went through the submission server and was cleaned up.
    assert len(servers.smtp.received) == 1
    assert servers.dovecot.count(servers.seed_user, "INBOX") == 0
    # ... and the installed config works for the watchdog itself.
    keyring_only = {**env, "PYTHONPATH": str(REPO_ROOT)}
    assert watchdog("check", env=keyring_only, config=config).returncode == 0


@pytest.mark.servers
def test_a_wrong_password_is_explained_and_the_retry_with_the_right_one_succeeds(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    w = Wizard(config, env)
    other_sender(w, servers, "not-the-password")
    w.expect(r"The sign-in did not work\.")
    w.expect(r"did not accept the user name or password")  # the auth_rejected wording
    w.expect(r"the server said: 535")
    w.answer(r"What now: .*\[p\]: ", "")
    w.answer(r"Password for sender \(not shown as you type\): ", servers.sender_password)
    w.expect(r"OK: signed in\.")
    other_seed(w, servers)
    w.expect(r"OK: signed in\.")
    schedule_and_office(w)
    w.expect(r"Delivered: ")
    assert w.finish() == 0, w.output
    assert read_keyring(tmp_path / "keyring.json")[SERVICE]["sender:sender"] == (
        servers.sender_password
    )
    assert "not-the-password" not in w.output


@pytest.mark.servers
def test_a_dead_port_is_explained_and_the_server_settings_can_be_corrected_in_place(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    w = Wizard(tmp_path / "config.toml", env)
    w.answer(r"sending e-mail address: ", servers.sender_address)
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\): ", servers.smtp_host)
    w.answer(r"Port: ", str(dead))
    w.answer(r"Security: ssl, starttls or none: ", "starttls")
    w.answer(r"User name for signing in .*: ", servers.sender_user)
    w.answer(r"Private certificate authority .*: ", str(servers.ca_file))
    w.answer(r"Password for sender .*: ", servers.sender_password)
    w.expect(rf"127\.0\.0\.1 port {dead} refused the connection")
    w.answer(r"What now: .*\[s\]: ", "")  # a network failure proposes the server settings
    # Every earlier answer is now the default; only the port changes.
    w.answer(r"Outgoing mail server \(SMTP\) \[127\.0\.0\.1\]: ", "")
    w.answer(rf"Port \[{dead}\]: ", str(servers.smtp_starttls_port))
    w.answer(r"Security: ssl, starttls or none \[starttls\]: ", "")
    w.answer(r"User name for signing in .*\[sender\]: ", "")
    w.answer(r"Private certificate authority .*\]: ", "")
    w.answer(r"Password for sender .*: ", servers.sender_password)
    w.expect(r"OK: signed in\.")
    w.child.sendintr()  # Ctrl-C: stop here
    assert w.exit_code() == 130
    assert "Setup stopped; nothing was saved." in w.output
    assert not (tmp_path / "config.toml").exists()


def test_a_gmail_address_is_told_to_use_an_app_password_and_where_to_make_one(
    tmp_path: Path, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    w = Wizard(config, env)
    w.answer(r"sending e-mail address: ", "frontdesk@gmail.com")
    w.expect(r"Recognised: Gmail / Google Workspace\.")
    w.answer(r"Mail provider .*\[gmail\]: ", "")
    w.expect(r"needs an app password here, not the normal password\.")
    w.expect(r"Create it here: https://myaccount\.google\.com/apppasswords")
    # The presets are offered in brackets.
    w.expect(r"Outgoing mail server \(SMTP\) \[smtp\.gmail\.com\]: ")
    w.child.sendeof()  # the person stops here
    assert w.exit_code() != 0
    assert "nothing was saved" in w.output.lower()
    assert not config.exists()
    assert read_keyring(tmp_path / "keyring.json") == {}


def test_an_outlook_com_address_goes_to_an_oauth2_sign_in_and_is_never_asked_for_a_password(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The full sign-in against the test authority: tests/e2e/test_oauth_setup.py.
    config = tmp_path / "config.toml"
    w = Wizard(config, env)
    w.answer(r"sending e-mail address: ", "frontdesk@outlook.com")
    w.answer(r"Mail provider .*\[outlook\]: ", "")
    w.expect(r"cannot be used with a password at all")
    w.answer(r"Outgoing mail server \(SMTP\) \[smtp-mail\.outlook\.com\]: ", "")
    w.answer(r"Port \[587\]: ", "")
    w.answer(r"Security: ssl, starttls or none \[starttls\]: ", "")
    w.expect(r"through a Microsoft sign-in page \(OAuth2\)")
    w.expect(r"docs/oauth\.md says step by step how to make one")
    w.answer(r"User name for signing in \[frontdesk@outlook\.com\]: ", "")
    w.expect(r"Application \(client\) ID of your Microsoft app registration: ")
    w.child.sendeof()  # the person has no app registration yet and stops here
    assert w.exit_code() == 130
    assert "Password for" not in w.output  # it never asked for one
    assert "type - if the server needs no sign-in" not in w.output
    assert not config.exists()
    assert read_keyring(tmp_path / "keyring.json") == {}


def scripted_options(servers: Any, **overrides: str | None) -> list[str]:
    """Every value as an option, for the test servers; an override of None leaves one out."""
    values: dict[str, str | None] = {
        "--sender-address": servers.sender_address,
        "--smtp-host": servers.smtp_host,
        "--smtp-port": str(servers.smtp_ssl_port),
        "--smtp-security": "ssl",
        "--sender-username": servers.sender_user,
        "--seed-address": servers.seed_address,
        "--imap-host": servers.imap_host,
        "--imap-port": str(servers.imap_port),
        "--imap-security": "starttls",
        "--seed-username": servers.seed_user,
        "--ca-file": str(servers.ca_file),
        "--every-minutes": "15",
        "--deadline-minutes": "0.5",
        "--office": "Smile Dental",
        "--support-contact": "Acme IT, 555-0100",
    }
    values.update(overrides)
    options = ["--non-interactive"]
    for option, value in values.items():
        if value is not None:
            options += [option, value]
    return options


@pytest.mark.servers
def test_a_scripted_setup_takes_every_value_from_options_and_passwords_from_the_environment(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    env = {
        **env,
        "WATCHDOG_SENDER_PASSWORD": servers.sender_password,
        "WATCHDOG_SEED_PASSWORD": servers.seed_password,
    }
    done = watchdog("setup", *scripted_options(servers), env=env, config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK   Sign-in to the outgoing server" in done.stdout
    assert "OK   Sign-in to the seed mailbox" in done.stdout
    assert "Delivered: the test message arrived in INBOX" in done.stdout
    assert read_keyring(tmp_path / "keyring.json")[SERVICE] == {
        "sender:sender": servers.sender_password,
        "seed:seed": servers.seed_password,
    }
    loaded = load_config(config)
    assert (loaded.sender.smtp_port, loaded.sender.security.value) == (servers.smtp_ssl_port, "ssl")
    assert (loaded.seed.imap_port, loaded.seed.security.value) == (servers.imap_port, "starttls")
    assert loaded.schedule.every_minutes == 15
    assert servers.sender_password not in done.stdout + done.stderr + config.read_text()


@pytest.mark.servers
def test_a_scripted_setup_whose_sign_in_fails_writes_nothing_and_exits_2(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    env = {
        **env,
        "WATCHDOG_SENDER_PASSWORD": servers.sender_password,
        "WATCHDOG_SEED_PASSWORD": "not-the-password",
    }
    done = watchdog("setup", *scripted_options(servers), env=env, config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "FAIL Sign-in to the seed mailbox" in done.stdout
    assert "Nothing was saved." in done.stdout
    assert not config.exists()
    assert read_keyring(tmp_path / "keyring.json") == {}


@pytest.mark.servers
def test_without_a_working_keyring_the_config_is_written_and_what_to_install_is_said(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str]
) -> None:
    # watchdog_env has the null keyring, which accepts passwords and forgets them.
    config = tmp_path / "config.toml"
    done = watchdog(
        "setup", *scripted_options(servers), "--no-test", env=watchdog_env, config=config
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT saved: the system keyring (null Keyring) did not keep it" in done.stdout
    assert "a password never goes into a file (not the configuration, not the autostart entry)" in (
        done.stdout
    )
    assert "What to do: Install and enable a system keyring with the Secret Service" in done.stdout
    # Never advised: a password in the autostart entry, or in the environment of a file.
    assert "in its environment" not in done.stdout
    assert load_config(config).sender.username == "sender"
    assert servers.smtp.received == []  # --no-test: nothing was sent


@pytest.mark.parametrize(
    ("left_out", "option"),
    [("--seed-address", "--seed-address"), ("--smtp-host", "--smtp-host")],
)
def test_a_scripted_setup_missing_a_required_value_exits_3_naming_the_option(
    tmp_path: Path, servers: Any, env: dict[str, str], left_out: str, option: str
) -> None:
    config = tmp_path / "config.toml"
    done = watchdog("setup", *scripted_options(servers, **{left_out: None}), env=env, config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{option}: " in done.stdout + done.stderr
    assert not config.exists()


def test_a_scripted_setup_with_a_bad_port_exits_3_naming_the_option(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    done = watchdog(
        "setup",
        *scripted_options(servers, **{"--imap-port": "99999"}),
        env=env,
        config=tmp_path / "config.toml",
    )
    assert done.returncode == 3
    assert "--imap-port: '99999' must be a whole number from 1 to 65535" in done.stdout


def test_an_existing_config_is_kept_unless_force_is_given(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# the office's own settings\n", encoding="utf-8")
    done = watchdog("setup", *scripted_options(servers), "--no-test", env=env, config=config)
    assert done.returncode == 3
    assert "--force" in done.stdout
    assert config.read_text() == "# the office's own settings\n"
    env = {**env, "WATCHDOG_SENDER_PASSWORD": "pw1", "WATCHDOG_SEED_PASSWORD": "pw2"}
    forced = ["--force", "--no-test"]
    done = watchdog("setup", *scripted_options(servers), *forced, env=env, config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert load_config(config).office == "Smile Dental"


def test_the_test_keyring_is_what_a_subprocess_really_uses(tmp_path: Path) -> None:
    # Guards the tests above: a keyring assertion means nothing if another backend was picked.
    probe = (
        "import keyring; keyring.set_password('s', 'u', 'p'); "
        "print(type(keyring.get_keyring()).__name__)"
    )
    path = tmp_path / "k.json"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, **file_keyring_env(path)},
        capture_output=True,
        text=True,
        check=True,
        cwd=str(tmp_path),
    )
    assert result.stdout.strip() == "FileKeyring"
    assert json.loads(path.read_text()) == {"s": {"u": "p"}}


# --- issue 12: set-up without dead ends ---------------------------------------------------------


def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sender_on_port(w: Wizard, servers: Any, port: int) -> None:
    """The "other" sending account of the test servers, STARTTLS on ``port``."""
    w.answer(r"sending e-mail address: ", servers.sender_address)
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\): ", servers.smtp_host)
    w.answer(r"Port: ", str(port))
    w.answer(r"Security: ssl, starttls or none: ", "starttls")
    w.answer(r"User name for signing in .*: ", servers.sender_user)
    w.answer(r"Private certificate authority .*: ", str(servers.ca_file))
    w.answer(r"Password for sender .*: ", servers.sender_password)


@pytest.mark.servers
def test_an_unreachable_server_offers_to_save_without_the_test_and_says_what_that_means(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    dead = dead_port()
    w = Wizard(config, env)
    w.expect(r"`watchdog setup --no-test` saves without the tests")  # offered, not hidden
    sender_on_port(w, servers, dead)
    w.expect(r"The server could not be used\.")
    w.expect(r"Likely: a wrong port")
    w.expect(r"saved as typed, without proof that they work")
    w.answer(
        r"What now: change the server settings \(s\), go back to an earlier answer \(b\), "
        r"save without testing \(n\), stop \(q\) \[s\]: ",
        "n",
    )
    other_seed(w, servers)
    w.answer(r"Check every how many minutes \[30\]: ", "")
    # A deadline longer than the interval is questioned, and the answers come back as defaults.
    w.answer(r"counts as lost \[10\]: ", "45")
    w.expect(r"WARN \[schedule\] deadline_minutes = 45 is longer than every_minutes = 30")
    w.answer(r"Keep this schedule anyway\? \[y/N\]: ", "")
    w.answer(r"Check every how many minutes \[30\]: ", "")
    w.answer(r"counts as lost \[45\]: ", "5")
    w.answer(r"Name of the practice.*: ", "Smile Dental")
    w.answer(r"Who should the staff call.*: ", "")
    w.expect(r"Not tested: the settings are saved as typed")
    assert w.finish() == 0, w.output
    out = w.output
    assert "OK: signed in" not in out  # nothing was signed in to
    assert "Sending a first test message" not in out
    assert servers.smtp.received == []
    loaded = load_config(config)
    assert loaded.sender.smtp_port == dead
    assert loaded.schedule.deadline_minutes == 5
    assert read_keyring(tmp_path / "keyring.json")[SERVICE]["sender:sender"] == (
        servers.sender_password
    )
    # The last words point to what the office will use: the tray icon (and how to start it
    # with the PC, since the autostart question was answered no).
    last = [line for line in out.splitlines() if line.strip()][-2:]
    assert f"watchdog --config {config} tray" in last[0]
    assert "autostart enable" in last[0]


@pytest.mark.servers
def test_going_back_to_an_earlier_answer_offers_every_answer_given_as_the_default(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    dead = dead_port()
    w = Wizard(tmp_path / "config.toml", env)
    sender_on_port(w, servers, dead)
    w.answer(r"What now: .*\[s\]: ", "b")
    w.answer(r"Go back to: the sending account \(1\), the seed mailbox \(2\), .*\[1\]: ", "1")
    w.answer(rf"sending e-mail address \[{re.escape(servers.sender_address)}\]: ", "")
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\) \[127\.0\.0\.1\]: ", "")
    w.answer(rf"Port \[{dead}\]: ", str(servers.smtp_starttls_port))
    w.answer(r"Security: ssl, starttls or none \[starttls\]: ", "")
    w.answer(r"User name for signing in .*\[sender\]: ", "")
    w.answer(r"Private certificate authority .*\]: ", "")
    w.answer(r"Password for sender \(not shown as you type; Enter keeps the one typed", "")
    w.expect(r"OK: signed in\.")
    w.child.sendintr()
    assert w.exit_code() == 130
    assert not (tmp_path / "config.toml").exists()


@pytest.mark.servers
def test_a_server_without_encryption_is_not_asked_for_a_certificate_authority(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    w = Wizard(tmp_path / "config.toml", env)
    w.answer(r"sending e-mail address: ", servers.sender_address)
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\): ", servers.smtp_host)
    w.answer(r"Port: ", str(servers.smtp_plain_port))
    w.answer(r"Security: ssl, starttls or none: ", "none")
    w.answer(r"User name for signing in .*: ", servers.sender_user)
    index = w.child.expect([r"Private certificate authority", r"Password for sender .*: "])
    assert index == 1, "asked for a CA file although nothing is encrypted"
    w.child.sendline(servers.sender_password)
    w.expect(r"OK: signed in\.")
    w.child.sendintr()
    assert w.exit_code() == 130


@pytest.fixture
def relay_without_auth() -> Any:
    """An SMTP server on loopback that offers no AUTH at all (an office relay)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controller = Controller(Sink(), hostname="127.0.0.1", port=dead_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def test_a_server_without_sign_in_gets_the_no_sign_in_advice_and_no_false_signed_in(
    tmp_path: Path, env: dict[str, str], relay_without_auth: Any
) -> None:
    port = relay_without_auth.port
    w = Wizard(tmp_path / "config.toml", env)
    w.answer(r"sending e-mail address: ", "frontdesk@smiledental.test")
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\): ", "127.0.0.1")
    w.answer(r"Port: ", str(port))
    w.answer(r"Security: ssl, starttls or none: ", "none")
    w.answer(r"User name for signing in \(type - if the server needs no sign-in\) .*: ", "")
    w.answer(r"Password for frontdesk@smiledental\.test .*: ", "secret")
    w.expect(r"does not offer signing in")
    w.expect(r"type - as the user name for no sign-in")
    w.answer(r"What now: change the server settings \(s\), .*\[s\]: ", "s")
    w.answer(r"Outgoing mail server \(SMTP\) \[127\.0\.0\.1\]: ", "")
    w.answer(rf"Port \[{port}\]: ", "")
    w.answer(r"Security: ssl, starttls or none \[none\]: ", "")
    w.answer(r"User name for signing in .*: ", "-")
    w.expect(r"OK: the server answered; it is used without signing in\.")
    w.child.sendintr()
    assert w.exit_code() == 130
    assert "OK: signed in" not in w.output
    assert "read the provider's exact words in the history" not in w.output


@pytest.mark.servers
def test_running_setup_again_offers_the_current_values_as_defaults(
    tmp_path: Path, servers: Any, env: dict[str, str]
) -> None:
    config = tmp_path / "config.toml"
    first = {**env, "WATCHDOG_SENDER_PASSWORD": "pw1", "WATCHDOG_SEED_PASSWORD": "pw2"}
    done = watchdog("setup", *scripted_options(servers), "--no-test", env=first, config=config)
    assert done.returncode == 0, done.stdout + done.stderr

    w = Wizard(config, env)
    w.expect(r"Its values are offered in \[brackets\]")
    w.answer(r"Replace it once setup has succeeded\? \[y/N\]: ", "y")
    w.answer(rf"sending e-mail address \[{re.escape(servers.sender_address)}\]: ", "")
    w.answer(r"Mail provider .*\[other\]: ", "")
    w.answer(r"Outgoing mail server \(SMTP\) \[127\.0\.0\.1\]: ", "")
    w.answer(rf"Port \[{servers.smtp_ssl_port}\]: ", "")
    w.answer(r"Security: ssl, starttls or none \[ssl\]: ", "")
    w.answer(r"User name for signing in .*\[sender\]: ", "")
    w.answer(rf"Private certificate authority .*\[{re.escape(str(servers.ca_file))}\]: ", "")
    w.expect(r"Password for sender \(not shown as you type; Enter keeps the saved one\): ")
    w.child.sendintr()
    assert w.exit_code() == 130
    assert load_config(config).schedule.every_minutes == 15  # untouched


def test_a_pc_without_any_keyring_is_told_at_once_what_to_install_before_passwords_are_asked(
    tmp_path: Path, env: dict[str, str]
) -> None:
    w = Wizard(
        tmp_path / "config.toml", {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )
    w.expect(r"Note: passwords cannot be saved on this PC yet: this PC has no system keyring")
    w.expect(r"What to do: Install and enable a system keyring with the Secret Service: GNOME")
    w.answer(r"sending e-mail address: ", "frontdesk@smiledental.test")
    w.child.sendeof()
    assert w.exit_code() == 130
    assert "autostart entry (" not in w.output


def test_a_tab_or_a_line_separator_typed_in_an_address_is_refused_at_the_prompt_and_asked_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The prompt refuses what the config would refuse, at once and in the config's words."""
    w = Wizard(tmp_path / "config.toml", env)
    w.answer(r"sending e-mail address: ", "front\tdesk@smiledental.test")
    w.expect(re.escape("it contains a tab (U+0009)"))
    w.answer(r"sending e-mail address: ", "frontdesk@smile\u2028dental.test")
    w.expect(re.escape("must be a single line without control characters (found U+2028)"))
    w.answer(r"sending e-mail address: ", "frontdesk@smiledental.test")
    w.expect(r"Mail provider .*: ")  # the plain address is taken: the next question
    w.child.sendeof()
    assert w.exit_code() == 130
    assert not (tmp_path / "config.toml").exists()

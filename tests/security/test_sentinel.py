"""The sentinel test: a password planted in the keyring and the environment appears in no output.

Unique random passwords are the real passwords of throwaway test servers (Dovecot + aiosmtpd
started here with them), so every login really sends them: over SMTP base64-encoded (AUTH
PLAIN/LOGIN), over IMAP in clear inside TLS. The product then runs as a user runs it, in its own
processes, at debug level (``-vv``): good checks, a refused SMTP sign-in, a refused IMAP sign-in,
alerts to the desktop and to webhooks, and the recovery. Afterwards every output is searched for
the passwords, raw, base64-encoded at any alignment and hex-encoded:

* every file the product wrote (config, history database with its -wal/-shm, canary key, lock,
  rotating logs, pages) - the whole XDG folders, byte for byte;
* every command's standard output and error (the ``-vv`` debug log lines and any traceback);
* ``history --json``, ``status --json``, ``incidents --json``, ``export`` as CSV and JSON, the
  tray's history report, ``doctor`` (text and JSON);
* every member of the support bundle, unzipped;
* every desktop notification the notification daemon received and every webhook request the
  HTTP sink recorded (target, headers, body);
* the canary e-mails themselves, as the SMTP server received them.

Only the test keyring file may hold them; it is the keyring.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import watchdog
from tests.servers import (
    SEED_USER,
    SENDER_USER,
    Dovecot,
    MailServers,
    SubmissionServer,
    make_certificates,
    write_config,
)
from tests.servers.http_sink import HttpSink
from tests.servers.notification_daemon import NotificationDaemon, missing_tools
from tests.support import file_keyring_env
from watchdog.config import load_config
from watchdog.storage.history import History
from watchdog.storage.paths import history_path

pytestmark = [
    pytest.mark.servers,  # skipped without Dovecot outside CI, like every mail-path test
    pytest.mark.skipif(
        bool(missing_tools()) and os.environ.get("CI") != "true",
        reason=f"needs {', '.join(missing_tools())} for a headless notification daemon",
    ),
]


def _sentinel(role: str) -> str:
    """A password no output could contain by chance (Dovecot's passwd-file takes -_ letters)."""
    return f"Sntl{role}{secrets.token_urlsafe(24)}"


#: The sending account's real password, kept in the keyring only.
SENDER = _sentinel("Sender")
#: The seed mailbox's real password, given in WATCHDOG_SEED_PASSWORD.
SEED = _sentinel("Seed")
#: In the keyring for the seed mailbox, but never used (the environment wins): keyring contents.
SEED_IN_KEYRING = _sentinel("Keyring")
#: Wrong passwords, typed into the environment to make sign-ins fail.
WRONG_SENDER = _sentinel("WrongSender")
WRONG_SEED = _sentinel("WrongSeed")
SENTINELS = (SENDER, SEED, SEED_IN_KEYRING, WRONG_SENDER, WRONG_SEED)


def encodings(secret: str) -> dict[str, bytes]:
    """Every form the secret may take in an output: raw, hex, and base64 at each alignment.

    Base64 turns 3 bytes into 4 characters, so how a password encodes depends on where it starts
    in the encoded stream (``\\0user\\0password`` for AUTH PLAIN). For each of the three offsets
    the characters that depend only on the password are kept: the ones touched by the bytes
    before or after it are cut off.
    """
    raw = secret.encode("utf-8")
    forms = {"raw": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start = 4 if offset else 0
        forms[f"base64@{offset}"] = encoded[start:-4]
        forms[f"base64url@{offset}"] = base64.urlsafe_b64encode(b"\0" * offset + raw)[start:-4]
    return forms


def leaks(data: bytes | str) -> list[str]:
    """Which sentinels, in which form, ``data`` contains (empty: none)."""
    blob = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return [
        f"{secret[:12]}... as {form}"
        for secret in SENTINELS
        for form, needle in encodings(secret).items()
        if needle in blob
    ]


def test_the_leak_finder_finds_every_form_a_sign_in_sends() -> None:
    """Proof the search could fail: the forms SMTP AUTH PLAIN and LOGIN put on the wire."""
    plain = base64.b64encode(f"\0{SENDER_USER}\0{SENDER}".encode())
    login = base64.b64encode(SENDER.encode())
    for prefix in ("", "x", "xy"):
        assert leaks(f"AUTH PLAIN {prefix}{plain.decode()}"), prefix
    assert leaks(b"334 " + login)
    assert leaks(base64.b64encode(b"user\0" + WRONG_SEED.encode()))
    assert leaks(f"password={SEED_IN_KEYRING}")
    assert leaks(SEED.encode().hex())
    assert not leaks("nothing to see " + "Sntl" + "Sender")


@pytest.fixture
def sentinel_servers() -> Iterator[MailServers]:
    """Dovecot and the submission server of the test suite, but with the sentinel passwords."""
    folder = Path(tempfile.mkdtemp(prefix="watchdog-sentinel-"))
    folder.chmod(0o755)  # Dovecot's config process must read the certificate files
    certificates = make_certificates(folder)
    dovecot = Dovecot({SEED_USER: SEED, SENDER_USER: SENDER}, certificates)
    dovecot.start()
    try:
        smtp = SubmissionServer({SENDER_USER: SENDER}, certificates, dovecot.lmtp_port)
        smtp.start()
    except BaseException:
        dovecot.stop()
        raise
    started = MailServers(
        certificates=certificates,
        dovecot=dovecot,
        smtp=smtp,
        folder=folder,
        seed_password=SEED,
        sender_password=SENDER,
    )
    try:
        yield started
    finally:
        started.stop()


class Outputs:
    """Everything the product printed or wrote that the test collects besides the files."""

    def __init__(self) -> None:
        self.items: dict[str, bytes | str] = {}

    def add(self, name: str, data: bytes | str) -> None:
        self.items[name] = data

    def add_run(self, name: str, done: subprocess.CompletedProcess[str]) -> None:
        self.add(f"{name} stdout", done.stdout)
        self.add(f"{name} stderr", done.stderr)


def settled_checks(history: Path) -> int:
    """How many canaries have an outcome other than pending (0 before the file exists)."""
    if not history.exists():
        return 0
    db = sqlite3.connect(f"{history.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT COUNT(*) FROM canaries WHERE outcome != 'pending'").fetchone()
    except sqlite3.Error:
        return 0
    finally:
        db.close()
    return int(row[0])


def run_loop_until(
    env: dict[str, str], config: Path, history: Path, checks: int, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``watchdog run -vv`` until ``checks`` more canaries are settled, then SIGTERM it."""
    target = settled_checks(history) + checks
    process = subprocess.Popen(
        [sys.executable, "-m", "watchdog", "--config", str(config), "run", "-vv"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while settled_checks(history) < target:
            assert process.poll() is None, f"watchdog run ended early: {process.communicate()}"
            assert time.monotonic() < deadline, f"fewer than {checks} checks in {timeout} s"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_no_planted_password_appears_in_any_output(
    tmp_path: Path, sentinel_servers: MailServers, watchdog_env: dict[str, str]
) -> None:
    keyring_file = tmp_path / "keyring" / "keyring.json"
    keyring_file.parent.mkdir()
    keyring_file.write_text(
        json.dumps(
            {
                "delivery-watchdog": {
                    f"sender:{SENDER_USER}": SENDER,
                    f"seed:{SEED_USER}": SEED_IN_KEYRING,
                }
            }
        ),
        encoding="utf-8",
    )
    home = tmp_path / "home"
    home.mkdir()
    outputs = Outputs()
    with HttpSink() as sink, NotificationDaemon() as daemon:
        config = write_config(
            tmp_path / "xdg-config",
            sentinel_servers,
            every_minutes=0.03,
            deadline_minutes=0.05,
            office="Sentinel Dental",
            policy={"down_after_lost": 1, "down_after_refusals": 1},
            alerts={
                "office_hours": "00:00-24:00",
                "office_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            },
        )
        # write_config has no array of tables; the two webhooks are appended by hand.
        with config.open("a", encoding="utf-8") as f:
            for kind, hook in (("json", "/hook"), ("slack", "/services/T0/B0/token")):
                f.write(f'\n[[alerts.webhook]]\nkind = "{kind}"\nurl = "{sink.url_for(hook)}"\n')
        loaded = load_config(config)
        assert len(loaded.alerts.webhooks) == 2
        data_dir = tmp_path / "xdg-data" / "delivery-watchdog"
        history = history_path(loaded)  # this account pair's own history
        assert history.is_relative_to(data_dir)
        good = {
            **watchdog_env,
            **file_keyring_env(keyring_file),
            **daemon.env,
            "HOME": str(home),
            "WATCHDOG_SENDER_PASSWORD": "",  # the sending account's password: the keyring
            "WATCHDOG_SEED_PASSWORD": SEED,
        }

        # 1. Healthy checks, logged at debug level to the rotating log.
        outputs.add_run("run (good)", run_loop_until(good, config, history, checks=2))
        # 2. The outgoing server refuses the sign-in: DOWN, alerts on every channel.
        wrong_sender = {**good, "WATCHDOG_SENDER_PASSWORD": WRONG_SENDER}
        outputs.add_run("run (wrong sender)", run_loop_until(wrong_sender, config, history, 1))
        # 3. The seed mailbox refuses the sign-in.
        wrong_seed = {**good, "WATCHDOG_SEED_PASSWORD": WRONG_SEED}
        outputs.add_run(
            "check (wrong seed)", watchdog("check", "-vv", env=wrong_seed, config=config)
        )
        # 4. Recovery, then every reading command.
        outputs.add_run("check (good)", watchdog("check", "-vv", "--json", env=good, config=config))
        for name, args in {
            "history --json": ("history", "--json", "-n", "100"),
            "history": ("history", "-n", "100"),
            "status --json": ("status", "--json"),
            "status": ("status",),
            "incidents --json": ("incidents", "--json"),
            "incidents": ("incidents",),
            "export csv": ("export", "--format", "csv"),
            "export json": ("export", "--format", "json"),
            "doctor --json": ("doctor", "--json"),
            "doctor": ("doctor",),
        }.items():
            done = watchdog(*args, "-vv", env=good, config=config)
            assert done.returncode == 0, f"{name}: {done.stderr}"
            outputs.add_run(name, done)
        export_file = tmp_path / "export.json"
        done = watchdog(
            "export", "--format", "json", "--output", str(export_file), env=good, config=config
        )
        assert done.returncode == 0, done.stderr
        outputs.add("export --output file", export_file.read_bytes())
        bundle = tmp_path / "bundle.zip"
        done = watchdog("support-bundle", "-vv", "--output", str(bundle), env=good, config=config)
        assert done.returncode == 0, done.stderr
        outputs.add_run("support-bundle", done)
        report_file = tmp_path / "report.html"
        done = watchdog("report", "-vv", "--output", str(report_file), env=good, config=config)
        assert done.returncode == 0, done.stderr
        outputs.add_run("report", done)
        outputs.add("report file (also the tray's history report)", report_file.read_bytes())
        notifications = daemon.received()
    webhook_requests = sink.requests

    # What happened is what this test claims happened: otherwise "no leak" proves nothing.
    with History(history) as opened:
        rows = opened.recent(100)
        attempts = opened.alert_attempts(100)
    outcomes = {r.outcome.value for r in rows}
    diagnoses = {r.diagnosis.value for r in rows}
    assert "delivered" in outcomes, outcomes
    assert "auth_rejected" in diagnoses, diagnoses  # the refused SMTP sign-in
    # The refused IMAP sign-in (its canary is found later by the good check, so the row moved on).
    assert "refused the login" in str(outputs.items["check (wrong seed) stdout"])
    assert {a.channel for a in attempts if a.ok} >= {"desktop", "webhook:json", "webhook:slack"}
    assert len(notifications) >= 2 and len(webhook_requests) >= 4
    assert any(m.reply and m.reply.startswith("250") for m in sentinel_servers.smtp.received)
    logs = sorted((tmp_path / "xdg-state").rglob("watchdog.log*"))
    assert logs and "DEBUG" in logs[0].read_text(encoding="utf-8")
    with zipfile.ZipFile(bundle) as z:
        members = {name: z.read(name) for name in z.namelist()}
    assert {"config.toml", "history.sqlite3", "doctor.txt", "logs/watchdog.log"} <= set(members)

    # The search.
    found: dict[str, list[str]] = {}
    for root in ("xdg-config", "xdg-data", "xdg-state", "xdg-cache", "home"):
        for path in (tmp_path / root).rglob("*"):
            if path.is_file():
                found[str(path.relative_to(tmp_path))] = leaks(path.read_bytes())
    for name, data in outputs.items.items():
        found[name] = leaks(data)
    for name, data in members.items():
        found[f"bundle:{name}"] = leaks(data)
    for i, notification in enumerate(notifications):
        found[f"notification {i}"] = leaks(json.dumps(notification))
    for i, request in enumerate(webhook_requests):
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers)
        found[f"webhook {request.target} #{i}"] = leaks(
            f"{request.method} {request.target}\n{headers}\n".encode() + request.body
        )
    for i, message in enumerate(sentinel_servers.smtp.received):
        found[f"canary e-mail {i}"] = leaks(message.content)
    assert len(found) > 40  # the search really covered the outputs listed above
    assert {name: hits for name, hits in found.items() if hits} == {}
    # And the keyring itself still holds them: the search would have seen them there.
    assert leaks(keyring_file.read_bytes())

"""Server text printed to a terminal is made safe (issue 11 item 16), and ``status`` never shows
a bare UP while a canary waits long past its deadline (item 2, the status part)."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from pathlib import Path

import pytest

from tests.support.history_builder import HistoryBuilder
from watchdog import cli
from watchdog.cli.common import say
from watchdog.cli.monitor import describe_check
from watchdog.config import load_config
from watchdog.core.exit_status import ExitStatus
from watchdog.core.models import Canary, CheckResult, Diagnosis, Outcome, SmtpReply
from watchdog.core.terminal import SafeFormatter, safe_text
from watchdog.setup.console import Console
from watchdog.setup.doctor import Finding

#: Retitles the window (OSC 0 ... BEL) and clears the screen (CSI 2 J).
HOSTILE = "\x1b]0;pwned\x07\x1b[2J"
#: Characters that must never reach a terminal from a server.
FORBIDDEN = ("\x1b", "\x07", "\x08", "\r", "\x9b", "\x00", "\u202e")


def assert_safe(text: str) -> None:
    found = [c for c in FORBIDDEN if c in text]
    assert not found, f"{found!r} in {text!r}"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (f"550 5.7.1 blocked{HOSTILE} now", "550 5.7.1 blocked now"),
        ("FAIL\b\b\b\bOK  ", "FAIL????OK  "),  # backspaces cannot turn FAIL into OK
        ("421 busy\rOK: delivered", "421 busy\nOK: delivered"),  # nor a carriage return
        ("x\x9b31my", "xy"),  # the one-byte C1 CSI
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # a hyperlink
        ("ok\x1b]0;never terminated", "ok"),
        ("name\u202egpj.exe", "name?gpj.exe"),  # a right-to-left override
        ("tab\there, NUL\x00, DEL\x7f", "tab here, NUL?, DEL?"),
        ("250-first\r\n250 second", "250-first\n250 second"),
        ("Zürich 中文 ok", "Zürich 中文 ok"),
    ],
)
def test_escape_sequences_and_control_characters_never_reach_the_terminal(
    raw: str, shown: str
) -> None:
    assert safe_text(raw) == shown
    assert_safe(safe_text(raw))


def test_newlines_can_be_flattened_for_one_line_output() -> None:
    assert safe_text("a\r\nb\nc", keep_newlines=False) == "a b c"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""data_dir = "{(tmp_path / "data").as_posix()}"

[sender]
address = "frontdesk@smiledental.com"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = ""

[seed]
address = "canary@smiledental.com"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "canary"
""",
        encoding="utf-8",
    )
    return path


def test_history_and_status_print_a_hostile_server_reply_without_its_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    now = time.time()
    builder.add(now - 120, Outcome.SEND_FAILED, reply=SmtpReply(550, f"5.7.1 no{HOSTILE}", "5.7.1"))
    builder.close()
    assert cli.main(["--config", str(config), "history"]) == 0
    assert cli.main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr()
    assert "5.7.1 no" in out.out and "test check 1" in out.out
    assert_safe(out.out + out.err)


def test_a_check_result_with_hostile_details_prints_safely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = CheckResult(
        token="t1",
        sent_at=time.time(),
        deadline_at=time.time() + 600,
        outcome=Outcome.JUNK,
        diagnosis=Diagnosis.JUNK_PLACEMENT,
        found_at=time.time() + 2,
        latency_s=2.0,
        folder=f"Spam{HOSTILE}",
        smtp_reply=SmtpReply(250, f"2.0.0 Ok: queued as ABC{HOSTILE}", "2.0.0"),
    )
    say(describe_check(load_config(_config(tmp_path)), "other", result))
    out = capsys.readouterr().out
    assert "queued as ABC" in out and "found in Spam after" in out
    assert_safe(out)


def test_doctor_lines_and_setup_messages_are_safe(capsys: pytest.CaptureFixture[str]) -> None:
    finding = Finding("smtp.login", "FAIL", f"Sign-in: the server said: 535 no{HOSTILE}", "fix")
    assert_safe(finding.line())
    assert finding.line().startswith("FAIL Sign-in: the server said: 535 no")
    Console().say(f"  What happened: the server said: 535 no{HOSTILE}")
    out = capsys.readouterr().out
    assert "535 no" in out
    assert_safe(out)


def test_log_lines_quoting_a_server_are_safe() -> None:
    record = logging.LogRecord(
        "watchdog", logging.WARNING, __file__, 1, "reply %s", (HOSTILE,), None
    )
    assert_safe(SafeFormatter("%(message)s").format(record))


# -- status: never a bare UP while a canary waits long past its deadline ---------------------------


def _history_up_with_a_pending_canary(tmp_path: Path, *, sent_ago_s: float) -> Path:
    config = _config(tmp_path)
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    now = time.time()
    builder.add(now - 7200, Outcome.DELIVERED)  # UP
    sent = now - sent_ago_s
    builder.history.record_pending(Canary("cut-off", "<cut-off@x>", sent, sent + 600), sent)
    builder.close()
    return config


def test_status_is_unconfirmed_when_a_canary_waits_long_past_its_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _history_up_with_a_pending_canary(tmp_path, sent_ago_s=30 * 60)
    code = cli.main(["--config", str(config), "status"])
    out = capsys.readouterr().out
    status_line = out.splitlines()[0]
    assert status_line.startswith("Status: UP (unconfirmed: a check has been waiting since ")
    assert "past its deadline" in status_line and "may have been cut off" in status_line
    assert code == ExitStatus.DEGRADED


def test_status_json_says_unconfirmed_with_the_same_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _history_up_with_a_pending_canary(tmp_path, sent_ago_s=30 * 60)
    code = cli.main(["--config", str(config), "status", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["status"]["status"] == "UP"
    assert report["unconfirmed"] is True
    assert [p["token"] for p in report["overdue"]] == ["cut-off"]
    assert code == report["exit_code"] == ExitStatus.DEGRADED


def test_a_canary_still_within_its_deadline_leaves_a_plain_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _history_up_with_a_pending_canary(tmp_path, sent_ago_s=60)
    code = cli.main(["--config", str(config), "status"])
    out = capsys.readouterr().out
    assert out.startswith("Status: UP since ")
    assert "unconfirmed" not in out
    assert code == ExitStatus.OK


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("form", ["csv", "json"])
def test_export_to_a_terminal_shows_hostile_replies_safely_but_a_pipe_gets_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    config = _config(tmp_path)
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    reply = SmtpReply(550, f"5.7.1 no\x9b2J{HOSTILE}", "5.7.1")
    builder.add(time.time() - 120, Outcome.SEND_FAILED, reply=reply)
    builder.close()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert cli.main(["--config", str(config), "export", "--format", form]) == 0
    assert "5.7.1 no" in terminal.getvalue()
    assert_safe(terminal.getvalue())
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stdout", pipe)
    assert cli.main(["--config", str(config), "export", "--format", form]) == 0
    assert "\x9b" in pipe.getvalue()  # the data itself is unchanged

"""``watchdog guide`` (issue 13): the current problem's page is the one the tray opens, built by
one function (``app.current_guide_html``), not by a copy of it in the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.history_builder import HistoryBuilder
from watchdog import cli
from watchdog.app import current_guide_html
from watchdog.config import load_config
from watchdog.core.clock import SystemClock
from watchdog.core.exit_status import ExitStatus
from watchdog.core.models import Outcome, SmtpReply
from watchdog.storage.history import History

NOW = 1_767_000_000.0


@pytest.fixture
def office(tmp_path: Path) -> Path:
    """A config whose history ends in a refused canary (DOWN after two): a reply on the page."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""data_dir = "{(tmp_path / "data").as_posix()}"
office = "Smile Dental"

[sender]
address = "frontdesk@smiledental.com"
smtp_host = "smtp.gmail.com"
smtp_port = 465
security = "ssl"
username = "frontdesk@smiledental.com"

[seed]
address = "canary@example.net"
imap_host = "imap.example.net"
imap_port = 993
security = "ssl"
username = "canary"

[alerts]
support_contact = "Acme IT, 555-0100"
""",
        encoding="utf-8",
    )
    builder = HistoryBuilder(tmp_path / "data" / "history.sqlite3")
    refused = SmtpReply(550, "5.4.5 Daily user sending limit exceeded", "5.4.5")
    builder.add(NOW - 7200, Outcome.DELIVERED)
    builder.add(NOW - 3600, Outcome.SEND_FAILED, reply=refused)
    builder.add(NOW - 1800, Outcome.SEND_FAILED, reply=refused)
    builder.close()
    return path


def tray_page(config_path: Path) -> tuple[str, str]:
    config = load_config(config_path)
    assert config.data_dir is not None
    with History(config.data_dir / "history.sqlite3") as history:
        return current_guide_html(config, history, SystemClock())


def test_the_guide_command_writes_the_page_the_tray_opens(
    office: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)  # the page says when it was made
    output = tmp_path / "guide.html"
    code = cli.main(["--config", str(office), "guide", "--no-open", "--output", str(output)])
    title, page = tray_page(office)
    assert code == ExitStatus.OK
    assert output.read_text(encoding="utf-8") == page
    assert f"Guide: {title}" in capsys.readouterr().out
    assert "Daily user sending limit exceeded" in page  # the last reply is on it


def test_a_guide_for_another_provider_is_the_current_problem_as_if_the_config_named_it(
    office: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)
    output = tmp_path / "guide.html"
    words = ["--config", str(office), "guide", "--provider", "yahoo", "--no-open"]
    assert cli.main([*words, "--output", str(output)]) == ExitStatus.OK
    named = office.read_text(encoding="utf-8").replace(
        'security = "ssl"\nusername = "frontdesk',
        'security = "ssl"\nprovider = "yahoo"\nusername = "frontdesk',
        1,
    )
    office.write_text(named, encoding="utf-8")
    _, page = tray_page(office)
    assert output.read_text(encoding="utf-8") == page
    assert "Yahoo" in page and "Daily user sending limit exceeded" in page

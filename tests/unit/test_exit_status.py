"""One table of exit codes (issue 13): every command ends with a code from ``ExitStatus``, the
docs list that table, and a wrong command line is not mistaken for a failed delivery.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from watchdog import cli
from watchdog.core.exit_status import ExitStatus

DOCS = Path(__file__).resolve().parents[2] / "docs" / "running.md"


def test_the_codes_are_the_documented_numbers() -> None:
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0,
        "DEGRADED": 1,
        "FAILED": 2,
        "CONFIG": 3,
        "INTERRUPTED": 130,
    }


def test_the_docs_list_exactly_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert [(int(code), name) for code, name, _ in rows] == [(int(s), s.name) for s in ExitStatus]


@pytest.mark.parametrize(
    "module_name",
    [
        "watchdog.cli",
        "watchdog.cli.common",
        "watchdog.cli.monitor",
        "watchdog.cli.records",
        "watchdog.cli.support",
        "watchdog.cli.advice",
        "watchdog.setup.console",
        "watchdog.setup.wizard",
        "watchdog.setup.oauth",
        "watchdog.setup.doctor",
        "watchdog.desktop.autostart",
        "watchdog.setup.support_bundle",
        "watchdog.demo.story",
        "watchdog.pages.report",
    ],
)
def test_no_command_module_spells_an_exit_code_of_its_own(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert [name for name in vars(module) if name.startswith("EXIT_")] == []


@pytest.mark.parametrize(
    "words",
    [["chekc"], ["check", "--jsno"], ["history", "--limit", "x"], ["autostart", "bogus"]],
)
def test_a_wrong_command_line_is_a_setup_problem_not_a_failed_delivery(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse alone ends with 2, which the table keeps for "it failed"."""
    with pytest.raises(SystemExit) as ended:
        cli.main(words)
    assert ended.value.code == ExitStatus.CONFIG
    assert "error:" in capsys.readouterr().err


def test_help_and_version_still_end_with_ok(capsys: pytest.CaptureFixture[str]) -> None:
    for words in (["--help"], ["--version"], ["check", "--help"]):
        with pytest.raises(SystemExit) as ended:
            cli.main(words)
        assert ended.value.code in (None, ExitStatus.OK)
    assert "watchdog" in capsys.readouterr().out

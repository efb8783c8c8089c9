"""`watchdog report` after real checks against the test servers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.e2e.cli import watchdog, watchdog_json


def test_report_after_real_checks_writes_a_private_page_with_every_check_counted(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers, deadline_minutes=0.02, office="Smile Dental"))
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0
    servers.smtp.set_mode("reject", reply='550 5.7.1 <img src=x onerror="alert(1)">', stage="data")
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 2
    servers.smtp.set_mode("deliver")
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0

    target = tmp_path / "out" / "report.html"
    done = watchdog("report", "--output", str(target), env=watchdog_env, config=config)
    assert done.returncode == 0, done.stderr
    assert f"Report written to {target}" in done.stdout
    assert target.stat().st_mode & 0o777 == 0o600
    page = target.read_text(encoding="utf-8")
    assert "Delivery Watchdog report - Smile Dental" in page
    assert "3 checks from" in page and "1 incident." in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "<img" not in page
    assert re.search(r"<td>unknown</td><td class='n'>1</td>", page)  # diagnoses by count


def test_report_without_output_goes_to_the_data_folder_and_a_bad_date_exits_3(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    config = Path(write_config(tmp_path, servers))
    assert watchdog_json("check", env=watchdog_env, config=config)[0] == 0
    done = watchdog("report", env=watchdog_env, config=config)
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.split("Report written to ", 1)[1].strip())
    assert written.name == "report.html" and written.is_file()
    assert str(written).startswith(watchdog_env["XDG_DATA_HOME"])
    bad = watchdog("report", "--since", "yesterday", env=watchdog_env, config=config)
    assert bad.returncode == 3 and "2026-11-01" in bad.stderr


def _imported(done_stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines (``PYTHONPROFILEIMPORTTIME=1``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done_stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_a_check_loads_no_template_engine_and_only_the_report_command_does(
    tmp_path: Path, servers: Any, watchdog_env: dict[str, str], write_config: Any
) -> None:
    """Jinja2 (about 55 ms) is for the commands that make pages; ``watchdog check`` must stay
    within 2x of a bare script (benchmarks/roundtrip.py)."""
    config = Path(write_config(tmp_path, servers))
    profiled = {**watchdog_env, "PYTHONPROFILEIMPORTTIME": "1"}
    check = watchdog("check", env=profiled, config=config)
    assert check.returncode == 0, check.stderr[-2000:]
    assert "watchdog.engine.runner" in _imported(check.stderr)  # the profile did record the check
    assert not {"jinja2", "markupsafe"} & _imported(check.stderr)
    report = watchdog("report", "--output", str(tmp_path / "r.html"), env=profiled, config=config)
    assert report.returncode == 0, report.stderr[-2000:]
    assert {"jinja2", "markupsafe"} <= _imported(report.stderr)

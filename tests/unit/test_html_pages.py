"""The guide and report pages share one frame: one Content-Security-Policy, one stylesheet, and
autoescape for every value; Jinja2 is loaded only when a page is made."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.history_builder import HOSTILE_REPLY, HistoryBuilder, local_noon
from watchdog.core.guidance import guide_for
from watchdog.core.models import Diagnosis, Outcome
from watchdog.pages.frame import CONTENT_SECURITY_POLICY, TEMPLATE_FOLDER, stylesheet
from watchdog.pages.guide import render_html
from watchdog.pages.report import gather_report, render_report

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_OFFICE = "Smile <script>document.title='pwned'</script> & \"Co\""
HOSTILE_TEXT = "<script>alert('x')</script>"
NOW = local_noon("2026-11-20")


def _guide_page(**changes: str) -> str:
    values = {
        "office": HOSTILE_OFFICE,
        "support_contact": f"IT {HOSTILE_TEXT}",
        "last_reply": f"550 5.7.1 {HOSTILE_TEXT}",
    } | changes
    return render_html(
        guide_for("gmail", Diagnosis.SENDER_BLOCKED),
        since=NOW - 3600,
        generated_at=NOW,
        **values,
    )


@pytest.fixture
def report_page(tmp_path: Path) -> str:
    """A report with the hostile office name and a refusal whose reply carries a script."""
    builder = HistoryBuilder(tmp_path / "history.sqlite3")
    try:
        builder.add(NOW - 7200, Outcome.DELIVERED, latency_s=2.0)
        builder.add(NOW - 3600, Outcome.SEND_FAILED, reply=HOSTILE_REPLY)
        return render_report(gather_report(builder.history, office=HOSTILE_OFFICE, now=NOW))
    finally:
        builder.close()


def _csp(page: str) -> list[str]:
    return re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)


def _styles(page: str) -> list[str]:
    return re.findall(r"<style>\n(.*?)</style>", page, re.DOTALL)


def test_a_script_in_the_office_contact_or_reply_is_escaped_text_in_the_guide() -> None:
    page = _guide_page()
    assert "<script" not in page.lower()
    assert (
        "Smile &lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; &amp; &#34;Co&#34;"
        in (page)
    )
    assert "IT &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<pre>550 5.7.1 &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</pre>" in page


def test_a_script_in_the_office_or_a_server_reply_is_escaped_text_in_the_report(
    report_page: str,
) -> None:
    assert "<script" not in report_page.lower()
    title = "Delivery Watchdog report - Smile &lt;script&gt;document.title=&#39;pwned&#39;"
    assert f"<title>{title}" in report_page and f"<h1>{title}" in report_page
    assert "5.7.1 &lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in report_page


def test_both_pages_carry_the_one_content_security_policy_once(report_page: str) -> None:
    assert _csp(_guide_page()) == _csp(report_page) == [CONTENT_SECURITY_POLICY]
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "base-uri 'none'" in CONTENT_SECURITY_POLICY  # the report had less before


def test_both_pages_carry_the_one_stylesheet_once(report_page: str) -> None:
    assert _styles(_guide_page()) == _styles(report_page) == [stylesheet()]
    assert "ol.steps" in stylesheet() and "td.reply" in stylesheet()  # both pages' rules


def test_the_policy_and_the_styles_are_written_nowhere_else_in_the_code() -> None:
    """One place each: a second copy is how the two pages drifted apart."""
    package = ROOT / "watchdog"
    sources = {
        p.relative_to(package).as_posix(): p.read_text(encoding="utf-8")
        for p in package.rglob("*.py")
    }
    assert [name for name, text in sources.items() if "default-src" in text] == ["pages/frame.py"]
    assert not [name for name, text in sources.items() if "font-size:" in text]


def test_every_template_is_package_data_so_an_installed_copy_has_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["watchdog"]
    folder = ROOT / "watchdog" / TEMPLATE_FOLDER
    names = [p.relative_to(folder.parent).as_posix() for p in folder.iterdir() if p.is_file()]
    assert names, "no templates found"
    assert all(any(fnmatch.fnmatch(n, pat) for pat in patterns) for n in names), names


def test_importing_the_page_modules_loads_no_template_engine() -> None:
    """``watchdog check`` and the tray's polls import these; only making a page loads Jinja2."""
    code = (
        "import sys, watchdog.cli, watchdog.app, watchdog.pages.guide, watchdog.pages.report, "
        "watchdog.pages.frame, watchdog.storage.export, watchdog.setup.config_writer; "
        "print(sorted(m for m in ('jinja2', 'markupsafe') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

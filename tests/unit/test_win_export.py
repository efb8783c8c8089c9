"""Export on Windows, with the platform injected: a CSV Excel reads, a clear error when Excel
holds the file, and redirected output that cannot carry the text made UTF-8."""

from __future__ import annotations

import codecs
import csv
import io
import os
from pathlib import Path

import pytest

from watchdog.core.errors import WatchdogError
from watchdog.core.models import CheckResult, Diagnosis, Outcome, SmtpReply
from watchdog.core.terminal import utf8_when_redirected
from watchdog.storage import export
from watchdog.storage.export import COLUMNS, export_to_file

ROWS = [
    CheckResult(
        token="t1",
        sent_at=1_700_000_000.0,
        deadline_at=1_700_000_600.0,
        outcome=Outcome.SEND_FAILED,
        diagnosis=Diagnosis.RELAY_DENIED,
        smtp_reply=SmtpReply(550, "Zugriff verweigert für Praxis Dr. Müller → nein", "5.7.1"),
    )
]


def test_on_windows_a_csv_file_starts_with_a_byte_order_mark_so_excel_reads_the_accents(
    tmp_path: Path,
) -> None:
    target = tmp_path / "checks.csv"
    assert export_to_file(ROWS, target, "csv", platform="win32") == 1
    data = target.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    [row] = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    assert list(row) == list(COLUMNS)
    assert row["smtp_text"] == "Zugriff verweigert für Praxis Dr. Müller → nein"


@pytest.mark.parametrize(
    ("fmt", "platform"), [("csv", "linux"), ("csv", "darwin"), ("json", "win32")]
)
def test_elsewhere_and_in_json_there_is_no_byte_order_mark(
    fmt: export.Format, platform: str, tmp_path: Path
) -> None:
    target = tmp_path / f"checks.{fmt}"
    export_to_file(ROWS, target, fmt, platform=platform)
    assert not target.read_bytes().startswith(codecs.BOM_UTF8)
    assert "Müller" in target.read_text(encoding="utf-8")


def test_a_file_open_in_excel_gives_a_plain_error_naming_it_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checks.csv"
    target.write_text("the old export\n", encoding="utf-8")

    def locked(source: object, destination: object) -> None:
        raise PermissionError(
            13, "The process cannot access the file because it is being used by another process"
        )

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(WatchdogError) as raised:
        export_to_file(ROWS, target, "csv", platform="win32")

    message = str(raised.value)
    assert str(target) in message and "close it in Excel" in message
    assert not (tmp_path / "checks.csv.partial").exists()
    assert target.read_text(encoding="utf-8") == "the old export\n"  # untouched


def test_a_folder_that_cannot_be_written_gives_a_plain_error_too(tmp_path: Path) -> None:
    target = tmp_path / "no such folder" / "checks.csv"
    with pytest.raises(WatchdogError, match=r"could not write .*checks\.csv"):
        export_to_file(ROWS, target, "csv")


def test_an_export_file_is_private_and_no_partial_file_stays(tmp_path: Path) -> None:
    target = tmp_path / "checks.json"
    export_to_file(ROWS, target, "json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checks.json"]
    if os.name == "posix":
        assert target.stat().st_mode & 0o777 == 0o600


class Redirected(io.TextIOWrapper):
    """stdout redirected to a file, in the ANSI code page as on Windows."""

    def __init__(self, *, tty: bool = False) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding="cp1252")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_redirected_output_in_the_ansi_code_page_becomes_utf8_so_an_arrow_prints() -> None:
    out = Redirected()
    utf8_when_redirected(out, None)  # None: stderr under pythonw.exe
    print("sender → seed: Müller", file=out)
    out.flush()
    assert out.raw_bytes.getvalue().decode("utf-8") == "sender → seed: Müller\n"


def test_a_real_console_and_a_utf8_stream_are_left_alone() -> None:
    console = Redirected(tty=True)
    utf8_when_redirected(console)
    assert console.encoding == "cp1252"
    already = io.TextIOWrapper(io.BytesIO(), encoding="utf-8-sig")
    utf8_when_redirected(already, io.StringIO())
    assert already.encoding == "utf-8-sig"

"""Writing a file whole: the one helper (watchdog.storage.atomic_file), and every writer
going through it.

A failure at any point (inside the block, at the fsync, at the rename) leaves the old file as it
was and no temporary file behind; the mode asked for is the file's mode; the data reaches the
disk before the rename makes it the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.test_config_writer import values_for
from watchdog.core.errors import WatchdogError
from watchdog.core.models import CheckResult, Diagnosis, Outcome, Security
from watchdog.desktop import autostart
from watchdog.pages.guide import write_guide
from watchdog.setup import support_bundle
from watchdog.setup.config_writer import render_config, write_config_file
from watchdog.storage import atomic_file
from watchdog.storage.atomic_file import (
    PRIVATE,
    READABLE_BY_ALL,
    atomic_binary_file,
    atomic_text_file,
    write_text_atomically,
)
from watchdog.storage.export import export_to_file

POSIX = os.name == "posix"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _old_file(tmp_path: Path) -> Path:
    target = tmp_path / "page.html"
    target.write_text("the old page\n", encoding="utf-8")
    return target


def test_the_new_content_replaces_the_old_and_no_temporary_file_stays(tmp_path: Path) -> None:
    target = _old_file(tmp_path)
    write_text_atomically(target, "the new page\n")
    assert target.read_text(encoding="utf-8") == "the new page\n"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
@pytest.mark.parametrize("mode", [PRIVATE, READABLE_BY_ALL])
def test_the_mode_asked_for_is_the_files_mode_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "file.txt"
    old_umask = os.umask(0o077 if mode == READABLE_BY_ALL else 0o000)
    try:
        write_text_atomically(target, "x", mode=mode)
    finally:
        os.umask(old_umask)
    assert _mode(target) == mode


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_while_it_is_written_the_temporary_file_is_private_even_for_a_public_page(
    tmp_path: Path,
) -> None:
    target = tmp_path / "guide.html"
    with atomic_text_file(target, mode=READABLE_BY_ALL) as out:
        [temp] = [p for p in tmp_path.iterdir() if p.name != "guide.html"]
        assert _mode(temp) == PRIVATE
        out.write("<p>page</p>")
    assert _mode(target) == READABLE_BY_ALL


def test_a_failure_while_writing_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    target = _old_file(tmp_path)
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_text_file(target) as out:
        out.write("half a page")
        raise RuntimeError("disk on fire")
    assert target.read_text(encoding="utf-8") == "the old page\n"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


@pytest.mark.parametrize("failing", ["fsync", "replace", "chmod"])
def test_a_failing_sync_mode_change_or_rename_leaves_the_old_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = _old_file(tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        write_text_atomically(target, "the new page\n")
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "the old page\n"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_a_named_temporary_file_is_used_and_removed_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "checks.csv"
    with atomic_binary_file(target, temp_name="checks.csv.partial") as out:
        assert (tmp_path / "checks.csv.partial").exists()
        out.write(b"a,b\n")
    assert target.read_bytes() == b"a,b\n"
    with (
        pytest.raises(ValueError, match="bad row"),
        atomic_binary_file(target, temp_name="checks.csv.partial"),
    ):
        raise ValueError("bad row")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checks.csv"]
    assert target.read_bytes() == b"a,b\n"


def test_text_is_written_in_the_encoding_and_with_the_line_ends_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "checks.csv"
    with atomic_text_file(target, encoding="utf-8-sig", newline="") as out:
        out.write("Müller\r\nnext\n")
    assert target.read_bytes() == "\ufeffMüller\r\nnext\n".encode()


def test_the_data_and_then_the_folder_are_synced_around_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _record_syncs_and_renames(monkeypatch)
    write_text_atomically(tmp_path / "config.toml", "x = 1\n")
    expected = ["fsync", "replace", "fsync"] if POSIX else ["fsync", "replace"]
    assert events == expected


def _record_syncs_and_renames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        events.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


# -- every writer of a whole file goes through the helper ------------------------------------------

_ROW = CheckResult(
    token="t1",
    sent_at=1_700_000_000.0,
    deadline_at=1_700_000_600.0,
    outcome=Outcome.DELIVERED,
    diagnosis=Diagnosis.OK,
)


def _guide(folder: Path) -> Path:
    return write_guide(folder / "guide.html", "<p>page</p>")


def _export(folder: Path) -> Path:
    export_to_file([_ROW], folder / "checks.csv", "csv")
    return folder / "checks.csv"


def _bundle(folder: Path) -> Path:
    support_bundle._write_zip(folder / "bundle.zip", [("README.txt", b"hello")])
    return folder / "bundle.zip"


def _config(folder: Path) -> Path:
    write_config_file(folder / "config.toml", render_config(values_for(Security.SSL)))
    return folder / "config.toml"


def _autostart(folder: Path) -> Path:
    backend = autostart._Desktop()
    backend.path = folder / "autostart" / "delivery-watchdog.desktop"
    backend.write("[Desktop Entry]\nName=Delivery Watchdog\n")
    return backend.path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "guide page": _guide,
    "export": _export,
    "support bundle": _bundle,
    "config": _config,
    "autostart entry": _autostart,
}


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_every_writer_syncs_the_data_before_the_rename_makes_it_the_file(
    writer: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the one helper, the guide page, the export and the support bundle renamed a file
    whose data could still be in the page cache: a power cut then left an empty file."""
    events = _record_syncs_and_renames(monkeypatch)
    written = writer(tmp_path)
    assert written.is_file()
    first_rename = events.index("replace")
    assert "fsync" in events[:first_rename]


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_every_writer_leaves_no_temporary_file_when_the_rename_fails(
    writer: Callable[[Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises((OSError, WatchdogError)):
        writer(tmp_path)
    leftovers = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_the_helper_module_imports_only_the_standard_library() -> None:
    """Every command writes files; none should pay an import for it."""
    source = Path(atomic_file.__file__).read_text(encoding="utf-8")
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= {
        "__future__",
        "contextlib",
        "io",
        "os",
        "tempfile",
        "collections",
        "pathlib",
        "typing",
    }

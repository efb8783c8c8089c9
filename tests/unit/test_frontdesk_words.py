"""Words for the right reader (issue 12): documents reachable, keyring advice, doctor sentences."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from watchdog.core.models import Diagnosis
from watchdog.pages.guide import doc_path, doc_reference
from watchdog.setup.doctor import Finding, Problem, sentence
from watchdog.signin.credentials import (
    is_safe_keyring,
    keyring_backend_problem,
    secure_keyring_advice,
)


def test_every_document_the_program_names_exists_and_is_shipped_with_installed_copies() -> None:
    named: set[str] = set()
    for source in (REPO_ROOT / "watchdog").rglob("*"):
        if source.suffix in (".py", ".toml") and source.is_file():
            text = source.read_text(encoding="utf-8")
            # What people can read: not comments for developers.
            shown = "\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#"))
            named |= set(re.findall(r"docs/([\w.-]+\.md)", shown))
    assert named, "no document named at all: the search is wrong"
    for name in sorted(named):
        assert (REPO_ROOT / "docs" / name).is_file(), name
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = project["tool"]["setuptools"]["data-files"]["share/doc/delivery-watchdog"]
    assert "docs/*.md" in shipped


def test_a_document_is_named_by_its_full_path_where_this_copy_has_it() -> None:
    found = doc_path("oauth.md")
    assert found is not None and found.is_file()
    assert doc_reference("oauth.md") == str(found)
    assert Path(doc_reference("oauth.md")).is_absolute()
    assert doc_path("no-such-document.md") is None
    assert doc_reference("no-such-document.md") == (
        "docs/no-such-document.md in the Delivery Watchdog sources"
    )


def test_an_installed_copy_finds_its_documents_under_the_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sysconfig

    folder = tmp_path / "share" / "doc" / "delivery-watchdog"
    folder.mkdir(parents=True)
    (folder / "installed-only.md").write_text("# doc\n", encoding="utf-8")
    real = sysconfig.get_path
    monkeypatch.setattr(
        sysconfig, "get_path", lambda name, *a, **k: str(tmp_path) if name == "data" else real(name)
    )
    assert doc_path("installed-only.md") == folder / "installed-only.md"


@pytest.mark.parametrize(
    ("platform", "words"),
    [
        ("linux", ["gnome-keyring", "KWallet", "Secret Service"]),
        ("win32", ["Credential Manager", "always there"]),
        ("darwin", ["Keychain"]),
    ],
)
def test_the_keyring_advice_names_what_to_install_or_enable_and_never_a_file(
    platform: str, words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    advice = secure_keyring_advice(platform)
    for word in words:
        assert word in advice
    assert "autostart" not in advice.lower()
    assert "keyring set" not in advice
    assert "PYTHON_KEYRING_BACKEND" not in advice


def test_a_keyring_chosen_by_the_environment_is_named_in_the_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    assert "PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring is set here" in (
        secure_keyring_advice("linux")
    )


def test_fail_null_and_plain_file_keyrings_are_no_safe_place() -> None:
    from keyring.backends import fail, null

    plain = type("PlaintextKeyring", (), {"__module__": "keyrings.alt.file"})()
    # keyring 25's KeyringBackend.__init__ has no annotations, so mypy calls it untyped.
    assert keyring_backend_problem(fail.Keyring()) is not None  # type: ignore[no-untyped-call]
    assert keyring_backend_problem(null.Keyring()) is not None  # type: ignore[no-untyped-call]
    assert "plain file" in (keyring_backend_problem(plain) or "")
    assert not is_safe_keyring(plain)
    from tests.support.file_keyring import FileKeyring

    assert is_safe_keyring(FileKeyring())  # the tests' stand-in for a system keyring


def test_a_doctor_line_is_a_sentence_with_what_to_do_after_it() -> None:
    line = Finding(
        "smtp.connect", "FAIL", "cannot connect to x:1: refused (nothing listens there)", "check it"
    ).line()
    assert line == (
        "FAIL Cannot connect to x:1: refused (nothing listens there). What to do: Check it."
    )
    assert sentence("Already one.") == "Already one."
    assert Finding("config", "OK", "configuration: c.toml").line() == "OK   Configuration: c.toml."


def test_an_unreachable_server_names_the_likely_causes_for_support() -> None:
    from watchdog.core.classifier import NetworkFailure

    dns = Problem(Diagnosis.SERVER_UNREACHABLE, "x", "connect", network=NetworkFailure.DNS)
    assert dns.unreachable
    assert "misspelled" in dns.likely_causes("smtp.exmaple.com")
    assert "this PC is offline" in dns.likely_causes("smtp.exmaple.com")
    refused = Problem(Diagnosis.SERVER_UNREACHABLE, "x", "connect", network=NetworkFailure.REFUSED)
    assert "wrong port" in refused.likely_causes("h")
    assert not Problem(Diagnosis.AUTH_REJECTED, "535", "login").unreachable

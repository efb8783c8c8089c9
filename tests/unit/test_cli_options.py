"""Typed options (issue 13): only the command line parses the command line. Each command turns
its ``argparse.Namespace`` into typed values before the feature code runs, and an import-linter
contract keeps ``argparse`` out of every package but ``watchdog.cli``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from watchdog.cli import COMMANDS, build_parser
from watchdog.cli.support import setup_options
from watchdog.setup.options import SetupOptions

ROOT = Path(__file__).resolve().parents[2]


def _no_argparse_contract() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c.get("forbidden_modules") == ["argparse"])


def test_every_package_but_the_command_line_is_forbidden_to_import_argparse() -> None:
    """A package added later is covered too: the contract names every one but the CLI."""
    package = ROOT / "watchdog"
    top_level = {
        f"watchdog.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file())
        or (path.suffix == ".py" and path.stem != "__init__")
    }
    assert set(_no_argparse_contract()["source_modules"]) == top_level - {
        "watchdog.cli",
        "watchdog.__main__",
    }


def test_every_option_of_setup_lands_in_its_typed_record() -> None:
    words = ["setup", "--config", "office.toml", "--non-interactive", "--no-test", "--force"]
    words += ["--autostart", "--reauth", "seed"]
    texts: dict[str, str] = {}
    for field in dataclasses.fields(SetupOptions):
        if field.type == "str | None" and field.name != "reauth":
            texts[field.name] = f"value of {field.name}"
            words += [f"--{field.name.replace('_', '-')}", texts[field.name]]
    options = setup_options(build_parser(words).parse_args(words))
    assert options == SetupOptions(
        config=Path("office.toml"),
        non_interactive=True,
        reauth="seed",
        no_test=True,
        force=True,
        autostart=True,
        **texts,
    )


def test_setup_without_options_is_the_empty_record() -> None:
    assert setup_options(build_parser(["setup"]).parse_args(["setup"])) == SetupOptions()


def test_setup_looks_options_up_by_the_name_typed_on_the_command_line() -> None:
    options = SetupOptions(smtp_host="smtp.example.com", sender_oauth_client_id="app-1")
    assert options.given("--smtp-host") == "smtp.example.com"
    assert options.given("--sender-oauth-client-id") == "app-1"
    assert options.given("--seed-address") is None
    with pytest.raises(KeyError):
        options.given("--smtp-hots")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_found_in_its_family_module(name: str) -> None:
    """The table says where each command lives; the module has its ``cmd_`` function there."""
    words = [name]
    parser = build_parser(words)
    sub = next(a for a in parser._actions if a.dest == "command")
    command_parser = sub.choices[name]  # type: ignore[index]
    func = command_parser.get_default("func")
    assert func.__name__ == f"cmd_{name.replace('-', '_')}"
    assert func.__module__ == f"watchdog.cli{COMMANDS[name].module}"


def test_the_parser_for_check_imports_no_other_command_family_or_feature() -> None:
    """``watchdog check`` runs every few minutes and is timed (benchmarks/roundtrip.py): building
    its parser loads its own family, not set-up, the doctor, the bundle, the report or Jinja2."""
    heavy = (
        "watchdog.cli.support",
        "watchdog.cli.records",
        "watchdog.cli.advice",
        "watchdog.setup.wizard",
        "watchdog.setup.doctor",
        "watchdog.setup.support_bundle",
        "watchdog.desktop.autostart",
        "watchdog.pages.report",
        "jinja2",
    )
    code = (
        "import sys; from watchdog.cli import build_parser; build_parser(['check']); "
        f"print([m for m in {heavy!r} if m in sys.modules]); "
        "print('watchdog.cli.monitor' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n")[:2] == ["[]", "True"]

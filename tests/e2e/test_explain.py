"""`watchdog explain`: staff paste an error from the practice software and get it explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import watchdog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def explain(env: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    done = watchdog("explain", *args, "--json", env=env)
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {}


def test_a_pasted_gmail_error_with_the_code_on_every_line_is_explained(
    watchdog_env: dict[str, str],
) -> None:
    pasted = (
        "534-5.7.14 <https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgnsbv>\n"
        "534-5.7.14 Please log in via your web browser and then try again.\n"
        "534 5.7.14  Learn more at https://support.google.com/mail/answer/78754 - gsmtp"
    )
    code, result = explain(
        watchdog_env, "--smtp-code", "534", "--smtp-message", pasted, "--provider", "gmail"
    )
    assert code == 0
    assert result["diagnosis"] == "verification_required"
    assert result["provider"] == "gmail"
    assert "browser" in str(result["summary"])
    assert "mail.google.com" in str(result["fix"])


def test_every_reply_in_the_fixture_table_is_explained_as_listed(
    watchdog_env: dict[str, str],
) -> None:
    rows = (FIXTURES / "replies.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for row in rows:
        provider, code, message, diagnosis, _source = row.split("\t")
        text = message.replace("\\n", "\n")
        got_code, result = explain(
            watchdog_env, "--smtp-code", code, "--smtp-message", text, "--provider", provider
        )
        assert got_code == 0
        assert result["diagnosis"] == diagnosis, (provider, code, message)


def test_the_plain_output_says_what_it_means_and_what_to_do(
    watchdog_env: dict[str, str],
) -> None:
    done = watchdog(
        "explain",
        "--smtp-code",
        "550",
        "--smtp-message",
        "5.7.1 <frontdesk@icloud.com>: You have exceeded your daily sending limit",
        "--provider",
        "icloud",
        env=watchdog_env,
    )
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "Diagnosis: sending_limit"
    assert lines[1].startswith("What it means: ")
    assert lines[2].startswith("What to do (iCloud")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--smtp-code", "550", "--smtp-message", "x", "--provider", "hotmail"], "known: gmail"),
        (["--smtp-code", "999", "--smtp-message", "x"], "from 200 to 599"),
    ],
)
def test_a_bad_argument_exits_3_and_says_what_is_allowed(
    watchdog_env: dict[str, str], args: list[str], message: str
) -> None:
    done = watchdog("explain", *args, env=watchdog_env)
    assert done.returncode == 3
    assert message in done.stderr

"""`watchdog explain`: staff paste an error from the practice software and get it explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import watchdog
from watchdog.core.models import Diagnosis

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
        (["--smtp-code", "5.7.1", "--smtp-message", "x"], "three-digit number"),
    ],
)
def test_a_bad_argument_is_a_usage_error_that_says_what_is_allowed(
    watchdog_env: dict[str, str], args: list[str], message: str
) -> None:
    done = watchdog("explain", *args, env=watchdog_env)
    # A wrong option is the support person's to fix (3, as set-up's own option errors), never
    # argparse's 2, which the one table keeps for "it failed" (docs/running.md#exit-codes).
    assert done.returncode == 3
    assert "usage: watchdog explain" in done.stderr
    assert message in done.stderr
    assert "Configuration problem" not in done.stderr


OFFICE_ON_OTHER = """\
[sender]
address = "frontdesk@smiledental.test"
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
username = "frontdesk"

[seed]
address = "seed@example.test"
imap_host = "127.0.0.1"
imap_port = 1143
security = "none"
username = "seed"
"""


@pytest.mark.parametrize(
    ("code", "message", "provider"),
    [
        (
            "535",
            "5.7.8 Username and Password not accepted. For more information, go to "
            "https://support.google.com/mail/?p=BadCredentials - gsmtp",
            "gmail",
        ),
        ("554", "5.7.9 Message not accepted for policy reasons. [PH01]", "yahoo"),
        ("535", "5.7.0 (#AUTH005) Too many bad auth attempts.", "yahoo"),
        (
            "550",
            "5.7.520 Access denied, Your organization does not allow external forwarding. "
            "[BN8NAM12FT011.eop-nam12.prod.protection.outlook.com]",
            "outlook",
        ),
    ],
)
def test_a_reply_that_names_its_provider_is_read_as_that_providers_whatever_the_config_says(
    tmp_path: Path, watchdog_env: dict[str, str], code: str, message: str, provider: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(OFFICE_ON_OTHER, encoding="utf-8")  # the office's config: "other"
    done = watchdog(
        "explain",
        "--smtp-code",
        code,
        "--smtp-message",
        message,
        "--json",
        env=watchdog_env,
        config=config,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["provider"] == provider


def test_a_yahoo_code_in_an_att_account_stays_att() -> None:
    from watchdog.cli.advice import provider_named_in_reply

    assert provider_named_in_reply("5.7.0 (#AUTH005) Too many bad auth attempts.", "att") == "att"
    assert provider_named_in_reply("250 2.0.0 OK", "att") is None


@pytest.mark.parametrize("diagnosis", [d.value for d in Diagnosis])
def test_the_words_for_a_pasted_error_speak_of_the_practices_account(diagnosis: str) -> None:
    from watchdog.cli.advice import practice_software_words

    for provider in ("gmail", "yahoo", "other"):
        summary, fix = practice_software_words(Diagnosis(diagnosis), provider)
        words = f"{summary} {fix}".lower()
        if diagnosis.startswith("seed_") or diagnosis in ("cannot_check", "junk_placement"):
            continue  # the watchdog's own checks: never the diagnosis of a pasted refusal
        assert "keyring" not in words, (provider, diagnosis, words)
        assert "history" not in words, (provider, diagnosis, words)
        assert "watchdog" not in words, (provider, diagnosis, words)
        assert "this program" not in words, (provider, diagnosis, words)


def test_a_wrong_password_pasted_from_gmail_is_explained_for_the_practice_software(
    watchdog_env: dict[str, str],
) -> None:
    done = watchdog(
        "explain",
        "--smtp-code",
        "535",
        "--smtp-message",
        "5.7.8 Username and Password not accepted. - gsmtp",
        env=watchdog_env,
    )
    assert done.returncode == 0, done.stderr
    assert "practice software's mail settings" in done.stdout
    assert "keyring" not in done.stdout.lower()
    assert "myaccount.google.com/apppasswords" in done.stdout

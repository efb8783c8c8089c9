"""The product against a real Postfix 3.7 + Dovecot 2.3 (issue 11): the CLI as a user runs it.

Postfix (tests/servers/postfix.py) submits with SASL through Dovecot and delivers by LMTP into
it; bounces and delay notices go to the sending account's own mailbox, which the product reads
over IMAP (``[sender] imap_host``). Each seed mailbox with a problem is its own Dovecot user
(unknown, full, full and deferring, filed into Spam or Quarantine by Sieve).

The promise checked here: a fault of the seed mailbox is a set-up problem (UNKNOWN, never DOWN,
never the provider); a canary filed into any junk-like folder is junk, and deleted; Postfix's
real refusals get their own diagnoses; a bounce keeps the submission server's real reply.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import watchdog_json
from tests.servers import SEED_USER, SENDER_USER
from tests.servers.postfix import (
    FULL_DEFER_USER,
    FULL_USER,
    GREYLIST_DOMAIN,
    OUTSIDE_ADDRESS,
    QUARANTINE_FOLDER,
    QUARANTINE_USER,
    SPAM_FOLDER,
    SPAM_USER,
    UNKNOWN_USER,
    PostfixServers,
    running_postfix,
)

pytestmark = pytest.mark.servers

#: Short enough to keep each test within seconds, long enough for Postfix's bounce (well under
#: a second on loopback) and its delay notice (delay_warning 3 s plus a retry) to arrive.
DEADLINE_MINUTES = 0.2  # 12 s

#: Diagnoses that blame the provider: never right for a fault of the seed mailbox.
PROVIDER_BLAME = {
    "silent_drop",
    "sending_limit",
    "sender_blocked",
    "rate_limited",
    "message_rejected",
    "verification_required",
}

_TIMES_AND_TOKEN = {"token", "sent_at", "deadline_at", "found_at", "latency_s", "since"}

QUEUED = re.compile(r"^2\.0\.0 Ok: queued as [0-9A-F]{6,}$")


@pytest.fixture(scope="module")
def postfix() -> Iterator[PostfixServers]:
    yield from running_postfix()


@pytest.fixture
def servers(postfix: PostfixServers) -> PostfixServers:
    postfix.reset()
    return postfix


@pytest.fixture
def config_for(tmp_path: Path, servers: PostfixServers, write_config: Any) -> Any:
    """``config_for(seed_user=..., port=..., ...)``: the product's config for Postfix + Dovecot."""

    def make(
        *,
        seed_user: str = SEED_USER,
        seed_address: str | None = None,
        security: str = "starttls",
        port: int | None = None,
        username: str = SENDER_USER,
        sender_address: str | None = None,
        deadline_minutes: float = DEADLINE_MINUTES,
        **extra: Any,
    ) -> Path:
        sender: dict[str, Any] = {
            "username": username,
            # The sending account's own inbox, where Postfix's bounces and notices arrive.
            "imap_host": servers.imap_host,
            "imap_port": servers.imaps_port,
            "imap_security": "ssl",
            "imap_username": SENDER_USER,
        }
        if port is not None:
            sender["smtp_port"] = port
        if sender_address is not None:
            sender["address"] = sender_address
        seed = {"username": seed_user, "address": seed_address or servers.address(seed_user)}
        return Path(
            write_config(
                tmp_path,
                servers,
                smtp_security=security,
                imap_security="ssl",
                deadline_minutes=deadline_minutes,
                sender=sender,
                seed=seed,
                **extra,
            )
        )

    return make


def check(env: dict[str, str], config: Path) -> dict[str, Any]:
    _code, result = watchdog_json("check", env=env, config=config)
    return dict(result)


def history(env: dict[str, str], config: Path) -> list[dict[str, Any]]:
    code, rows = watchdog_json("history", "-n", "50", env=env, config=config)
    assert code == 0
    return list(reversed(rows))  # oldest first


def _without(value: Any, keys: set[str]) -> Any:
    """``value`` with those keys left out of every mapping in it, however deep."""
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def assert_a_setup_problem(result: dict[str, Any], diagnosis: str) -> None:
    """UNKNOWN with this diagnosis: told to support, never DOWN, never the provider's fault."""
    assert result["diagnosis"] == diagnosis, result
    assert result["status"]["status"] == "UNKNOWN", result
    assert result["status"]["diagnosis"] not in PROVIDER_BLAME, result


# -- delivered --------------------------------------------------------------------------------


def test_a_normal_round_trip_through_postfix_is_delivered_and_up(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    result = check(watchdog_env, config_for())
    assert (result["outcome"], result["diagnosis"]) == ("delivered", "ok"), result
    assert result["status"]["status"] == "UP"
    assert result["smtp_reply"]["code"] == 250
    assert QUEUED.match(result["smtp_reply"]["text"]), result["smtp_reply"]
    assert servers.dovecot.count(SEED_USER, "INBOX") == 0  # found, then deleted


def test_a_canary_whose_header_a_relay_strips_is_still_found(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(security="none", port=servers.postfix.ports.strip_header)
    result = check(watchdog_env, config)
    assert (result["outcome"], result["diagnosis"]) == ("delivered", "ok"), result
    assert servers.dovecot.count(SEED_USER, "INBOX") == 0


# -- the seed mailbox's own problems: UNKNOWN, never DOWN -------------------------------------


def test_a_seed_address_refused_at_rcpt_is_a_setup_problem_never_down(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(seed_address=servers.address(UNKNOWN_USER))
    result = check(watchdog_env, config)
    assert_a_setup_problem(result, "seed_address_unknown")
    assert result["smtp_reply"]["code"] == 550
    assert "User unknown in virtual mailbox table" in result["smtp_reply"]["text"]


def test_a_seed_address_accepted_then_bounced_with_5_1_1_is_a_setup_problem_never_down(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(
        seed_address=servers.address(UNKNOWN_USER),
        security="none",
        port=servers.postfix.ports.accept_unlisted,
    )
    result = check(watchdog_env, config)
    assert_a_setup_problem(result, "seed_address_unknown")
    assert "User doesn't exist" in json.dumps(result)


def test_a_full_seed_mailbox_that_bounces_is_seed_mailbox_full_and_unknown(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    result = check(watchdog_env, config_for(seed_user=FULL_USER))
    assert_a_setup_problem(result, "seed_mailbox_full")


def test_a_full_seed_mailbox_that_only_defers_is_seed_mailbox_full_from_the_delay_notice(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    result = check(watchdog_env, config_for(seed_user=FULL_DEFER_USER))
    assert_a_setup_problem(result, "seed_mailbox_full")
    assert result["outcome"] != "delivered"


def test_a_greylisting_delay_notice_shapes_the_diagnosis_of_the_missing_canary(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    # The seed is at another provider whose MX greylists: Postfix keeps the canary queued and
    # sends the practice a "Delayed Mail" notice naming 4.7.1. That is not a silent drop.
    config = config_for(seed_address=f"someone@{GREYLIST_DOMAIN}")
    result = check(watchdog_env, config)
    assert result["outcome"] != "delivered", result
    assert result["diagnosis"] != "silent_drop", result
    assert "4.7.1" in json.dumps(result), "the notice's status is kept for support"


def test_a_bounce_is_found_while_waiting_not_only_at_the_deadline(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(seed_user=FULL_USER, deadline_minutes=0.75)  # 45 s
    began = time.monotonic()
    result = check(watchdog_env, config)
    took = time.monotonic() - began
    assert result["outcome"] == "bounced", result
    assert took < 30, f"the bounce came within a second, the check took {took:.0f} s"


# -- junk-like folders filled by Sieve --------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "folder"), [(SPAM_USER, SPAM_FOLDER), (QUARANTINE_USER, QUARANTINE_FOLDER)]
)
def test_a_canary_filed_into_a_junk_like_folder_by_sieve_is_junk_and_deleted(
    servers: PostfixServers,
    watchdog_env: dict[str, str],
    config_for: Any,
    user: str,
    folder: str,
) -> None:
    result = check(watchdog_env, config_for(seed_user=user))
    assert (result["outcome"], result["diagnosis"]) == ("junk", "junk_placement"), result
    assert result["folder"] == folder
    assert result["status"]["status"] == "DEGRADED"
    assert servers.dovecot.count(user, folder) == 0, "the canary was left in the seed mailbox"


# -- Postfix's own refusals -------------------------------------------------------------------


def test_a_from_address_the_signed_in_user_does_not_own_is_relay_denied(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(sender_address=servers.address(SEED_USER))
    result = check(watchdog_env, config)
    assert result["smtp_reply"]["code"] == 553
    assert "not owned by user sender" in result["smtp_reply"]["text"]
    assert result["diagnosis"] == "relay_denied", result


def test_relay_access_denied_for_a_client_that_does_not_sign_in_is_relay_denied(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(
        security="none",
        username="",
        sender_address="frontdesk@clinic.test",
        seed_address=OUTSIDE_ADDRESS,
    )
    result = check(watchdog_env, config)
    assert result["smtp_reply"]["code"] == 554
    assert "Relay access denied" in result["smtp_reply"]["text"]
    assert result["diagnosis"] == "relay_denied", result


def test_postfixs_anvil_rate_limit_is_rate_limited(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    port = servers.postfix.ports.rate_limited
    config = config_for(security="none", port=port)
    # Use up this minute's one message on the port (the product's canary is then refused).
    with servers.submission(port=port) as client:
        client.sendmail(servers.sender_address, [servers.seed_address], b"Subject: x\r\n\r\nx\r\n")
    result = check(watchdog_env, config)
    assert result["smtp_reply"]["code"] == 450
    assert "too much mail from 127.0.0.1" in result["smtp_reply"]["text"]
    assert result["diagnosis"] == "rate_limited", result


# -- a bounce keeps the server's real reply ---------------------------------------------------


def test_a_bounce_keeps_the_submission_servers_reply_with_its_queue_id_beside_the_bounce(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    config = config_for(seed_user=FULL_USER)
    result = check(watchdog_env, config)
    assert result["outcome"] == "bounced", result
    for shown in (result, history(watchdog_env, config)[-1]):
        assert shown["smtp_reply"]["code"] == 250, shown
        assert QUEUED.match(shown["smtp_reply"]["text"]), shown["smtp_reply"]
        # The bounce's own status and words are kept too.
        assert "5.2.2" in json.dumps(shown)
        assert "Quota exceeded" in json.dumps(shown)


def test_a_bounce_with_an_x_postfix_diagnostic_gets_no_invented_smtp_code(
    servers: PostfixServers, watchdog_env: dict[str, str], config_for: Any
) -> None:
    # Accepted (signed in, lenient port), then Postfix's error transport bounces it:
    # "Diagnostic-Code: X-Postfix; no delivery outside example.test ...", no reply code.
    config = config_for(
        seed_address=OUTSIDE_ADDRESS, security="none", port=servers.postfix.ports.accept_unlisted
    )
    result = check(watchdog_env, config)
    assert result["outcome"] == "bounced", result
    assert result["smtp_reply"]["code"] == 250, "the server's real reply is the one to keep"
    assert QUEUED.match(result["smtp_reply"]["text"]), result["smtp_reply"]
    text = json.dumps(result)
    assert "no delivery outside example.test" in text
    # 554 and 451 are what a bounce without a code used to be given. (Times and the token are
    # left out: a time like 03:01:55.554 would match.)
    words = json.dumps(_without(result, _TIMES_AND_TOKEN))
    assert not re.search(r"\b(554|451|550)\b", words), words

"""Hostile inputs (issue 11 items 15 and 17): addresses that can never be sent are refused at
config time, and "plain text only on the office network" holds for every spelling of an address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.config import is_local_host, is_this_pc, load_config, numeric_address
from watchdog.core.errors import ConfigError
from watchdog.core.models import Security
from watchdog.setup.console import check_plain, parse_address

CONFIG = """
[sender]
address = "{sender}"
smtp_host = "{host}"
smtp_port = 25
security = "{security}"
username = ""

[seed]
address = "{seed}"
imap_host = "imap.gmail.com"
imap_port = 993
security = "ssl"
username = "canary@gmail.com"
"""


def write(
    tmp_path: Path,
    *,
    sender: str = "frontdesk@smiledental.com",
    seed: str = "canary@gmail.com",
    host: str = "smtp.smiledental.com",
    security: str = "ssl",
) -> Path:
    path = tmp_path / "config.toml"
    text = CONFIG.format(sender=sender, seed=seed, host=host, security=security)
    path.write_text(text, encoding="utf-8")
    return path


# -- item 15: non-ASCII addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "sender", "seed", "hint"),
    [
        ("sender", "rézeption@smiledental.com", "canary@gmail.com", "ask the provider"),
        ("seed", "frontdesk@smiledental.com", "kanarienvogel@müller.de", "xn--mller-kva.de"),
        ("sender", "frontdesk@zahnärzte.de", "canary@gmail.com", "frontdesk@xn--zahnrzte-"),
        ("seed", "frontdesk@smiledental.com", "カナリア@example.jp", "ask the provider"),
    ],
)
def test_a_non_ascii_address_is_refused_at_config_time_with_what_to_do(
    tmp_path: Path, section: str, sender: str, seed: str, hint: str
) -> None:
    path = write(tmp_path, sender=sender, seed=seed)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    bad = sender if section == "sender" else seed
    assert message.startswith(f"{path}: [{section}] address = {bad!r} contains ")
    assert "only ASCII addresses can be used" in message
    assert hint in message


def test_setup_refuses_the_same_addresses_with_the_same_words() -> None:
    """One rule, one place: a typed address setup accepts always loads from the config."""
    for typed in ("rézeption@smiledental.com", "a@zahnärzte.de"):
        with pytest.raises(ValueError, match="only ASCII addresses can be used"):
            parse_address(typed)
    with pytest.raises(ValueError, match="is not an e-mail address"):
        parse_address("frontdesk")
    with pytest.raises(ValueError, match="must be the bare address"):
        parse_address("FrontDesk<frontdesk@smiledental.com>")
    with pytest.raises(ValueError, match="single line"):
        parse_address("a@b.com\u2028Bcc: x@evil.example")  # the config refuses U+2028 too
    assert (
        parse_address("  frontdesk+canary@smiledental.com ") == "frontdesk+canary@smiledental.com"
    )


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        (
            "front\tdesk@smiledental.com",
            "is not an e-mail address like name@example.com (it contains a tab (U+0009))",
        ),
        (
            "front desk@smiledental.com",
            "is not an e-mail address like name@example.com (it contains a space)",
        ),
        (
            "frontdesk@smile\u2028dental.com",
            "must be a single line without control characters (found U+2028)",
        ),
        (
            "frontdesk@smiledental.com\u2029x",
            "must be a single line without control characters (found U+2029)",
        ),
    ],
)
def test_a_tab_or_a_line_separator_in_an_address_gets_the_same_clear_words_from_setup_and_config(
    tmp_path: Path, typed: str, words: str
) -> None:
    """Before: setup said only "must be a single line" where the config named U+2028."""
    with pytest.raises(ValueError) as at_the_prompt:
        parse_address(typed)
    assert str(at_the_prompt.value) == f"{typed!r} {words}"
    with pytest.raises(ConfigError) as in_the_config:
        load_config(write(tmp_path, sender=typed.replace("\t", "\\t")))
    assert str(in_the_config.value).endswith(f"[sender] address = {typed!r} {words}")


# -- item 17: every spelling of an address ------------------------------------------------------

SPELLINGS = [
    # (spelling, the address it connects to, on the office network or this PC)
    ("127.0.0.1", "127.0.0.1", True),
    ("127.1", "127.0.0.1", True),
    ("2130706433", "127.0.0.1", True),
    ("0x7f000001", "127.0.0.1", True),
    ("0177.0.0.1", "127.0.0.1", True),
    ("0x7f.1", "127.0.0.1", True),
    ("::1", "::1", True),
    ("[::1]", "::1", True),
    ("::ffff:127.0.0.1", "127.0.0.1", True),
    ("192.168.1.20", "192.168.1.20", True),
    ("3232235796", "192.168.1.20", True),
    ("0xc0a80114", "192.168.1.20", True),
    ("fe80::1", "fe80::1", True),
    ("134744072", "8.8.8.8", False),  # dotless decimal: 8.8.8.8, not an office host name
    ("0x08080808", "8.8.8.8", False),
    ("010.010.010.010", "8.8.8.8", False),  # octal
    ("8.8.2056", "8.8.8.8", False),
    ("::ffff:8.8.8.8", "8.8.8.8", False),
    ("[::ffff:8.8.8.8]", "8.8.8.8", False),
    ("2001:4860:4860::8888", "2001:4860:4860::8888", False),
]


@pytest.mark.parametrize(("spelling", "address", "local"), SPELLINGS)
def test_a_numeric_host_is_judged_by_the_address_it_connects_to(
    spelling: str, address: str, local: bool
) -> None:
    assert str(numeric_address(spelling)) == address
    assert is_local_host(spelling) is local


@pytest.mark.parametrize(
    "spelling",
    ["99999999999", "4294967296", "192.168.1.1.", "1.2.3.4.5", "08.0.0.1", "0x"],
)
def test_a_numeric_looking_host_the_resolver_would_not_read_as_an_address_is_not_local(
    spelling: str,
) -> None:
    # Such a spelling would go to DNS, which may answer with any address at all.
    assert numeric_address(spelling) is None
    assert not is_local_host(spelling)


@pytest.mark.parametrize(
    ("name", "local"),
    [
        ("localhost", True),
        ("mailserver", True),
        ("relay.office.lan", True),
        ("nas.local", True),
        ("smtp.gmail.com", False),
        ("1password.com", False),
    ],
)
def test_names_are_judged_by_their_form(name: str, local: bool) -> None:
    assert is_local_host(name) is local


@pytest.mark.parametrize(
    ("spelling", "refused"),
    [("134744072", True), ("0x08080808", True), ("::ffff:8.8.8.8", True), ("2130706433", False)],
)
def test_plain_text_is_refused_for_every_spelling_of_an_internet_address(
    tmp_path: Path, spelling: str, refused: bool
) -> None:
    path = write(tmp_path, host=spelling, security="none")
    if not refused:
        assert load_config(path).sender.smtp_host == spelling
        check_plain(spelling, Security.NONE)  # setup agrees
        return
    with pytest.raises(ConfigError, match=r'\[sender\] security = "none" is only allowed'):
        load_config(path)
    with pytest.raises(ValueError, match="only allowed for a server on this PC"):
        check_plain(spelling, Security.NONE)


@pytest.mark.parametrize(
    ("host", "here"),
    [("127.0.0.1", True), ("2130706433", True), ("[::1]", True), ("192.168.1.2", False)],
)
def test_this_pc_is_recognised_in_every_spelling(host: str, here: bool) -> None:
    assert is_this_pc(host) is here


@pytest.mark.parametrize("typed", ["smtp.example.com", "10.0.0.5", "::1", "mailserver"])
def test_setup_accepts_the_server_names_the_config_accepts(tmp_path: Path, typed: str) -> None:
    from watchdog.setup.console import parse_host

    assert parse_host(typed) == typed
    assert load_config(write(tmp_path, host=typed)).sender.smtp_host == typed


@pytest.mark.parametrize("typed", ["smtp example.com", "smtp.example.com/x", "host:25", "[::1]"])
def test_setup_refuses_the_server_names_the_config_refuses(tmp_path: Path, typed: str) -> None:
    from watchdog.setup.console import parse_host

    with pytest.raises(ValueError, match="must be a server name"):
        parse_host(typed)
    with pytest.raises(ConfigError, match="must be a server name"):
        load_config(write(tmp_path, host=typed))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://2130706433:8080/hook", True),
        ("http://[::1]:8080/hook", True),
        ("http://134744072/hook", False),
        ("http://[::ffff:8.8.8.8]/hook", False),
        ("http://0x08080808/hook", False),
    ],
)
def test_a_plain_http_webhook_is_allowed_only_inside_the_office_in_every_spelling(
    tmp_path: Path, url: str, allowed: bool
) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text() + f'\n[[alerts.webhook]]\nurl = "{url}"\n')
    if allowed:
        assert load_config(path).alerts.webhooks[0].url == url
        return
    with pytest.raises(ConfigError, match="must start with https://"):
        load_config(path)

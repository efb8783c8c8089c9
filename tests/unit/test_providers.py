"""Provider presets and recognising a provider from the server name and the sender's address."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from watchdog.core.models import Security
from watchdog.core.providers import (
    OTHER,
    ImapUserName,
    SignIn,
    all_providers,
    detect_provider,
    get_provider,
    parse_providers,
)

KNOWN = ["gmail", "outlook", "microsoft365", "yahoo", "att", "aol", "comcast", "icloud", "other"]


@pytest.mark.parametrize(
    ("smtp_host", "address", "expected"),
    [
        ("smtp.gmail.com", "frontdesk@gmail.com", "gmail"),
        ("smtp.gmail.com", "frontdesk@smileclinic.com", "gmail"),  # Google Workspace
        ("smtp-mail.outlook.com", "frontdesk@hotmail.com", "outlook"),
        ("smtp-mail.outlook.com", "frontdesk@outlook.com", "outlook"),
        ("smtp.office365.com", "frontdesk@smileclinic.com", "microsoft365"),
        ("smtp.office365.com", "frontdesk@outlook.com", "microsoft365"),  # host beats domain
        ("smileclinic-com.mail.protection.outlook.com", "a@smileclinic.com", "microsoft365"),
        ("smtp.mail.yahoo.com", "frontdesk@yahoo.com", "yahoo"),
        ("smtp.mail.yahoo.com", "frontdesk@sbcglobal.net", "yahoo"),  # host beats domain
        ("smtp.mail.att.net", "frontdesk@sbcglobal.net", "att"),
        ("outbound.att.net", "frontdesk@bellsouth.net", "att"),
        ("smtp.aol.com", "frontdesk@aol.com", "aol"),
        ("smtp.comcast.net", "frontdesk@comcast.net", "comcast"),
        ("smtp.mail.me.com", "frontdesk@icloud.com", "icloud"),
        ("smtp.mail.me.com", "frontdesk@smileclinic.com", "icloud"),  # iCloud custom domain
        ("SMTP.Gmail.COM.", "frontdesk@gmail.com", "gmail"),  # case and root dot ignored
        ("  smtp.gmail.com  ", "x@example.org", "gmail"),
        ("mail.att.net", "frontdesk@example.org", "att"),  # a server in the provider's zone
        ("smtp.smileclinic.com", "frontdesk@smileclinic.com", OTHER),
        ("127.0.0.1", "frontdesk@smileclinic.com", OTHER),
        ("smtp.sendgrid.net", "frontdesk@gmail.com", OTHER),  # an unknown relay sets the limits
        ("imap-mail.outlook.com", "frontdesk@smileclinic.com", "outlook"),  # Outlook.com's zone
        ("", "frontdesk@gmail.com", "gmail"),  # no server yet: the domain proposes presets
        ("", "FrontDesk@Hotmail.co.uk", "outlook"),  # country variant, any case
        ("", "frontdesk@live.com.au", "outlook"),
        ("", "frontdesk@msn.com", "outlook"),
        ("", "frontdesk@att.net", "att"),
        ("", "frontdesk@currently.com", "att"),
        ("", "frontdesk@ameritech.net", "att"),
        ("", "frontdesk@me.com", "icloud"),
        ("", "frontdesk@mac.com", "icloud"),
        ("", "frontdesk@ymail.com", "yahoo"),
        ("", "frontdesk@smileclinic.com", OTHER),
        ("", "not-an-address", OTHER),
        ("", "", OTHER),
    ],
    ids=lambda v: v or "<empty>",
)
def test_the_provider_is_recognised_from_server_first_and_sender_domain_second(
    smtp_host: str, address: str, expected: str
) -> None:
    assert detect_provider(smtp_host, address).name == expected


@pytest.mark.parametrize(
    "provider", [p for p in all_providers() if p.name != OTHER], ids=lambda p: p.name
)
def test_every_listed_domain_and_server_of_a_provider_leads_back_to_it(provider: Any) -> None:
    for domain in provider.domains:
        assert detect_provider("", f"frontdesk@{domain}") is provider, domain
    for host in provider.smtp_hosts:
        assert detect_provider(host, "frontdesk@smileclinic.com") is provider, host


def test_all_providers_lists_the_nine_known_ones_with_other_last() -> None:
    assert [p.name for p in all_providers()] == KNOWN


@pytest.mark.parametrize(
    ("name", "sign_in"),
    [
        ("gmail", SignIn.APP_PASSWORD),
        ("outlook", SignIn.OAUTH2_ONLY),
        ("microsoft365", SignIn.PASSWORD),
        ("yahoo", SignIn.APP_PASSWORD),
        ("att", SignIn.SECURE_MAIL_KEY),
        ("aol", SignIn.APP_PASSWORD),
        ("comcast", SignIn.THIRD_PARTY_ACCESS),
        ("icloud", SignIn.APP_PASSWORD),
    ],
)
def test_each_provider_names_the_kind_of_password_it_needs_and_where_to_get_it(
    name: str, sign_in: SignIn
) -> None:
    provider = get_provider(name)
    assert provider.sign_in is sign_in
    assert provider.sign_in_url.startswith("https://")
    assert provider.sign_in_note.strip()
    assert provider.sending_limits.strip()


@pytest.mark.parametrize(
    "provider", [p for p in all_providers() if p.name != OTHER], ids=lambda p: p.name
)
def test_every_preset_is_encrypted_on_the_port_that_goes_with_its_security(provider: Any) -> None:
    expected_ports = {
        ("smtp", Security.SSL): 465,
        ("smtp", Security.STARTTLS): 587,
        ("imap", Security.SSL): 993,
        ("imap", Security.STARTTLS): 143,
    }
    for kind in ("smtp", "imap"):
        preset = getattr(provider, kind)
        assert preset is not None
        assert preset.port == expected_ports[(kind, preset.security)]
    assert provider.smtp.host == provider.smtp_hosts[0]


def test_the_catch_all_provider_has_no_presets_to_offer() -> None:
    other = get_provider(OTHER)
    assert other.smtp is None
    assert other.imap is None


def test_presets_match_the_documented_servers() -> None:
    icloud = get_provider("icloud").smtp
    assert icloud is not None
    assert (icloud.host, icloud.port, icloud.security) == (
        "smtp.mail.me.com",
        587,
        Security.STARTTLS,
    )
    att = get_provider("att")
    assert att.imap is not None
    assert att.imap.host == "imap.mail.att.net"
    assert get_provider("outlook").imap == get_provider("microsoft365").imap


@pytest.mark.parametrize(
    ("name", "address", "user"),
    [
        ("icloud", "frontdesk@icloud.com", "frontdesk"),
        ("gmail", "frontdesk@gmail.com", "frontdesk@gmail.com"),
        ("att", "frontdesk@sbcglobal.net", "frontdesk@sbcglobal.net"),
    ],
)
def test_the_imap_user_name_follows_the_providers_rule(name: str, address: str, user: str) -> None:
    assert get_provider(name).imap_user(address) == user


def test_only_icloud_signs_in_to_its_mailbox_with_the_part_before_the_at() -> None:
    local = [p.name for p in all_providers() if p.imap_username is ImapUserName.LOCAL_PART]
    assert local == ["icloud"]


def test_a_provider_is_found_by_name_whatever_the_case() -> None:
    assert get_provider(" Gmail ") is get_provider("gmail")


def test_an_unknown_provider_name_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"'hotmial'.*gmail, outlook"):
        get_provider("hotmial")


def test_the_data_file_ships_inside_the_package() -> None:
    data = resources.files("watchdog").joinpath("data", "providers.toml")
    assert data.is_file()
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "data/*" in pyproject["tool"]["setuptools"]["package-data"]["watchdog"]


# --- checking an edited data file ---------------------------------------------------------------


def _valid_doc() -> dict[str, Any]:
    text = resources.files("watchdog").joinpath("data", "providers.toml").read_text()
    return tomllib.loads(text)


def test_the_shipped_data_file_passes_its_own_checks() -> None:
    assert [p.name for p in parse_providers(_valid_doc())] == KNOWN


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["yahoo"]["domains"].append("gmail.com"), r"'gmail.com'.*\[gmail\].*\[yahoo\]"),
        (lambda d: d["gmail"]["smtp"].update(security="none"), r"\[gmail\] smtp security"),
        (lambda d: d["gmail"]["imap"].update(port=99999), r"\[gmail\] imap port"),
        (lambda d: d["aol"].update(sign_in="magic"), r"\[aol\] sign_in = 'magic'"),
        (lambda d: d["aol"].update(imap_username="upper"), r"\[aol\] imap_username"),
        (lambda d: d["aol"].update(colour="blue"), r"\[aol\] has unknown keys: colour"),
        (lambda d: d["aol"].pop("imap"), r"\[aol\] needs both smtp and imap"),
        (lambda d: d["comcast"].update(domains=["Comcast.net"]), r"lower-case DNS name"),
        (lambda d: d.pop("other"), r"last table must be \[other\]"),
        (lambda d: d["aol"].update(oauth="yahoo"), r"\[aol\] oauth = 'yahoo' must be one of"),
    ],
    ids=[
        "domain-twice",
        "plain-text-preset",
        "bad-port",
        "bad-sign-in",
        "bad-user-rule",
        "unknown-key",
        "missing-preset",
        "upper-case-domain",
        "no-fallback",
        "bad-oauth",
    ],
)
def test_a_broken_data_file_is_refused_with_the_table_and_key_named(
    change: Any, message: str
) -> None:
    doc = _valid_doc()
    change(doc)
    with pytest.raises(ValueError, match=message):
        parse_providers(doc, "providers.toml")

"""Which OAuth2 service an account signs in with comes from the provider data, and only from it."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from watchdog.config import load_config
from watchdog.core import providers
from watchdog.core.providers import (
    OAuth,
    Provider,
    all_providers,
    detect_provider,
    get_provider,
    oauth_service_for,
    parse_providers,
)
from watchdog.setup.console import BadInput
from watchdog.setup.oauth import oauth_from_options
from watchdog.setup.options import SetupOptions


def _hosts_of(provider: Provider) -> list[str]:
    """Every server name the provider data gives the provider, and one inside each zone."""
    presets = [p.host for p in (provider.smtp, provider.imap) if p is not None]
    zones = [f"mail.{zone}" for zone in provider.host_domains]
    return [*presets, *provider.smtp_hosts, *provider.host_domains, *zones]


@pytest.mark.parametrize("provider", all_providers(), ids=lambda p: p.name)
def test_the_oauth_service_of_every_server_is_the_one_of_the_provider_detected_for_it(
    provider: Provider,
) -> None:
    for host in _hosts_of(provider):
        assert oauth_service_for(host) == detect_provider(host, "").oauth_service, host


@pytest.mark.parametrize("provider", all_providers(), ids=lambda p: p.name)
def test_a_named_provider_with_oauth_signs_in_with_its_own_service(provider: Provider) -> None:
    service = oauth_service_for("smtp.smileclinic.example", provider.name)
    assert service == provider.oauth_service
    assert service in ("", "google", "microsoft")


@pytest.mark.parametrize(
    ("host", "named", "service"),
    [
        # Every server name the former second table (config._OAUTH_BY_ZONE) knew, still the same.
        ("smtp.gmail.com", "", "google"),
        ("imap.gmail.com", "", "google"),
        ("imap.googlemail.com", "", "google"),
        ("gmail.com", "", "google"),
        ("smtp-mail.outlook.com", "", "microsoft"),
        ("imap-mail.outlook.com", "", "microsoft"),
        ("outlook.office365.com", "", "microsoft"),
        ("smtp.office365.com", "", "microsoft"),
        ("smtp.live.com", "", "microsoft"),
        ("pop3.live.com", "", "microsoft"),
        ("smtp.hotmail.com", "", "microsoft"),
        ("Outlook.Office365.com.", "", "microsoft"),  # case and root dot ignored
        # A named provider with OAuth2 decides; one without leaves it to the server.
        ("mail.smileclinic.example", "gmail", "google"),
        ("mail.smileclinic.example", "outlook", "microsoft"),
        ("mail.smileclinic.example", "microsoft365", "microsoft"),
        ("smtp.office365.com", "other", "microsoft"),
        # Nobody to ask: the config must say oauth_provider.
        ("mail.smileclinic.example", "", ""),
        ("127.0.0.1", "", ""),
        ("", "", ""),
        ("smtp.mail.yahoo.com", "", ""),
        ("smtp.mail.me.com", "", ""),
    ],
)
def test_the_oauth_service_follows_the_server_or_the_named_provider(
    host: str, named: str, service: str
) -> None:
    assert oauth_service_for(host, named) == service


def test_yahoo_aol_and_att_offer_oauth_only_to_apps_they_approved() -> None:
    approved_only = {p.name for p in all_providers() if p.oauth is OAuth.APPROVED_APPS_ONLY}
    assert approved_only == {"yahoo", "aol", "att"}
    assert all(get_provider(name).oauth_service == "" for name in approved_only)


def _config(tmp_path: Path, smtp_host: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""\
[sender]
address = "frontdesk@smileclinic.example"
smtp_host = "{smtp_host}"
smtp_port = 587
security = "starttls"
username = "frontdesk@smileclinic.example"
auth = "oauth2"
oauth_client_id = "app-1"

[seed]
address = "canary@example.org"
imap_host = "imap.example.org"
imap_port = 993
username = "canary@example.org"
""",
        encoding="utf-8",
    )
    return path


def test_the_config_and_the_provider_data_cannot_disagree_on_the_sign_in_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source: a server added to the provider data changes the config's OAuth2 default.

    A second host table (as config.py had) would not follow the edit and load would refuse the
    config for a missing oauth_provider.
    """
    relay = "relay.smileclinic-mail.example"
    text = resources.files("watchdog").joinpath("data", "providers.toml").read_text()
    doc: dict[str, Any] = tomllib.loads(text)
    doc["microsoft365"]["smtp_hosts"].append(relay)
    monkeypatch.setattr(providers, "_catalogue", lambda: providers._index(parse_providers(doc)))

    config = load_config(_config(tmp_path, relay))

    assert detect_provider(relay, "").name == "microsoft365"
    assert config.sender.oauth is not None
    assert config.sender.oauth.provider == "microsoft"


@pytest.mark.parametrize("name", ["yahoo", "aol", "att"])
def test_setup_refuses_oauth2_for_a_provider_that_offers_it_only_to_approved_apps(
    name: str,
) -> None:
    provider = get_provider(name)
    assert provider.smtp is not None
    options = SetupOptions(sender_auth="oauth2")
    with pytest.raises(BadInput) as caught:
        oauth_from_options("sender", options, provider, provider.smtp.host)
    assert "offers OAuth2 only to apps it approved one by one" in str(caught.value)


def test_setup_takes_the_sign_in_service_from_the_provider_data() -> None:
    provider = get_provider("microsoft365")
    options = SetupOptions(sender_auth="oauth2", sender_oauth_client_id="app-1")
    oauth = oauth_from_options("sender", options, provider, "smtp.office365.com")
    assert oauth is not None and oauth.provider == provider.oauth_service == "microsoft"

"""Shared fixtures: real loopback mail servers, an isolated product environment, a config writer.

Fixtures:
- ``mail_servers`` (session): CA + Dovecot + submission server, started once.
- ``servers`` (function): the same object, reset to ``deliver`` with an empty seed mailbox.
- ``watchdog_env`` (function): XDG folders, null keyring and passwords for the product.
- ``write_config`` (function): the :func:`tests.servers.write_config` function itself.

Tests that use ``servers``/``mail_servers`` get the ``servers`` marker. Without a ``dovecot``
binary they are skipped with the reason, except under ``CI=true``, where they fail: CI must
never pass by skipping the mail path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Make ``tests.servers`` importable the same way here, in test modules, in benchmarks and in a
# demo (``python -m`` from the repository root), whatever pytest's import mode puts on sys.path.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.servers import (  # noqa: E402
    SEED_PASSWORD,
    SENDER_PASSWORD,
    MailServers,
    find_dovecot,
    start_mail_servers,
)
from tests.servers import write_config as _write_config  # noqa: E402

_SERVER_FIXTURES = frozenset({"mail_servers", "servers"})
_NO_DOVECOT = (
    "the dovecot binary is not installed (apt-get install dovecot-imapd dovecot-lmtpd, "
    "or run scripts/test.sh, which installs it)"
)


def in_ci() -> bool:
    """Whether we run in CI (``CI=true``, as GitHub Actions and most CI systems set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    """Silence aiosmtpd's "Requiring AUTH while not requiring TLS" on the implicit-TLS listener.

    aiosmtpd does not count implicit TLS as TLS (its issues #274, #281), so that listener needs
    ``auth_require_tls=False`` and aiosmtpd warns on every connection, though it *is* TLS.
    """
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark server-using tests; skip them without Dovecot, but only outside CI."""
    dovecot_missing = find_dovecot() is None
    for item in items:
        if _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
        if dovecot_missing and not in_ci() and item.get_closest_marker("servers"):
            item.add_marker(pytest.mark.skip(reason=_NO_DOVECOT))


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """The loopback servers for the whole session (Dovecot starts in about 25 ms)."""
    if find_dovecot() is None:
        pytest.fail(f"CI=true and {_NO_DOVECOT}", pytrace=False)
    started = start_mail_servers()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def servers(mail_servers: MailServers) -> Iterator[MailServers]:
    """The servers, in ``deliver`` mode with an empty seed mailbox and no recorded messages.

    After the test, fails if a delivery into Dovecot broke: that is a broken test setup and
    would otherwise look like the very "mail never arrived" the product reports.
    """
    mail_servers.reset()
    yield mail_servers
    errors = mail_servers.smtp.errors
    if errors:
        pytest.fail("the test SMTP server could not deliver into Dovecot:\n" + "\n".join(errors))


@pytest.fixture
def watchdog_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the product at temporary folders, a null keyring and the test passwords.

    Sets the variables in this process and returns them, so a subprocess test can pass
    ``env={**os.environ, **watchdog_env}``. ``WATCHDOG_CONFIG`` is removed so a developer's
    own setting cannot leak in.
    """
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "WATCHDOG_SENDER_PASSWORD": SENDER_PASSWORD,
        "WATCHDOG_SEED_PASSWORD": SEED_PASSWORD,
    }
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        Path(env[name]).mkdir()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WATCHDOG_CONFIG", raising=False)
    return env


@pytest.fixture
def write_config() -> Callable[..., Path]:
    """``write_config(tmp_path, servers, *, smtp_security=..., imap_security=..., ...)``.

    See :func:`tests.servers.write_config` for the arguments.
    """
    return _write_config

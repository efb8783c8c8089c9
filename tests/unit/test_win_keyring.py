"""keyring's Windows backend lets Win32 errors through as ``pywintypes.error`` (not a
KeyringError): the token store turns them into the same plain SecretError, recognised by class
name and module so that pywin32 is never imported (it does not exist here)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError

from watchdog.core.errors import SecretError
from watchdog.signin.credentials import is_keyring_failure
from watchdog.signin.oauth import TokenStore


def pywintypes_error(module: str) -> type[Exception]:
    """A class like pywin32-ctypes' (or pywin32's) ``pywintypes.error``."""

    def __init__(self: Exception, winerror: int, funcname: str, strerror: str) -> None:
        Exception.__init__(self, winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror  # type: ignore[attr-defined]

    return type("error", (Exception,), {"__module__": module, "__init__": __init__})


NO_LOGON_SESSION = (1312, "CredRead", "A specified logon session does not exist.")


class FailingCredentialManager(KeyringBackend):
    """Credential Manager in a session without logon credentials (a scheduled task)."""

    priority = 1

    def __init__(self, error: Exception) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


@pytest.fixture
def install() -> Iterator[object]:
    previous = keyring.get_keyring()

    def install(error: Exception) -> None:
        keyring.set_keyring(FailingCredentialManager(error))

    yield install
    keyring.set_keyring(previous)


@pytest.mark.parametrize("module", ["win32ctypes.pywin32.pywintypes", "pywintypes"])
def test_a_windows_keyring_error_becomes_a_plain_secret_error_naming_the_windows_error(
    module: str, install: object
) -> None:
    install(pywintypes_error(module)(*NO_LOGON_SESSION))  # type: ignore[operator]
    store = TokenStore("sender", "frontdesk@outlook.com")
    for action in (store.load, lambda: store.save("record")):
        with pytest.raises(SecretError) as raised:
            action()
        message = str(raised.value)
        assert "The system keyring could not be" in message
        assert "Windows error 1312: A specified logon session does not exist." in message


def test_a_keyring_error_is_still_a_plain_secret_error(install: object) -> None:
    install(KeyringError("locked"))  # type: ignore[operator]
    with pytest.raises(SecretError, match=r"could not be read .*KeyringError"):
        TokenStore("seed", "canary@gmail.com").load()


def test_any_other_error_is_not_taken_for_a_keyring_failure(install: object) -> None:
    install(ValueError("a bug"))  # type: ignore[operator]
    with pytest.raises(ValueError, match="a bug"):
        TokenStore("seed", "canary@gmail.com").load()
    assert not is_keyring_failure(type("error", (Exception,), {"__module__": "socket"})())

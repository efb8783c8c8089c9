"""A keyring backend that keeps passwords in a JSON file: for tests only, never shipped.

Select it in a subprocess with ``PYTHON_KEYRING_BACKEND=tests.support.file_keyring.FileKeyring``
and ``WATCHDOG_TEST_KEYRING_FILE=<path>`` (see :func:`tests.support.file_keyring_env`). It stores
passwords in plain text on purpose, so a test can read what was stored; that is exactly why it
lives under ``tests/`` and why the product refuses plain-file keyrings such as ``keyrings.alt``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import InitError, PasswordDeleteError

KEYRING_FILE_ENV = "WATCHDOG_TEST_KEYRING_FILE"


class FileKeyring(KeyringBackend):
    """Passwords in ``$WATCHDOG_TEST_KEYRING_FILE`` as ``{service: {username: password}}``."""

    priority = 1  # above the fail backend, below nothing that matters: chosen by env var

    def __init__(self) -> None:
        # keyring 25's KeyringBackend.__init__ has no annotations, so mypy calls it untyped.
        super().__init__()  # type: ignore[no-untyped-call]

    @property
    def path(self) -> Path:
        value = os.environ.get(KEYRING_FILE_ENV)
        if not value:
            raise InitError(f"{KEYRING_FILE_ENV} is not set: the test file keyring has no file")
        return Path(value)

    def _load(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        data: dict[str, dict[str, str]] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        # Write then rename, so a test reading the file never sees half of it.
        temp = self.path.with_name(self.path.name + ".tmp")
        temp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        temp.replace(self.path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(f"no password for {username!r} in {service!r}")
        del data[service][username]
        self._save(data)

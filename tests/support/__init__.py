"""Helpers for tests only; nothing here is shipped (the package is ``watchdog*`` only).

:func:`file_keyring_env` gives a subprocess a keyring it can really write to: the JSON-file
backend :class:`tests.support.file_keyring.FileKeyring`, chosen through ``PYTHON_KEYRING_BACKEND``.
Headless test machines have no Secret Service, and the null keyring of ``watchdog_env`` forgets
everything, so without this a test could not see where setup put a password.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The repository root: ``tests`` must be importable in the subprocess for keyring to load the
#: backend by its dotted name.
REPO_ROOT = Path(__file__).resolve().parents[2]

FILE_KEYRING = "tests.support.file_keyring.FileKeyring"
KEYRING_FILE_ENV = "WATCHDOG_TEST_KEYRING_FILE"


def file_keyring_env(path: Path) -> dict[str, str]:
    """Environment variables that make a subprocess use the file keyring at ``path``."""
    return {
        "PYTHON_KEYRING_BACKEND": FILE_KEYRING,
        KEYRING_FILE_ENV: str(path),
        "PYTHONPATH": str(REPO_ROOT),
    }


def read_keyring(path: Path) -> dict[str, dict[str, str]]:
    """What the file keyring at ``path`` holds: service -> user -> password ({} if none yet)."""
    if not path.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data

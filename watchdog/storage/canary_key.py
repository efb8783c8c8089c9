"""The local key canary tokens are signed with: one file, readable by this user only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_key(path: Path) -> bytes:
    """The local signing key, created on first use, readable by this user only."""
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        path.unlink()  # truncated by a crash or a full disk: canaries in flight can't verify anyway
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    # O_EXCL + 0600: never readable by other users, and two processes can't both create it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key

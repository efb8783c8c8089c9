"""The rotating log file, readable by this user only.

The log names the practice's addresses and servers and, at ``-vv``, every step of a sign-in, so it
is created 0600 like the history and the config (Python's own handler leaves it to the umask,
usually 0644). Rotation renames files, which keeps their mode, and opens a new one here.
"""

from __future__ import annotations

import contextlib
import io
import logging.handlers
import os


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A :class:`~logging.handlers.RotatingFileHandler` whose files are mode 0600."""

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        if hasattr(os, "fchmod"):
            # A file left by an older version at 0644 is tightened too.
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

"""The one table of exit codes every ``watchdog`` command ends with (listed in docs/running.md).

Why one table: scripts, schedulers and the support person read these codes, so a code must mean
the same for every command. Each command picks the member whose meaning fits its own words (for
``setup``, "a live test failed" is :attr:`ExitStatus.FAILED`; for ``autostart``, "this system is
not supported" is :attr:`ExitStatus.CONFIG`): the numbers never differ between commands.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus"]


class ExitStatus(IntEnum):
    """What a command's exit code says; an ``int``, so ``sys.exit`` and JSON take it as is."""

    #: Done: delivered, everything OK (``doctor``: OK or WARN only), or it already was so.
    OK = 0
    #: It worked, but not well: the canary was late or in junk; for ``status``: unconfirmed,
    #: a canary pending long past its deadline.
    DEGRADED = 1
    #: It failed: the canary was lost, refused or not sent, a server or sign-in test failed, a
    #: file could not be written, or another watchdog already runs.
    FAILED = 2
    #: Nothing was tried: the configuration, an option or input, or this operating system needs
    #: the support person first (the message names the file, key or option and what is allowed).
    CONFIG = 3
    #: Stopped with Ctrl-C (or, in set-up, the end of input); the conventional 128 + SIGINT.
    INTERRUPTED = 130

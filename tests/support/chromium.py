"""Headless Chromium for the page tests: where it is, and the flags every run uses."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import in_ci

#: The flags from the product owner's issue: no network, no first-run work, no profile sync.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_NO_CHROMIUM = "Chromium is not installed (apt-get install chromium, or run scripts/test.sh)"


def chromium_path() -> str:
    """The browser's program; the test is skipped without one, except under ``CI=true``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if in_ci():
        pytest.fail(f"{_NO_CHROMIUM}; under CI=true the browser tests must run")
    pytest.skip(_NO_CHROMIUM)

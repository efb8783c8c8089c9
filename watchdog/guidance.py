"""What to do about a diagnosis, for a given provider. Pure: the texts live in ``data/fixes.toml``.

Support can edit the data file without touching code; a provider line wins over the default line.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from .models import Diagnosis

_DATA_FILE = "fixes.toml"


@cache
def _fixes() -> dict[str, dict[str, str]]:
    text = resources.files("watchdog").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    table: dict[str, dict[str, str]] = {}
    for name, lines in raw.items():
        Diagnosis(name)  # a typo in the data file fails loudly, in the tests
        if not isinstance(lines, dict) or not isinstance(lines.get("default"), str):
            raise ValueError(f'{_DATA_FILE}: [{name}] needs a default = "..." line')
        table[name] = {str(k): str(v) for k, v in lines.items()}
    return table


def short_fix(provider: str, diagnosis: Diagnosis) -> str:
    """The fix in one or two sentences: the provider's own line, else the default."""
    lines = _fixes().get(diagnosis.value)
    if lines is None:
        return _fixes()["unknown"]["default"]
    return lines.get(provider, lines["default"])

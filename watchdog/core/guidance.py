"""What to do about a diagnosis, for a given provider. Pure: the texts live in package data.

Two depths of advice, both editable by support without touching code:

- :func:`short_fix`: one or two sentences from ``data/fixes.toml``, for ``watchdog check`` output.
- :func:`guide_for`: a step-by-step :class:`Guide` from ``data/guides/<diagnosis>.toml``, for the
  page the front desk opens (rendered by :mod:`watchdog.pages.guide`).

In both, a provider's own text wins over the default. The guide files are checked as a whole the
first time one is needed, so a typo fails loudly with the file, table and key, in the unit tests
rather than in front of a patient.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from watchdog.core import tables
from watchdog.core.classifier import describe
from watchdog.core.models import Diagnosis
from watchdog.core.providers import all_providers, get_provider
from watchdog.core.tables import DataFileError

_DATA_FILE = "fixes.toml"


def parse_fixes(text: str, source: str = _DATA_FILE) -> dict[Diagnosis, dict[str, str]]:
    """Parse and check a fixes.toml document: diagnosis -> {provider or "default": text}.

    Every diagnosis needs a table with a ``default`` of its own, and only diagnoses and known
    providers may be named. A missing one is an error naming it (DataFileError), never a silent
    fall back to the generic "contact the provider" fix: that would send the front desk to the
    provider about a problem of Watchdog's own set-up.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataFileError(f"{source}: not valid TOML: {e}") from e
    spec = {"default": tables.text(), **{p.name: tables.text().optional() for p in all_providers()}}
    table: dict[Diagnosis, dict[str, str]] = {}
    for name, lines in raw.items():
        try:
            diagnosis = Diagnosis(name)
        except ValueError:
            raise DataFileError(f"{source}: [{name}] is not a diagnosis") from None
        checked = tables.read_table(lines, spec, f"{source}: [{name}]")
        table[diagnosis] = {key: text for key, text in checked.items() if text is not None}
    missing = [d.value for d in Diagnosis if d not in table]
    if missing:
        raise DataFileError(f"{source}: no fix for {', '.join(missing)} (add a [table] for each)")
    return table


@cache
def _fixes() -> dict[Diagnosis, dict[str, str]]:
    text = resources.files("watchdog").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return parse_fixes(text)


def short_fix(provider: str, diagnosis: Diagnosis) -> str:
    """The fix in one or two sentences: the provider's own line, else the default."""
    lines = _fixes()[diagnosis]
    return lines.get(provider, lines["default"])


# --- step-by-step guides ------------------------------------------------------------------------

#: The folder under ``watchdog/data`` that holds one TOML file per diagnosis.
GUIDES_DIR = "guides"
#: The file of shared phrases; the leading underscore keeps it apart from the diagnoses.
COMMON_FILE = "_common.toml"
#: The table every guide file must have; provider tables override its keys one by one.
DEFAULT_TABLE = "default"
#: The phrase every ``confirm`` text must use, so "how to check again" is worded in one place.
CHECK_NOW = "check_now"


@dataclass(frozen=True)
class Guide:
    """Everything the front desk needs to fix one diagnosis with one provider.

    Texts may carry light inline markup (``**bold**``, back-ticked commands) and full https
    addresses; :mod:`watchdog.pages.guide` turns those into HTML. Placeholders are already filled.
    """

    provider: str  # the provider's name in providers.toml, e.g. "gmail"
    provider_name: str  # what the staff sees, e.g. "Gmail / Google Workspace"
    diagnosis: Diagnosis
    title: str
    what_happened: str  # one sentence
    steps: tuple[str, ...]
    confirm: str  # how to see that it is fixed (always says how to check now)
    lasting_fix: str  # what to change if it keeps happening
    links: tuple[str, ...]  # every https address in the texts above, in order, once each
    action_needed: bool = True  # False where nothing needs doing right away (ok, delayed, ...)
    call_provider: str = ""  # the provider's own help line for this problem, if it has one
    source: str = ""  # where support edits the text, e.g. "guides/sending_limit.toml [gmail]"


#: A guide data file is wrong (the one data-file error, kept under its old name).
GuideDataError = DataFileError


def guide_for(provider: str, diagnosis: Diagnosis) -> Guide:
    """The guide for ``diagnosis`` with ``provider`` (a providers.toml name, any case).

    Raises ValueError naming the known providers for an unknown name: the name comes from the
    config or from detection, so an unknown one is a bug to surface, not to paper over.
    """
    name = get_provider(provider).name
    return _library().guides[(name, diagnosis)]


def all_guides() -> list[Guide]:
    """Every provider times every diagnosis, in provider display order, then diagnosis order."""
    guides = _library().guides
    return [guides[(p.name, d)] for p in all_providers() for d in Diagnosis]


def phrase(name: str) -> str:
    """A shared phrase from ``guides/_common.toml``, e.g. ``no_support_contact``.

    The page uses it for words that belong to no one diagnosis, so support edits them in the same
    place as the guides.
    """
    try:
        return _library().phrases[name]
    except KeyError:
        raise ValueError(f"{GUIDES_DIR}/{COMMON_FILE}: [phrases] has no {name!r}") from None


#: An address in a text. ``http`` is matched too, only so that the loader can refuse it.
_URL = re.compile(r"https?://[^\s<>\"'`]+")
#: Sentence punctuation that ends a sentence, not an address: "(see https://x.example/a)."
_TRAILING = ".,;:!?)"


def link_spans(text: str) -> list[tuple[int, int, str]]:
    """Where ``text`` holds web addresses: (start, end, address), in order.

    One definition of "a link" for the loader (``Guide.links``) and the page (the ``<a href>``
    it makes), so the page never links to anything the tests did not list.
    """
    spans = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        spans.append((match.start(), match.start() + len(url), url))
    return spans


def parse_guides(files: Mapping[str, str]) -> dict[tuple[str, Diagnosis], Guide]:
    """Build and check every guide from the guide files' texts (file name -> TOML text).

    Every diagnosis needs a file and every file must be a diagnosis; tables must be ``default``
    or a provider; keys must be known; texts may use only known ``{phrases}``; addresses must be
    https. Raises GuideDataError naming ``guides/<file>``, the table and the key, because the
    reader is whoever just edited the file.
    """
    if COMMON_FILE not in files:
        raise GuideDataError(f"{GUIDES_DIR}/{COMMON_FILE} is missing")
    phrases = _parse_phrases(files[COMMON_FILE])
    guides: dict[tuple[str, Diagnosis], Guide] = {}
    found: set[Diagnosis] = set()
    for file_name, text in sorted(files.items()):
        if file_name == COMMON_FILE:
            continue
        source = f"{GUIDES_DIR}/{file_name}"
        diagnosis = _diagnosis_of(file_name, source)
        found.add(diagnosis)
        for guide in _parse_file(diagnosis, _toml(text, source), phrases, source):
            guides[(guide.provider, diagnosis)] = guide
    missing = [d.value for d in Diagnosis if d not in found]
    if missing:
        raise GuideDataError(
            f"{GUIDES_DIR}/: no guide file for {', '.join(missing)} (add <diagnosis>.toml)"
        )
    return guides


# --- internals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Library:
    guides: dict[tuple[str, Diagnosis], Guide]
    phrases: dict[str, str]


@cache
def _library() -> _Library:
    """Read and check the shipped guide files once; they cannot change while the process runs."""
    folder = resources.files("watchdog").joinpath("data", GUIDES_DIR)
    files = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".toml")  # editors' backups are left alone
    }
    return _Library(guides=parse_guides(files), phrases=_parse_phrases(files[COMMON_FILE]))


_TABLE_KEYS = ("title", "what_happened", "steps", "confirm", "lasting_fix", "call_provider")
_REQUIRED = ("title", "steps", "confirm", "lasting_fix")
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
#: Pages that no longer exist but that old advice on the web still sends people to.
_RETIRED_PAGES = ("displayunlockcaptcha",)


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GuideDataError(f"{source}: not valid TOML: {exc}") from None


def _parse_phrases(text: str) -> dict[str, str]:
    source = f"{GUIDES_DIR}/{COMMON_FILE}"
    doc = _toml(text, source)
    unknown = set(doc) - {"phrases"}
    if unknown:
        raise GuideDataError(f"{source}: unknown tables: {', '.join(sorted(unknown))}")
    table = doc.get("phrases")
    if not isinstance(table, dict):
        raise GuideDataError(f"{source}: needs a [phrases] table")
    phrases: dict[str, str] = {}
    for name, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise GuideDataError(f"{source}: [phrases] {name} must be text")
        # One level only: a phrase inside a phrase would make a text hard to read in the file.
        if _PLACEHOLDER.search(value):
            raise GuideDataError(f"{source}: [phrases] {name} must not use {{phrases}} itself")
        phrases[name] = value
    if CHECK_NOW not in phrases:
        raise GuideDataError(f"{source}: [phrases] needs {CHECK_NOW}")
    return phrases


def _diagnosis_of(file_name: str, source: str) -> Diagnosis:
    stem = file_name.removesuffix(".toml")
    try:
        return Diagnosis(stem)
    except ValueError:
        known = ", ".join(d.value for d in Diagnosis)
        raise GuideDataError(
            f"{source}: {stem!r} is not a diagnosis; a guide file is named after one of: {known}"
        ) from None


def _parse_file(
    diagnosis: Diagnosis, doc: dict[str, Any], phrases: Mapping[str, str], source: str
) -> list[Guide]:
    providers = {p.name: p for p in all_providers()}
    action_needed = doc.get("action_needed")
    if not isinstance(action_needed, bool):
        raise GuideDataError(f"{source}: action_needed must be true or false")
    tables: dict[str, dict[str, Any]] = {}
    for name, table in doc.items():
        if name == "action_needed":
            continue
        if name != DEFAULT_TABLE and name not in providers:
            known = ", ".join(providers)
            raise GuideDataError(
                f"{source}: [{name}] is not a provider; use [{DEFAULT_TABLE}] or one of: {known}"
            )
        if not isinstance(table, dict):
            raise GuideDataError(f"{source}: {name} must be a table, written [{name}]")
        tables[name] = _check_table(table, phrases, f"{source}: [{name}]")
    default = tables.get(DEFAULT_TABLE)
    if default is None:
        raise GuideDataError(f"{source}: needs a [{DEFAULT_TABLE}] table")
    for key in _REQUIRED:
        if key not in default:
            raise GuideDataError(f"{source}: [{DEFAULT_TABLE}] needs {key}")
    guides = []
    for provider in providers.values():
        own = provider.name in tables
        merged = default | tables.get(provider.name, {})
        steps: tuple[str, ...] = tuple(merged["steps"])
        texts = {key: str(merged.get(key, "")) for key in _TABLE_KEYS if key != "steps"}
        what_happened = texts["what_happened"] or describe(diagnosis)
        everything = [texts["title"], what_happened, *steps, texts["confirm"]]
        everything += [texts["lasting_fix"], texts["call_provider"]]
        guides.append(
            Guide(
                provider=provider.name,
                provider_name=provider.display_name,
                diagnosis=diagnosis,
                title=texts["title"],
                what_happened=what_happened,
                steps=steps,
                confirm=texts["confirm"],
                lasting_fix=texts["lasting_fix"],
                links=tuple(dict.fromkeys(url for t in everything for _, _, url in link_spans(t))),
                action_needed=action_needed,
                call_provider=texts["call_provider"],
                source=f"{source} [{provider.name if own else DEFAULT_TABLE}]",
            )
        )
    return guides


def _check_table(table: dict[str, Any], phrases: Mapping[str, str], where: str) -> dict[str, Any]:
    """Check one table's keys and values; return it with the phrases filled in."""

    def text_of(key: str) -> tables.Field:
        return tables.Field(lambda value: _text(value, phrases, f"{where} {key}"), "must be text")

    def steps(value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise tables.Refused('must be a list: steps = ["...", "..."]')
        return [_text(v, phrases, f"{where} steps[{i}]") for i, v in enumerate(value)]

    spec = {
        key: (tables.Field(steps, "must be a list") if key == "steps" else text_of(key)).optional()
        for key in _TABLE_KEYS
    }
    checked = tables.read_table(table, spec, where)
    if "confirm" in table and "{" + CHECK_NOW + "}" not in table["confirm"]:
        raise GuideDataError(f"{where} confirm must say how to check again: use {{{CHECK_NOW}}}")
    return {key: value for key, value in checked.items() if key in table}


def _text(value: Any, phrases: Mapping[str, str], where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GuideDataError(f"{where} must be text")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in phrases:
            known = ", ".join("{" + p + "}" for p in phrases)
            raise GuideDataError(f"{where} uses {{{name}}}, which is not a phrase; known: {known}")
        return phrases[name]

    text = _PLACEHOLDER.sub(fill, value.strip())
    for _, _, url in link_spans(text):
        if not url.startswith("https://"):
            raise GuideDataError(f"{where}: {url} must be an https:// address")
    lowered = text.lower()
    for page in _RETIRED_PAGES:
        if page in lowered:
            raise GuideDataError(f"{where} mentions {page}, a page that no longer exists")
    return text

"""The one reader of the tables in the shipped data files (``watchdog/data/*.toml``).

Support edits these files (a provider's host, a reply rule, a notice, a guide), so every reader
checks a table the same way, declared as a spec: one :class:`Field` per allowed key, saying
what it may hold and whether it is required. :func:`read_table` then refuses

- a key the spec does not know (``provider =`` for ``providers =`` would otherwise be ignored
  and silently change what the table means),
- a missing required key,
- a value the field does not allow,

always with one exception type, :class:`DataFileError`, and in the config's words: where
(``providers.toml: [aol]``), the key, the value as written and what is allowed::

    providers.toml: [aol] sign_in = 'magic' must be one of app_password, ..., password

Checks that span several keys or tables (ids used twice, a rule that would match everything)
stay with their reader, which raises the same exception. Pure and small: standard library only,
so ``watchdog check`` pays nothing for it (no schema library is imported).

The config file (``watchdog.config``) is read with the same fields and the same rules: its
tables are specs too, read by :func:`read_table`, and its single values go through
:func:`check_value`. Only the wording differs, because the config's words are the ones a
support technician already knows (``config.toml: [seed] colour is not a known setting``): a
:class:`Voice` says how a refusal is told and raises which exception; :data:`DATA_FILE` is the
data files' voice, the config brings its own.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from watchdog.core.inputs import host_problem, single_line_problem

__all__ = [
    "DATA_FILE",
    "DataFileError",
    "Field",
    "Refused",
    "Voice",
    "boolean",
    "check_value",
    "choice",
    "dns_names",
    "integer",
    "integers",
    "line",
    "line_by",
    "lower_case_host",
    "member",
    "names",
    "positive_number",
    "read_table",
    "regex",
    "server",
    "text",
    "texts",
    "unknown_keys",
]

_E = TypeVar("_E", bound=enum.Enum)


class DataFileError(ValueError):
    """A shipped data file is wrong: the message names the file, table, key, value and rule."""


class Refused(Exception):
    """Raised by a field's ``convert``: ``must`` is what the value should have been.

    ``shows_value=False`` when the words already say what is wrong without repeating the value
    (``is missing; it is required``, ``has '25:00', which is not HH:MM``).
    """

    def __init__(self, must: str, *, shows_value: bool = True) -> None:
        super().__init__(must)
        self.must = must
        self.shows_value = shows_value


@dataclass(frozen=True)
class Field:
    """What one key of a table may hold.

    ``convert`` checks the value as written and returns it as the reader wants it (a compiled
    expression, an enum member, a tuple), raising :class:`Refused` with the words that follow
    ``key = value`` in the message. ``must`` says the same for a missing required key.
    """

    convert: Callable[[Any], Any]
    must: str
    required: bool = True
    default: Any = None

    def optional(self, default: Any = None) -> Field:
        """The same field, allowed to be left out (then ``default``)."""
        return Field(self.convert, self.must, required=False, default=default)


Spec = Mapping[str, Field]


class Voice:
    """How one kind of file tells a refusal, and with which exception.

    The rules (which keys are unknown, which are missing, which values a field refuses) are the
    same for every file; only the words around them differ. This one is the data files' voice
    (:data:`DATA_FILE`): ``providers.toml: [aol] sign_in = 'magic' must be one of ...``, raised
    as :class:`DataFileError`. ``where`` is what the reader passed to :func:`read_table`.
    """

    def error(self, where: str, key: str | None, words: str) -> Exception:
        """The exception for ``words`` about ``key`` (None: the table itself) in ``where``."""
        return DataFileError(f"{where} {key} {words}" if key else f"{where} {words}")

    def not_a_table(self, where: str) -> Exception:
        return self.error(where, None, "must be a table")

    def unknown(self, where: str, unknown: Sequence[str], allowed: Sequence[str]) -> Exception:
        """``unknown``: the keys :func:`unknown_keys` found, in the file's order."""
        return self.error(
            where,
            None,
            f"has unknown keys: {', '.join(sorted(unknown))} (allowed: {', '.join(allowed)})",
        )

    def missing(self, where: str, key: str, field: Field) -> Exception:
        return self.error(where, None, f"needs {key} ({field.must})")

    def refused(self, where: str, key: str, value: object, refused: Refused) -> Exception:
        words = f"= {value!r} {refused.must}" if refused.shows_value else refused.must
        return self.error(where, key, words)


#: The voice of the shipped data files.
DATA_FILE = Voice()


def unknown_keys(raw: Mapping[str, object], allowed: Collection[str]) -> list[str]:
    """The keys of ``raw`` that ``allowed`` does not hold, in the file's order: the one rule.

    Why every reader refuses them: ``provider =`` for ``providers =``, or ``deadline =`` for
    ``deadline_minutes =``, would otherwise be ignored and silently change what the file means.
    """
    return [key for key in raw if key not in allowed]


def check_value(value: object, field: Field, where: str, key: str, voice: Voice = DATA_FILE) -> Any:
    """``value`` converted by ``field``; a refusal told by ``voice`` about ``key`` in ``where``.

    For a single value read outside :func:`read_table` (a key whose table has cross-key rules).
    """
    try:
        return field.convert(value)
    except Refused as refused:
        raise voice.refused(where, key, value, refused) from None


def read_table(raw: object, spec: Spec, where: str, voice: Voice = DATA_FILE) -> dict[str, Any]:
    """``raw`` checked against ``spec``: every key of the spec, converted (or its default).

    ``where`` names the file and the table (``fixes.toml: [ok]``); every refusal starts with it.
    Keys are checked in the spec's order, so the spec also says which refusal comes first.
    """
    if not isinstance(raw, dict):
        raise voice.not_a_table(where)
    unknown = unknown_keys(raw, spec)
    if unknown:
        raise voice.unknown(where, unknown, list(spec))
    checked: dict[str, Any] = {}
    for key, field in spec.items():
        if key not in raw:
            if field.required:
                raise voice.missing(where, key, field)
            checked[key] = field.default
            continue
        checked[key] = check_value(raw[key], field, where, key, voice)
    return checked


# --- fields -------------------------------------------------------------------------------------


def text(*, allow_empty: bool = False, must: str = "must be text") -> Field:
    """A string; blank only when ``allow_empty``."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise Refused(must)
        return value

    return Field(convert, must)


def line(*, required: bool = False, must: str = "must be text in quotes") -> Field:
    """One line of text, without the spaces around it (the config's text values).

    A control character is refused (:func:`~watchdog.core.inputs.single_line_problem`): these
    values end up in mail headers, protocol commands and log lines, where a line break could add
    a header or a command. ``required``: an empty value counts as missing.
    """

    def convert(value: Any) -> str:
        if required and value == "":
            raise Refused("is missing; it is required", shows_value=False)
        if not isinstance(value, str):
            raise Refused(must)
        problem = single_line_problem(value)
        if problem is not None:
            raise Refused(problem)
        return value.strip()

    return Field(convert, must)


def line_by(rule: Callable[[str], str | None], must: str) -> Field:
    """A required :func:`line` that ``rule`` accepts: one of the ``*_problem`` rules of
    :mod:`watchdog.core.inputs` (an address, a server name), the rules set-up's prompts use.

    Why the value is shown stripped: it is the value the rule judged (and the one kept).
    """
    first = line(required=True)

    def convert(value: Any) -> str:
        text_value: str = first.convert(value)
        problem = rule(text_value)
        if problem is not None:
            raise Refused(f"= {text_value!r} {problem}", shows_value=False)
        return text_value

    return Field(convert, must)


def positive_number(unit: str = "minutes") -> Field:
    """A number of ``unit`` above 0, fractions allowed, as a float.

    Why finite: TOML allows ``inf`` and ``nan``; inf minutes crashed the loop's timer.
    """
    must = f"must be a number of {unit} above 0 (fractions allowed, e.g. 0.5)"

    def convert(value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not value > 0
        ):
            raise Refused(must)
        return float(value)

    return Field(convert, must)


def texts(*, non_empty: bool = True, must: str = "must be a non-empty list of strings") -> Field:
    """A list of non-empty strings (non-empty itself unless told), as a tuple."""

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or (non_empty and not value):
            raise Refused(must)
        if not all(isinstance(v, str) and v for v in value):
            raise Refused(must)
        return tuple(value)

    return Field(convert, must)


def names(known: Collection[str], what: str = "providers", *, non_empty: bool = True) -> Field:
    """A list of names (non-empty unless told), each one of ``known`` (e.g. the providers)."""
    must = f"must list {what} from: {', '.join(known)}"

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Refused(must)
        if non_empty and not value:
            raise Refused(must)
        unknown = [v for v in value if v not in known]
        if unknown:
            raise Refused(f"names unknown {what} {', '.join(unknown)}; {must}")
        return tuple(value)

    return Field(convert, must)


def dns_names() -> Field:
    """A list of lower-case DNS names (possibly empty), as a tuple."""
    must = "must be a list of lower-case DNS names"

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise Refused(must)
        for v in value:
            if v != _dns_form(v) or "@" in v or " " in v:
                raise Refused(f"holds {v!r}: each must be a lower-case DNS name")
        return tuple(value)

    return Field(convert, must)


def choice(allowed: Collection[str], *, must: str | None = None) -> Field:
    """One of ``allowed`` strings."""
    words = must or f"must be one of {', '.join(allowed)}"

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Refused(words)
        return value

    return Field(convert, words)


def member(kind: type[_E]) -> Field:
    """The member of the enum ``kind`` whose value is written (a diagnosis, a sign-in kind)."""
    by_value = {m.value: m for m in kind}
    must = f"must be one of {', '.join(str(v) for v in by_value)}"

    def convert(value: Any) -> _E:
        if isinstance(value, str) and value in by_value:
            return by_value[value]
        raise Refused(must)

    return Field(convert, must)


def regex(flags: int = re.IGNORECASE) -> Field:
    """A regular expression that compiles, compiled with ``flags``."""
    must = "must be a regular expression"

    def convert(value: Any) -> re.Pattern[str]:
        if not isinstance(value, str) or not value:
            raise Refused(must)
        try:
            return re.compile(value, flags)
        except re.error as e:
            raise Refused(f"is not a valid regular expression: {e}") from None

    return Field(convert, must)


def integer(low: int, high: int | None = None, *, must: str | None = None) -> Field:
    """A whole number from ``low`` (to ``high``); ``true`` is not a number here."""
    words = must or (
        f"must be a whole number from {low} to {high}"
        if high is not None
        else f"must be a whole number, {low} or more"
    )

    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Refused(words)
        if value < low or (high is not None and value > high):
            raise Refused(words)
        return value

    return Field(convert, words)


def integers(allowed: Callable[[int], bool], must: str) -> Field:
    """A list of whole numbers (possibly empty), each ``allowed``, as a frozenset."""

    def convert(value: Any) -> frozenset[int]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and allowed(v) for v in value
        ):
            raise Refused(must)
        return frozenset(value)

    return Field(convert, must)


def boolean() -> Field:
    """``true`` or ``false``."""
    must = "must be true or false"

    def convert(value: Any) -> bool:
        if not isinstance(value, bool):
            raise Refused(must)
        return value

    return Field(convert, must)


def server(where: str, spec: Spec) -> Field:
    """An inline table ``{ host = ..., ... }`` read with ``spec``; ``where`` names it."""
    must = f"must be {{ {', '.join(f'{k} = ...' for k in spec)} }}"

    def convert(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Refused(must)
        return read_table(value, spec, where)

    return Field(convert, must)


def lower_case_host() -> Field:
    """A server name as the config accepts it (:func:`~watchdog.core.inputs.host_problem`),
    written in lower case as detection compares it."""
    must = "must be a lower-case server name"

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise Refused(must)
        problem = host_problem(value)
        if problem is not None:
            raise Refused(problem)
        if value != _dns_form(value):
            raise Refused(must)
        return value

    return Field(convert, must)


def _dns_form(name: str) -> str:
    """DNS names compare without case and without a trailing root dot."""
    return name.strip().lower().rstrip(".")

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
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from watchdog.core.inputs import host_problem

__all__ = [
    "DataFileError",
    "Field",
    "Refused",
    "boolean",
    "choice",
    "dns_names",
    "integer",
    "integers",
    "lower_case_host",
    "member",
    "names",
    "read_table",
    "regex",
    "server",
    "text",
    "texts",
]

_E = TypeVar("_E", bound=enum.Enum)


class DataFileError(ValueError):
    """A shipped data file is wrong: the message names the file, table, key, value and rule."""


class Refused(Exception):
    """Raised by a field's ``convert``: ``must`` is what the value should have been."""

    def __init__(self, must: str) -> None:
        super().__init__(must)
        self.must = must


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


def read_table(raw: object, spec: Spec, where: str) -> dict[str, Any]:
    """``raw`` checked against ``spec``: every key of the spec, converted (or its default).

    ``where`` names the file and the table (``fixes.toml: [ok]``); every refusal starts with it.
    """
    if not isinstance(raw, dict):
        raise DataFileError(f"{where} must be a table")
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise DataFileError(
            f"{where} has unknown keys: {', '.join(unknown)} (allowed: {', '.join(spec)})"
        )
    checked: dict[str, Any] = {}
    for key, field in spec.items():
        if key not in raw:
            if field.required:
                raise DataFileError(f"{where} needs {key} ({field.must})")
            checked[key] = field.default
            continue
        value = raw[key]
        try:
            checked[key] = field.convert(value)
        except Refused as refused:
            raise DataFileError(f"{where} {key} = {value!r} {refused.must}") from None
    return checked


# --- fields -------------------------------------------------------------------------------------


def text(*, allow_empty: bool = False, must: str = "must be text") -> Field:
    """A string; blank only when ``allow_empty``."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise Refused(must)
        return value

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

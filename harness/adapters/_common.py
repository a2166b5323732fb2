"""Parsing helpers shared by every adapter: durations, YAML with line numbers, notes, errors.

* :func:`parse_duration` reads Go durations ("250ms", "1.5s", "1m30s", "10us") and plain
  numbers in the caller's unit (the grammar is :mod:`harness.durations`'s).
* :func:`load_yaml_documents` (owned by :mod:`harness.input_errors`) loads every document of
  a YAML (or JSON) file with a :class:`LineMap` from key paths to 1-based line numbers.
* :class:`Value` is the one typed reader of a config: a value with its key path and the
  document's line map, whose reads (``as_int``, ``as_float``, ``as_duration``, ``as_statuses``,
  ``check_fields``, ...) raise :class:`~harness.errors.BadInput` naming file, line and dotted
  field on any mistake.
* :func:`note_default` / :func:`note_quirk` build :class:`~harness.adapters.base.AdapterNote`.
* :func:`bad_input_from_validation` (owned by :mod:`harness.input_errors`) turns a pydantic
  ``ValidationError`` into ``BadInput``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.adapters.base import AdapterNote
from harness.durations import DurationError, go_seconds
from harness.errors import BadInput
from harness.input_errors import KeyPath as KeyPath
from harness.input_errors import LineMap as LineMap
from harness.input_errors import PathKey as PathKey
from harness.input_errors import bad_input_from_validation as bad_input_from_validation
from harness.input_errors import dotted as dotted
from harness.input_errors import fail as fail
from harness.input_errors import load_yaml_documents as load_yaml_documents
from harness.input_errors import load_yaml_mapping as load_yaml_mapping
from harness.input_errors import parse_yaml_documents as parse_yaml_documents
from harness.input_errors import read_text as read_text


def parse_duration(
    text: object,
    *,
    file: str | Path | None,
    field: str,
    line: int | None = None,
    unit_s: float | None = 1.0,
    allow_zero: bool = True,
) -> float:
    """Seconds from a Go-style duration or a plain number in ``unit_s`` seconds
    (:func:`harness.durations.go_seconds`); BadInput naming file, line and field otherwise."""
    try:
        return go_seconds(text, unit_s=unit_s, allow_zero=allow_zero)
    except DurationError as exc:
        fail(str(exc), file=file, field=field, line=line)


def note(kind: str, field: str, text: str, *, source: str | None = None) -> AdapterNote:
    """The one way to build an adapter note: ``kind`` is "default" (a documented default was
    filled in) or "quirk"; ``source`` is the public URL or source file the fact comes from."""
    return AdapterNote(kind=kind, field=field, text=text, source=source)


def note_default(
    field: str, value: object, text: str | None = None, *, source: str | None = None
) -> AdapterNote:
    """A note saying ``field`` was absent and its documented default ``value`` was used."""
    body = f"not set; documented default {value!r} used"
    return note("default", field, f"{body}. {text}" if text else body, source=source)


def note_quirk(field: str, text: str, *, source: str | None = None) -> AdapterNote:
    """A note on a surprising behaviour of the system that the policy models (or cannot)."""
    return note("quirk", field, text, source=source)


@dataclass(frozen=True)
class Value:
    """A config value with its key path inside the document and the document's line map."""

    data: Any
    keys: KeyPath
    file: Path
    lines: LineMap = field(default_factory=LineMap, repr=False)

    @classmethod
    def document(cls, data: Any, file: Path, lines: LineMap | None = None) -> Value:
        """The whole document ``data`` of ``file`` (key path empty)."""
        return cls(data, (), file, lines or LineMap())

    @property
    def path(self) -> str:
        """The dotted field name, e.g. ``spec.retry.perRetry.backOff.baseInterval``."""
        return dotted(self.keys)

    @property
    def line(self) -> int | None:
        """1-based line of this value (or of its nearest known ancestor); None if unknown."""
        return self.lines.line(*self.keys) if self.lines.lines else None

    # --- navigation -------------------------------------------------------------------
    def child_path(self, key: PathKey) -> str:
        return dotted((*self.keys, key))

    def child(self, key: PathKey, data: Any) -> Value:
        return Value(data, (*self.keys, key), self.file, self.lines)

    def has(self, key: str) -> bool:
        """Whether the mapping sets ``key`` (to anything but null)."""
        return self.get(key) is not None

    def get(self, key: str) -> Value | None:
        """The child ``key`` of a mapping, or None if absent or explicitly null."""
        mapping = self.mapping()
        if mapping.get(key) is None:
            return None
        return self.child(key, mapping[key])

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.data, dict):
            raise self.error(f"must be a mapping (got {_type_name(self.data)})")
        return self.data

    def items(self) -> list[tuple[str, Value]]:
        return [(str(k), self.child(str(k), v)) for k, v in self.mapping().items()]

    def elements(self) -> list[Value]:
        if not isinstance(self.data, list):
            raise self.error(f"must be a list (got {_type_name(self.data)})")
        return [self.child(i, item) for i, item in enumerate(self.data)]

    def dig(self, *keys: str) -> Value | None:
        """``get`` along several keys; None as soon as one is absent."""
        node: Value | None = self
        for key in keys:
            if node is None:
                return None
            node = node.get(key)
        return node

    def check_fields(self, allowed: frozenset[str], hints: Mapping[str, str] | None = None) -> None:
        """BadInput on the first key not in ``allowed`` (catches typos such as numRetry).

        The message names the field the user most likely meant: ``hints`` (known mistakes,
        e.g. fields copied from retry guides that the API never had) first, else the closest
        allowed name (:func:`closest_field`).
        """
        for key, child in self.items():
            if key not in allowed:
                hint = unknown_field_hint(key, allowed, hints)
                raise child.error(
                    f"unknown field; {hint}Allowed here: {', '.join(sorted(allowed))}"
                )

    # --- typed reads ------------------------------------------------------------------
    def error(self, reason: str) -> BadInput:
        return BadInput(reason, file=self.file, line=self.line, field=self.path or None)

    def as_int(self, *, minimum: int | None = None, maximum: int | None = None) -> int:
        data = self.data
        if isinstance(data, bool) or not isinstance(data, int):
            raise self.error(f"must be an integer{_bounds(minimum, maximum)} (got {data!r})")
        if (minimum is not None and data < minimum) or (maximum is not None and data > maximum):
            raise self.error(f"must be an integer{_bounds(minimum, maximum)} (got {data})")
        return data

    def as_bool(self) -> bool:
        if not isinstance(self.data, bool):
            raise self.error(f"must be true or false (got {self.data!r})")
        return self.data

    def as_str(self) -> str:
        if not isinstance(self.data, str):
            raise self.error(f"must be a string (got {self.data!r})")
        return self.data

    def as_float(self, *, minimum: float | None = None, maximum: float | None = None) -> float:
        """A finite number (int or float, not bool) within the bounds."""
        data = self.data
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise self.error(f"must be a number (got {data!r})")
        if not math.isfinite(data):
            raise self.error(f"must be finite (got {data!r})")
        if minimum is not None and data < minimum:
            raise self.error(f"must be >= {minimum} (got {data!r})")
        if maximum is not None and data > maximum:
            raise self.error(f"must be <= {maximum} (got {data!r})")
        return float(data)

    def as_duration(self, *, unit_s: float | None = 1.0, allow_zero: bool = True) -> float:
        """Seconds from a Go duration or a plain number in ``unit_s`` seconds
        (:func:`harness.durations.go_seconds`; ``unit_s=None`` requires a unit)."""
        return parse_duration(
            self.data,
            file=self.file,
            field=self.path,
            line=self.line,
            unit_s=unit_s,
            allow_zero=allow_zero,
        )

    def as_statuses(self) -> frozenset[int]:
        """A list of HTTP status codes 100..599 (ints); a bad item is named by its index."""
        out: set[int] = set()
        for item in self.elements():
            code = item.data
            if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
                raise item.error(f"must be an HTTP status code 100..599 (got {code!r})")
            out.add(code)
        return frozenset(out)


def closest_field(key: str, allowed: Iterable[str]) -> str | None:
    """The allowed name closest to ``key`` (case-insensitive difflib match), or None."""
    by_lower = {name.lower(): name for name in allowed}
    match = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_field_hint(
    key: str, allowed: Iterable[str], hints: Mapping[str, str] | None = None
) -> str:
    """ "did you mean 'x'? " (or a known mistake's explanation), or "" when nothing is close."""
    if hints and key in hints:
        hint = hints[key]
        return f"{hint} " if hint.endswith("?") else f"{hint}. "
    close = closest_field(key, allowed)
    return f"did you mean {close!r}? " if close else ""


def _type_name(data: Any) -> str:
    return "nothing" if data is None else type(data).__name__


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""

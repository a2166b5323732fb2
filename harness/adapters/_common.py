"""Parsing helpers shared by every adapter: durations, YAML with line numbers, notes, errors.

* :func:`parse_duration` reads Go durations ("250ms", "1.5s", "1m30s", "10us") and plain
  numbers in the caller's unit (the grammar is :mod:`harness.durations`'s).
* :func:`load_yaml_documents` (owned by :mod:`harness.input_errors`) loads every document of
  a YAML (or JSON) file with a :class:`LineMap` from key paths to 1-based line numbers.
* :class:`FieldReader` pulls typed, validated fields out of one mapping and raises
  :class:`~harness.errors.BadInput` naming file, line and dotted field on any mistake.
* :func:`note_default` / :func:`note_quirk` build :class:`~harness.adapters.base.AdapterNote`.
* :func:`bad_input_from_validation` (owned by :mod:`harness.input_errors`) turns a pydantic
  ``ValidationError`` into ``BadInput``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from harness.adapters.base import AdapterNote
from harness.durations import DurationError, go_seconds
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


def find_documents(
    docs: Sequence[tuple[dict[str, Any], LineMap]],
    *,
    kind: str | None = None,
    api_version_prefix: str | None = None,
    name: str | None = None,
) -> list[tuple[dict[str, Any], LineMap]]:
    """Kubernetes-style documents matching ``kind``, ``apiVersion`` prefix and metadata.name."""
    out = []
    for doc, lines in docs:
        if kind is not None and doc.get("kind") != kind:
            continue
        api = doc.get("apiVersion")
        if api_version_prefix is not None and not (
            isinstance(api, str) and api.startswith(api_version_prefix)
        ):
            continue
        meta = doc.get("metadata")
        if name is not None and not (isinstance(meta, dict) and meta.get("name") == name):
            continue
        out.append((doc, lines))
    return out


def find_document(
    docs: Sequence[tuple[dict[str, Any], LineMap]],
    *,
    file: str | Path,
    kind: str | None = None,
    api_version_prefix: str | None = None,
    name: str | None = None,
) -> tuple[dict[str, Any], LineMap]:
    """The first matching document; BadInput listing the kinds present when there is none."""
    found = find_documents(docs, kind=kind, api_version_prefix=api_version_prefix, name=name)
    if found:
        return found[0]
    present = sorted({str(d.get("kind")) for d, _ in docs if "kind" in d}) or ["none"]
    wanted = " ".join(
        part
        for part in (
            f"kind {kind}" if kind else "",
            f"apiVersion {api_version_prefix}*" if api_version_prefix else "",
            f"named {name}" if name else "",
        )
        if part
    )
    fail(f"no document with {wanted or 'content'} (kinds found: {', '.join(present)})", file=file)


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


_MISSING: Any = object()


@dataclass
class FieldReader:
    """Typed access to one mapping of a config file, with errors naming file, line and field.

    ``prefix`` is the key path of this mapping inside the document (for messages and lines).
    """

    file: str | Path
    data: Mapping[str, Any]
    lines: LineMap = field(default_factory=LineMap)
    prefix: KeyPath = ()

    def path(self, key: PathKey) -> KeyPath:
        return (*self.prefix, key)

    def line(self, key: PathKey | None = None) -> int | None:
        return self.lines.line(*self.prefix) if key is None else self.lines.line(*self.path(key))

    def name(self, key: PathKey) -> str:
        return dotted(self.path(key))

    def fail(self, key: PathKey | None, reason: str) -> NoReturn:
        fail(
            reason,
            file=self.file,
            field=dotted(self.prefix) if key is None else self.name(key),
            line=self.line(key),
        )

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key, default)
        return default if value is None else value

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        """BadInput on the first key not in ``allowed`` (listing the allowed ones)."""
        known = set(allowed)
        for key in self.data:
            if key not in known:
                self.fail(str(key), f"unknown field; allowed: {', '.join(sorted(known))}")

    def sub(self, key: str, *, required: bool = False) -> FieldReader | None:
        """The reader of a nested mapping (None when absent and not required)."""
        if not self.has(key):
            if required:
                self.fail(key, "is required")
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping (got {type(value).__name__})")
        return FieldReader(self.file, value, self.lines, self.path(key))

    def get_int(
        self, key: str, default: Any = _MISSING, *, ge: int | None = None, le: int | None = None
    ) -> Any:
        """An integer (not bool); numeric strings are refused. Returns ``default`` if absent."""
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer (got {value!r})")
        self._bounds(key, value, ge, le)
        return value

    def get_float(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        ge: float | None = None,
        le: float | None = None,
    ) -> Any:
        """A finite number (int or float, not bool). Returns ``default`` if absent."""
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"must be a number (got {value!r})")
        if not math.isfinite(value):
            self.fail(key, f"must be finite (got {value!r})")
        self._bounds(key, value, ge, le)
        return float(value)

    def get_bool(self, key: str, default: Any = _MISSING) -> Any:
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false (got {value!r})")
        return value

    def get_str(self, key: str, default: Any = _MISSING) -> Any:
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.fail(key, f"must be a string (got {value!r})")
        return value

    def get_duration(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        unit_s: float | None = 1.0,
        allow_zero: bool = True,
    ) -> Any:
        """Seconds from a duration field (see :func:`parse_duration`)."""
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        return parse_duration(
            self.data[key],
            file=self.file,
            field=self.name(key),
            line=self.line(key),
            unit_s=unit_s,
            allow_zero=allow_zero,
        )

    def get_list(self, key: str, default: Any = _MISSING) -> Any:
        if not self.has(key):
            if default is _MISSING:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, list):
            self.fail(key, f"must be a list (got {type(value).__name__})")
        return value

    def get_statuses(self, key: str, default: Any = _MISSING) -> Any:
        """A list of HTTP status codes 100..599 (ints) as a frozenset."""
        items = self.get_list(key, default)
        if items is default:
            return default
        out: set[int] = set()
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
                fail(
                    f"must be an HTTP status code 100..599 (got {item!r})",
                    file=self.file,
                    field=dotted((*self.path(key), i)),
                    line=self.lines.line(*self.path(key), i),
                )
            out.add(item)
        return frozenset(out)

    def _bounds(self, key: str, value: float, ge: float | None, le: float | None) -> None:
        if ge is not None and value < ge:
            self.fail(key, f"must be >= {ge} (got {value!r})")
        if le is not None and value > le:
            self.fail(key, f"must be <= {le} (got {value!r})")

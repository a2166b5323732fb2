"""Helpers shared by the gateway/mesh adapters: navigable values with lines, durations, notes.

Private to ``envoy_gateway``, ``httproute``, ``istio``, ``kong``, ``traefik`` (and ``kuberay``
for :func:`github`); built on
:mod:`harness.adapters._common` (file reading, YAML with line maps, Go durations).

A :class:`Value` is one YAML (or TOML) value together with its key path and line map, so every
:class:`~harness.errors.BadInput` names file, line, dotted field and the rule that was broken.
The Gateway API duration (GEP-2257), the Envoy retry-trigger semantics shared by Envoy
Gateway and Istio, "did you mean" hints for fields an API does not have
(:meth:`Value.check_fields`), ``not_judged`` entries for constructs only a run can decide
(:meth:`Notes.unmodelled`) and source citations as URLs (:func:`github`) live here too.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.adapters import _common
from harness.adapters._common import KeyPath, LineMap, PathKey, dotted
from harness.adapters.base import AdapterNote
from harness.durations import DurationError, gateway_seconds
from harness.errors import BadInput
from harness.policy.model import Aspect, Unmodelled


@dataclass(frozen=True)
class Value:
    """A config value with its key path inside the document and the document's line map."""

    data: Any
    keys: KeyPath
    file: Path
    lines: LineMap = field(default_factory=LineMap, repr=False)

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


# --- loading ------------------------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[Value]:
    """Every non-empty document of a (multi-document) YAML file, each a mapping, with lines."""
    return [Value(doc, (), path, lines) for doc, lines in _common.load_yaml_documents(path)]


def load_toml_document(path: Path) -> Value:
    """A TOML file as one :class:`Value` (tomllib keeps no line numbers: lines are None)."""
    text = _common.read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise BadInput(f"not valid TOML: {exc}", file=path, line=line) from None
    return Value(data, (), path)


def documents_of_kind(docs: Sequence[Value], kinds: set[str], api_group: str) -> list[Value]:
    """Kubernetes objects whose ``kind`` is in ``kinds`` and ``apiVersion`` is in ``api_group``."""
    found = []
    for doc in docs:
        kind = doc.data.get("kind")
        api_version = doc.data.get("apiVersion")
        if kind in kinds and isinstance(api_version, str):
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            if group == api_group:
                found.append(doc)
    return found


def kinds_seen(docs: Sequence[Value]) -> str:
    seen = sorted({f"{d.data.get('apiVersion')}/{d.data.get('kind')}" for d in docs})
    return ", ".join(seen) if seen else "none"


# --- durations ----------------------------------------------------------------------------


def go_duration(value: Value, *, allow_zero: bool = True, unit_s: float | None = None) -> float:
    """A Go ``time.ParseDuration`` string (non-negative) in seconds.

    ``unit_s``: plain numbers are accepted in that unit (Traefik reads an integer as seconds).
    """
    return _common.parse_duration(
        value.data,
        file=value.file,
        field=value.path,
        line=value.line,
        unit_s=unit_s,
        allow_zero=allow_zero,
    )


def gateway_duration(value: Value, *, allow_zero: bool = True) -> float:
    """A Gateway API ``Duration`` (GEP-2257) in seconds (see ``harness.durations``)."""
    try:
        return gateway_seconds(value.data, allow_zero=allow_zero)
    except DurationError as exc:
        raise value.error(str(exc)) from None


# --- notes --------------------------------------------------------------------------------


@dataclass
class Notes:
    """Collects :class:`AdapterNote` items in the order they were found."""

    items: list[AdapterNote] = field(default_factory=list)
    not_judged: list[Unmodelled] = field(default_factory=list)

    def default(self, field_: str, text: str, source: str | None = None) -> None:
        self.items.append(_common.note("default", field_, text, source=source))

    def quirk(self, field_: str, text: str, source: str | None = None) -> None:
        self.items.append(_common.note("quirk", field_, text, source=source))

    def unmodelled(
        self,
        value: Value,
        aspects: Iterable[Aspect],
        reason: str,
        source: str | None = None,
        *,
        native: str | None = None,
        field: str | None = None,
    ) -> None:
        """Record a construct the harness cannot evaluate: a ``not_judged`` entry on ``aspects``
        (the oracle reports checks depending on them as not judged) and a note naming it."""
        text = native if native is not None else f"{value.path}: {_short(value.data)}"
        where = f"{value.file}:{value.line}" if value.line is not None else str(value.file)
        chosen = frozenset(aspects)
        self.not_judged.append(
            Unmodelled(aspects=chosen, native=text, reason=reason, location=where)
        )
        affected = ", ".join(sorted(a.value for a in chosen))
        self.quirk(field or value.path, f"NOT JUDGED ({affected}): {reason}", source)

    def __iter__(self) -> Iterator[AdapterNote]:
        return iter(self.items)


def _short(data: Any, limit: int = 120) -> str:
    text = repr(data) if not isinstance(data, str) else data
    return text if len(text) <= limit else text[: limit - 3] + "..."


SELECTION_SRC = "README.md#systems-supported-and-their-known-quirks"
"""Where the harness's own rule (the first candidate is read) is documented, in this repo."""


def first_of(candidates: Sequence[Value], what: str, notes: Notes) -> Value:
    """The first candidate; when there are several, say which one was used."""
    chosen = candidates[0]
    if len(candidates) > 1:
        where = f" (line {chosen.line})" if chosen.line else ""
        notes.default(
            chosen.path or what,
            f"the file holds {len(candidates)} {what}; the first{where} was used. "
            "Put the one under test first, or in a file of its own.",
            SELECTION_SRC,
        )
    return chosen


def status_range(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


# --- sources ------------------------------------------------------------------------------


def github(repo: str, ref: str, path: str, what: str | None = None) -> str:
    """A public source citation: the file's URL in ``repo`` at ``ref`` (commit or tag)."""
    url = f"https://github.com/{repo}/blob/{ref}/{path}"
    return f"{url} ({what})" if what else url


# --- Envoy retry semantics (shared by Envoy Gateway and Istio) ------------------------------

ENVOY_REF = "v1.35.0"
ENVOY_SRC = github(
    "envoyproxy/envoy", ENVOY_REF, "source/common/router/retry_state_impl.cc", "RetryStateImpl"
)
ENVOY_BACKOFF_SRC = github(
    "envoyproxy/envoy",
    ENVOY_REF,
    "source/common/common/backoff_strategy.cc",
    "JitteredExponentialBackOffStrategy",
)
ENVOY_ROUTE_DOCS = (
    "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto"
)
ENVOY_BREAKER_DOCS = (
    "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/circuit_breaker.proto"
)
ENVOY_DEFAULT_BASE_S = 0.025  # runtime upstream.base_retry_backoff_ms
ENVOY_HTTP_TRIGGERS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
    }
)
ENVOY_GRPC_TRIGGERS = frozenset(
    {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}
)
_NO_HTTP1_COUNTERPART = frozenset(
    {"refused-stream", "envoy-ratelimited", "retriable-headers", "http3-post-connect-failure"}
    | ENVOY_GRPC_TRIGGERS
)


@dataclass(frozen=True)
class EnvoyRetryOn:
    """What a set of Envoy ``retry_on`` conditions retries, in canonical terms."""

    statuses: frozenset[int]
    connect_failure: bool
    reset: bool
    per_try_timeout: bool
    unmodelled: tuple[str, ...]


def envoy_retry_on(triggers: Sequence[str], codes: Sequence[int]) -> EnvoyRetryOn:
    """Translate Envoy retry conditions (``retry_state_impl.cc``) to canonical triggers.

    ``5xx``/``gateway-error``/``reset`` retry every upstream reset except overflow, which
    includes connect failures, and a per-try timeout (treated as a local reset).
    ``retriable-status-codes`` retries ``codes``; ``retriable-4xx`` is 409 only.
    """
    statuses: set[int] = set()
    connect = reset = timeout = False
    unmodelled: list[str] = []
    for trigger in triggers:
        match trigger:
            case "5xx":
                statuses |= status_range(500, 599)
                connect = reset = timeout = True
            case "gateway-error":
                statuses |= {502, 503, 504}
                connect = reset = timeout = True
            case "reset":
                connect = reset = timeout = True
            case "reset-before-request" | "connect-failure":
                connect = True
            case "retriable-4xx":
                statuses.add(409)
            case "retriable-status-codes":
                statuses |= set(codes)
            case _ if trigger in _NO_HTTP1_COUNTERPART:
                unmodelled.append(trigger)
            case _:  # pragma: no cover - callers validate triggers first
                raise ValueError(f"unknown Envoy retry trigger {trigger!r}")
    return EnvoyRetryOn(frozenset(statuses), connect, reset, timeout, tuple(unmodelled))


def note_unmodelled_triggers(notes: Notes, field_: str, unmodelled: Sequence[str]) -> None:
    if unmodelled:
        notes.quirk(
            field_,
            f"trigger(s) {', '.join(unmodelled)} have no HTTP/1.1 counterpart in the harness "
            "(HTTP/2 REFUSED_STREAM, gRPC status headers, rate-limit headers); they are read "
            "but never exercised",
            ENVOY_SRC,
        )


ENVOY_BACKOFF_QUIRK = (
    "Envoy waits U[0, min(base*2^(k-1), max)) before retry k, in whole milliseconds "
    "(JitteredExponentialBackOffStrategy: random() % interval, interval doubling up to max). "
    "Envoy's router docs and the API comments copied from them still say U[0, (2^k - 1)*base) "
    "(the pre-2020 formula): e.g. 0-24, 0-74, 0-174 ms instead of 0-24, 0-49, 0-99 ms. "
    "The policy follows the code. The first retry can come after ~0 ms."
)

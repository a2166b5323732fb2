"""Helpers shared by the gateway/mesh adapters: YAML with line numbers, durations, notes.

Private to ``envoy_gateway``, ``httproute``, ``istio``, ``kong`` and ``traefik``; to be folded
into ``harness.adapters._common`` once that module offers the same things.

A :class:`Value` is one YAML (or TOML) value together with its dotted path and 1-based line, so
every :class:`~harness.errors.BadInput` names file, line, field and the rule that was broken.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from harness.adapters.base import AdapterNote
from harness.errors import BadInput


@dataclass(frozen=True)
class Value:
    """A config value with where it came from (``line`` is 1-based, None when unknown)."""

    data: Any
    path: str
    file: Path
    line: int | None = None
    _children: dict[str, Value] | list[Value] | None = field(default=None, repr=False)

    # --- navigation -------------------------------------------------------------------
    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str) -> Value | None:
        """The child ``key`` of a mapping, or None if absent (or explicitly null)."""
        mapping = self.mapping()
        child = mapping.get(key)
        if child is None or child.data is None:
            return None
        return child

    def mapping(self) -> dict[str, Value]:
        if not isinstance(self.data, dict) or not isinstance(self._children, dict):
            raise self.error("must be a mapping")
        return self._children

    def elements(self) -> list[Value]:
        if not isinstance(self.data, list) or not isinstance(self._children, list):
            raise self.error("must be a list")
        return self._children

    def dig(self, *keys: str) -> Value | None:
        """``get`` along several keys; None as soon as one is absent."""
        node: Value | None = self
        for key in keys:
            if node is None:
                return None
            node = node.get(key)
        return node

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


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


# --- loading ------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read the file ({exc})", file=path) from None


def load_yaml_documents(path: Path) -> list[Value]:
    """Every non-empty document of a (multi-document) YAML file, with line numbers."""
    text = read_text(path)
    constructor = SafeConstructor()
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise BadInput(f"not valid YAML: {exc.problem or exc}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"not valid YAML: {exc}", file=path) from None
    docs = []
    for node in nodes:
        if node is None:
            continue
        docs.append(_wrap_yaml(node, "", path, constructor))
    return docs


def _wrap_yaml(node: yaml.Node, path: str, file: Path, constructor: SafeConstructor) -> Value:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        children: dict[str, Value] = {}
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = constructor.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                raise BadInput(f"bad key ({exc})", file=file, line=line) from None
            key_s = str(key)
            child_path = f"{path}.{key_s}" if path else key_s
            child = _wrap_yaml(value_node, child_path, file, constructor)
            children[key_s] = child
            data[key_s] = child.data
        return Value(data, path, file, line, children)
    if isinstance(node, yaml.SequenceNode):
        items = [
            _wrap_yaml(item, f"{path}[{i}]", file, constructor) for i, item in enumerate(node.value)
        ]
        return Value([v.data for v in items], path, file, line, items)
    try:
        scalar = constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise BadInput(f"bad value ({exc})", file=file, line=line, field=path or None) from None
    return Value(scalar, path, file, line)


def load_toml_document(path: Path) -> Value:
    """A TOML file as one :class:`Value` (tomllib keeps no line numbers: lines are None)."""
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise BadInput(f"not valid TOML: {exc}", file=path, line=line) from None
    return wrap_plain(data, "", path)


def wrap_plain(data: Any, path: str, file: Path) -> Value:
    """Wrap plain Python data (no line numbers)."""
    if isinstance(data, dict):
        children = {
            str(k): wrap_plain(v, f"{path}.{k}" if path else str(k), file) for k, v in data.items()
        }
        return Value(data, path, file, None, children)
    if isinstance(data, list):
        items = [wrap_plain(v, f"{path}[{i}]", file) for i, v in enumerate(data)]
        return Value(data, path, file, None, items)
    return Value(data, path, file, None)


def documents_of_kind(docs: Sequence[Value], kinds: set[str], api_group: str) -> list[Value]:
    """Kubernetes objects whose ``kind`` is in ``kinds`` and ``apiVersion`` is in ``api_group``."""
    found = []
    for doc in docs:
        if not isinstance(doc.data, dict):
            continue
        kind = doc.data.get("kind")
        api_version = doc.data.get("apiVersion")
        if kind in kinds and isinstance(api_version, str):
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            if group == api_group:
                found.append(doc)
    return found


def kinds_seen(docs: Sequence[Value]) -> str:
    seen = sorted(
        {
            f"{d.data.get('apiVersion')}/{d.data.get('kind')}"
            for d in docs
            if isinstance(d.data, dict)
        }
    )
    return ", ".join(seen) if seen else "none"


# --- durations ----------------------------------------------------------------------------

_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_GATEWAY_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")

GO_DURATION_RULE = 'a Go duration such as "250ms", "1.5s" or "1m30s"'
GATEWAY_DURATION_RULE = (
    "a Gateway API duration (GEP-2257): 1-4 groups of up to 5 digits and a unit h, m, s or ms, "
    'e.g. "250ms", "1s", "1m30s"'
)


def go_duration(value: Value, *, allow_zero: bool = True) -> float:
    """A Go ``time.ParseDuration`` string (non-negative) in seconds."""
    text = value.data
    if not isinstance(text, str):
        raise value.error(f"must be {GO_DURATION_RULE} (got {text!r})")
    s = text.strip()
    seconds: float | None = 0.0 if s == "0" else _parse_go(s)
    if seconds is None:
        raise value.error(f"must be {GO_DURATION_RULE} (got {text!r})")
    if seconds == 0 and not allow_zero:
        raise value.error(f"must be {GO_DURATION_RULE} greater than zero (got {text!r})")
    return seconds


def _parse_go(s: str) -> float | None:
    pos = 0
    total = 0.0
    if not s:
        return None
    while pos < len(s):
        match = _GO_PART.match(s, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    return total


def gateway_duration(value: Value, *, allow_zero: bool = True) -> float:
    """A Gateway API ``Duration`` (GEP-2257) in seconds."""
    text = value.data
    if not isinstance(text, str) or not _GATEWAY_DURATION.match(text):
        raise value.error(f"must be {GATEWAY_DURATION_RULE} (got {text!r})")
    seconds = sum(
        int(n) * _GO_UNITS[unit] for n, unit in _GATEWAY_PART.findall(text) if unit in _GO_UNITS
    )
    if seconds == 0 and not allow_zero:
        raise value.error(f"must be {GATEWAY_DURATION_RULE} greater than zero (got {text!r})")
    return float(seconds)


# --- notes --------------------------------------------------------------------------------


@dataclass
class Notes:
    """Collects :class:`AdapterNote` items in the order they were found."""

    items: list[AdapterNote] = field(default_factory=list)

    def default(self, field_: str, text: str, source: str | None = None) -> None:
        self.items.append(AdapterNote(kind="default", field=field_, text=text, source=source))

    def quirk(self, field_: str, text: str, source: str | None = None) -> None:
        self.items.append(AdapterNote(kind="quirk", field=field_, text=text, source=source))

    def __iter__(self) -> Iterator[AdapterNote]:
        return iter(self.items)


def first_of(candidates: Sequence[Value], what: str, notes: Notes) -> Value:
    """The first candidate; when there are several, say which one was used."""
    chosen = candidates[0]
    if len(candidates) > 1:
        where = f" (line {chosen.line})" if chosen.line else ""
        notes.default(
            chosen.path or what,
            f"the file holds {len(candidates)} {what}; the first{where} was used. "
            "Put the one under test first, or in a file of its own.",
        )
    return chosen


def status_range(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


# --- Envoy retry semantics (shared by Envoy Gateway and Istio) ------------------------------

ENVOY_SRC = "envoyproxy/envoy: source/common/router/retry_state_impl.cc"
ENVOY_BACKOFF_SRC = "envoyproxy/envoy: source/common/common/backoff_strategy.cc"
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

"""Helpers shared by the gateway/mesh adapters: documents as Values, durations, notes.

Private to ``envoy_gateway``, ``httproute``, ``istio``, ``kong``, ``traefik`` (and ``kuberay``
for :func:`github`); built on :mod:`harness.adapters._common`, which owns :class:`Value` (the
one typed reader: a value with its key path and line map, re-exported here) and file reading.
Here: documents of a YAML or TOML file as Values, the Go and Gateway API (GEP-2257) duration
readers of a Value (grammars in :mod:`harness.durations`), the Envoy retry-trigger semantics
shared by Envoy Gateway and Istio, ``not_judged`` entries for constructs only a run can decide
(:meth:`Notes.unmodelled`) and source citations as URLs (:func:`github`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.adapters import _common
from harness.adapters._common import Value as Value
from harness.adapters._common import closest_field as closest_field
from harness.adapters._common import unknown_field_hint as unknown_field_hint
from harness.adapters.base import AdapterNote
from harness.durations import DurationError, gateway_seconds
from harness.input_errors import parse_toml
from harness.policy.model import Aspect, Unmodelled

# --- loading ------------------------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[Value]:
    """Every non-empty document of a (multi-document) YAML file, each a mapping, with lines."""
    return [Value(doc, (), path, lines) for doc, lines in _common.load_yaml_documents(path)]


def load_toml_document(path: Path) -> Value:
    """A TOML file as one :class:`Value` (tomllib keeps no line numbers: lines are None)."""
    return Value(parse_toml(_common.read_text(path), file=path), (), path)


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
    """A Go ``time.ParseDuration`` string (non-negative) in seconds (:meth:`Value.as_duration`).

    ``unit_s``: plain numbers are accepted in that unit (Traefik reads an integer as seconds).
    """
    return value.as_duration(unit_s=unit_s, allow_zero=allow_zero)


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

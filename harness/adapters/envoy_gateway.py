"""Envoy Gateway adapter: ``BackendTrafficPolicy.spec.retry`` to the canonical RetryPolicy.

Reads a (multi-document) YAML file holding a ``BackendTrafficPolicy``
(``gateway.envoyproxy.io/v1alpha1``): ``spec.retry`` {numRetries, retryOn{triggers,
httpStatusCodes}, perRetry{timeout, backOff{baseInterval, maxInterval}}},
``spec.circuitBreaker`` {maxParallelRetries, retryBudget} and ``spec.timeout.http.requestTimeout``.

Sources (see ``retry-semantics.md`` §2-§3):

* envoyproxy/gateway@d32f2829: ``api/v1alpha1/retry_types.go``,
  ``api/v1alpha1/circuitbreaker_types.go``, ``internal/gatewayapi/clustersettings.go``
  (buildRetry), ``internal/gatewayapi/route.go`` (processRouteRetry),
  ``internal/xds/translator/route.go`` (buildRetryPolicy),
  ``internal/xds/translator/cluster.go`` (buildXdsClusterCircuitBreaker);
* envoyproxy/envoy: ``source/common/router/retry_state_impl.cc`` (which resets each trigger
  retries), ``source/common/common/backoff_strategy.cc`` (the real backoff),
  ``api/envoy/config/route/v3/route_components.proto`` (route timeout default 15 s).
"""

from __future__ import annotations

from pathlib import Path

from harness.adapters._gateway_common import (
    ENVOY_BACKOFF_QUIRK,
    ENVOY_BACKOFF_SRC,
    ENVOY_DEFAULT_BASE_S,
    ENVOY_SRC,
    Notes,
    Value,
    documents_of_kind,
    envoy_retry_on,
    first_of,
    gateway_duration,
    kinds_seen,
    load_yaml_documents,
    note_unmodelled_triggers,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.policy.model import Backoff, Budget, JitterModel, MethodRule, RetryOn, RetryPolicy

SYSTEM = "envoy-gateway"

_EG = "envoyproxy/gateway@d32f2829"
_TYPES_SRC = f"{_EG}: api/v1alpha1/retry_types.go"
_XDS_SRC = f"{_EG}: internal/xds/translator/route.go (buildRetryPolicy)"
_CB_SRC = f"{_EG}: api/v1alpha1/circuitbreaker_types.go, internal/xds/translator/cluster.go"

DEFAULT_NUM_RETRIES = 2
DEFAULT_TRIGGERS = (
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
)
DEFAULT_STATUS_CODES = (503,)
DEFAULT_MAX_PARALLEL_RETRIES = 1024
ENVOY_DEFAULT_MAX_RETRIES_CB = 3
DEFAULT_ROUTE_TIMEOUT_S = 15.0

TRIGGERS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
_RETRY_FIELDS = frozenset({"numRetries", "numAttemptsPerPriority", "retryOn", "perRetry"})
_RETRY_ON_FIELDS = frozenset({"triggers", "httpStatusCodes"})
_PER_RETRY_FIELDS = frozenset({"timeout", "backOff"})
_BACKOFF_FIELDS = frozenset({"baseInterval", "maxInterval"})
_UINT32_MAX = 4_294_967_295
_INT32_MAX = 2_147_483_647


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the first ``BackendTrafficPolicy`` in ``path``; raise ``BadInput`` if malformed."""
    docs = load_yaml_documents(path)
    candidates = documents_of_kind(docs, {"BackendTrafficPolicy"}, "gateway.envoyproxy.io")
    if not candidates:
        raise BadInput(
            "no BackendTrafficPolicy (apiVersion gateway.envoyproxy.io/v1alpha1) found; "
            f"kinds seen: {kinds_seen(docs)}",
            file=path,
        )
    notes = Notes()
    doc = first_of(candidates, "BackendTrafficPolicy documents", notes)
    spec = doc.get("spec")
    if spec is None:
        raise doc.error("a BackendTrafficPolicy needs a spec")
    spec.mapping()
    deadline = _deadline(spec, notes)
    budget = _budget(spec, notes)
    retry = spec.get("retry")
    if retry is None:
        notes.default(
            "spec.retry",
            "no spec.retry: Envoy Gateway configures no retry policy on the route (0 retries)",
            _XDS_SRC,
        )
        policy = RetryPolicy(system=SYSTEM, max_retries=0, deadline_s=deadline, budget=budget)
        return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)
    retry.check_fields(_RETRY_FIELDS)
    max_retries = _num_retries(retry, notes)
    retry_on, per_try_timeout = _retry_on(retry, notes)
    backoff = _backoff(retry, notes)
    _host_selection_note(retry, notes, context)
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=retry_on,
        methods=MethodRule(retryable=None),
        backoff=backoff,
        per_try_timeout_s=per_try_timeout,
        deadline_s=deadline,
        budget=budget,
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


def _num_retries(retry: Value, notes: Notes) -> int:
    num = retry.get("numRetries")
    if num is None:
        notes.default(
            "spec.retry.numRetries",
            f"numRetries not set: Envoy Gateway's default {DEFAULT_NUM_RETRIES} retries "
            f"({DEFAULT_NUM_RETRIES + 1} attempts)",
            _TYPES_SRC,
        )
        return DEFAULT_NUM_RETRIES
    if retry.get("numAttemptsPerPriority") is not None:
        notes.quirk(
            "spec.retry.numAttemptsPerPriority",
            "retry priority (previous_priorities) is not modelled: it only changes which "
            "locality a retry goes to",
            _XDS_SRC,
        )
    return num.as_int(minimum=0, maximum=_INT32_MAX)


def _retry_on(retry: Value, notes: Notes) -> tuple[RetryOn, float | None]:
    triggers: list[str] = list(DEFAULT_TRIGGERS)
    codes: list[int] = list(DEFAULT_STATUS_CODES)
    retry_on = retry.get("retryOn")
    if retry_on is None:
        notes.default(
            "spec.retry.retryOn",
            "retryOn not set: Envoy Gateway retries on connect-failure, refused-stream, "
            "unavailable, cancelled and retriable-status-codes with status 503",
            _XDS_SRC,
        )
    else:
        retry_on.check_fields(_RETRY_ON_FIELDS)
        given = _triggers(retry_on)
        if given:
            triggers = given
        else:
            notes.default(
                "spec.retry.retryOn.triggers",
                "no triggers given: Envoy Gateway keeps its default triggers "
                f"({', '.join(DEFAULT_TRIGGERS)})",
                _XDS_SRC,
            )
        codes = _status_codes(retry_on)
        if not codes and "retriable-status-codes" in triggers:
            notes.quirk(
                "spec.retry.retryOn.httpStatusCodes",
                "setting retryOn replaces the default status list [503] with httpStatusCodes, "
                "even when that list is empty: no status code is retried "
                "(the default 503 is silently dropped)",
                _XDS_SRC,
            )
        if codes and "retriable-status-codes" not in triggers:
            notes.quirk(
                "spec.retry.retryOn.httpStatusCodes",
                "httpStatusCodes are ignored unless the retriable-status-codes trigger is set: "
                f"{codes} will not be retried",
                _TYPES_SRC,
            )
    semantics = envoy_retry_on(triggers, codes)
    note_unmodelled_triggers(notes, "spec.retry.retryOn.triggers", semantics.unmodelled)
    per_try_timeout = _per_try_timeout(retry, notes, semantics.per_try_timeout)
    canonical = RetryOn(
        statuses=semantics.statuses,
        connect_failure=semantics.connect_failure,
        reset=semantics.reset,
        per_try_timeout=semantics.per_try_timeout and per_try_timeout is not None,
    )
    return canonical, per_try_timeout


def _triggers(retry_on: Value) -> list[str]:
    value = retry_on.get("triggers")
    if value is None:
        return []
    triggers = []
    for item in value.elements():
        if item.data not in TRIGGERS:
            raise item.error(
                f"unknown trigger {item.data!r}; allowed: {', '.join(sorted(TRIGGERS))}"
            )
        triggers.append(str(item.data))
    return triggers


def _status_codes(retry_on: Value) -> list[int]:
    value = retry_on.get("httpStatusCodes")
    if value is None:
        return []
    return [item.as_int(minimum=100, maximum=599) for item in value.elements()]


def _per_try_timeout(retry: Value, notes: Notes, retried: bool) -> float | None:
    timeout = retry.dig("perRetry", "timeout")
    per_retry = retry.get("perRetry")
    if per_retry is not None:
        per_retry.check_fields(_PER_RETRY_FIELDS)
    if timeout is None:
        return None
    seconds = gateway_duration(timeout, allow_zero=False)
    if not retried:
        notes.quirk(
            "spec.retry.perRetry.timeout",
            "Envoy retries a timed-out attempt only under the 5xx, gateway-error or reset "
            "triggers; none is set, so a per-try timeout ends the request (504)",
            ENVOY_SRC,
        )
    return seconds


def _backoff(retry: Value, notes: Notes) -> Backoff:
    backoff = retry.dig("perRetry", "backOff")
    base_v = max_v = None
    if backoff is not None:
        backoff.check_fields(_BACKOFF_FIELDS)
        base_v = backoff.get("baseInterval")
        max_v = backoff.get("maxInterval")
    field = "spec.retry.perRetry.backOff"
    if base_v is None:
        if max_v is not None:
            raise max_v.error(
                "maxInterval needs baseInterval (Envoy requires base_interval when "
                "retry_back_off is set)"
            )
        base = ENVOY_DEFAULT_BASE_S
        notes.default(
            f"{field}.baseInterval",
            "no backOff: Envoy's default base interval 25 ms (runtime "
            "upstream.base_retry_backoff_ms) and max interval 250 ms (10 x base)",
            ENVOY_BACKOFF_SRC,
        )
    else:
        base = gateway_duration(base_v, allow_zero=False)
    if max_v is None:
        cap = 10 * base
        if base_v is not None:
            notes.default(
                f"{field}.maxInterval",
                f"maxInterval not set: Envoy's default 10 x baseInterval = {cap:g} s",
                _TYPES_SRC,
            )
    else:
        cap = gateway_duration(max_v, allow_zero=False)
        if cap < base:
            raise max_v.error(
                f"must be greater than or equal to baseInterval ({base:g} s), got {cap:g} s"
            )
    notes.quirk(field, ENVOY_BACKOFF_QUIRK, ENVOY_BACKOFF_SRC)
    return Backoff(base_s=base, multiplier=2.0, cap_s=cap, jitter=JitterModel.FULL)


def _deadline(spec: Value, notes: Notes) -> float | None:
    timeout = spec.dig("timeout", "http", "requestTimeout")
    field = "spec.timeout.http.requestTimeout"
    if timeout is None:
        notes.default(
            field,
            f"requestTimeout not set: Envoy's route timeout default {DEFAULT_ROUTE_TIMEOUT_S:g} s, "
            "which covers all attempts and backoffs",
            "envoyproxy/envoy: api/envoy/config/route/v3/route_components.proto (timeout)",
        )
        return DEFAULT_ROUTE_TIMEOUT_S
    seconds = gateway_duration(timeout)
    if seconds == 0:
        notes.default(field, "requestTimeout 0s disables the route timeout: no deadline")
        return None
    return seconds


def _budget(spec: Value, notes: Notes) -> Budget:
    breaker = spec.get("circuitBreaker")
    field = "spec.circuitBreaker.maxParallelRetries"
    max_parallel = breaker.get("maxParallelRetries") if breaker is not None else None
    if max_parallel is None:
        limit = DEFAULT_MAX_PARALLEL_RETRIES
        notes.default(
            field,
            f"maxParallelRetries not set: Envoy Gateway's default {limit} concurrent retries "
            "per cluster",
            _CB_SRC,
        )
        notes.quirk(
            field,
            f"Envoy Gateway sets the cluster's max_retries circuit breaker ({limit}) on every "
            f"cluster, so Envoy's own default of {ENVOY_DEFAULT_MAX_RETRIES_CB} concurrent retries "
            "does not apply",
            _CB_SRC,
        )
    else:
        limit = max_parallel.as_int(minimum=0, maximum=_UINT32_MAX)
    retry_budget = breaker.get("retryBudget") if breaker is not None else None
    if retry_budget is not None:
        notes.quirk(
            "spec.circuitBreaker.retryBudget",
            "Envoy's retry budget limits concurrently active retries to max(percent x active "
            "requests, minRetryConcurrency) and overrides maxParallelRetries; this concurrency "
            "limit is not a windowed ratio and is not checked by the harness",
            "envoyproxy/envoy: api/envoy/config/cluster/v3/circuit_breaker.proto",
        )
        return Budget(max_concurrent_retries=None)
    return Budget(max_concurrent_retries=limit)


def _host_selection_note(retry: Value, notes: Notes, context: AdapterContext) -> None:
    servers = context.upstream_servers
    if servers is not None and servers > 1:
        notes.quirk(
            retry.path,
            "Envoy Gateway adds the previous_hosts retry predicate (host_selection_retry_max"
            "_attempts 5): a retry prefers another endpoint but may land on the same one",
            _XDS_SRC,
        )

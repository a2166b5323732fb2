"""Envoy Gateway adapter: ``BackendTrafficPolicy.spec.retry`` to the canonical RetryPolicy.

Reads a (multi-document) YAML file holding a ``BackendTrafficPolicy``
(``gateway.envoyproxy.io/v1alpha1``): ``spec.retry`` {numRetries, numAttemptsPerPriority,
retryOn{triggers, httpStatusCodes}, perRetry{timeout, backOff{baseInterval, maxInterval}}},
``spec.circuitBreaker`` {maxParallelRetries, retryBudget} and ``spec.timeout.http.requestTimeout``.

Absent, empty and set are three cases, as in Envoy Gateway's ``buildRetry``: no ``retry`` means
no retry policy; ``retry: {}`` is the default policy (2 retries, default triggers, status 503);
``retryOn: {}`` keeps the defaults too (buildRetry drops a RetryOn with neither list), while
``retryOn`` with ``triggers`` or ``httpStatusCodes`` (even an empty list) replaces the status
list with ``httpStatusCodes``, dropping the default 503.

Fields the API does not have (``perRetryPolicy``, ``backoff``, ``retry.budget``,
``jitterPercent``, as some retry guides show) are refused, as the API server refuses them, with
the field the user most likely meant. ``numAttemptsPerPriority`` and ``circuitBreaker.retryBudget``
depend on the deployment at run time: they become ``not_judged`` entries.

Sources:

* envoyproxy/gateway@d32f2829: ``api/v1alpha1/retry_types.go``,
  ``api/v1alpha1/circuitbreaker_types.go``, ``internal/gatewayapi/clustersettings.go``
  (buildRetry), ``internal/gatewayapi/route.go`` (processRouteRetry),
  ``internal/xds/translator/route.go`` (buildRetryPolicy),
  ``internal/xds/translator/cluster.go`` (buildXdsClusterCircuitBreaker);
* envoyproxy/envoy@v1.35.0: ``source/common/router/retry_state_impl.cc`` (which resets each trigger
  retries), ``source/common/common/backoff_strategy.cc`` (the real backoff),
  ``api/envoy/config/route/v3/route_components.proto`` (route timeout default 15 s).
"""

from __future__ import annotations

from pathlib import Path

from harness.adapters._gateway_common import (
    ENVOY_BACKOFF_QUIRK,
    ENVOY_BACKOFF_SRC,
    ENVOY_BREAKER_DOCS,
    ENVOY_DEFAULT_BASE_S,
    ENVOY_ROUTE_DOCS,
    ENVOY_SRC,
    Notes,
    Value,
    documents_of_kind,
    envoy_retry_on,
    first_of,
    gateway_duration,
    github,
    kinds_seen,
    load_yaml_documents,
    note_unmodelled_triggers,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.policy.model import (
    Aspect,
    Backoff,
    Budget,
    JitterModel,
    MethodRule,
    RetryOn,
    RetryPolicy,
)

SYSTEM = "envoy-gateway"

_EG_REPO = "envoyproxy/gateway"
_EG_SHA = "d32f28294245e454d20f81d323d626a90e660c1e"
_TYPES_SRC = github(_EG_REPO, _EG_SHA, "api/v1alpha1/retry_types.go")
_BUILD_SRC = github(_EG_REPO, _EG_SHA, "internal/gatewayapi/clustersettings.go", "buildRetry")
_XDS_SRC = github(_EG_REPO, _EG_SHA, "internal/xds/translator/route.go", "buildRetryPolicy")
_POLICY_DOCS = "https://gateway.envoyproxy.io/contributions/design/backend-traffic-policy/"
_MERGE_DOCS = (
    "https://gateway.envoyproxy.io/v1.9/concepts/gateway_api_extensions/backend-traffic-policy/"
)
_CB_SRC = github(
    _EG_REPO, _EG_SHA, "internal/xds/translator/cluster.go", "buildXdsClusterCircuitBreaker"
)

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
_SPEC_FIELDS = frozenset(
    {
        # PolicyTargetReferences
        "targetRef",
        "targetRefs",
        "targetSelectors",
        # ClusterSettings (api/v1alpha1/shared_types.go)
        "loadBalancer",
        "retry",
        "proxyProtocol",
        "tcpKeepalive",
        "healthCheck",
        "circuitBreaker",
        "timeout",
        "connection",
        "dns",
        "http2",
        # BackendTrafficPolicySpec (api/v1alpha1/backendtrafficpolicy_types.go)
        "mergeType",
        "rateLimit",
        "bandwidthLimit",
        "faultInjection",
        "admissionControl",
        "useClientProtocol",
        "compression",
        "compressor",
        "responseOverride",
        "httpUpgrade",
        "requestBuffer",
        "telemetry",
        "routingType",
    }
)
_RETRY_FIELDS = frozenset({"numRetries", "numAttemptsPerPriority", "retryOn", "perRetry"})
_BREAKER_FIELDS = frozenset(
    {
        "maxConnections",
        "maxPendingRequests",
        "maxParallelRequests",
        "maxParallelRetries",
        "maxRequestsPerConnection",
        "perEndpoint",
        "retryBudget",
    }
)
_RETRY_ON_FIELDS = frozenset({"triggers", "httpStatusCodes"})
_PER_RETRY_FIELDS = frozenset({"timeout", "backOff"})
_BACKOFF_FIELDS = frozenset({"baseInterval", "maxInterval"})
_NO_JITTER_FIELD = (
    "Envoy Gateway has no jitter field: Envoy always uses full jitter (each delay is uniform "
    "in [0, interval)); remove it and set perRetry.backOff.baseInterval / maxInterval"
)
_BUDGET_HINT = (
    "did you mean spec.circuitBreaker.retryBudget? (Envoy Gateway's retry budget lives in the "
    "circuit breaker, not under retry)"
)
# Fields copied from retry guides that the BackendTrafficPolicy API never had, by level.
SPEC_HINTS = {
    "retries": "did you mean 'retry'?",
    "retryPolicy": "did you mean 'retry'?",
    "retryBudget": "did you mean circuitBreaker.retryBudget?",
}
RETRY_HINTS = {
    "perRetryPolicy": "did you mean 'perRetry'?",
    "perTryTimeout": "did you mean perRetry.timeout?",
    "timeout": "did you mean perRetry.timeout? (spec.timeout.http.requestTimeout bounds "
    "all attempts)",
    "backoff": "did you mean perRetry.backOff?",
    "backOff": "did you mean perRetry.backOff?",
    "budget": _BUDGET_HINT,
    "retryBudget": _BUDGET_HINT,
    "attempts": "did you mean 'numRetries'? (retries after the first attempt)",
    "maxRetries": "did you mean 'numRetries'?",
    "retries": "did you mean 'numRetries'?",
    "jitterPercent": _NO_JITTER_FIELD,
    "jitter": _NO_JITTER_FIELD,
}
PER_RETRY_HINTS = {
    "backoff": "did you mean 'backOff'? (capital O)",
    "perTryTimeout": "did you mean 'timeout'?",
    "budget": _BUDGET_HINT,
    "jitterPercent": _NO_JITTER_FIELD,
    "jitter": _NO_JITTER_FIELD,
}
BACKOFF_HINTS = {
    "jitterPercent": _NO_JITTER_FIELD,
    "jitter": _NO_JITTER_FIELD,
    "initialInterval": "did you mean 'baseInterval'?",
    "maxBackoff": "did you mean 'maxInterval'?",
    "multiplier": "Envoy Gateway has no multiplier: Envoy doubles the interval up to maxInterval",
}
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
    doc = _most_specific(candidates, notes)
    spec = doc.get("spec")
    if spec is None:
        raise doc.error("a BackendTrafficPolicy needs a spec")
    spec.check_fields(_SPEC_FIELDS, SPEC_HINTS)
    deadline = _deadline(spec, notes)
    budget = _budget(spec, notes)
    retry = spec.get("retry")
    if retry is None:
        notes.default(
            "spec.retry",
            "no spec.retry: Envoy Gateway configures no retry policy on the route (0 retries)",
            _BUILD_SRC,
        )
        policy = RetryPolicy(
            system=SYSTEM,
            max_retries=0,
            deadline_s=deadline,
            deadline_cuts_attempts=True,
            budget=budget,
            not_judged=tuple(notes.not_judged),
        )
        return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)
    retry.check_fields(_RETRY_FIELDS, RETRY_HINTS)
    _priority(retry, notes)
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
        deadline_cuts_attempts=True,
        budget=budget,
        not_judged=tuple(notes.not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


_ROUTE_KINDS = frozenset({"HTTPRoute", "GRPCRoute", "TCPRoute", "UDPRoute", "TLSRoute"})


def _targets_route(doc: Value) -> bool:
    spec = doc.data.get("spec")
    if not isinstance(spec, dict):
        return False
    refs = spec.get("targetRefs") or []
    ref = spec.get("targetRef")
    if isinstance(ref, dict):
        refs = [*refs, ref] if isinstance(refs, list) else [ref]
    return isinstance(refs, list) and any(
        isinstance(r, dict) and r.get("kind") in _ROUTE_KINDS for r in refs
    )


def _most_specific(candidates: list[Value], notes: Notes) -> Value:
    """A route-targeted policy wins over a Gateway-targeted one (Envoy Gateway's precedence);
    with mergeType it is merged with it instead, which is not modelled."""
    routes = [d for d in candidates if _targets_route(d)]
    gateways = [d for d in candidates if not _targets_route(d)]
    if not routes or not gateways:
        return first_of(candidates, "BackendTrafficPolicy documents", notes)
    chosen = first_of(routes, "route-targeted BackendTrafficPolicy documents", notes)
    notes.default(
        chosen.path or "BackendTrafficPolicy",
        f"the file also holds {len(gateways)} Gateway-level BackendTrafficPolicy: the "
        f"route-level one (line {chosen.line}) takes precedence for the route's traffic",
        _POLICY_DOCS,
    )
    merge = chosen.dig("spec", "mergeType")
    if merge is not None:
        notes.unmodelled(
            merge,
            {
                Aspect.MAX_RETRIES,
                Aspect.STATUSES,
                Aspect.RESETS,
                Aspect.BACKOFF,
                Aspect.PER_TRY_TIMEOUT,
                Aspect.DEADLINE,
                Aspect.BUDGET,
            },
            "mergeType merges this route-level policy into the Gateway-level one (a JSON "
            "merge patch or strategic merge): the merged retry policy is not computed here",
            _MERGE_DOCS,
        )
    return chosen


def _priority(retry: Value, notes: Notes) -> None:
    value = retry.get("numAttemptsPerPriority")
    if value is None:
        return
    if value.as_int(minimum=0, maximum=_INT32_MAX) == 0:
        notes.default(
            value.path,
            "numAttemptsPerPriority 0: every attempt goes to the highest healthy priority "
            "(the same as not setting it)",
            _TYPES_SRC,
        )
        return
    notes.unmodelled(
        value,
        {Aspect.UPSTREAM},
        "numAttemptsPerPriority adds Envoy's previous_priorities retry priority: which "
        "locality priority a retry goes to depends on endpoint health at run time",
        _XDS_SRC,
    )


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
    return num.as_int(minimum=0, maximum=_INT32_MAX)


def _retry_on(retry: Value, notes: Notes) -> tuple[RetryOn, float | None]:
    triggers: list[str] = list(DEFAULT_TRIGGERS)
    codes: list[int] = list(DEFAULT_STATUS_CODES)
    retry_on = retry.get("retryOn")
    field = "spec.retry.retryOn"
    if retry_on is not None:
        retry_on.check_fields(_RETRY_ON_FIELDS)
    given_triggers = _triggers(retry_on) if retry_on is not None else None
    given_codes = _status_codes(retry_on) if retry_on is not None else None
    if given_triggers is None and given_codes is None:
        what = "not set" if retry_on is None else "empty ({})"
        notes.default(
            field,
            f"retryOn {what}: Envoy Gateway's defaults, retry on "
            f"{', '.join(DEFAULT_TRIGGERS)} with status {DEFAULT_STATUS_CODES[0]}"
            + ("" if retry_on is None else " (buildRetry drops a retryOn with neither list)"),
            _BUILD_SRC,
        )
    else:
        if given_triggers:
            triggers = given_triggers
        else:
            notes.default(
                f"{field}.triggers",
                f"triggers {'not set' if given_triggers is None else 'empty'}: Envoy Gateway "
                f"keeps its default triggers ({', '.join(DEFAULT_TRIGGERS)})",
                _XDS_SRC,
            )
        codes = given_codes or []
        if not codes and "retriable-status-codes" in triggers:
            notes.quirk(
                f"{field}.httpStatusCodes",
                "a retryOn with triggers or httpStatusCodes replaces the default status list "
                f"[{DEFAULT_STATUS_CODES[0]}] with httpStatusCodes, here "
                f"{'absent' if given_codes is None else 'empty'}: no status code is retried "
                f"(the default {DEFAULT_STATUS_CODES[0]} is dropped)",
                _XDS_SRC,
            )
        if codes and "retriable-status-codes" not in triggers:
            notes.quirk(
                f"{field}.httpStatusCodes",
                "httpStatusCodes are ignored unless the retriable-status-codes trigger is set: "
                f"{codes} will not be retried",
                _TYPES_SRC,
            )
    semantics = envoy_retry_on(triggers, codes)
    note_unmodelled_triggers(notes, f"{field}.triggers", semantics.unmodelled)
    per_try_timeout = _per_try_timeout(retry, notes, semantics.per_try_timeout)
    canonical = RetryOn(
        statuses=semantics.statuses,
        connect_failure=semantics.connect_failure,
        reset=semantics.reset,
        per_try_timeout=semantics.per_try_timeout and per_try_timeout is not None,
    )
    return canonical, per_try_timeout


def _triggers(retry_on: Value) -> list[str] | None:
    """The triggers, or None when absent (an empty list is not absent: see buildRetry)."""
    value = retry_on.get("triggers")
    if value is None:
        return None
    triggers = []
    for item in value.elements():
        if item.data not in TRIGGERS:
            raise item.error(
                f"unknown trigger {item.data!r}; allowed: {', '.join(sorted(TRIGGERS))}"
            )
        triggers.append(str(item.data))
    return triggers


def _status_codes(retry_on: Value) -> list[int] | None:
    """The codes, or None when absent (an empty list is not absent: see buildRetry)."""
    value = retry_on.get("httpStatusCodes")
    if value is None:
        return None
    return [item.as_int(minimum=100, maximum=599) for item in value.elements()]


def _per_try_timeout(retry: Value, notes: Notes, retried: bool) -> float | None:
    timeout = retry.dig("perRetry", "timeout")
    per_retry = retry.get("perRetry")
    if per_retry is not None:
        per_retry.check_fields(_PER_RETRY_FIELDS, PER_RETRY_HINTS)
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
        backoff.check_fields(_BACKOFF_FIELDS, BACKOFF_HINTS)
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
            f"{ENVOY_ROUTE_DOCS} (RouteAction.timeout)",
        )
        return DEFAULT_ROUTE_TIMEOUT_S
    seconds = gateway_duration(timeout)
    if seconds == 0:
        notes.default(
            field,
            "requestTimeout 0s disables the route timeout: no deadline",
            f"{ENVOY_ROUTE_DOCS} (RouteAction.timeout)",
        )
        return None
    return seconds


def _budget(spec: Value, notes: Notes) -> Budget:
    breaker = spec.get("circuitBreaker")
    if breaker is not None:
        breaker.check_fields(_BREAKER_FIELDS, {"maxRetries": "did you mean 'maxParallelRetries'?"})
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
        notes.unmodelled(
            retry_budget,
            {Aspect.BUDGET},
            "Envoy's retry budget limits concurrently active retries to max(percent x active "
            "requests, minRetryConcurrency) and overrides maxParallelRetries: the limit moves "
            "with the number of requests in flight at run time, so it is neither a fixed "
            "concurrency limit nor a windowed ratio",
            f"{ENVOY_BREAKER_DOCS} (Thresholds.retry_budget)",
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

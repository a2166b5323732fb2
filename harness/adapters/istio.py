"""Istio adapter: ``VirtualService.spec.http[].retries`` (+ ``DestinationRule``) to RetryPolicy.

Reads a (multi-document) YAML file holding a ``VirtualService`` (``networking.istio.io``) and
optionally a ``DestinationRule``: ``http[].retries`` {attempts, perTryTimeout, retryOn,
backoff, retryRemoteLocalities, retryIgnorePreviousHosts}, ``http[].timeout`` and
``trafficPolicy.connectionPool.http.maxRetries`` / ``trafficPolicy.retryBudget``.

Absent, empty and set are three cases, as in istio/istio's ``ConvertPolicy``: no ``retries``
gives Istio's default policy (2 retries); ``retries`` without ``attempts`` (or ``attempts: 0``)
disables retries; ``retryOn: ""`` keeps the default conditions. Istio's validation refuses what
the adapter refuses: a retry policy with attempts 0 that sets perTryTimeout, retryOn or
retryRemoteLocalities, and a retryOn item that is neither a known condition nor a registered
HTTP status (it splits at "," without trimming spaces).

Route selection: the first entry of ``spec.http`` (a route without ``retries`` still has Istio's
default retry policy). When it has ``match`` conditions, a request that does not match takes a
later route: every aspect in which those routes' policies differ is *not judged*. The
``retriable-headers`` and ``envoy-ratelimited`` conditions depend on headers at run time: not
judged. So is a DestinationRule ``retryBudget``.

Sources:

* istio/api@3e169507: ``networking/v1alpha3/virtual_service.proto`` (HTTPRetry, HTTPRoute
  timeout), ``networking/v1alpha3/destination_rule.proto`` (ConnectionPoolSettings.HTTP
  maxRetries, retryBudget);
* istio/istio@86c9f01f: ``pilot/pkg/networking/core/route/retry/retry.go`` (DefaultPolicy,
  ConvertPolicy, parseRetryOn), ``pkg/config/validation/agent/validation.go``
  (ValidateHTTPRetry), ``releasenotes/notes/50506.yaml`` (503 left out of the default policy);
* envoyproxy/envoy@v1.35.0: ``source/common/router/retry_state_impl.cc``,
  ``source/common/common/backoff_strategy.cc``.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from harness.adapters._gateway_common import (
    ENVOY_BACKOFF_QUIRK,
    ENVOY_BACKOFF_SRC,
    ENVOY_BREAKER_DOCS,
    ENVOY_DEFAULT_BASE_S,
    ENVOY_GRPC_TRIGGERS,
    ENVOY_HTTP_TRIGGERS,
    ENVOY_SRC,
    Notes,
    Value,
    closest_field,
    documents_of_kind,
    envoy_retry_on,
    first_of,
    github,
    go_duration,
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

SYSTEM = "istio"

_ISTIO_SHA = "86c9f01fd735fb01d8192f5bcaf0d424afb7f14c"
_API_SHA = "3e169507f953cff09795940abf0f82a9d20622e9"
_RETRY_SRC = github(
    "istio/istio", _ISTIO_SHA, "pilot/pkg/networking/core/route/retry/retry.go", "ConvertPolicy"
)
_VALIDATION_SRC = github(
    "istio/istio", _ISTIO_SHA, "pkg/config/validation/agent/validation.go", "ValidateHTTPRetry"
)
_VS_SRC = github("istio/api", _API_SHA, "networking/v1alpha3/virtual_service.proto")
_DR_SRC = github("istio/api", _API_SHA, "networking/v1alpha3/destination_rule.proto")
_RELEASE_SRC = github("istio/istio", _ISTIO_SHA, "releasenotes/notes/50506.yaml")
_ENVOY_HEADERS_DOCS = (
    "https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/"
    "router_filter#x-envoy-retry-on"
)

DEFAULT_ATTEMPTS = 2
DEFAULT_RETRY_ON = (
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
)
DEFAULT_MAX_RETRIES_CB = 2**32 - 1
_RETRIES_FIELDS = frozenset(
    {
        "attempts",
        "perTryTimeout",
        "retryOn",
        "retryRemoteLocalities",
        "retryIgnorePreviousHosts",
        "backoff",
    }
)
_RETRY_ON_NAMES = ENVOY_HTTP_TRIGGERS | ENVOY_GRPC_TRIGGERS
_HEADER_CONDITIONS = frozenset({"retriable-headers", "envoy-ratelimited"})
RETRIES_HINTS = {
    "retries": "did you mean 'attempts'?",
    "maxRetries": "did you mean 'attempts'?",
    "numRetries": "did you mean 'attempts'?",
    "timeout": "did you mean 'perTryTimeout'? (the route's own timeout, spec.http[].timeout, "
    "bounds all attempts)",
    "retryBudget": "did you mean the DestinationRule's spec.trafficPolicy.retryBudget?",
    "budget": "did you mean the DestinationRule's spec.trafficPolicy.retryBudget?",
    "retryOnStatusCodes": "did you mean 'retryOn'? (status codes go in retryOn, e.g. \"5xx,503\")",
    "jitter": "Istio has no jitter field: Envoy always uses full jitter",
}
_ALL_ASPECTS = (
    Aspect.MAX_RETRIES,
    Aspect.STATUSES,
    Aspect.RESETS,
    Aspect.BACKOFF,
    Aspect.PER_TRY_TIMEOUT,
    Aspect.DEADLINE,
)
_INT32_MAX = 2_147_483_647
_MIN_DURATION_S = 0.001


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the retry policy of the first HTTP route of the first ``VirtualService``."""
    docs = load_yaml_documents(path)
    services = documents_of_kind(docs, {"VirtualService"}, "networking.istio.io")
    if not services:
        raise BadInput(
            "no VirtualService (apiVersion networking.istio.io/v1) found; "
            f"kinds seen: {kinds_seen(docs)}",
            file=path,
        )
    notes = Notes()
    service = first_of(services, "VirtualService documents", notes)
    routes = _routes(service)
    route = routes[0]
    if len(routes) > 1:
        where = f" (line {route.line})" if route.line else ""
        notes.default(
            route.path,
            f"the VirtualService holds {len(routes)} HTTP routes; the first{where} was used "
            "(Istio evaluates them in order: it takes every request it matches)",
            _VS_SRC,
        )
    parts = _route_policy(route, notes)
    _matched_routes(routes, parts, notes)
    budget = _budget(docs, notes)
    _host_notes(route, notes, context)
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=parts.max_retries,
        retry_on=parts.retry_on,
        methods=MethodRule(retryable=None),
        backoff=parts.backoff,
        per_try_timeout_s=parts.per_try,
        deadline_s=parts.deadline,
        deadline_cuts_attempts=True,
        budget=budget,
        not_judged=tuple(notes.not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


class _RoutePolicy:
    """The parts of the policy one HTTP route decides."""

    def __init__(
        self,
        max_retries: int,
        retry_on: RetryOn,
        per_try: float | None,
        backoff: Backoff,
        deadline: float | None,
    ) -> None:
        self.max_retries = max_retries
        self.retry_on = retry_on
        self.per_try = per_try
        self.backoff = backoff
        self.deadline = deadline

    def differences(self, other: _RoutePolicy) -> set[Aspect]:
        pairs = {
            Aspect.MAX_RETRIES: (self.max_retries, other.max_retries),
            Aspect.STATUSES: (_non_reset(self.retry_on), _non_reset(other.retry_on)),
            Aspect.RESETS: (self.retry_on.reset, other.retry_on.reset),
            Aspect.BACKOFF: (self.backoff, other.backoff),
            Aspect.PER_TRY_TIMEOUT: (self.per_try, other.per_try),
            Aspect.DEADLINE: (self.deadline, other.deadline),
        }
        return {aspect for aspect, (a, b) in pairs.items() if a != b}


def _non_reset(retry_on: RetryOn) -> RetryOn:
    """``retry_on`` without its reset trigger (compared as Aspect.RESETS on its own)."""
    return retry_on.model_copy(update={"reset": False})


_ROUTE_FIELDS = frozenset(  # istio/api HTTPRoute
    {
        "name",
        "match",
        "route",
        "redirect",
        "directResponse",
        "delegate",
        "rewrite",
        "timeout",
        "retries",
        "fault",
        "mirror",
        "mirrors",
        "mirrorPercent",
        "mirrorPercentage",
        "corsPolicy",
        "headers",
    }
)
ROUTE_HINTS = {
    "retry": "did you mean 'retries'?",
    "retryPolicy": "did you mean 'retries'?",
    "timeouts": "did you mean 'timeout'?",
}


def _check_route_fields(route: Value) -> None:
    """A misspelt retries/timeout would silently leave Istio's default policy: refuse it (the
    API server refuses unknown fields); other unknown keys are left to Istio's validation."""
    for key, child in route.items():
        if key in _ROUTE_FIELDS:
            continue
        close = closest_field(key, ("retries", "timeout"))
        if key in ROUTE_HINTS or close:
            hint = ROUTE_HINTS.get(key) or f"did you mean {close!r}?"
            raise child.error(f"unknown field; {hint} (the HTTP route's fields: retries, timeout)")


def _route_policy(route: Value, notes: Notes) -> _RoutePolicy:
    route.mapping()
    _check_route_fields(route)
    deadline = _deadline(route, notes)
    retries = route.get("retries")
    if retries is None:
        max_retries, retry_on, per_try, backoff_v = _default_policy(route, notes)
    else:
        retries.check_fields(_RETRIES_FIELDS, RETRIES_HINTS)
        max_retries, retry_on, per_try, backoff_v = _declared_policy(retries, notes)
    backoff = _backoff(backoff_v, route.child_path("retries.backoff"), notes)
    return _RoutePolicy(max_retries, retry_on, per_try, backoff, deadline)


def _catch_all(route: Value) -> bool:
    """A route without match conditions (or with an empty one) takes every request."""
    match = route.get("match")
    if match is None:
        return True
    return any(isinstance(m.data, dict) and not m.data for m in match.elements())


def _matched_routes(routes: list[Value], first: _RoutePolicy, notes: Notes) -> None:
    """When the first route has match conditions, compare it with the routes that take the
    requests it does not match (up to the first catch-all route); differences are not judged."""
    if _catch_all(routes[0]):
        return
    match = routes[0].get("match")
    assert match is not None
    differing: set[Aspect] = set()
    others: list[str] = []
    for route in routes[1:]:
        other = _route_policy(route, Notes())  # validated; its notes would repeat the first's
        found = first.differences(other)
        if found:
            differing |= found
            others.append(route.path)
        if _catch_all(route):
            break
    else:
        differing |= set(_ALL_ASPECTS) if first.max_retries else set()
        others.append("no route (Istio answers 404)")
    if not differing:
        notes.default(
            match.path,
            "the first route has match conditions, but the routes that take the other "
            "requests declare the same retry policy: it applies to every request",
            _VS_SRC,
        )
        return
    notes.unmodelled(
        match,
        differing,
        "the first route's match conditions (headers, URI, method, query ...) decide at run "
        "time which requests it takes; the others go to "
        f"{', '.join(others)}, whose retry policy differs",
        _VS_SRC,
        native=f"{match.path}: {match.data!r}"[:200],
    )


def _routes(service: Value) -> list[Value]:
    spec = service.get("spec")
    if spec is None:
        raise service.error("a VirtualService needs a spec")
    http = spec.get("http")
    if http is None:
        raise spec.error("needs an http list: only HTTP routes have retries")
    routes = http.elements()
    if not routes:
        raise http.error("must hold at least one HTTP route")
    return routes


def _default_policy(route: Value, notes: Notes) -> tuple[int, RetryOn, float | None, Value | None]:
    field = route.child_path("retries")
    notes.default(
        field,
        f"no retries stanza: Istio's default policy, {DEFAULT_ATTEMPTS} retries on "
        f"{', '.join(DEFAULT_RETRY_ON)}",
        _RETRY_SRC,
    )
    _quirk_no_503(notes, field)
    semantics = envoy_retry_on(DEFAULT_RETRY_ON, ())
    note_unmodelled_triggers(notes, field, semantics.unmodelled)
    retry_on = RetryOn(connect_failure=semantics.connect_failure, reset=semantics.reset)
    _default_backoff_note(notes, route.child_path("retries.backoff"))
    return DEFAULT_ATTEMPTS, retry_on, None, None


def _quirk_no_503(notes: Notes, field: str) -> None:
    notes.quirk(
        field,
        "since Istio 1.24 the default policy no longer retries 503: retriable-status-codes "
        "is set with no code list, so no status is retried (the "
        "EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY flag that could restore 503 is gone from the "
        "code); older docs still say 503 is retried",
        _RELEASE_SRC,
    )


def _declared_policy(
    retries: Value, notes: Notes
) -> tuple[int, RetryOn, float | None, Value | None]:
    attempts_v = retries.get("attempts")
    attempts = attempts_v.as_int(minimum=0, maximum=_INT32_MAX) if attempts_v is not None else 0
    if attempts == 0:
        for name in ("perTryTimeout", "retryOn", "retryRemoteLocalities"):
            value = retries.get(name)
            if value is not None and value.data != "":
                raise value.error(
                    "http retry policy configured when attempts are set to 0 (disabled): "
                    "Istio's validation refuses it; set attempts >= 1 or drop the field"
                )
        notes.quirk(
            retries.child_path("attempts"),
            "a retries stanza with attempts 0 (or no attempts at all) disables retries on this "
            "route, instead of keeping Istio's default of 2",
            _RETRY_SRC,
        )
        return 0, RetryOn(), None, None
    retry_on_v = retries.get("retryOn")
    if retry_on_v is None or retry_on_v.data == "":
        triggers: list[str] = list(DEFAULT_RETRY_ON)
        codes: list[int] = []
        what = "not set" if retry_on_v is None else 'empty ("")'
        notes.default(
            retries.child_path("retryOn"),
            f"retryOn {what}: Istio's default conditions {', '.join(DEFAULT_RETRY_ON)} "
            "(ConvertPolicy parses retryOn only when it is not empty)",
            _RETRY_SRC,
        )
        _quirk_no_503(notes, retries.child_path("retryOn"))
    else:
        triggers, codes = _parse_retry_on(retry_on_v, notes)
    semantics = envoy_retry_on(triggers, codes)
    never_exercised = [t for t in semantics.unmodelled if t not in _HEADER_CONDITIONS]
    note_unmodelled_triggers(notes, retries.child_path("retryOn"), never_exercised)
    per_try_v = retries.get("perTryTimeout")
    per_try = None
    if per_try_v is not None:
        per_try = _min_duration(per_try_v)
        if not semantics.per_try_timeout:
            notes.quirk(
                per_try_v.path,
                "Envoy retries a timed-out attempt only under the 5xx, gateway-error or reset "
                "conditions; none is set, so a per-try timeout ends the request (504)",
                ENVOY_SRC,
            )
    else:
        notes.default(
            retries.child_path("perTryTimeout"),
            "perTryTimeout not set: each attempt may take up to the route timeout",
            _VS_SRC,
        )
    retry_on = RetryOn(
        statuses=semantics.statuses,
        connect_failure=semantics.connect_failure,
        reset=semantics.reset,
        per_try_timeout=semantics.per_try_timeout and per_try is not None,
    )
    backoff_v = retries.get("backoff")
    if backoff_v is None:
        _default_backoff_note(notes, retries.child_path("backoff"))
    return attempts, retry_on, per_try, backoff_v


def _parse_retry_on(value: Value, notes: Notes) -> tuple[list[str], list[int]]:
    """Conditions and status codes, as ValidateHTTPRetry checks and parseRetryOn splits them."""
    text = value.as_str()
    triggers: list[str] = []
    codes: list[int] = []
    for part in text.split(","):  # Istio's validation does not trim: " 503" is refused
        if part.isascii() and part.isdigit():
            code = int(part)
            if code in HTTPStatus._value2member_map_:
                codes.append(code)
                continue
        if part in _RETRY_ON_NAMES:
            triggers.append(part)
            continue
        if part.strip() != part and (part.strip() in _RETRY_ON_NAMES or part.strip().isdigit()):
            fix = "remove the spaces around the commas"
        else:
            close = closest_field(part, _RETRY_ON_NAMES) if part else None
            fix = f"did you mean {close!r}?" if close else "a condition or an HTTP status code"
        raise value.error(
            f"{part!r} is not a valid retryOn policy (Istio's validation refuses it: "
            f"{fix}); allowed: {', '.join(sorted(_RETRY_ON_NAMES))}, or registered HTTP "
            "status codes, separated by commas"
        )
    if codes and "retriable-status-codes" not in triggers:
        triggers.append("retriable-status-codes")
        notes.default(
            value.path,
            "status codes in retryOn: Istio appends the retriable-status-codes condition",
            _RETRY_SRC,
        )
    for condition in sorted(_HEADER_CONDITIONS & set(triggers)):
        notes.unmodelled(
            value,
            {Aspect.STATUSES},
            f"the {condition} condition retries an answer by its headers "
            + (
                "(those named by the x-envoy-retriable-header-names request header; a "
                "VirtualService cannot set retriable_headers)"
                if condition == "retriable-headers"
                else "(x-envoy-ratelimited, set by Envoy's rate limit filter)"
            )
            + ", which are known only at run time",
            _ENVOY_HEADERS_DOCS,
            native=f"{value.path}: {condition}",
        )
    return triggers, codes


def _min_duration(value: Value) -> float:
    seconds = go_duration(value)
    if seconds < _MIN_DURATION_S:
        raise value.error(f"must be at least 1ms (got {value.data!r})")
    return seconds


def _default_backoff_note(notes: Notes, field: str) -> None:
    notes.default(
        field,
        "backoff not set: Envoy's default base interval 25 ms and max interval 250 ms",
        ENVOY_BACKOFF_SRC,
    )


def _backoff(value: Value | None, field: str, notes: Notes) -> Backoff:
    base = ENVOY_DEFAULT_BASE_S if value is None else _min_duration(value)
    if value is not None:
        notes.default(
            field,
            f"backoff sets Envoy's base_interval only; max interval = 10 x base = {10 * base:g} s",
            _RETRY_SRC,
        )
        notes.quirk(
            field,
            "Istio documents backoff as the minimum duration between retries, but Envoy's full "
            "jitter makes the first retry wait U[0, backoff)",
            _VS_SRC,
        )
    notes.quirk(field, ENVOY_BACKOFF_QUIRK, ENVOY_BACKOFF_SRC)
    return Backoff(base_s=base, multiplier=2.0, cap_s=10 * base, jitter=JitterModel.FULL)


def _deadline(route: Value, notes: Notes) -> float | None:
    timeout = route.get("timeout")
    if timeout is None:
        notes.default(
            route.child_path("timeout"),
            "timeout not set: Istio disables Envoy's 15 s route timeout, so there is no deadline",
            _VS_SRC,
        )
        return None
    seconds = go_duration(timeout)
    if seconds == 0:
        notes.default(timeout.path, "timeout 0s: no deadline", _VS_SRC)
        return None
    return seconds


def _budget(docs: list[Value], notes: Notes) -> Budget:
    rules = documents_of_kind(docs, {"DestinationRule"}, "networking.istio.io")
    field = "DestinationRule.spec.trafficPolicy.connectionPool.http.maxRetries"
    if not rules:
        notes.default(
            field,
            f"no DestinationRule: Istio's default maxRetries {DEFAULT_MAX_RETRIES_CB} "
            "(2^32-1) concurrent retries, overriding Envoy's default of 3",
            _DR_SRC,
        )
        return Budget(max_concurrent_retries=DEFAULT_MAX_RETRIES_CB)
    rule = first_of(rules, "DestinationRule documents", notes)
    policy = rule.dig("spec", "trafficPolicy")
    max_retries_v = policy.dig("connectionPool", "http", "maxRetries") if policy else None
    if max_retries_v is None:
        notes.default(
            field,
            f"maxRetries not set: Istio's default {DEFAULT_MAX_RETRIES_CB} (2^32-1) concurrent "
            "retries, overriding Envoy's default of 3",
            _DR_SRC,
        )
        limit = DEFAULT_MAX_RETRIES_CB
    else:
        limit = max_retries_v.as_int(minimum=0, maximum=_INT32_MAX)
        if limit == 0:
            notes.default(
                max_retries_v.path,
                f"maxRetries 0 is proto3's unset: Istio keeps its default {DEFAULT_MAX_RETRIES_CB}"
                " (2^32-1) concurrent retries (it copies maxRetries only when > 0)",
                github(
                    "istio/istio",
                    _ISTIO_SHA,
                    "pilot/pkg/networking/core/cluster_traffic_policy.go",
                    "applyConnectionPool",
                ),
            )
            limit = DEFAULT_MAX_RETRIES_CB
    budget_v = policy.get("retryBudget") if policy is not None else None
    if budget_v is not None:
        notes.unmodelled(
            budget_v,
            {Aspect.BUDGET},
            "Envoy's retry budget limits concurrently active retries to max(percent x active "
            "requests, minRetryConcurrency) and overrides maxRetries: the limit moves with the "
            "number of requests in flight at run time",
            f"{_DR_SRC}; {ENVOY_BREAKER_DOCS} (Thresholds.retry_budget)",
        )
        return Budget(max_concurrent_retries=None)
    return Budget(max_concurrent_retries=limit)


def _host_notes(route: Value, notes: Notes, context: AdapterContext) -> None:
    ignore = route.dig("retries", "retryIgnorePreviousHosts")
    ignores = True if ignore is None else ignore.as_bool()
    remote = route.dig("retries", "retryRemoteLocalities")
    if remote is not None:
        remote.as_bool()
    servers = context.upstream_servers
    if ignores and servers is not None and servers > 1:
        notes.quirk(
            route.child_path("retries.retryIgnorePreviousHosts"),
            "Istio adds the previous_hosts predicate (host_selection_retry_max_attempts 5): a "
            "retry prefers another endpoint but may land on the same one",
            _RETRY_SRC,
        )

"""Istio adapter: ``VirtualService.spec.http[].retries`` (+ ``DestinationRule``) to RetryPolicy.

Reads a (multi-document) YAML file holding a ``VirtualService`` (``networking.istio.io``) and
optionally a ``DestinationRule``: ``http[].retries`` {attempts, perTryTimeout, retryOn,
backoff, retryRemoteLocalities, retryIgnorePreviousHosts}, ``http[].timeout`` and
``trafficPolicy.connectionPool.http.maxRetries`` / ``trafficPolicy.retryBudget``.

Route selection: the first entry of ``spec.http`` (a note says so when there are several),
because a route without ``retries`` still has Istio's default retry policy.

Sources (see ``retry-semantics.md`` §2 and §5):

* istio/api@b8f8791d: ``networking/v1alpha3/virtual_service.proto`` (HTTPRetry, HTTPRoute
  timeout), ``networking/v1alpha3/destination_rule.proto`` (ConnectionPoolSettings.HTTP
  maxRetries, retryBudget);
* istio/istio: ``pilot/pkg/networking/core/route/retry/retry.go`` (DefaultPolicy,
  ConvertPolicy, parseRetryOn), Istio 1.24 release notes (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY);
* envoyproxy/envoy: ``source/common/router/retry_state_impl.cc``,
  ``source/common/common/backoff_strategy.cc``.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from harness.adapters._gateway_common import (
    ENVOY_BACKOFF_QUIRK,
    ENVOY_BACKOFF_SRC,
    ENVOY_DEFAULT_BASE_S,
    ENVOY_GRPC_TRIGGERS,
    ENVOY_HTTP_TRIGGERS,
    ENVOY_SRC,
    Notes,
    Value,
    documents_of_kind,
    envoy_retry_on,
    first_of,
    go_duration,
    kinds_seen,
    load_yaml_documents,
    note_unmodelled_triggers,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.policy.model import Backoff, Budget, JitterModel, MethodRule, RetryOn, RetryPolicy

SYSTEM = "istio"

_RETRY_SRC = "istio/istio: pilot/pkg/networking/core/route/retry/retry.go"
_VS_SRC = "istio/api@b8f8791d: networking/v1alpha3/virtual_service.proto"
_DR_SRC = "istio/api@b8f8791d: networking/v1alpha3/destination_rule.proto"
_RELEASE_SRC = "Istio 1.24 release notes (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY)"

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
    route = _select_route(service, notes)
    deadline = _deadline(route, notes)
    budget = _budget(docs, notes)
    retries = route.get("retries")
    if retries is None:
        max_retries, retry_on, per_try, backoff_v = _default_policy(route, notes)
    else:
        retries.check_fields(_RETRIES_FIELDS)
        max_retries, retry_on, per_try, backoff_v = _declared_policy(retries, notes)
    backoff = _backoff(backoff_v, route.child_path("retries.backoff"), notes)
    _host_notes(route, notes, context)
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=retry_on,
        methods=MethodRule(retryable=None),
        backoff=backoff,
        per_try_timeout_s=per_try,
        deadline_s=deadline,
        budget=budget,
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


def _select_route(service: Value, notes: Notes) -> Value:
    spec = service.get("spec")
    if spec is None:
        raise service.error("a VirtualService needs a spec")
    http = spec.get("http")
    if http is None:
        raise spec.error("needs an http list: only HTTP routes have retries")
    routes = http.elements()
    if not routes:
        raise http.error("must hold at least one HTTP route")
    route = first_of(routes, "HTTP routes", notes)
    route.mapping()
    return route


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
        "since Istio 1.24 the default policy no longer retries 503 "
        "(EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY=true): retriable-status-codes is set with an "
        "empty code list, so no status is retried; older docs still say 503 is retried",
        _RELEASE_SRC,
    )


def _declared_policy(
    retries: Value, notes: Notes
) -> tuple[int, RetryOn, float | None, Value | None]:
    attempts_v = retries.get("attempts")
    attempts = attempts_v.as_int(minimum=0, maximum=_INT32_MAX) if attempts_v is not None else 0
    if attempts == 0:
        notes.quirk(
            retries.child_path("attempts"),
            "a retries stanza with attempts 0 (or no attempts at all) disables retries on this "
            "route, instead of keeping Istio's default of 2",
            _RETRY_SRC,
        )
        return 0, RetryOn(), None, None
    retry_on_v = retries.get("retryOn")
    if retry_on_v is None:
        triggers: list[str] = list(DEFAULT_RETRY_ON)
        codes: list[int] = []
        notes.default(
            retries.child_path("retryOn"),
            f"retryOn not set: Istio's default conditions {', '.join(DEFAULT_RETRY_ON)}",
            _RETRY_SRC,
        )
        _quirk_no_503(notes, retries.child_path("retryOn"))
    else:
        triggers, codes = _parse_retry_on(retry_on_v, notes)
    semantics = envoy_retry_on(triggers, codes)
    note_unmodelled_triggers(notes, retries.child_path("retryOn"), semantics.unmodelled)
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
    text = value.as_str()
    triggers: list[str] = []
    codes: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if part.isdigit():
            code = int(part)
            if not 100 <= code <= 599:
                raise value.error(f"status code {part} is not an HTTP status code 100..599")
            if code in HTTPStatus._value2member_map_:
                codes.append(code)
            else:
                notes.quirk(
                    value.path,
                    f"{code} is not a registered HTTP status: Istio passes it to Envoy as a "
                    "retry_on name, not a status code, so it is never retried",
                    _RETRY_SRC,
                )
            continue
        if part not in _RETRY_ON_NAMES:
            allowed = ", ".join(sorted(_RETRY_ON_NAMES))
            raise value.error(
                f"unknown retry condition {part!r}; allowed: {allowed}, or HTTP status codes"
            )
        triggers.append(part)
    if codes and "retriable-status-codes" not in triggers:
        triggers.append("retriable-status-codes")
        notes.default(
            value.path,
            "status codes in retryOn: Istio appends the retriable-status-codes condition",
            _RETRY_SRC,
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
        notes.default(timeout.path, "timeout 0s: no deadline")
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
    budget_v = policy.get("retryBudget") if policy is not None else None
    if budget_v is not None:
        notes.quirk(
            budget_v.path,
            "Envoy's retry budget limits concurrently active retries to max(percent x active "
            "requests, minRetryConcurrency) and overrides maxRetries; this concurrency limit "
            "is not a windowed ratio and is not checked by the harness",
            _DR_SRC,
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

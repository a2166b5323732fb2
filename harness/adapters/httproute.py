"""Gateway API adapter: ``HTTPRoute.spec.rules[].retry`` / ``timeouts`` to the canonical policy.

Reads a (multi-document) YAML file holding an ``HTTPRoute`` (``gateway.networking.k8s.io``):
``rules[].retry`` {codes, attempts, backoff} (GEP-1731, experimental channel) and
``rules[].timeouts`` {request, backendRequest}. The policy encodes what the Gateway API
*declares*; what Envoy-based implementations do differently is listed as quirks.

Absent, empty and set: a rule without ``retry`` declares nothing (implementations may still
retry: Istio applies its default policy); ``retry: {}`` asks for retries with every detail left
to the implementation. Whatever the Gateway API leaves implementation-specific (retries with no
stanza, ``attempts`` or ``codes`` not set or an empty ``codes``) is *not judged*
(``RetryPolicy.not_judged``) rather than filled with one implementation's default. Fields the
API does not have (``retries``, ``numRetries``, ``perTryTimeout`` ...) are refused with the
field meant.

Rule selection: the first rule that has a ``retry`` stanza, else the first rule (a note says
which one when there are several).

Sources:

* kubernetes-sigs/gateway-api@v1.3.0: ``apis/v1/httproute_types.go`` (HTTPRouteRetry,
  HTTPRouteTimeouts, HTTPRouteRetryStatusCode); GEP-1731 and GEP-2257 on
  gateway-api.sigs.k8s.io; ``conformance/tests/httproute-retry.go`` (at e6445986);
* envoyproxy/gateway@d32f2829: ``internal/gatewayapi/route.go`` (processRouteRetry: attempts to
  num_retries, backoff to base_interval, codes to retriable_status_codes).
"""

from __future__ import annotations

from pathlib import Path

from harness.adapters._gateway_common import (
    Notes,
    Value,
    documents_of_kind,
    first_of,
    gateway_duration,
    github,
    kinds_seen,
    load_yaml_documents,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.policy.model import (
    Aspect,
    Backoff,
    JitterModel,
    MethodRule,
    RetryOn,
    RetryPolicy,
)

SYSTEM = "httproute"

_GWAPI = "kubernetes-sigs/gateway-api"
_TYPES_SRC = github(_GWAPI, "v1.3.0", "apis/v1/httproute_types.go", "HTTPRouteRetry")
_GEP_SRC = "https://gateway-api.sigs.k8s.io/geps/gep-1731/"
_CONFORMANCE_SRC = github(
    _GWAPI, "e6445986561fbe4d482be16004bf562b90b36312", "conformance/tests/httproute-retry.go"
)
_EG_SRC = github(
    "envoyproxy/gateway",
    "d32f28294245e454d20f81d323d626a90e660c1e",
    "internal/gatewayapi/route.go",
    "processRouteRetry",
)
_ISTIO_DEFAULT_SRC = github(
    "istio/istio",
    "86c9f01fd735fb01d8192f5bcaf0d424afb7f14c",
    "pilot/pkg/networking/core/route/retry/retry.go",
    "DefaultPolicy",
)

DEFAULT_ATTEMPTS = 2  # implementation-specific; Envoy Gateway's and Istio's default
_RETRY_FIELDS = frozenset({"codes", "attempts", "backoff"})
_RULE_FIELDS = frozenset(
    {
        "name",
        "matches",
        "filters",
        "backendRefs",
        "timeouts",
        "retry",
        "sessionPersistence",
        "cors",
    }
)
RULE_HINTS = {
    "retries": "did you mean 'retry'?",
    "retryPolicy": "did you mean 'retry'?",
    "timeout": "did you mean 'timeouts'? (request and backendRequest)",
}
RETRY_HINTS = {
    "retries": "did you mean 'attempts'? (the number of retries)",
    "numRetries": "did you mean 'attempts'? (the number of retries)",
    "maxRetries": "did you mean 'attempts'? (the number of retries)",
    "retryOn": "did you mean 'codes'? (a list of HTTP status codes 400-599)",
    "statusCodes": "did you mean 'codes'?",
    "httpStatusCodes": "did you mean 'codes'?",
    "perTryTimeout": "did you mean the rule's timeouts.backendRequest? (the per-attempt timeout)",
    "timeout": "did you mean the rule's timeouts.backendRequest? (the per-attempt timeout)",
    "backOff": "did you mean 'backoff'? (one duration, the minimum wait before a retry)",
    "baseInterval": "did you mean 'backoff'? (one duration, the minimum wait before a retry)",
}
_NOT_SPECIFIED = (
    "left implementation-specific by the Gateway API (Envoy Gateway: its own defaults, "
    "2 retries and 503; Istio: its default policy)"
)
_TIMEOUT_FIELDS = frozenset({"request", "backendRequest"})
_MAX_ATTEMPTS = 2_147_483_647


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the retry policy of one rule of the first ``HTTPRoute`` in ``path``."""
    docs = load_yaml_documents(path)
    routes = documents_of_kind(docs, {"HTTPRoute"}, "gateway.networking.k8s.io")
    if not routes:
        raise BadInput(
            "no HTTPRoute (apiVersion gateway.networking.k8s.io/v1) found; "
            f"kinds seen: {kinds_seen(docs)}",
            file=path,
        )
    notes = Notes()
    route = first_of(routes, "HTTPRoute documents", notes)
    rule = _select_rule(route, notes)
    retry = rule.get("retry")
    timeouts = rule.get("timeouts")
    per_try, deadline = _timeouts(timeouts, notes, rule.child_path("timeouts"))
    if retry is None:
        notes.unmodelled(
            rule,
            {Aspect.MAX_RETRIES, Aspect.STATUSES},
            "no retry stanza: whether the implementation retries is implementation-specific "
            "(Envoy Gateway does not; Istio applies its default policy of 2 retries on connect "
            "failures); the policy declares 0 retries but that count is not judged",
            _ISTIO_DEFAULT_SRC,
            native=f"{rule.path}: no retry",
            field=rule.child_path("retry"),
        )
        policy = RetryPolicy(
            system=SYSTEM,
            max_retries=0,
            per_try_timeout_s=per_try,
            deadline_s=deadline,
            deadline_cuts_attempts=True,
            not_judged=tuple(notes.not_judged),
        )
        return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)
    retry.check_fields(_RETRY_FIELDS, RETRY_HINTS)
    max_retries = _attempts(retry, notes)
    statuses = _codes(retry, notes)
    backoff = _backoff(retry, notes)
    notes.default(
        retry.path,
        "connection errors (disconnect, reset, timeout, TCP failure) SHOULD be retried when a "
        "retry stanza is configured: the policy retries connect failures, resets and "
        "timed-out attempts (the GEP marks connection-error handling as unresolved)",
        _TYPES_SRC,
    )
    notes.default(
        retry.path, "the Gateway API has no method rule: every method may be retried", _GEP_SRC
    )
    notes.unmodelled(
        retry,
        {Aspect.RESETS},
        "whether a connection reset after the request was sent is retried differs between "
        "implementations: the GEP says connection errors SHOULD be retried but leaves their "
        "handling unresolved, and Envoy Gateway does not retry them (processRouteRetry keeps "
        "its default triggers connect-failure, refused-stream, unavailable, cancelled and "
        "retriable-status-codes, and adds no reset trigger). The policy declares resets "
        "retried; reset attempts are not judged, statuses and connect failures still are",
        f"{_EG_SRC}; {_GEP_SRC}",
        native=f"{retry.path}: connection errors after sending (resets)",
        field=retry.path,
    )
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=RetryOn(
            statuses=statuses,
            connect_failure=True,
            reset=True,
            per_try_timeout=per_try is not None,
        ),
        methods=MethodRule(retryable=None),
        backoff=backoff,
        per_try_timeout_s=per_try,
        deadline_s=deadline,
        deadline_cuts_attempts=True,
        not_judged=tuple(notes.not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


def _select_rule(route: Value, notes: Notes) -> Value:
    spec = route.get("spec")
    if spec is None:
        raise route.error("an HTTPRoute needs a spec")
    rules_v = spec.get("rules")
    if rules_v is None:
        raise spec.error("an HTTPRoute needs spec.rules (at least one rule)")
    rules = rules_v.elements()
    if not rules:
        raise rules_v.error("must hold at least one rule")
    for rule in rules:
        rule.check_fields(_RULE_FIELDS, RULE_HINTS)
    with_retry = [r for r in rules if r.get("retry") is not None]
    if with_retry:
        return first_of(with_retry, "rules with a retry stanza", notes)
    return first_of(rules, "rules (none with a retry stanza)", notes)


def _attempts(retry: Value, notes: Notes) -> int:
    attempts = retry.get("attempts")
    field = retry.child_path("attempts")
    if attempts is None:
        notes.unmodelled(
            retry,
            {Aspect.MAX_RETRIES},
            f"attempts not set: the number of retries is {_NOT_SPECIFIED}; the policy "
            f"carries {DEFAULT_ATTEMPTS} but the count is not judged",
            _TYPES_SRC,
            native=f"{field}: not set",
            field=field,
        )
        value = DEFAULT_ATTEMPTS
    else:
        value = attempts.as_int(minimum=0, maximum=_MAX_ATTEMPTS)
    notes.quirk(
        field,
        'attempts is read as the number of RETRIES ("the maximum number of times an individual '
        f'request ... should be retried"), i.e. {value + 1} tries in all; the conformance tests '
        "(HTTPRouteRetry) never probe the boundary, so implementations that count total tries "
        "pass conformance yet make one try fewer",
        _CONFORMANCE_SRC,
    )
    return value


def _codes(retry: Value, notes: Notes) -> frozenset[int]:
    codes_v = retry.get("codes")
    codes = frozenset(
        item.as_int(minimum=400, maximum=599) for item in (codes_v.elements() if codes_v else [])
    )
    if not codes:
        what = "not set" if codes_v is None else "empty ([])"
        notes.unmodelled(
            codes_v or retry,
            {Aspect.STATUSES},
            f"codes {what}: which statuses are retried is {_NOT_SPECIFIED}; "
            + (
                "Envoy Gateway treats an empty list as not set (len(codes) > 0)"
                if codes_v is not None
                else "the policy lists none, but that is not judged"
            ),
            _EG_SRC if codes_v is not None else _TYPES_SRC,
            native=f"{retry.child_path('codes')}: {what}",
            field=retry.child_path("codes"),
        )
        return frozenset()
    unusual = sorted(c for c in codes if c not in (500, 502, 503, 504))
    if unusual and codes_v is not None:
        notes.quirk(
            codes_v.path,
            f"implementations MUST support 500, 502, 503 and 504 only; {unusual} MAY be "
            "unsupported (the route is then not accepted)",
            f"{_TYPES_SRC} (HTTPRouteRetryStatusCode)",
        )
    return codes


def _backoff(retry: Value, notes: Notes) -> Backoff:
    backoff_v = retry.get("backoff")
    field = retry.child_path("backoff")
    if backoff_v is None:
        notes.default(
            field,
            "backoff not set: the delay between retries is implementation-specific; the policy "
            "only requires delays >= 0",
            _TYPES_SRC,
        )
        return Backoff(base_s=0.0, multiplier=1.0, jitter=JitterModel.NONE, minimum_only=True)
    seconds = gateway_duration(backoff_v)
    notes.default(
        field,
        f"backoff {backoff_v.data} is a MINIMUM: every retry must wait at least {seconds:g} s; "
        "exponential growth, caps and jitter above it are allowed (Backoff.minimum_only)",
        _GEP_SRC,
    )
    notes.quirk(
        field,
        "Envoy-based implementations (Envoy Gateway, Istio) map backoff to Envoy's "
        "retry_back_off.base_interval, whose first retry waits U[0, backoff): they break the "
        "minimum, often by waiting almost nothing",
        _EG_SRC,
    )
    return Backoff(base_s=seconds, multiplier=1.0, jitter=JitterModel.NONE, minimum_only=True)


def _timeouts(
    timeouts: Value | None, notes: Notes, field: str
) -> tuple[float | None, float | None]:
    if timeouts is None:
        notes.default(
            field,
            "no timeouts: request and per-attempt timeouts are implementation-specific "
            "(Envoy Gateway: Envoy's 15 s route timeout); the policy declares none",
            _TYPES_SRC,
        )
        return None, None
    timeouts.check_fields(_TIMEOUT_FIELDS)
    request_v = timeouts.get("request")
    backend_v = timeouts.get("backendRequest")
    request = gateway_duration(request_v) if request_v is not None else None
    backend = gateway_duration(backend_v) if backend_v is not None else None
    if request is not None and backend is not None and request > 0 and backend > request:
        assert backend_v is not None
        raise backend_v.error(
            f"backendRequest timeout cannot be longer than request timeout ({request:g} s)"
        )
    for name, value in (("request", request), ("backendRequest", backend)):
        if value == 0:
            notes.default(f"{field}.{name}", f"{name} 0s disables that timeout", _TYPES_SRC)
    return (backend or None), (request or None)

"""Traefik adapter: the ``retry`` middleware to the canonical RetryPolicy.

Reads a Traefik dynamic configuration holding a retry middleware, in any of three shapes:

* file provider YAML: ``http.middlewares.<name>.retry``;
* file provider TOML (``.toml``): ``[http.middlewares.<name>.retry]`` (no line numbers);
* Kubernetes CRD: ``kind: Middleware`` (``traefik.io`` or the older ``traefik.containo.us``)
  with ``spec.retry``.

Fields: ``attempts`` (required), ``initialInterval`` and, since v3.7.0, ``timeout``,
``maxRequestBodyBytes``, ``status``, ``disableRetryOnNetworkError``,
``retryNonIdempotentMethod``. Durations are Go strings ("100ms") or integers (seconds).
Selection: the first retry middleware found (a note says so when there are several).

Absent and empty are the same in Traefik for ``status``, ``initialInterval`` and ``timeout``
(Go zero values); ``maxRequestBodyBytes`` absent is 2 MiB (SetDefaults), ``-1`` unbounded, and an
explicit ``0`` stops status retries for every request with a body, which only the traffic
decides: *not judged*. A file-provider server ``url`` with a literal address instead of a
harness placeholder is not a harness backend: retry count, upstream and backoff *not judged*
(:func:`_foreign_servers`). Fields the middleware does not have (``maxAttempts``, ``retryOn``,
``perTryTimeout`` ...) are refused with the field meant.

Sources:

* traefik/traefik@fd5a576d (v3.7.x): ``pkg/middlewares/retry/retry.go`` (attempts loop,
  newBackOff, network-error rule, idempotent methods, timeout), ``pkg/config/dynamic/
  middlewares.go`` (Retry, RetryDefaultMaxRequestBodyBytes), ``pkg/types/http_code_range.go``,
  ``docs/content/reference/routing-configuration/http/middlewares/retry.md``;
* cenkalti/backoff@v4.3.0 ``exponential.go`` (RandomizationFactor 0.5, MaxInterval 60 s,
  MaxElapsedTime 15 min).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.adapters._gateway_common import (
    Notes,
    Value,
    documents_of_kind,
    first_of,
    github,
    go_duration,
    kinds_seen,
    load_toml_document,
    load_yaml_documents,
    status_range,
)
from harness.adapters.base import FOREIGN_SERVER_ASPECTS, AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.policy.model import (
    Aspect,
    Backoff,
    JitterModel,
    MethodRule,
    RetryOn,
    RetryPolicy,
)
from harness.suts.templating import names_upstreams

SYSTEM = "traefik"

_TRAEFIK = "traefik/traefik"
_TRAEFIK_SHA = "fd5a576df2e8aeb0bfc8a96b6ef6e60a61f7ec0a"
_RETRY_SRC = github(_TRAEFIK, _TRAEFIK_SHA, "pkg/middlewares/retry/retry.go")
_DOCS_SRC = github(
    _TRAEFIK,
    _TRAEFIK_SHA,
    "docs/content/reference/routing-configuration/http/middlewares/retry.md",
)
_GO_TRANSPORT_SRC = github(
    "golang/go", "go1.26.8", "src/net/http/transport.go", "persistConn.shouldRetryRequest"
)
_DYNAMIC_SRC = github(_TRAEFIK, _TRAEFIK_SHA, "pkg/config/dynamic/middlewares.go", "Retry")
_MIRROR_SRC = github(
    _TRAEFIK,
    _TRAEFIK_SHA,
    "pkg/server/service/loadbalancer/mirror/mirror.go",
    "NewReusableRequest",
)
_V37_SRC = (
    "https://github.com/traefik/traefik/commit/827f5ca8c7b5e5746e1f4239a20acca5052cac28 "
    "(first in v3.7.0)"
)
_BACKOFF_SRC = github("cenkalti/backoff", "v4.3.0", "exponential.go")

RANDOMIZATION_FACTOR = 0.5
MAX_INTERVAL_S = 60.0
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
IDEMPOTENT_METHODS = frozenset(
    {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "UNLOCK"}
)
V37_FIELDS = (
    "timeout",
    "maxRequestBodyBytes",
    "status",
    "disableRetryOnNetworkError",
    "retryNonIdempotentMethod",
)
_FIELDS = frozenset({"attempts", "initialInterval", *V37_FIELDS})
RETRY_HINTS = {
    "maxAttempts": "did you mean 'attempts'? (total tries, the first included)",
    "retries": "did you mean 'attempts'? (total tries, the first included)",
    "maxRetries": "did you mean 'attempts'? (total tries, the first included)",
    "interval": "did you mean 'initialInterval'?",
    "backoff": "did you mean 'initialInterval'? (the first delay of the exponential backoff)",
    "retryOn": "did you mean 'status'? (status codes or ranges such as \"500-599\")",
    "statusCodes": "did you mean 'status'?",
    "codes": "did you mean 'status'?",
    "perTryTimeout": "the retry middleware has no per-try timeout; did you mean 'timeout'? "
    "(the window for all retries)",
}
_CRD_GROUPS = ("traefik.io", "traefik.containo.us")
_STATUS_BLOCK = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_INT_MAX = 2**63 - 1


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the first retry middleware in ``path``; raise ``BadInput`` if malformed."""
    notes = Notes()
    retry = _find_retry(path, notes)
    retry.mapping()
    retry.check_fields(_FIELDS, RETRY_HINTS)
    attempts = _attempts(retry)
    statuses = _statuses(retry)
    no_network = _flag(retry, "disableRetryOnNetworkError")
    any_method = _flag(retry, "retryNonIdempotentMethod")
    if no_network and not statuses:
        raise retry.error(
            "disableRetryOnNetworkError needs a non-empty status list (Traefik: the retry "
            "middleware requires at least HTTP status codes or retry on TCP)"
        )
    backoff = _backoff(retry, attempts, notes)
    deadline = _deadline(retry, notes)
    _body_limit(retry, statuses, notes)
    _version_notes(retry, statuses, notes)
    _behaviour_notes(retry, attempts, statuses, any_method, notes)
    _foreign_servers(path, notes)
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=attempts - 1,
        retry_on=RetryOn(
            statuses=statuses,
            connect_failure=not no_network or 502 in statuses,
            reset=502 in statuses,
            per_try_timeout=False,
        ),
        methods=MethodRule(
            retryable=None if any_method else IDEMPOTENT_METHODS,
            connect_failure_any_method=not no_network,
        ),
        backoff=backoff,
        deadline_s=deadline,
        not_judged=tuple(notes.not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


# --- servers that are not harness backends ----------------------------------------------------

_FOREIGN_REASON = (
    "the server URL names no harness placeholder ({{upstream_hostport}}, {{upstream_host}}, "
    "{{upstream_port}}, {{upstream}}), so it is not one of the harness's backends: Traefik's "
    "attempts to it (the load balancer picks it for first tries and retries alike) reach no "
    "journal, use up attempts, sit unseen between the journaled ones, and Traefik's answer for "
    "them (502 after a refused connection) reaches the client as the last answer"
)


def _foreign_servers(path: Path, notes: Notes) -> None:
    """A not-judged entry (max_retries, upstream, backoff) for each file-provider
    ``http.services.<name>.loadBalancer.servers[].url`` that names no upstream placeholder.
    Every service of the file is read (the adapter does not follow routers to the one the retry
    middleware serves): a literal server in another service makes these checks not judged too,
    which errs towards "not judged", never a verdict. CRD documents name Kubernetes Services,
    which the kind substrate creates: nothing to read there."""
    if path.suffix.lower() == ".toml":
        docs = [load_toml_document(path)]
    else:
        docs = load_yaml_documents(path)
    for doc in docs:
        services = doc.dig("http", "services")
        if services is None or not isinstance(services.data, dict):
            continue
        for _name, service in services.items():
            servers = service.dig("loadBalancer", "servers")
            if servers is None or not isinstance(servers.data, list):
                continue
            for server in servers.elements():
                url = server.get("url")
                if url is None or not isinstance(url.data, str) or names_upstreams(url.data):
                    continue
                notes.unmodelled(
                    url,
                    FOREIGN_SERVER_ASPECTS,
                    _FOREIGN_REASON,
                    source=_LB_DOC,
                    native=f"{url.path}: {url.data}",
                    field="servers",
                )


_LB_DOC = github(
    _TRAEFIK,
    _TRAEFIK_SHA,
    "pkg/middlewares/retry/retry.go",
    "ServeHTTP: each attempt calls the next handler, the service's load balancer, again",
)


# --- finding the middleware ------------------------------------------------------------------


def _find_retry(path: Path, notes: Notes) -> Value:
    if path.suffix.lower() == ".toml":
        found = _file_provider_retries([load_toml_document(path)])
        what = "TOML"
        seen = "no http.middlewares.<name>.retry table"
    else:
        docs = load_yaml_documents(path)
        found = _crd_retries(docs) or _file_provider_retries(docs)
        what = "YAML"
        seen = _seen_in_yaml(docs)
    if not found:
        raise BadInput(
            f"no Traefik retry middleware found in this {what} file: expected "
            "http.middlewares.<name>.retry (file provider) or a Middleware (traefik.io/v1alpha1) "
            f"with spec.retry; {seen}",
            file=path,
        )
    return first_of(found, "retry middlewares", notes)


def _seen_in_yaml(docs: list[Value]) -> str:
    """What the YAML holds instead: each file-provider middleware with its type(s), and the
    apiVersion/kind of the Kubernetes documents (a file-provider document has neither)."""
    middlewares = []
    for doc in docs:
        found = doc.dig("http", "middlewares")
        if found is None or not isinstance(found.data, dict):
            continue
        for name, middleware in found.items():
            types = list(middleware.data) if isinstance(middleware.data, dict) else []
            middlewares.append(f"{name} ({', '.join(map(str, types)) or 'no type'})")
    resources = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind")]
    parts = []
    if middlewares:
        parts.append(f"file-provider middlewares seen: {', '.join(middlewares)}")
    if resources or not middlewares:
        parts.append(f"kinds seen: {kinds_seen(resources)}")
    return "; ".join(parts)


def _crd_retries(docs: list[Value]) -> list[Value]:
    found = []
    for group in _CRD_GROUPS:
        for doc in documents_of_kind(docs, {"Middleware"}, group):
            retry = doc.dig("spec", "retry")
            if retry is not None:
                found.append(retry)
            else:
                spec = doc.get("spec")
                if spec is not None and isinstance(spec.data, dict):
                    _misspelt_retry(spec)
    return found


def _misspelt_retry(middleware: Value) -> None:
    """A middleware key that is almost 'retry' ('retries', 'Retry'): refused with the fix."""
    for key, child in middleware.items():
        if key != "retry" and key.lower() in ("retry", "retries", "retrypolicy"):
            raise child.error(
                "unknown middleware type; did you mean 'retry'? (Traefik's retry middleware)"
            )


def _file_provider_retries(docs: list[Value]) -> list[Value]:
    found = []
    for doc in docs:
        middlewares = doc.dig("http", "middlewares")
        if middlewares is None:
            continue
        for _name, middleware in middlewares.items():
            if isinstance(middleware.data, dict):
                _misspelt_retry(middleware)
            if isinstance(middleware.data, dict) and middleware.get("retry") is not None:
                retry = middleware.get("retry")
                assert retry is not None
                found.append(retry)
    return found


# --- fields ----------------------------------------------------------------------------------


def _attempts(retry: Value) -> int:
    value = retry.get("attempts")
    if value is None:
        raise retry.error("attempts is required (an integer >= 1: the total number of tries)")
    return value.as_int(minimum=1, maximum=_INT_MAX)


def _flag(retry: Value, name: str) -> bool:
    value = retry.get(name)
    return False if value is None else value.as_bool()


def _statuses(retry: Value) -> frozenset[int]:
    value = retry.get("status")
    if value is None:
        return frozenset()
    codes: set[int] = set()
    for item in value.elements():
        text = str(item.data) if isinstance(item.data, int | str) else None
        if isinstance(item.data, bool) or text is None:
            raise item.error(
                f'must be a status or a range such as "503" or "500-599" ({item.data!r})'
            )
        for block in text.split(","):
            if not block.strip():
                continue
            match = _STATUS_BLOCK.match(block)
            if match is None:
                raise item.error(
                    f'must be a status or a range such as "503" or "500-599" (got {text!r})'
                )
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if not 100 <= low <= high <= 599:
                raise item.error(f"range must lie within 100..599 with low <= high (got {text!r})")
            codes |= status_range(low, high)
    return frozenset(codes)


def _backoff(retry: Value, attempts: int, notes: Notes) -> Backoff:
    value = retry.get("initialInterval")
    field = retry.child_path("initialInterval")
    initial = 0.0 if value is None else go_duration(value, unit_s=1.0)
    if value is None:
        notes.default(field, "initialInterval not set: 0, retries are immediate", _DOCS_SRC)
    if initial == 0 or attempts < 2:
        return Backoff(base_s=0.0, multiplier=1.0, jitter=JitterModel.NONE)
    multiplier = 2 ** (1 / (attempts - 1))
    last = initial * multiplier ** (attempts - 2)
    notes.default(
        field,
        f"exponential backoff (cenkalti/backoff): multiplier 2^(1/(attempts-1)) = "
        f"{multiplier:.4f}, randomization factor 0.5 (delay x U[0.5, 1.5]), max interval 60 s, "
        "max elapsed time 15 min",
        _BACKOFF_SRC,
    )
    notes.quirk(
        field,
        "the docs say the interval grows up to twice initialInterval; the last nominal delay is "
        f"initialInterval x 2^((attempts-2)/(attempts-1)) = {last:g} s (< 2x), before the "
        "+-50 % jitter",
        _RETRY_SRC,
    )
    cap = MAX_INTERVAL_S
    if initial > MAX_INTERVAL_S:
        cap = initial
        notes.quirk(
            field,
            "initialInterval above cenkalti's MaxInterval (60 s): the first delay uses it, "
            "every later one is 60 s; the policy caps at initialInterval instead",
            _BACKOFF_SRC,
        )
    return Backoff(
        base_s=initial,
        multiplier=multiplier,
        cap_s=cap,
        jitter=JitterModel.PERCENT,
        jitter_fraction=RANDOMIZATION_FACTOR,
    )


def _deadline(retry: Value, notes: Notes) -> float | None:
    value = retry.get("timeout")
    if value is None:
        return None
    seconds = go_duration(value, unit_s=1.0)
    if seconds == 0:
        return None
    notes.quirk(
        value.path,
        "timeout is checked when an attempt's response arrives: after it, no retry starts, but "
        "an attempt in flight is not aborted (so a request can last longer than timeout)",
        _RETRY_SRC,
    )
    return seconds


def _body_limit(retry: Value, statuses: frozenset[int], notes: Notes) -> None:
    value = retry.get("maxRequestBodyBytes")
    if value is None or not statuses:
        if value is not None:
            value.as_int(minimum=-1)
        return
    limit = value.as_int(minimum=-1)
    if limit < 0:
        notes.default(
            value.path,
            "maxRequestBodyBytes -1: every request body is buffered, whatever its size, so "
            "every request can be retried on status",
            _MIRROR_SRC,
        )
    elif limit == 0:
        notes.unmodelled(
            value,
            {Aspect.STATUSES},
            "maxRequestBodyBytes 0: a request with any body is not retried on status (its "
            "body is larger than the limit), one without a body is; which requests carry a "
            "body is known only at run time",
            _MIRROR_SRC,
        )
    else:
        notes.quirk(
            value.path,
            f"a request whose body is larger than {limit} bytes is not retried on status",
            _MIRROR_SRC,
        )


# --- notes -----------------------------------------------------------------------------------


def _version_notes(retry: Value, statuses: frozenset[int], notes: Notes) -> None:
    used = [name for name in V37_FIELDS if retry.get(name) is not None]
    if used:
        notes.quirk(
            retry.path,
            f"{', '.join(used)} need Traefik v3.7.0 or later; older versions reject them and "
            "retry network errors only",
            _V37_SRC,
        )
    if not statuses:
        notes.default(
            retry.child_path("status"),
            "status not set: no status code is retried, only connection failures before any "
            "request byte was sent (the only behaviour before v3.7)",
            _DOCS_SRC,
        )
    if statuses and retry.get("maxRequestBodyBytes") is None:
        notes.default(
            retry.child_path("maxRequestBodyBytes"),
            f"maxRequestBodyBytes not set: {DEFAULT_MAX_BODY_BYTES} bytes (2 MiB); a request "
            "with a larger body is not retried on status",
            _DYNAMIC_SRC,
        )


def _behaviour_notes(
    retry: Value, attempts: int, statuses: frozenset[int], any_method: bool, notes: Notes
) -> None:
    notes.quirk(
        retry.child_path("attempts"),
        f"attempts counts TOTAL tries ({attempts} tries = {attempts - 1} retries), although the "
        "docs call it the number of times the request should be retried",
        _RETRY_SRC,
    )
    notes.quirk(
        retry.path,
        "a network error is retried only if the request reached the proxy and no request byte "
        "was written (a refused connection); a reset after the request was sent becomes "
        "Traefik's 502, retried only when 502 is in status. There is no per-try timeout in the "
        "middleware (a hung attempt is never retried)",
        _RETRY_SRC,
    )
    notes.quirk(
        retry.path,
        "with upstream keep-alive (the default serversTransport), a GET (or other idempotent "
        "request) whose REUSED connection is reset after it was sent is replayed at once by "
        "Go's HTTP transport under Traefik, unseen by this middleware and outside attempts and "
        "its backoff: hidden retries (a finding of retry-harness against Traefik v3.7.13, "
        "scenarios/traefik-keepalive-hidden-retries.yaml). A serversTransport with "
        "maxIdleConnsPerHost: -1 removes them",
        _GO_TRANSPORT_SRC,
    )
    if statuses and not any_method:
        notes.quirk(
            retry.child_path("retryNonIdempotentMethod"),
            "POST, PATCH and LOCK are never retried on a status unless retryNonIdempotentMethod "
            "is true (connection failures still are)",
            _RETRY_SRC,
        )
    if not statuses:
        for name, what in (
            (
                "retryNonIdempotentMethod",
                "it only lets POST, PATCH and LOCK be retried on a "
                "status; network errors are retried for every method anyway",
            ),
            ("maxRequestBodyBytes", "the body is buffered only for status retries"),
        ):
            value = retry.get(name)
            if value is not None:
                notes.quirk(value.path, f"{name} has no effect without status: {what}", _RETRY_SRC)

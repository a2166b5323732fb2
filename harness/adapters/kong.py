"""Kong adapter: a Service's ``retries`` and timeouts to the canonical RetryPolicy.

Reads either

* a declarative config (``kong.yml`` with ``_format_version`` and ``services[]``): the first
  service's ``retries``, ``connect_timeout``, ``write_timeout``, ``read_timeout``; or
* Kubernetes manifests for the Kong Ingress Controller: a ``v1/Service`` annotated with
  ``konghq.com/retries``, ``konghq.com/connect-timeout``, ``konghq.com/read-timeout``,
  ``konghq.com/write-timeout``, else a ``KongIngress`` (``configuration.konghq.com``) with a
  ``proxy`` section using the entity's field names.

Kong retries through nginx's balancer (``set_more_tries``) with nginx's default
``proxy_next_upstream error timeout``: connection errors and timeouts only, immediately, to the
next target, never for a non-idempotent request once it was sent.

Sources (see ``retry-semantics.md`` §8-§9):

* Kong/kong@22246ef2: ``kong/db/schema/entities/services.lua`` (retries default 5, 0..32767;
  timeouts default 60000 ms), ``kong/init.lua`` (balancer phase, set_more_tries),
  ``kong/runloop/upstream_retry.lua``, ``kong/templates/nginx_kong.lua`` (no proxy_next_upstream);
* nginx/nginx@3f6f7824: ``src/http/ngx_http_upstream.c`` (ngx_http_upstream_next,
  non-idempotent rule), nginx.org ``ngx_http_proxy_module`` docs (proxy_next_upstream default);
* Kong/kubernetes-ingress-controller docs: ``konghq.com/*`` Service annotations, KongIngress.
"""

from __future__ import annotations

from pathlib import Path

from harness.adapters._gateway_common import (
    Notes,
    Value,
    documents_of_kind,
    first_of,
    kinds_seen,
    load_yaml_documents,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.adapters.nginx import RETRYABLE_METHODS
from harness.errors import BadInput
from harness.policy.model import Backoff, JitterModel, MethodRule, RetryOn, RetryPolicy

SYSTEM = "kong"

_KONG = "Kong/kong@22246ef2"
_SCHEMA_SRC = f"{_KONG}: kong/db/schema/entities/services.lua"
_TEMPLATE_SRC = f"{_KONG}: kong/templates/nginx_kong.lua; nginx proxy_next_upstream default"
_NGINX_SRC = "nginx/nginx@3f6f7824: src/http/ngx_http_upstream.c (ngx_http_upstream_next)"
_BALANCER_SRC = f"{_KONG}: kong/init.lua (balancer phase)"
_KIC_SRC = "Kong/kubernetes-ingress-controller: konghq.com/* Service annotations"

DEFAULT_RETRIES = 5
MAX_RETRIES = 32767
DEFAULT_TIMEOUT_MS = 60000
MAX_TIMEOUT_MS = 2**31 - 2
_TIMEOUTS = ("connect_timeout", "write_timeout", "read_timeout")
_ANNOTATIONS = {
    "retries": "konghq.com/retries",
    "connect_timeout": "konghq.com/connect-timeout",
    "write_timeout": "konghq.com/write-timeout",
    "read_timeout": "konghq.com/read-timeout",
}


class _Settings:
    """The four service fields, each a Value (or None when absent), plus how to name them."""

    def __init__(self, fields: dict[str, Value | None], names: dict[str, str]) -> None:
        self.fields = fields
        self.names = names


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the retry settings of the first Kong service in ``path``."""
    docs = load_yaml_documents(path)
    notes = Notes()
    settings = _declarative(docs, notes) or _kubernetes(docs, notes)
    if settings is None:
        raise BadInput(
            "no Kong service found: expected a declarative config (_format_version, "
            "services[]), a v1 Service with konghq.com/* annotations, or a KongIngress with a "
            f"proxy section; kinds seen: {kinds_seen(docs)}",
            file=path,
        )
    retries = _retries(settings, notes)
    timeouts = {name: _timeout(settings, name, notes) for name in _TIMEOUTS}
    read_timeout_s = timeouts["read_timeout"] / 1000
    different = context.upstream_servers != 1
    _quirks(settings, notes, context, read_timeout_s)
    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=retries,
        retry_on=RetryOn(
            statuses=frozenset(), connect_failure=True, reset=True, per_try_timeout=True
        ),
        methods=MethodRule(retryable=RETRYABLE_METHODS, connect_failure_any_method=True),
        backoff=Backoff(base_s=0.0, multiplier=1.0, jitter=JitterModel.NONE),
        per_try_timeout_s=read_timeout_s,
        deadline_s=None,
        different_upstream=different,
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes.items)


def _declarative(docs: list[Value], notes: Notes) -> _Settings | None:
    configs = [d for d in docs if "_format_version" in d.data]
    if not configs:
        return None
    config = configs[0]
    services_v = config.get("services")
    if services_v is None:
        raise config.error("a declarative config needs services[] (at least one service)")
    services = services_v.elements()
    if not services:
        raise services_v.error("must hold at least one service")
    service = first_of(services, "services", notes)
    service.mapping()
    fields = {name: service.get(name) for name in ("retries", *_TIMEOUTS)}
    return _Settings(fields, {name: service.child_path(name) for name in fields})


def _kubernetes(docs: list[Value], notes: Notes) -> _Settings | None:
    annotated = []
    for doc in documents_of_kind(docs, {"Service"}, ""):
        annotations = doc.dig("metadata", "annotations")
        if annotations is not None and any(
            str(k).startswith("konghq.com/") for k in annotations.mapping()
        ):
            annotated.append(doc)
    if annotated:
        service = first_of(annotated, "Services with konghq.com annotations", notes)
        annotations = service.dig("metadata", "annotations")
        assert annotations is not None
        fields = {name: annotations.get(key) for name, key in _ANNOTATIONS.items()}
        names = {name: annotations.child_path(key) for name, key in _ANNOTATIONS.items()}
        for name, value in fields.items():
            if value is not None:
                fields[name] = _annotation_int(value)
        return _Settings(fields, names)
    ingresses = documents_of_kind(docs, {"KongIngress"}, "configuration.konghq.com")
    with_proxy = [d for d in ingresses if d.get("proxy") is not None]
    if not with_proxy:
        return None
    ingress = first_of(with_proxy, "KongIngress documents with a proxy section", notes)
    proxy = ingress.get("proxy")
    assert proxy is not None
    proxy.mapping()
    notes.quirk(
        proxy.path,
        "KongIngress is deprecated for services: the Kong Ingress Controller prefers the "
        "konghq.com/* annotations on the Service, which win when both are set",
        _KIC_SRC,
    )
    fields = {name: proxy.get(name) for name in ("retries", *_TIMEOUTS)}
    return _Settings(fields, {name: proxy.child_path(name) for name in fields})


def _annotation_int(value: Value) -> Value:
    """Annotation values are strings: "3" -> 3 (anything else is an error)."""
    text = value.data
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise value.error(f'must be a quoted integer such as "3" (got {text!r})')
    if isinstance(text, str):
        if not text.strip().isdigit():
            raise value.error(f'must be a quoted integer such as "3" (got {text!r})')
        return Value(int(text.strip()), value.keys, value.file, value.lines)
    return value


def _retries(settings: _Settings, notes: Notes) -> int:
    value = settings.fields["retries"]
    if value is None:
        notes.default(
            settings.names["retries"],
            f"retries not set: Kong's default {DEFAULT_RETRIES} retries "
            f"({DEFAULT_RETRIES + 1} tries)",
            _SCHEMA_SRC,
        )
        return DEFAULT_RETRIES
    return value.as_int(minimum=0, maximum=MAX_RETRIES)


def _timeout(settings: _Settings, name: str, notes: Notes) -> int:
    value = settings.fields[name]
    if value is None:
        notes.default(
            settings.names[name],
            f"{name} not set: Kong's default {DEFAULT_TIMEOUT_MS} ms",
            _SCHEMA_SRC,
        )
        return DEFAULT_TIMEOUT_MS
    return value.as_int(minimum=1, maximum=MAX_TIMEOUT_MS)


def _quirks(
    settings: _Settings, notes: Notes, context: AdapterContext, read_timeout_s: float
) -> None:
    retries_field = settings.names["retries"]
    notes.quirk(
        retries_field,
        "Kong documents retries as 'the number of retries to execute upon failure to proxy'; "
        "it sets no proxy_next_upstream, so nginx's default 'error timeout' applies: connect "
        "errors, resets and timeouts before the response header are retried, a 5xx (or any) "
        "answer from the upstream never is",
        _TEMPLATE_SRC,
    )
    notes.quirk(
        retries_field,
        "nginx's non-idempotent rule: once a POST, LOCK or PATCH request was sent, its failure "
        "is not retried (no non_idempotent in proxy_next_upstream); a connect failure still is",
        _NGINX_SRC,
    )
    notes.quirk(
        retries_field,
        "retries are immediate (no backoff) and the balancer picks the next target",
        _BALANCER_SRC,
    )
    notes.quirk(
        settings.names["read_timeout"],
        f"read_timeout ({read_timeout_s:g} s) is used as the per-try timeout: it bounds the wait "
        "between two reads (so a silent backend is abandoned after it), not the whole attempt; "
        "connect_timeout and write_timeout bound connecting and sending",
        _TEMPLATE_SRC,
    )
    if context.upstream_servers == 1:
        notes.quirk(
            retries_field,
            "one upstream server: Kong's balancer has no other target, so retries go back to "
            "the same server (inference: Kong's Lua balancer, not nginx's single-peer rule, "
            "decides)",
            _BALANCER_SRC,
        )

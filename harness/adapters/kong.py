"""Kong adapter: a Service's ``retries`` and timeouts to the canonical RetryPolicy.

Reads either

* a declarative config (``kong.yml`` with ``_format_version`` and ``services[]``): the first
  service's ``retries``, ``connect_timeout``, ``write_timeout``, ``read_timeout``; or
* Kubernetes manifests for the Kong Ingress Controller (KIC): a ``v1/Service`` annotated with
  ``konghq.com/retries``, ``konghq.com/connect-timeout``, ``konghq.com/read-timeout``,
  ``konghq.com/write-timeout``.

What Kong accepts but ignores is read as what Kong really does, with a note: these annotations
on anything but a Service (an HTTPRoute, an Ingress: KIC reads them on Services only), and an
annotation value ``strconv.Atoi`` cannot read (KIC skips it), leave Kong's defaults in force.
What Kong or the API server refuses is refused: a non-string annotation, a value out of Kong's
range, a ``KongIngress`` with a ``proxy`` section (disallowed since KIC 3.0), a ``KongPlugin``
without ``plugin:`` (Kong ships no retry plugin). Plugins that run code of their own
(``pre-function``, ``post-function``, any plugin Kong does not ship) may change retries at run
time: what they may affect is *not judged*. So are health checks that can mark a target
unhealthy (an upstream's ``healthchecks.active`` with an interval, ``healthchecks.passive`` with
a failure threshold): see :func:`_health_checks`.

Kong retries through nginx's balancer (``set_more_tries``) with nginx's default
``proxy_next_upstream error timeout``: connection errors and timeouts only, immediately, to the
next target, never for a non-idempotent request once it was sent.

Sources:

* Kong/kong@3.9.0: ``kong/db/schema/entities/services.lua`` (retries default 5, 0..32767;
  timeouts default 60000 ms), ``kong/init.lua`` (balancer phase, set_more_tries),
  ``kong/templates/nginx_kong.lua`` (no proxy_next_upstream);
* nginx.org ``ngx_http_proxy_module`` docs (proxy_next_upstream default and the
  non-idempotent rule);
* Kong/kubernetes-ingress-controller@1fa68f86: ``internal/dataplane/kongstate/service.go``
  (overrideByAnnotation: Service annotations only, strconv.Atoi), ``CHANGELOG.md`` 3.0.0
  (KongIngress proxy removed).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from harness.adapters._gateway_common import (
    Notes,
    Value,
    closest_field,
    documents_of_kind,
    first_of,
    github,
    kinds_seen,
    load_yaml_documents,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.adapters.nginx import RETRYABLE_METHODS
from harness.errors import BadInput
from harness.policy.model import (
    Aspect,
    Backoff,
    JitterModel,
    MethodRule,
    RetryOn,
    RetryPolicy,
)

SYSTEM = "kong"

_KONG_REF = "3.9.0"
_SCHEMA_SRC = github("Kong/kong", _KONG_REF, "kong/db/schema/entities/services.lua")
_TEMPLATE_SRC = github("Kong/kong", _KONG_REF, "kong/templates/nginx_kong.lua")
_NGINX_DOCS = "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream"
_BALANCER_SRC = github("Kong/kong", _KONG_REF, "kong/init.lua", "balancer phase")
_KIC_SHA = "1fa68f8642daef18fe676d852381a37447b31daf"
_KIC_SRC = github(
    "Kong/kubernetes-ingress-controller",
    _KIC_SHA,
    "internal/dataplane/kongstate/service.go",
    "overrideByAnnotation",
)
_KIC_CHANGELOG = github("Kong/kubernetes-ingress-controller", _KIC_SHA, "CHANGELOG.md", "3.0.0")
_PLUGIN_HUB = "https://docs.konghq.com/hub/"
_HEALTH_DOCS = (
    "https://developer.konghq.com/gateway/traffic-control/health-checks-circuit-breakers/ "
    "(active checks off when both intervals are 0; passive checks off when every "
    "passive.unhealthy threshold is 0; the ring balancer routes only to healthy targets); "
    + github("Kong/kong", _KONG_REF, "kong/db/schema/entities/upstreams.lua", "healthchecks")
    + "; KongUpstreamPolicy spec.healthchecks: "
    "https://developer.konghq.com/kubernetes-ingress-controller/service-health-checks"
)

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


_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi reads
_PLUGIN_KINDS = {"KongPlugin", "KongClusterPlugin"}
# Plugins Kong ships that authenticate, log, measure, limit or rewrite headers: they do not
# touch the balancer's retries or the upstream target.
HARMLESS_PLUGINS = frozenset(
    {
        "acl",
        "basic-auth",
        "bot-detection",
        "correlation-id",
        "cors",
        "datadog",
        "file-log",
        "hmac-auth",
        "http-log",
        "ip-restriction",
        "jwt",
        "key-auth",
        "ldap-auth",
        "loggly",
        "oauth2",
        "opentelemetry",
        "prometheus",
        "rate-limiting",
        "request-size-limiting",
        "request-transformer",
        "response-ratelimiting",
        "response-transformer",
        "statsd",
        "syslog",
        "tcp-log",
        "udp-log",
        "zipkin",
    }
)
_CODE_PLUGINS = frozenset({"pre-function", "post-function"})
_PLUGIN_ASPECTS = frozenset({Aspect.MAX_RETRIES, Aspect.STATUSES, Aspect.RESETS, Aspect.UPSTREAM})
NO_RETRY_PLUGIN = (
    "Kong ships no retry plugin: a Service's retries are its `retries` field (the "
    "konghq.com/retries annotation on the Kubernetes Service)"
)
SERVICE_HINTS = {
    "retry": "did you mean 'retries'?",
    "max_retries": "did you mean 'retries'?",
    "retry_count": "did you mean 'retries'?",
    "timeout": "did you mean read_timeout, connect_timeout or write_timeout (milliseconds)?",
}
_SERVICE_FIELDS = frozenset({"retries", *("connect_timeout", "write_timeout", "read_timeout")})
_OTHER_SERVICE_FIELDS = frozenset(  # services.lua, plus the declarative url, routes, plugins
    {
        "id",
        "created_at",
        "updated_at",
        "name",
        "protocol",
        "host",
        "port",
        "path",
        "tags",
        "client_certificate",
        "tls_verify",
        "tls_verify_depth",
        "ca_certificates",
        "enabled",
        "tls_sans",
        "url",
        "routes",
        "plugins",
    }
)


class _Settings:
    """The four service fields, each a Value (or None when absent), plus how to name them; for a
    declarative config also the config and its judged service (the one place that chooses it)."""

    def __init__(
        self,
        fields: dict[str, Value | None],
        names: dict[str, str],
        *,
        config: Value | None = None,
        service: Value | None = None,
    ) -> None:
        self.fields = fields
        self.names = names
        self.config = config
        self.service = service


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read the retry settings of the first Kong service in ``path``."""
    docs = load_yaml_documents(path)
    notes = Notes()
    _kong_ingresses(docs)
    _plugins(docs, notes)
    misplaced = _misplaced_annotations(docs, notes)
    settings = _declarative(docs, notes) or _kubernetes(docs, notes)
    if settings is None and (misplaced or _has_plugins(docs)):
        settings = _Settings(
            dict.fromkeys(("retries", *_TIMEOUTS)),
            {name: f"Service metadata.annotations.{key}" for name, key in _ANNOTATIONS.items()},
        )
    if settings is None:
        raise BadInput(
            "no Kong service found: expected a declarative config (_format_version, "
            "services[]) or a v1 Service with konghq.com/* annotations; kinds seen: "
            f"{kinds_seen(docs)}",
            file=path,
        )
    retries = _retries(settings, notes)
    timeouts = {name: _timeout(settings, name, notes) for name in _TIMEOUTS}
    read_timeout_s = timeouts["read_timeout"] / 1000
    different = context.upstream_servers != 1
    _quirks(settings, notes, context, read_timeout_s)
    _health_checks(docs, settings, notes, context)
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
        not_judged=tuple(notes.not_judged),
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
    for key, child in service.items():
        if key in _SERVICE_FIELDS or key in _OTHER_SERVICE_FIELDS:
            continue
        close = closest_field(key, _SERVICE_FIELDS)
        if key in SERVICE_HINTS or close:
            hint = SERVICE_HINTS.get(key) or f"did you mean {close!r}?"
            raise child.error(f"unknown field (Kong refuses it); {hint}")
    fields = {name: service.get(name) for name in ("retries", *_TIMEOUTS)}
    names = {name: service.child_path(name) for name in fields}
    return _Settings(fields, names, config=config, service=service)


def _kubernetes(docs: list[Value], notes: Notes) -> _Settings | None:
    annotated = []
    for doc in documents_of_kind(docs, {"Service"}, ""):
        annotations = doc.dig("metadata", "annotations")
        if annotations is not None and any(
            str(k).startswith("konghq.com/") for k in annotations.mapping()
        ):
            annotated.append(doc)
    if not annotated:
        return None
    service = first_of(annotated, "Services with konghq.com annotations", notes)
    annotations = service.dig("metadata", "annotations")
    assert annotations is not None
    fields = {name: annotations.get(key) for name, key in _ANNOTATIONS.items()}
    names = {name: annotations.child_path(key) for name, key in _ANNOTATIONS.items()}
    for key, annotation in annotations.items():
        if not key.startswith("konghq.com/") or key in _ANNOTATIONS.values():
            continue
        close = closest_field(key, _ANNOTATIONS.values())
        if close is not None:
            notes.quirk(
                annotation.path,
                f"{key} is not an annotation the Kong Ingress Controller reads (did you mean "
                f"{close}?): it has no effect",
                _KIC_SRC,
            )
    for name, value in fields.items():
        if value is not None:
            fields[name] = _annotation_int(value, notes)
    return _Settings(fields, names)


def _kong_ingresses(docs: list[Value]) -> None:
    """KIC 3.0 disallows KongIngress proxy (and route) sections: the API server refuses them."""
    for ingress in documents_of_kind(docs, {"KongIngress"}, "configuration.konghq.com"):
        proxy = ingress.get("proxy")
        if proxy is not None:
            raise proxy.error(
                "KongIngress proxy is disallowed since Kong Ingress Controller 3.0 (the CRD "
                "refuses it); did you mean the konghq.com/retries, konghq.com/connect-timeout, "
                "konghq.com/read-timeout and konghq.com/write-timeout annotations on the Service?"
            )


def _misplaced_annotations(docs: list[Value], notes: Notes) -> bool:
    """konghq.com/retries and the timeouts on anything but a Service: accepted, no effect."""
    found = False
    for doc in docs:
        annotations = doc.dig("metadata", "annotations")
        if annotations is None or doc.data.get("kind") == "Service":
            continue
        for key in _ANNOTATIONS.values():
            value = annotations.get(key)
            if value is None:
                continue
            found = True
            kind = doc.data.get("kind") or "this object"
            notes.quirk(
                value.path,
                f"{key} has no effect on a {kind}: the Kong Ingress Controller reads it on "
                "Kubernetes Services only (overrideByAnnotation); Kong's default applies unless "
                "the Service behind the route sets it",
                _KIC_SRC,
            )
    return found


def _annotation_int(value: Value, notes: Notes) -> Value | None:
    """An annotation read as KIC reads it: strconv.Atoi, or skipped (None) when it fails."""
    text = value.data
    if not isinstance(text, str):
        raise value.error(
            f"annotation values must be strings (the API server refuses {text!r}): quote it, "
            f'e.g. "{text}"'
        )
    if not _ATOI.fullmatch(text):
        notes.quirk(
            value.path,
            f"{text!r} is not an integer strconv.Atoi can read: the Kong Ingress Controller "
            "skips the annotation, so Kong's default applies",
            _KIC_SRC,
        )
        return None
    return Value(int(text), value.keys, value.file, value.lines)


def _has_plugins(docs: list[Value]) -> bool:
    return bool(documents_of_kind(docs, _PLUGIN_KINDS, "configuration.konghq.com"))


def _plugins(docs: list[Value], notes: Notes) -> None:
    for doc in documents_of_kind(docs, _PLUGIN_KINDS, "configuration.konghq.com"):
        plugin = doc.get("plugin")
        name = doc.dig("metadata", "name")
        label = f"{doc.data.get('kind')} {name.data if name is not None else ''}".strip()
        if plugin is None:
            raise doc.error(
                f"{label} has no plugin: field (the CRD requires it). {NO_RETRY_PLUGIN}"
            )
        _plugin_effect(plugin, notes)
    for config in (d for d in docs if "_format_version" in d.data):
        for entry in _declarative_plugins(config):
            plugin = entry.get("name")
            if plugin is None:
                raise entry.error(f"a plugin needs a name. {NO_RETRY_PLUGIN}")
            _plugin_effect(plugin, notes)


def _declarative_plugins(config: Value) -> list[Value]:
    found: list[Value] = []
    plugins = config.get("plugins")
    if plugins is not None:
        found += plugins.elements()
    for group in ("services", "routes"):
        entities = config.get(group)
        for entity in entities.elements() if entities is not None else []:
            if isinstance(entity.data, dict):
                found += _declarative_plugins(entity)
    return found


def _plugin_effect(plugin: Value, notes: Notes) -> None:
    name = plugin.as_str()
    if name in HARMLESS_PLUGINS:
        return
    if name in _CODE_PLUGINS:
        reason = (
            f"{name} runs Lua code of its own in the request: it may change the retries "
            "(kong.service.set_retries), the target or the answer, which only running it shows"
        )
    else:
        reason = (
            f"{name!r} is not one of the plugins Kong ships that leave proxying alone (Kong "
            "ships no retry plugin): a custom plugin's Lua code may change the retries "
            "(kong.service.set_retries), the target or the answer, which only running it shows"
        )
    notes.unmodelled(plugin, _PLUGIN_ASPECTS, reason, _PLUGIN_HUB)


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
        "its nginx template sets no proxy_next_upstream, so nginx's default 'error timeout' "
        "applies: connect errors, resets and timeouts before the response header are "
        "retried, a 5xx (or any) answer from the upstream never is",
        f"{_TEMPLATE_SRC}; {_NGINX_DOCS}",
    )
    notes.quirk(
        retries_field,
        "nginx's non-idempotent rule: once a POST, LOCK or PATCH request was sent, its failure "
        "is not retried (no non_idempotent in proxy_next_upstream); a connect failure still is",
        _NGINX_DOCS,
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


_HEALTH_REASON = (
    "Kong's health checks mark a target unhealthy at run time (active: its probes of the "
    "targets fail; passive: proxied requests fail, tcp_failures, timeouts or http_failures "
    "reaching their threshold) and the ring balancer then skips it: retries go to other "
    "targets, and with every target unhealthy Kong answers 503 itself ('failure to get a peer "
    "from the ring-balancer') after no attempt; which requests meet an unhealthy target "
    "depends on the faults and their timing, not on the config"
)
# Kong's (snake_case) and KongUpstreamPolicy's (camelCase) names of the unhealthy thresholds.
_THRESHOLDS = ("http_failures", "tcp_failures", "timeouts", "httpFailures", "tcpFailures")


def _health_checks(
    docs: list[Value], settings: _Settings, notes: Notes, context: AdapterContext
) -> None:
    """Not judged (retry count and, with several targets, the upstream): health checks that can
    mark a target unhealthy.

    Read from the declarative config's ``upstreams[]`` (only the upstream the judged service's
    host names: Kong sends the service there), from every ``KongUpstreamPolicy``
    ``spec.healthchecks`` and every ``KongIngress`` ``upstream.healthchecks`` (which Service
    uses them is not resolved: a conservative choice, a policy in the file is assumed to
    apply). Active checks count when ``healthy.interval`` or ``unhealthy.interval`` is above 0
    (Kong's docs: both 0 turns them off), passive ones when a ``passive.unhealthy`` threshold
    is above 0 (all 0, the default, turns them off). Defaults (no ``healthchecks``): off."""
    blocks: list[Value] = []
    host = _service_host(settings.service) if settings.service is not None else None
    upstreams = settings.config.get("upstreams") if settings.config is not None else None
    if host is not None and upstreams is not None:
        for upstream in upstreams.elements():
            name = upstream.get("name")
            checks = upstream.get("healthchecks")
            if checks is not None and name is not None and name.data == host:
                blocks.append(checks)
    for doc in documents_of_kind(docs, {"KongUpstreamPolicy"}, "configuration.konghq.com"):
        if (checks := doc.dig("spec", "healthchecks")) is not None:
            blocks.append(checks)
    for doc in documents_of_kind(docs, {"KongIngress"}, "configuration.konghq.com"):
        if (checks := doc.dig("upstream", "healthchecks")) is not None:
            blocks.append(checks)
    aspects = {Aspect.MAX_RETRIES}
    if context.upstream_servers != 1:
        aspects.add(Aspect.UPSTREAM)
    for checks in blocks:
        active = checks.get("active")
        if active is not None:
            on = [
                v
                for key in ("healthy", "unhealthy")
                if (v := active.dig(key, "interval")) is not None and _positive(v)
            ]
            if on:
                notes.unmodelled(
                    on[0],
                    aspects,
                    f"active health checks ({on[0].path}: {on[0].data}): {_HEALTH_REASON}",
                    _HEALTH_DOCS,
                )
        unhealthy = checks.dig("passive", "unhealthy")
        if unhealthy is not None:
            on = [v for k in _THRESHOLDS if (v := unhealthy.get(k)) is not None and _positive(v)]
            if on:
                notes.unmodelled(
                    on[0],
                    aspects,
                    f"passive health checks ({on[0].path}: {on[0].data}): {_HEALTH_REASON}",
                    _HEALTH_DOCS,
                )


def _positive(value: Value) -> bool:
    """A number above 0 (Kong refuses a non-number, and so does this)."""
    return value.as_float(minimum=0) > 0


def _service_host(service: Value) -> str | None:
    """A declarative service's host: ``host``, else the host of ``url`` (as
    ``urllib.parse.urlsplit`` reads it: no user info, no port)."""
    host = service.get("host")
    if host is not None:
        return str(host.data)
    url = service.get("url")
    return None if url is None else urlsplit(str(url.data)).hostname

"""What each system's own telemetry says about attempts and retries, and where it is scraped.

One module per system (the model in ``model``):

* ``backends``: our own ``fake_backend_attempts_total``, per replica;
* ``haproxy``: HAProxy 2.6's built-in exporter, in total and per server;
* ``envoy``: Envoy's cluster stats, for Envoy Gateway (and Gateway API ``HTTPRoute`` on it) and
  Istio: from Envoy's docs and source, not shown against a running Envoy here.

Systems that log retries instead are read by harness/telemetry/logs.py. For the others
:func:`reader_for` says why nothing is compared.
"""

from __future__ import annotations

from harness.telemetry.readers.backends import BACKENDS
from harness.telemetry.readers.envoy import ENVOY_GATEWAY, ISTIO
from harness.telemetry.readers.haproxy import HAPROXY
from harness.telemetry.readers.model import CounterMapping, Quantity, TelemetryReader

READERS: dict[str, TelemetryReader] = {
    "haproxy": HAPROXY,
    "envoy-gateway": ENVOY_GATEWAY,
    "httproute": ENVOY_GATEWAY,  # the kit's HTTPRoute.retry runs on Envoy Gateway
    "istio": ISTIO,
}

KUBERAY_NO_LOG = (
    "the KubeRay APIServer v1.5.0 writes no log line per retry: its retrying round tripper "
    "(apiserversdk/proxy.go, retryRoundTripper.RoundTrip, and apiserver/pkg/http/client.go at "
    "https://github.com/ray-project/kuberay/tree/v1.5.0) retries without logging; the line "
    "'Retrying request to POST /apis/..., attempt 1, status code: 503' appears only in a draft "
    "doc of pull request #4144 (commit 30234a2bf), removed before it merged (14638bdee), and "
    "names no request id"
)

NO_READER: dict[str, str] = {
    "caddy": "Caddy 2.6 exports no counter of upstream attempts or retries "
    "(https://caddyserver.com/docs/metrics)",
    "nginx": "nginx-light has no metrics exporter (its stub_status counts client requests only)",
    "urllib3": "urllib3 exports no metrics; its retry log lines are compared per request id",
    "kuberay": KUBERAY_NO_LOG,
}


def reader_for(system: str) -> TelemetryReader | str:
    """The reader of ``system``'s telemetry, or the reason there is none to compare."""
    if system in READERS:
        return READERS[system]
    return NO_READER.get(system, f"no telemetry reader for {system!r} yet")


__all__ = [
    "BACKENDS",
    "ENVOY_GATEWAY",
    "HAPROXY",
    "ISTIO",
    "NO_READER",
    "READERS",
    "CounterMapping",
    "Quantity",
    "TelemetryReader",
    "reader_for",
]

"""Envoy's own counters, for the gateways that run Envoy: Envoy Gateway (its ``HTTPRoute`` with a
``BackendTrafficPolicy`` or ``HTTPRoute.retry``) and Istio's ingress gateway.

NOT SHOWN AGAINST A RUNNING ENVOY HERE: this machine has no Envoy binary and no cluster. The
names, labels and meanings below come from Envoy's docs and source, and the tests feed the
reader exposition text written in that form (tests/unit/telemetry/test_envoy_reader.py).

Where the counters are: Envoy serves them in the Prometheus text format at its admin endpoint
``/stats/prometheus`` (https://www.envoyproxy.io/docs/envoy/v1.38.0/operations/admin#get--stats-prometheus):
Envoy Gateway's proxy pods on port 19001
(https://gateway.envoyproxy.io/v1.9/tasks/observability/proxy-metric/), Istio's proxies on the
Envoy-only port 15090 (https://istio.io/latest/docs/tasks/observability/metrics/secure-metrics/).
A cluster's stat ``cluster.<name>.upstream_rq_retry`` is exported as
``envoy_cluster_upstream_rq_retry{envoy_cluster_name="<name>"}`` with no ``_total`` suffix added.
Istio records only a minimal stats set unless ``proxyStatsMatcher`` asks for more
(https://istio.io/latest/docs/ops/configuration/telemetry/envoy-stats/): the istio kit's
gateway values include the ``upstream_rq_total`` and ``upstream_rq_retry*`` stats.

What each counter counts, per cluster (the table at
https://www.envoyproxy.io/docs/envoy/v1.38.0/configuration/upstream/cluster_manager/cluster_stats
and the code that bumps it):

* ``upstream_rq_total`` "Total requests": bumped when a request (first try or retry) is attached
  to an upstream connection (``attachStreamToClient``, source/common/conn_pool/conn_pool_base.cc):
  one per attempt that reached a replica, the journal's attempts.
* ``upstream_rq_retry`` "Total request retries": bumped when a retry is scheduled
  (``RetryStateImpl::shouldRetry``, source/common/router/retry_state_impl.cc), before its
  backoff; a retry scheduled and then abandoned (the client went away during the backoff, or
  its connection failed) is counted without reaching a replica: the check then disagrees.
* ``upstream_rq_retry_success`` "Total request retry successes": bumped in ``shouldRetry`` when a
  retried request's answer is one the policy does not retry. It equals the journal's retries
  answered 2xx when every other answer of the run is one the policy retries (the shipped kits'
  fault profiles: 503 or 2xx).
* ``upstream_rq_retry_overflow`` (retries not made: circuit breaker or retry budget) and
  ``upstream_rq_retry_limit_exceeded`` (requests not retried because ``numRetries`` ran out)
  count retries that did not happen: the journal has no row for them, so they are reported
  beside the comparison, not compared.

Mapping to the journal: the counters are per Envoy cluster (``envoy_cluster_name``). Envoy
Gateway names the cluster of an ``HTTPRoute`` rule ``httproute/<namespace>/<name>/rule/<index>``;
Istio names a destination ``outbound|<port>||<host>``. The kits route one rule to the traffic
Service that fronts every replica, so that cluster's counters compare with the whole journal.
Envoy exports a cluster's counters (at 0) from its creation, so a selector that matches no
series at all names no cluster of this Envoy (a route named otherwise than the kits'): the check
then says so (inconclusive) instead of reading the counters as zero.
"""

from __future__ import annotations

from harness.telemetry.readers.model import CounterMapping, Quantity, TelemetryReader

_STATS = (
    "https://www.envoyproxy.io/docs/envoy/v1.38.0/configuration/upstream/cluster_manager/"
    "cluster_stats"
)
_RETRY_STATE = (
    "https://github.com/envoyproxy/envoy/blob/v1.38.0/source/common/router/retry_state_impl.cc"
)
_CONN_POOL = (
    "https://github.com/envoyproxy/envoy/blob/v1.38.0/source/common/conn_pool/conn_pool_base.cc"
)

ENVOY_GATEWAY_CLUSTERS = "httproute/retry-harness/backend/rule/.*"
"""The clusters of the kits' HTTPRoute ``retry-harness/backend`` (one per rule)."""
ISTIO_CLUSTERS = r"outbound\\|8080\\|\\|backend\\.retry-harness\\.svc\\.cluster\\.local"
"""The cluster of the istio kit's VirtualService destination (``backend``, port 8080)."""


def envoy_counters(cluster_regex: str) -> tuple[CounterMapping, ...]:
    """The Envoy counters of the clusters whose name matches ``cluster_regex`` (PromQL ``=~``)."""
    sel = f'{{envoy_cluster_name=~"{cluster_regex}"}}'

    def mapping(
        stat: str, name: str, quantity: Quantity | None, meaning: str, src: str
    ) -> CounterMapping:
        return CounterMapping(
            name=name,
            promql=f"sum(envoy_cluster_{stat}{sel})",
            quantity=quantity,
            meaning=meaning,
            source=f"{_STATS} ({stat}); {src}",
            always_exported=True,  # a cluster's counters exist, at 0, from its creation
        )

    return (
        mapping(
            "upstream_rq_total",
            "attempts",
            Quantity.ATTEMPTS,
            "requests attached to an upstream connection, first tries and retries",
            f"{_CONN_POOL} (attachStreamToClient)",
        ),
        mapping(
            "upstream_rq_retry",
            "retries",
            Quantity.RETRIES,
            "retries scheduled by the router",
            f"{_RETRY_STATE} (shouldRetry)",
        ),
        mapping(
            "upstream_rq_retry_success",
            "retry successes",
            Quantity.RETRY_SUCCESSES,
            "retried requests whose answer the policy does not retry (= retries answered 2xx "
            "when every other answer is retried)",
            f"{_RETRY_STATE} (shouldRetry)",
        ),
        mapping(
            "upstream_rq_retry_overflow",
            "retry overflows",
            None,
            "retries not made: retry circuit breaker or retry budget (no journal row)",
            f"{_RETRY_STATE} (shouldRetry)",
        ),
        mapping(
            "upstream_rq_retry_limit_exceeded",
            "retry limit exceeded",
            None,
            "requests not retried because their retries ran out (no journal row)",
            f"{_RETRY_STATE} (shouldRetry)",
        ),
    )


ENVOY_GATEWAY = TelemetryReader(
    system="envoy-gateway", job="sut", counters=envoy_counters(ENVOY_GATEWAY_CLUSTERS)
)
ISTIO = TelemetryReader(system="istio", job="sut", counters=envoy_counters(ISTIO_CLUSTERS))

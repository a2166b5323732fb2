"""HAProxy's own counters: the Prometheus exporter built into HAProxy 2.6 (``USE_PROMEX``;
https://github.com/haproxy/haproxy/blob/v2.6.0/addons/promex/README), and which replica each
of its servers is.

* ``haproxy_backend_retry_warnings_total{proxy}`` is the stats field ``wretr`` ("number of times
  a connection to a server was retried", https://docs.haproxy.org/2.6/management.html#9.1),
  which HAProxy also bumps for every layer-7 retry (``do_l7_retry`` in src/http_ana.c at
  v2.6.0). Per server (``haproxy_server_retry_warnings_total{proxy,server}``) the same
  function bumps the counter of the server whose attempt failed, before the retry picks a
  server: the journal's retries counted on the replica of the attempt before them. A connection
  retry that is redispatched is counted as a redispatch instead (``stream_choose_redispatch``
  in include/haproxy/stream.h at v2.6.0): the check's disagreement then names it.
* ``haproxy_server_sessions_total{proxy,server}`` is ``stot``: every connection handed to a
  server, one per attempt, on the server that received it.

The exporter names a server by its ``proxy`` (the backend or listen section) and ``server``
labels; :func:`server_replicas` reads which replica each server line of the rendered config
points at (the harness fills ``{{upstream_hostport}}`` with replica i's address).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from harness.suts.templating import replica_values
from harness.telemetry.readers.model import CounterMapping, Quantity, TelemetryReader

_PROMEX = "https://github.com/haproxy/haproxy/blob/v2.6.0/addons/promex/README"
_STATS = "https://docs.haproxy.org/2.6/management.html#9.1"
_L7 = "https://github.com/haproxy/haproxy/blob/v2.6.0/src/http_ana.c (do_l7_retry)"
SERVER_LABELS = ("proxy", "server")

HAPROXY = TelemetryReader(
    system="haproxy",
    job="sut",
    counters=(
        CounterMapping(
            name="retries",
            promql="sum(haproxy_backend_retry_warnings_total)",
            quantity=Quantity.RETRIES,
            meaning="wretr: times a request to a server was retried (connection and layer 7)",
            source=f"{_PROMEX}; {_STATS} (wretr); {_L7}",
        ),
        CounterMapping(
            name="attempts",
            promql="sum(haproxy_server_sessions_total)",
            quantity=Quantity.ATTEMPTS,
            meaning="stot per server: every connection (attempt) handed to a server",
            source=f"{_PROMEX}; {_STATS} (stot)",
            per_upstream="sum by (proxy, server) (haproxy_server_sessions_total)",
            upstream_labels=SERVER_LABELS,
        ),
        CounterMapping(
            name="retries per server",
            promql="sum(haproxy_server_retry_warnings_total)",
            quantity=Quantity.RETRIES_FROM,
            meaning="wretr per server: retries, each counted on the server whose attempt failed",
            source=f"{_PROMEX}; {_STATS} (wretr); {_L7}",
            per_upstream="sum by (proxy, server) (haproxy_server_retry_warnings_total)",
            upstream_labels=SERVER_LABELS,
        ),
    ),
)

_SECTIONS = frozenset(
    {"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist"}
    | {"mailers", "program", "http-errors", "ring", "cache", "fcgi-app"}
)


def server_replicas(config_text: str, upstreams: Sequence[str]) -> dict[str, str]:
    """``"proxy/server" -> "r<i>"`` for each server line of a rendered HAProxy config whose
    address is upstream ``i`` (``upstreams`` in replica order, as given to the driver).

    Only the server's address is read (``server NAME ADDRESS [options]``, first word of a line,
    inside a ``backend`` or ``listen`` section); servers at other addresses are left out.
    """
    address = {row["upstream_hostport"]: f"r{i}" for i, row in enumerate(replica_values(upstreams))}
    out: dict[str, str] = {}
    proxy: str | None = None
    for line in config_text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if not words:
            continue
        if words[0] in _SECTIONS:
            proxy = words[1] if words[0] in ("backend", "listen") and len(words) > 1 else None
        elif words[0] == "server" and proxy is not None and len(words) >= 3:
            replica = address.get(words[2])
            if replica is not None:
                out[f"{proxy}/{words[1]}"] = replica
    return out

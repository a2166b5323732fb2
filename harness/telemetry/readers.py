"""What each system's own telemetry says about attempts and retries, and where it is scraped.

A :class:`TelemetryReader` names, for one system, the scrape job of its metrics and a list of
:class:`CounterMapping` entries: a PromQL expression over that system's counters and the journal
quantity (:class:`Quantity`) the system documents it as counting. The telemetry check compares
the counter's increase over the run with the journal's count of the same quantity.

Readers here (the systems that run on this machine):

* ``backends``: our own ``fake_backend_attempts_total`` (fake_backends/metrics.py), one sample
  per attempt served, harness probes included.
* ``haproxy``: the Prometheus exporter built into HAProxy 2.6 (``USE_PROMEX``;
  https://github.com/haproxy/haproxy/blob/v2.6.0/addons/promex/README). Its
  ``haproxy_backend_retry_warnings_total`` is the stats field ``wretr`` ("number of times a
  connection to a server was retried", https://docs.haproxy.org/2.6/management.html#9.1, which
  HAProxy also bumps for every layer-7 retry: src/backend.c and src/stream.c at v2.6.0), and
  ``haproxy_server_sessions_total`` counts every connection handed to a server, one per attempt.

Caddy 2.6 exports no counter of upstream attempts or retries (its ``caddy_http_*`` metrics count
requests per server block, https://caddyserver.com/docs/metrics), and nginx-light has no
exporter; for them :func:`reader_for` says why nothing is compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Quantity(StrEnum):
    """What the journal can count over a run (attempts that reached a backend)."""

    ATTEMPTS = "attempts"  # every attempt journaled
    RETRIES = "retries"  # attempts after the first of their request
    REQUESTS = "requests"  # distinct requests that reached a backend at least once
    RETRY_SUCCESSES = "retry_successes"  # retries answered with a 2xx


@dataclass(frozen=True)
class CounterMapping:
    """One counter (a PromQL expression summing it) and the journal quantity it reports."""

    name: str  # short label in the verdict, e.g. "retries"
    promql: str  # e.g. 'sum(haproxy_backend_retry_warnings_total)'
    quantity: Quantity
    includes_probes: bool = False  # counts the harness's direct probes to the backends too
    meaning: str = ""  # what the system documents the counter as
    source: str = ""  # public docs or source for that meaning


@dataclass(frozen=True)
class TelemetryReader:
    """Where one system's metrics are scraped (``job``) and what its counters mean."""

    system: str
    job: str
    counters: tuple[CounterMapping, ...]


BACKENDS = TelemetryReader(
    system="backends",
    job="backends",
    counters=(
        CounterMapping(
            name="attempts served",
            promql="sum(fake_backend_attempts_total)",
            quantity=Quantity.ATTEMPTS,
            includes_probes=True,
            meaning="one increment per attempt a replica answered, reset or hung",
            source="fake_backends/metrics.py (this repository)",
        ),
    ),
)

_PROMEX = "https://github.com/haproxy/haproxy/blob/v2.6.0/addons/promex/README"

HAPROXY = TelemetryReader(
    system="haproxy",
    job="sut",
    counters=(
        CounterMapping(
            name="retries",
            promql="sum(haproxy_backend_retry_warnings_total)",
            quantity=Quantity.RETRIES,
            meaning="wretr: times a request to a server was retried (connection and layer 7)",
            source=f"{_PROMEX}; https://docs.haproxy.org/2.6/management.html#9.1 (wretr)",
        ),
        CounterMapping(
            name="attempts",
            promql="sum(haproxy_server_sessions_total)",
            quantity=Quantity.ATTEMPTS,
            meaning="stot per server: every connection (attempt) handed to a server",
            source=f"{_PROMEX}; https://docs.haproxy.org/2.6/management.html#9.1 (stot)",
        ),
    ),
)

READERS: dict[str, TelemetryReader] = {"haproxy": HAPROXY}

NO_READER: dict[str, str] = {
    "caddy": "Caddy 2.6 exports no counter of upstream attempts or retries "
    "(https://caddyserver.com/docs/metrics)",
    "nginx": "nginx-light has no metrics exporter (its stub_status counts client requests only)",
    "urllib3": "urllib3 exports no metrics; its retry log lines are compared per request id",
}


def reader_for(system: str) -> TelemetryReader | str:
    """The reader of ``system``'s telemetry, or the reason there is none to compare."""
    if system in READERS:
        return READERS[system]
    return NO_READER.get(system, f"no telemetry reader for {system!r} yet")

"""What a telemetry reader is: counters (PromQL over a system's own metrics) and what they count.

A :class:`TelemetryReader` names, for one system, the scrape job of its metrics and a list of
:class:`CounterMapping` entries: a PromQL expression summing one of its counters and the journal
quantity (:class:`Quantity`) the system documents it as counting. The telemetry check
(harness/telemetry/check.py) compares the counter's increase over the run with the journal's
count of the same quantity: in total, and per upstream where the mapping says which labels name
the upstream (``per_upstream``) and the run knows which replica each upstream is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Quantity(StrEnum):
    """What the journal can count over a run (attempts that reached a backend)."""

    ATTEMPTS = "attempts"  # every attempt journaled (per upstream: on the replica it reached)
    RETRIES = "retries"  # attempts after the first of their request (per upstream: where sent)
    RETRIES_FROM = "retries_from"  # the same retries, each on the replica of the attempt before it
    REQUESTS = "requests"  # distinct requests that reached a backend at least once
    RETRY_SUCCESSES = "retry_successes"  # retries answered with a 2xx

    @property
    def text(self) -> str:
        """How the verdict names it after a count ("377 retries")."""
        return {
            "retries_from": "retries (each on the replica before it)",
            "retry_successes": "retries answered 2xx",
        }.get(self.value, self.value)


@dataclass(frozen=True)
class CounterMapping:
    """One counter (a PromQL expression summing it) and the journal quantity it reports.

    ``per_upstream`` sums the same counter ``by`` the ``upstream_labels`` that name one upstream
    (a server, a replica); the label values joined with ``/`` are the upstream's key. ``None``:
    the counter is compared in total only.
    """

    name: str  # short label in the verdict, e.g. "retries"
    promql: str  # e.g. 'sum(haproxy_backend_retry_warnings_total)'
    quantity: Quantity | None  # None: reported beside the comparison (no journal row for it)
    includes_probes: bool = False  # counts the harness's direct probes to the backends too
    meaning: str = ""  # what the system documents the counter as
    source: str = ""  # public docs or source for that meaning
    per_upstream: str | None = None  # e.g. 'sum by (proxy, server) (haproxy_server_...)'
    upstream_labels: tuple[str, ...] = ()
    # the system exports the series from the start (zero included), so no series at all means
    # the expression selects nothing this SUT has (a route or cluster named otherwise)
    always_exported: bool = False


@dataclass(frozen=True)
class TelemetryReader:
    """Where one system's metrics are scraped (``job``) and what its counters mean.

    ``upstreams_are_replicas``: the upstream key is the journal's replica name itself (our
    backends' ``replica`` label); otherwise the SUT's driver says which replica each key is.
    """

    system: str
    job: str
    counters: tuple[CounterMapping, ...]
    upstreams_are_replicas: bool = False


def upstream_key(labels: dict[str, str], names: tuple[str, ...]) -> str:
    """The key of one upstream: its ``names`` label values joined with ``/``."""
    return "/".join(labels.get(name, "") for name in names)

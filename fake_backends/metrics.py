"""Prometheus metrics of a replica, aggregated over gunicorn workers.

``__main__`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory in the replica's state
directory before any worker imports ``prometheus_client``, so each worker's counters live in
mmap files there and ``GET /metrics`` (any worker) sums them with ``MultiProcessCollector``.
Without that variable (an app made in-process, e.g. by a unit test) metrics are per process.

Series: ``fake_backend_attempts_total{replica,status,fault,route}`` (status ``none`` for resets
and hangs), ``fake_backend_injected_latency_seconds_total`` and, computed at scrape time,
``fake_backend_journal_records``, ``fake_backend_journal_dropped`` and
``fake_backend_journal_cap``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fake_backends.journal import Journal

_registry = CollectorRegistry(auto_describe=True)
ATTEMPTS = Counter(
    "fake_backend_attempts",
    "Attempts served, by status sent and fault applied",
    ["replica", "status", "fault", "route"],
    registry=_registry,
)
INJECTED_LATENCY = Counter(
    "fake_backend_injected_latency_seconds",
    "Sum of the latency injected before answering",
    ["replica"],
    registry=_registry,
)

_children: dict[tuple[str, str, str, str], Counter] = {}
_children_lock = threading.Lock()


def count_attempt(
    replica: str, status: int | None, fault: str, route: str | None, latency_ms: float
) -> None:
    """Count one attempt (cheap: label children are cached)."""
    key = (replica, "none" if status is None else str(status), fault, route or "")
    child = _children.get(key)
    if child is None:
        with _children_lock:
            child = _children.setdefault(key, ATTEMPTS.labels(*key))
    child.inc()
    if latency_ms > 0:
        INJECTED_LATENCY.labels(replica).inc(latency_ms / 1000.0)


class _JournalCollector(Collector):
    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def collect(self) -> Iterator[Metric]:
        stats = self._journal.stats()
        for name, doc, value in (
            ("fake_backend_journal_records", "Attempts written to the journal", stats.recorded),
            ("fake_backend_journal_dropped", "Attempts not journaled (cap)", stats.dropped),
            ("fake_backend_journal_cap", "Journal cap in records", stats.cap),
        ):
            family = GaugeMetricFamily(name, doc, labels=["replica"])
            family.add_metric([stats.replica], value)
            yield family


def render(journal: Journal) -> bytes:
    """The Prometheus text exposition of this replica (all workers)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessLocal())
    registry.register(_JournalCollector(journal))
    return generate_latest(registry)


class _ProcessLocal(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from _registry.collect()

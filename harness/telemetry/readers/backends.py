"""Our backends' own counter: ``fake_backend_attempts_total{replica,status,fault,route}``
(fake_backends/metrics.py), one increment per attempt a replica served, harness probes included;
per replica its ``replica`` label is the journal's replica name."""

from __future__ import annotations

from harness.telemetry.readers.model import CounterMapping, Quantity, TelemetryReader

BACKENDS = TelemetryReader(
    system="backends",
    job="backends",
    upstreams_are_replicas=True,
    counters=(
        CounterMapping(
            name="attempts served",
            promql="sum(fake_backend_attempts_total)",
            quantity=Quantity.ATTEMPTS,
            includes_probes=True,
            meaning="one increment per attempt a replica answered, reset or hung",
            source="fake_backends/metrics.py (this repository)",
            per_upstream="sum by (replica) (fake_backend_attempts_total)",
            upstream_labels=("replica",),
        ),
    ),
)

"""The Envoy reader (Envoy Gateway, Istio) through a real Prometheus, scraping exposition text in
Envoy's own form.

NOT A RUNNING ENVOY: this machine has no Envoy binary. A small HTTP server (test code) serves
``/stats/prometheus`` text whose metric names, label (``envoy_cluster_name``) and cluster names
follow Envoy's cluster stats docs and Prometheus output (harness/telemetry/readers/envoy.py cites
them), changing it between the run's edges as an Envoy that made the journal's attempts would.
What this shows: the reader's PromQL selects the kit's cluster and no other, and each counter is
compared with the journal quantity it is documented to count.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from harness.oracle.verdict import CheckResult, Outcome
from harness.telemetry.check import telemetry_check
from harness.telemetry.prometheus import ScrapeTarget
from harness.telemetry.session import TelemetrySession
from tests.unit.telemetry.test_check import JOURNAL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus not installed: apt-get install prometheus",
    ),
]

EG_CLUSTER = "httproute/retry-harness/backend/rule/0"
ISTIO_CLUSTER = "outbound|8080||backend.retry-harness.svc.cluster.local"
STATS = (
    "upstream_rq_total",
    "upstream_rq_retry",
    "upstream_rq_retry_success",
    "upstream_rq_retry_overflow",
    "upstream_rq_retry_limit_exceeded",
)


def exposition(values: dict[str, dict[str, int]]) -> str:
    """Envoy's /stats/prometheus form: one family per stat, ``envoy_cluster_<stat>`` with the
    cluster as ``envoy_cluster_name``, counters without a ``_total`` suffix added."""
    lines = []
    for stat in STATS:
        lines.append(f"# TYPE envoy_cluster_{stat} counter")
        for cluster, per_stat in values.items():
            lines.append(
                f'envoy_cluster_{stat}{{envoy_cluster_name="{cluster}"}} {per_stat.get(stat, 0)}'
            )
    return "\n".join(lines) + "\n"


class FakeStats:
    """Serves the current text at /stats/prometheus on 127.0.0.1 (any other path: 404)."""

    def __init__(self) -> None:
        self.text = ""
        stats = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = stats.text.encode() if self.path == "/stats/prometheus" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.hostport = f"127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def stats() -> Iterator[FakeStats]:
    fake = FakeStats()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


BEFORE = {
    "upstream_rq_total": 40,
    "upstream_rq_retry": 9,
    "upstream_rq_retry_success": 5,
    "upstream_rq_retry_overflow": 1,
}
OTHER = {"upstream_rq_total": 500, "upstream_rq_retry": 70, "upstream_rq_retry_success": 60}


def _run(
    tmp_path: Path, stats: FakeStats, system: str, cluster: str, during: dict[str, int]
) -> CheckResult:
    stats.text = exposition({cluster: BEFORE, "xds_cluster": OTHER})
    target = ScrapeTarget("sut", stats.hostport, path="/stats/prometheus")
    with TelemetrySession(system, [target], None, {}, tmp_path) as tel:
        tel.mark_start()
        after = {k: BEFORE.get(k, 0) + during.get(k, 0) for k in STATS}
        other = {k: v + 100 for k, v in OTHER.items()}  # another cluster's traffic: not ours
        stats.text = exposition({cluster: after, "xds_cluster": other})
        tel.mark_end()
        record = tel.record()
    # the journal's 6 attempts (3 retries, 2 of them answered 200) inside the run's window
    mid_us = int((record.start_s + record.end_s) / 2 * 1e6)
    journal = dataclasses.replace(
        JOURNAL, arrival_us=JOURNAL.arrival_us - JOURNAL.arrival_us[0] + mid_us
    )
    assert np.all(journal.arrival_us < int(record.end_s * 1e6))
    return telemetry_check(record, journal)


# the journal (test_check.JOURNAL): 6 attempts, 3 retries, 2 retries answered 200
AGREEING = {
    "upstream_rq_total": 6,
    "upstream_rq_retry": 3,
    "upstream_rq_retry_success": 2,
    "upstream_rq_retry_overflow": 4,
}


@pytest.mark.parametrize(
    ("system", "cluster"), [("envoy-gateway", EG_CLUSTER), ("istio", ISTIO_CLUSTER)]
)
def test_envoy_counters_of_the_kit_cluster_agree(
    tmp_path: Path, stats: FakeStats, system: str, cluster: str
) -> None:
    result = _run(tmp_path, stats, system, cluster, AGREEING)
    assert result.outcome is Outcome.PASS, result.evidence
    assert "3 counters agree exactly" in result.summary
    by_name = {c["name"]: (c["sut"], c["journal"]) for c in result.data["counters"]}
    assert by_name == {"attempts": (6, 6), "retries": (3, 3), "retry successes": (2, 2)}
    reported = [e for e in result.evidence if "reported, not compared" in e]
    assert len(reported) == 2 and "rose by 4" in reported[0]


def test_envoy_counting_a_retry_it_did_not_make_is_caught(tmp_path: Path, stats: FakeStats) -> None:
    result = _run(tmp_path, stats, "httproute", EG_CLUSTER, {**AGREEING, "upstream_rq_retry": 4})
    assert result.outcome is Outcome.FAIL
    [wrong] = [e for e in result.evidence if "DISAGREES" in e]
    assert "envoy_cluster_upstream_rq_retry{" in wrong and "rose by 4" in wrong


def test_a_prometheus_the_substrate_runs_is_queried_not_started(
    tmp_path: Path, stats: FakeStats
) -> None:
    """The kind path: the session reads a Prometheus that runs elsewhere (a pod, reached on its
    NodePort) and starts none; its ``sut`` job's targets are discovered (count unknown). Here a
    real local Prometheus stands in for the pod."""
    from harness.telemetry.prometheus import running_prometheus
    from harness.telemetry.session import InClusterPrometheus, open_session

    stats.text = exposition({EG_CLUSTER: BEFORE})
    target = ScrapeTarget("sut", stats.hostport, path="/stats/prometheus")
    with running_prometheus([target], [], tmp_path / "pod") as api:

        class KindLike:  # what the telemetry session reads of the kind substrate
            prometheus = InClusterPrometheus(url=api.base_url, jobs={"sut": None})

        session = open_session("envoy-gateway", KindLike(), None, {}, tmp_path / "run")
        with session as tel:
            assert tel.remote is not None and not (tmp_path / "run" / "prometheus").exists()
            tel.mark_start()
            after = {k: BEFORE.get(k, 0) + AGREEING.get(k, 0) for k in STATS}
            stats.text = exposition({EG_CLUSTER: after})
            tel.mark_end()
            record = tel.record()
    by_name = {c.name: (c.start, c.end) for c in record.counters}
    assert by_name["attempts"] == (40, 46)
    assert by_name["retries"] == (9, 12)


def test_a_selector_matching_no_cluster_is_inconclusive_not_a_failure(
    tmp_path: Path, stats: FakeStats
) -> None:
    """Envoy exports a cluster's counters (at 0) from its creation: no series at all means the
    reader's cluster selector names nothing this Envoy has (a route named otherwise), which is
    not evidence against the SUT."""
    result = _run(tmp_path, stats, "envoy-gateway", "httproute/other-ns/other/rule/0", AGREEING)
    assert result.outcome is Outcome.INCONCLUSIVE, result.summary
    assert "matched no series" in result.summary

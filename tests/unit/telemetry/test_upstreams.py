"""Per-upstream comparison: the SUT's counter per server against the journal per replica, and
which replica each HAProxy server line is."""

from __future__ import annotations

import dataclasses

import numpy as np

from harness.oracle.records import DownWindow
from harness.oracle.verdict import Outcome
from harness.telemetry.check import journal_by_replica, journal_count, telemetry_check
from harness.telemetry.readers import Quantity
from harness.telemetry.readers.haproxy import server_replicas
from harness.telemetry.record import CounterSeries, TelemetryRecord
from tests.unit.telemetry.test_check import T0, _table

# request 0: r0 503 -> r1 200; request 1: r1 200; request 2: r0 503 -> r0 503 -> r1 200
BASE = _table([(0, 0, 503), (0, 1, 200), (1, 0, 200), (2, 0, 503), (2, 1, 503), (2, 2, 200)])
JOURNAL = dataclasses.replace(
    BASE, replica=np.array([0, 1, 1, 0, 0, 1], dtype=np.int32), replicas=("r0", "r1")
)
SERVERS = {"be/s0": "r0", "be/s1": "r1"}


def _per_server(
    quantity: Quantity, end: dict[str, float], upstreams: dict[str, str] = SERVERS
) -> TelemetryRecord:
    counter = CounterSeries(
        name="attempts",
        job="sut",
        promql="sum(c)",
        quantity=quantity,
        start=0.0,
        end=sum(end.values()),
        upstream_labels=["proxy", "server"],
        upstreams=upstreams,
        start_by_upstream={},
        end_by_upstream=end,
    )
    return TelemetryRecord(system="haproxy", start_s=T0, end_s=T0 + 10, counters=[counter])


def test_the_journal_per_replica_for_each_quantity() -> None:
    assert journal_by_replica(JOURNAL, Quantity.ATTEMPTS) == {"r0": 3, "r1": 3}
    assert journal_by_replica(JOURNAL, Quantity.RETRIES) == {"r0": 1, "r1": 2}
    # retries counted on the replica of the attempt before them: r0, r0, r0
    assert journal_by_replica(JOURNAL, Quantity.RETRIES_FROM) == {"r0": 3}
    assert journal_by_replica(JOURNAL, Quantity.REQUESTS) == {"r0": 2, "r1": 1}
    assert journal_count(JOURNAL, Quantity.RETRIES_FROM) == journal_count(JOURNAL, Quantity.RETRIES)


def test_counts_per_server_that_match_pass() -> None:
    result = telemetry_check(_per_server(Quantity.ATTEMPTS, {"be/s0": 3, "be/s1": 3}), JOURNAL)
    assert result.outcome is Outcome.PASS, result.evidence
    assert any("be/s0=r0: 3, be/s1=r1: 3: agrees" in e for e in result.evidence)
    rows = result.data["counters"][0]["per_upstream"]
    assert [(r["upstream"], r["sut"], r["journal"]) for r in rows] == [
        ("be/s0", 3, 3),
        ("be/s1", 3, 3),
    ]


def test_attempts_counted_on_another_server_fail_with_the_evidence() -> None:
    # the same total (6), but one attempt of r1 counted on s0
    result = telemetry_check(_per_server(Quantity.ATTEMPTS, {"be/s0": 4, "be/s1": 2}), JOURNAL)
    assert result.outcome is Outcome.FAIL
    wrong = [e for e in result.evidence if "DISAGREES" in e]
    assert len(wrong) == 2
    assert "{proxy,server}=be/s0 (replica r0) rose by 4; the journal shows 3 attempts" in wrong[0]


def test_a_replica_no_server_stands_for_fails() -> None:
    result = telemetry_check(
        _per_server(Quantity.ATTEMPTS, {"be/s0": 6}, upstreams={"be/s0": "r0"}), JOURNAL
    )
    assert result.outcome is Outcome.FAIL
    assert any("3 attempts on replica r1, which no" in e for e in result.evidence)


def test_counts_on_a_server_with_no_replica_fail() -> None:
    result = telemetry_check(
        _per_server(Quantity.ATTEMPTS, {"be/s0": 3, "be/s1": 3, "be/other": 1}), JOURNAL
    )
    assert result.outcome is Outcome.FAIL
    assert any("be/other (no replica of this run" in e for e in result.evidence)


def test_retries_counted_where_the_failed_attempt_was() -> None:
    ok = telemetry_check(_per_server(Quantity.RETRIES_FROM, {"be/s0": 3}), JOURNAL)
    assert ok.outcome is Outcome.PASS, ok.evidence
    # counted where the retry went instead: r0 1, r1 2
    moved = telemetry_check(_per_server(Quantity.RETRIES_FROM, {"be/s0": 1, "be/s1": 2}), JOURNAL)
    assert moved.outcome is Outcome.FAIL


def test_reported_counters_are_shown_not_compared() -> None:
    counter = CounterSeries(
        name="retry overflows",
        job="sut",
        promql="sum(o)",
        quantity=None,
        meaning="retries not made",
        start=0.0,
        end=7.0,
    )
    record = TelemetryRecord(system="istio", start_s=T0, end_s=T0 + 10, counters=[counter])
    result = telemetry_check(record, JOURNAL)
    assert any("rose by 7; reported, not compared" in e for e in result.evidence)


CONFIG = """
global
    maxconn 10
defaults
    mode http
frontend fe
    bind 127.0.0.1:8000
    default_backend be_replicas
backend be_replicas   # comment
    balance roundrobin
    server s0 127.0.0.1:9001 check
    server s1 127.0.0.1:9002 weight 2
    server spare 10.0.0.9:80
listen other
    bind 127.0.0.1:8001
    server a 127.0.0.1:9002
"""


def test_server_lines_are_mapped_to_replicas_by_address() -> None:
    upstreams = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    assert server_replicas(CONFIG, upstreams) == {
        "be_replicas/s0": "r0",
        "be_replicas/s1": "r1",
        "other/a": "r1",
    }


def test_which_systems_have_a_reader_and_why_not() -> None:
    from harness.telemetry.readers import ENVOY_GATEWAY, ISTIO, reader_for

    assert reader_for("envoy-gateway") is ENVOY_GATEWAY
    assert reader_for("httproute") is ENVOY_GATEWAY  # the kit's HTTPRoute runs on Envoy Gateway
    assert reader_for("istio") is ISTIO
    why = reader_for("kuberay")
    assert isinstance(why, str)
    assert "writes no log line per retry" in why and "#4144" in why
    assert "apiserversdk/proxy.go" in why


def test_the_report_plots_the_per_upstream_counts() -> None:
    from harness.report.plot_data import TelemetryData
    from harness.report.plots import telemetry_png

    result = telemetry_check(_per_server(Quantity.ATTEMPTS, {"be/s0": 4, "be/s1": 2}), JOURNAL)
    data = TelemetryData.model_validate(result.data)
    [course] = data.counters
    assert [(u.upstream, u.replica, u.sut, u.journal) for u in course.per_upstream] == [
        ("be/s0", "r0", 4, 3),
        ("be/s1", "r1", 2, 3),
    ]
    assert telemetry_png(data).startswith(b"\x89PNG")


def _down(replica: str) -> DownWindow:
    return DownWindow(replica=replica, kind="kill", start_us=int((T0 + 1) * 1e6))


def test_with_a_replica_down_an_excess_is_inconclusive_and_a_shortfall_still_fails() -> None:
    windows = [_down("r1")]
    # s1 counted connection attempts to r1 while it was down: no journal saw them
    excess = telemetry_check(
        _per_server(Quantity.ATTEMPTS, {"be/s0": 3, "be/s1": 5}), JOURNAL, down_windows=windows
    )
    assert excess.outcome is Outcome.INCONCLUSIVE, excess.evidence
    assert "r1 were down during the run" in excess.summary
    # fewer than the journal shows is never explained by a down replica
    short = telemetry_check(
        _per_server(Quantity.ATTEMPTS, {"be/s0": 2, "be/s1": 3}), JOURNAL, down_windows=windows
    )
    assert short.outcome is Outcome.FAIL
    # without the window, the same excess is a disagreement
    assert (
        telemetry_check(_per_server(Quantity.ATTEMPTS, {"be/s0": 3, "be/s1": 5}), JOURNAL).outcome
        is Outcome.FAIL
    )


def test_a_down_window_outside_the_run_changes_nothing() -> None:
    early = DownWindow(
        replica="r1", kind="kill", start_us=int((T0 - 100) * 1e6), end_us=int((T0 - 50) * 1e6)
    )
    result = telemetry_check(
        _per_server(Quantity.ATTEMPTS, {"be/s0": 3, "be/s1": 5}), JOURNAL, down_windows=[early]
    )
    assert result.outcome is Outcome.FAIL

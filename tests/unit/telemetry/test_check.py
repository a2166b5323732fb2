"""The telemetry and alert checks on hand-made journals and Prometheus records."""

from __future__ import annotations

import numpy as np

from harness.oracle.journal import AttemptTable
from harness.oracle.verdict import Outcome
from harness.telemetry.check import alerts_check, journal_count, telemetry_check
from harness.telemetry.readers import Quantity
from harness.telemetry.record import AlertExpectation, AlertSpan, CounterSeries, TelemetryRecord
from harness.telemetry.session import _spans

T0 = 1_800_000_000.0


def _table(rows: list[tuple[int, int, int]]) -> AttemptTable:
    """rows: (request index, attempt index, status), one second apart from T0."""
    n = len(rows)
    arrival = np.array([int((T0 + 0.5 + i * 0.01) * 1e6) for i in range(n)], dtype=np.int64)
    return AttemptTable(
        rid=np.array([r[0] for r in rows], dtype=np.int32),
        method=np.zeros(n, dtype=np.int32),
        path=np.zeros(n, dtype=np.int32),
        status=np.array([r[2] for r in rows], dtype=np.int32),
        fault=np.zeros(n, dtype=np.int32),
        arrival_us=arrival,
        end_us=arrival + 1000,
        replica=np.zeros(n, dtype=np.int32),
        retry_after_s=np.full(n, np.nan),
        idem=np.zeros(n, dtype=bool),
        attempt=np.array([r[1] for r in rows], dtype=np.int32),
        client_gone=np.zeros(n, dtype=bool),
        request_ids=tuple(f"r{i}" for i in range(max((r[0] for r in rows), default=-1) + 1)),
        methods=("GET",),
        paths=("/",),
        replicas=("r0",),
    )


# request 0: 503 then 200; request 1: 200; request 2: 503, 503, 200
JOURNAL = _table([(0, 0, 503), (0, 1, 200), (1, 0, 200), (2, 0, 503), (2, 1, 503), (2, 2, 200)])


def _counter(
    name: str, quantity: Quantity, start: float | None, end: float | None
) -> CounterSeries:
    return CounterSeries(
        name=name, job="sut", promql=f"sum({name})", quantity=quantity, start=start, end=end
    )


def _record(*counters: CounterSeries, **kw: object) -> TelemetryRecord:
    return TelemetryRecord(
        system="haproxy",
        start_s=T0,
        end_s=T0 + 10,
        counters=list(counters),
        **kw,  # type: ignore[arg-type]
    )


def test_journal_counts_each_quantity() -> None:
    assert journal_count(JOURNAL, Quantity.ATTEMPTS) == 6
    assert journal_count(JOURNAL, Quantity.REQUESTS) == 3
    assert journal_count(JOURNAL, Quantity.RETRIES) == 3
    assert journal_count(JOURNAL, Quantity.RETRY_SUCCESSES) == 2


def test_counters_that_match_the_journal_pass() -> None:
    result = telemetry_check(
        _record(
            _counter("retries", Quantity.RETRIES, 10, 13), _counter("att", Quantity.ATTEMPTS, 0, 6)
        ),
        JOURNAL,
    )
    assert result.outcome is Outcome.PASS
    assert "2 counters agree exactly" in result.summary


def test_a_sut_that_undercounts_its_retries_fails_with_the_numbers() -> None:
    result = telemetry_check(_record(_counter("retries", Quantity.RETRIES, 10, 12)), JOURNAL)
    assert result.outcome is Outcome.FAIL
    assert "rose by 2; the journal shows 3 retries: DISAGREES" in result.evidence[0]


def test_a_sut_that_counts_retries_it_did_not_make_fails() -> None:
    result = telemetry_check(_record(_counter("retries", Quantity.RETRIES, 0, 5)), JOURNAL)
    assert result.outcome is Outcome.FAIL


def test_a_counter_that_went_down_or_vanished_is_inconclusive() -> None:
    restarted = telemetry_check(_record(_counter("retries", Quantity.RETRIES, 10, 2)), JOURNAL)
    assert restarted.outcome is Outcome.INCONCLUSIVE
    assert "went down" in restarted.summary
    vanished = telemetry_check(_record(_counter("retries", Quantity.RETRIES, 3, None)), JOURNAL)
    assert vanished.outcome is Outcome.INCONCLUSIVE


def test_a_counter_with_no_series_before_its_first_increment_counts_from_zero() -> None:
    result = telemetry_check(_record(_counter("retries", Quantity.RETRIES, None, 3)), JOURNAL)
    assert result.outcome is Outcome.PASS


def test_attempts_outside_the_run_window_do_not_count() -> None:
    late = _table([(0, 0, 200)])
    late = late.take(np.array([0]))
    shifted = AttemptTable(**{**late.__dict__, "arrival_us": late.arrival_us + int(60e6)})
    result = telemetry_check(_record(_counter("att", Quantity.ATTEMPTS, 0, 0)), shifted)
    assert result.outcome is Outcome.PASS


def test_without_prometheus_the_check_is_not_judged_with_the_install_command() -> None:
    record = _record(skipped="Prometheus is not installed; run: apt-get install prometheus")
    result = telemetry_check(record, JOURNAL)
    assert result.outcome is Outcome.NOT_APPLICABLE
    assert "apt-get install prometheus" in result.summary


def test_a_system_without_a_reader_says_why_its_counters_are_not_judged() -> None:
    record = _record(
        CounterSeries(
            name="attempts served",
            job="backends",
            promql="sum(x)",
            quantity=Quantity.ATTEMPTS,
            start=0,
            end=6,
        ),
        no_reader="Caddy 2.6 exports no counter of upstream attempts or retries",
    )
    result = telemetry_check(record, JOURNAL)
    # only the harness's own counter was compared: nothing of the SUT was judged, so no pass
    assert result.outcome is Outcome.NOT_APPLICABLE, result.summary
    assert "no counter of the SUT was compared" in result.summary
    assert "the backends' own 1 counter(s) agree with the journal" in result.summary
    assert "the SUT's own counters are not judged: Caddy 2.6" in result.summary


def _backends(start: float | None, end: float | None) -> CounterSeries:
    return CounterSeries(
        name="attempts served",
        job="backends",
        promql="sum(fake_backend_attempts_total)",
        quantity=Quantity.ATTEMPTS,
        start=start,
        end=end,
    )


def test_no_counter_compared_is_not_applicable_not_a_pass() -> None:
    result = telemetry_check(_record(), JOURNAL)
    assert result.outcome is Outcome.NOT_APPLICABLE, result.summary
    assert "no counter was compared" in result.summary


def test_only_reported_counters_are_not_a_pass() -> None:
    reported = CounterSeries(
        name="overflows", job="sut", promql="sum(o)", quantity=None, start=0, end=2
    )
    result = telemetry_check(_record(reported), JOURNAL)
    assert result.outcome is Outcome.NOT_APPLICABLE, result.summary


def test_a_backends_disagreement_is_a_harness_self_check_not_a_sut_failure() -> None:
    no_reader = _record(_backends(0, 5), no_reader="nginx exports no counter of attempts")
    result = telemetry_check(no_reader, JOURNAL)
    assert result.outcome is Outcome.INCONCLUSIVE, result.summary
    assert "the harness's own check failed, not the SUT" in result.summary
    assert any("rose by 5; the journal shows 6 attempts: DISAGREES" in e for e in result.evidence)
    # with a SUT reader too: the journal itself is in doubt, so even a SUT disagreement is no FAIL
    both = _record(_backends(0, 5), _counter("retries", Quantity.RETRIES, 0, 1))
    assert telemetry_check(both, JOURNAL).outcome is Outcome.INCONCLUSIVE
    # the SUT's own disagreement with agreeing backends still fails
    sut_only = _record(_backends(0, 6), _counter("retries", Quantity.RETRIES, 0, 1))
    assert telemetry_check(sut_only, JOURNAL).outcome is Outcome.FAIL


def test_a_counter_with_no_series_at_either_edge_is_unknown_not_zero() -> None:
    # a wrong selector (or a metric this SUT version does not export) must not read "rose by 0"
    result = telemetry_check(_record(_counter("retries", Quantity.RETRIES, None, None)), JOURNAL)
    assert result.outcome is Outcome.INCONCLUSIVE, result.summary
    assert "had no series at either edge of the run" in result.summary
    quiet = _table([(0, 0, 200)])
    still = telemetry_check(_record(_counter("retries", Quantity.RETRIES, None, None)), quiet)
    assert still.outcome is Outcome.INCONCLUSIVE


def test_alert_expectations() -> None:
    spans = [AlertSpan(alert="HighRetryRate", start_s=T0 + 3, end_s=T0 + 6)]
    base = {"rules_file": "rules.yaml", "alert_rules": ["HighRetryRate", "Quiet"], "alerts": spans}
    met = alerts_check(
        _record(
            **base,
            expect_alerts={
                "HighRetryRate": AlertExpectation.FIRES,
                "Quiet": AlertExpectation.QUIET,
            },
        ),
        JOURNAL,
    )
    assert met is not None and met.outcome is Outcome.PASS
    assert "HighRetryRate firing from t=3.0s to t=6.0s" in met.evidence
    missed = alerts_check(_record(**base, expect_alerts={"Quiet": AlertExpectation.FIRES}), JOURNAL)
    assert missed is not None and missed.outcome is Outcome.FAIL
    assert "Quiet was expected to fire and never did" in missed.summary
    noisy = alerts_check(
        _record(**base, expect_alerts={"HighRetryRate": AlertExpectation.QUIET}), JOURNAL
    )
    assert noisy is not None and noisy.outcome is Outcome.FAIL
    assert alerts_check(_record(), JOURNAL) is None


def test_firing_samples_merge_into_spans() -> None:
    spans = _spans("A", [T0 + 5, T0 + 1, T0 + 2, T0 + 3])
    assert [(s.start_s - T0, s.end_s - T0) for s in spans] == [(1, 3), (5, 5)]


def test_the_report_draws_both_telemetry_plots() -> None:
    from harness.oracle.verdict import Verdict
    from harness.report.html import render_html

    counter = _counter("att", Quantity.ATTEMPTS, 0, 6).model_copy(
        update={"values": [(T0, 0.0), (T0 + 1, 6.0)]}
    )
    spans = [AlertSpan(alert="HighRetryRate", start_s=T0 + 0.2, end_s=T0 + 0.6)]
    record = _record(
        counter,
        rules_file="r.yaml",
        alert_rules=["HighRetryRate"],
        alerts=spans,
        expect_alerts={"HighRetryRate": AlertExpectation.FIRES},
    )
    checks = [telemetry_check(record, JOURNAL), alerts_check(record, JOURNAL)]
    assert checks[0].data["counters"][0]["journal_running"] == [0, 6]
    verdict = Verdict(
        outcome=Outcome.PASS,
        alpha=0.001,
        epsilon_s=0.001,
        traces=3,
        attempts=6,
        client_records=3,
        checks=[c for c in checks if c is not None],
    )
    html = render_html(verdict)
    assert "<h3>The SUT&#x27;s own counters against the journal</h3><figure>" in html
    assert "<h3>Alert timeline</h3><figure>" in html


def test_retry_log_lines_are_compared_per_request_id() -> None:
    agreeing = _record(log_retries={"r0": 1, "r2": 2}, log_meaning="m", log_source="s")
    ok = telemetry_check(agreeing, JOURNAL)
    assert ok.outcome is Outcome.PASS
    assert "3 retry lines over 3 requests" in ok.evidence[-1]
    # one retry logged for the wrong request: totals agree, the per-request view does not
    swapped = _record(log_retries={"r1": 1, "r2": 2}, log_meaning="m", log_source="s")
    bad = telemetry_check(swapped, JOURNAL)
    assert bad.outcome is Outcome.FAIL
    assert set(bad.request_ids) == {"r0", "r1"}
    assert "2 of 3 requests disagree" in bad.evidence[0]


def test_retry_log_lines_are_judged_even_without_prometheus() -> None:
    record = _record(
        skipped="Prometheus is not installed; run: apt-get install prometheus",
        log_retries={"r0": 1, "r2": 2},
    )
    result = telemetry_check(record, JOURNAL)
    assert result.outcome is Outcome.PASS
    assert "no Prometheus counters" in result.summary


def test_a_sut_whose_metrics_are_not_scraped_is_not_judged_rather_than_rose_by_zero(
    tmp_path: object,
) -> None:
    """The docker substrate publishes no exporter port: the SUT's counters must not be compared
    (they would read 'rose by 0' against the journal's retries: a false violation)."""
    from pathlib import Path

    from harness.telemetry.prometheus import ScrapeTarget
    from harness.telemetry.session import TelemetrySession

    only_backends = [ScrapeTarget("backends", "127.0.0.1:1")]
    session = TelemetrySession("haproxy", only_backends, None, {}, Path(str(tmp_path)))
    assert [r.job for r in session.readers] == ["backends"]
    assert session.no_reader is not None and "haproxy: its metrics endpoint" in session.no_reader
    both = [*only_backends, ScrapeTarget("sut", "127.0.0.1:2")]
    assert [r.job for r in TelemetrySession("haproxy", both, None, {}, Path(".")).readers] == [
        "sut",
        "backends",
    ]


def test_alerts_over_unscraped_sut_metrics_are_not_judged() -> None:
    record = _record(
        rules_file="r.yaml",
        alert_rules=["HighRetryRate"],
        expect_alerts={"HighRetryRate": AlertExpectation.QUIET},
        no_reader="haproxy: its metrics endpoint is not reachable on this substrate",
    )
    result = alerts_check(record, JOURNAL)
    assert result is not None and result.outcome is Outcome.NOT_JUDGED

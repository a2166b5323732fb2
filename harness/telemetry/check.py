"""The telemetry check and the alert check: the SUT's own story against the journal.

``telemetry``: for every counter a reader maps (harness/telemetry/readers.py), its increase over
the run (the value Prometheus held at the run's end minus the value at its start) against the
journal's count of the quantity it reports, over the same interval. Both edges are taken after a
scrape that followed all traffic up to them (see session.py), so the comparison is exact: any
difference is the SUT (or our backends) counting something other than what it says. A counter
that went down (the process restarted) or has no sample makes the check inconclusive.

``alerts``: each alert the scenario expects to fire must have been firing at some point of the
run, each it expects to stay quiet must never have fired; the evidence puts the firing spans next
to the journal's retry ratio in the same seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.oracle.journal import AttemptTable
from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.telemetry.readers import Quantity
from harness.telemetry.record import AlertExpectation, CounterSeries, TelemetryRecord

TITLES = {"telemetry": "SUT telemetry agrees with the journal", "alerts": "Alert rules"}


def _in_window(table: AttemptTable, record: TelemetryRecord) -> AttemptTable:
    lo, hi = int(record.start_s * 1e6), int(record.end_s * 1e6)
    keep = np.flatnonzero((table.arrival_us >= lo) & (table.arrival_us <= hi))
    return table.take(keep)


def journal_count(table: AttemptTable, quantity: Quantity) -> int:
    """How many of ``quantity`` the journal rows show (rows already cut to the run's window)."""
    if quantity is Quantity.ATTEMPTS:
        return len(table)
    requests = int(np.unique(table.rid).size)
    if quantity is Quantity.REQUESTS:
        return requests
    first = np.zeros(len(table), dtype=bool)
    if len(table):
        order = np.lexsort((table.arrival_us, table.rid))
        rid_sorted = table.rid[order]
        starts = np.r_[True, rid_sorted[1:] != rid_sorted[:-1]]
        first[order[starts]] = True
    if quantity is Quantity.RETRIES:
        return int((~first).sum())
    ok = (table.status >= 200) & (table.status < 300)
    return int((~first & ok).sum())


def retry_ratio_per_second(
    table: AttemptTable, record: TelemetryRecord
) -> list[tuple[float, float, int]]:
    """(second, retries per request, requests) for each second of the run that had a request
    (a request counts in the second its first attempt arrived; a retry in the second it did)."""
    if not len(table):
        return []
    seconds = (table.arrival_us // 1_000_000).astype(np.int64)
    out = []
    for sec in np.unique(seconds):
        rows = table.take(np.flatnonzero(seconds == sec))
        requests = int((rows.attempt == 0).sum())
        if requests:
            out.append((float(sec), int((rows.attempt > 0).sum()) / requests, requests))
    return out


def journal_over_time(table: AttemptTable, quantity: Quantity, times: list[float]) -> list[int]:
    """The journal's running count of ``quantity`` at each of ``times`` (unix s): what the
    counter should have read at that scrape."""
    out = []
    for t in times:
        cut = table.take(np.flatnonzero(table.arrival_us <= int(t * 1e6)))
        out.append(journal_count(cut, quantity))
    return out


def _counter_line(c: CounterSeries, increase: float, expected: int) -> str:
    agree = "agrees" if increase == expected else "DISAGREES"
    return (
        f"{c.job} `{c.promql}` ({c.name}: {c.meaning}) rose by {increase:g}; the journal shows "
        f"{expected} {c.quantity.value}: {agree} [source: {c.source}]"
    )


def telemetry_check(
    record: TelemetryRecord,
    journal: AttemptTable,
    *,
    probes: AttemptTable | None = None,
    through_sut: AttemptTable | None = None,
) -> CheckResult:
    """Compare every counter of ``record`` with the journal.

    Every attempt is accounted for, the harness's own included: ``through_sut`` holds the
    harness's readiness probes (sent through the SUT, so both the SUT and the backends count
    them) and ``probes`` its calibration probes (sent straight to a backend, so only the
    backends' own counter sees them). Normally both end before the run's window opens.
    """

    def result(
        outcome: Outcome, summary: str, evidence: list[str], data: dict[str, Any]
    ) -> CheckResult:
        return CheckResult(
            name="telemetry",
            title=TITLES["telemetry"],
            kind=CheckKind.INVARIANT,
            outcome=outcome,
            summary=summary,
            evidence=evidence,
            data=data,
        )

    if record.skipped and record.log_retries is None:
        return result(Outcome.NOT_APPLICABLE, f"not judged: {record.skipped}", [], {})
    run = _in_window(journal, record)
    run_probes = _in_window(probes, record) if probes is not None else None
    run_ready = _in_window(through_sut, record) if through_sut is not None else None
    evidence: list[str] = []
    bad: list[str] = []
    unknown: list[str] = []
    rows: list[dict[str, Any]] = []
    for c in record.counters:
        if c.end is None and c.start is not None:
            unknown.append(f"{c.name}: `{c.promql}` vanished during the run")
            continue
        # a labelled counter has no series before its first increment: absent means 0
        increase = (c.end or 0.0) - (c.start or 0.0)
        if increase < 0:
            unknown.append(f"{c.name}: `{c.promql}` went down (the process restarted)")
            continue
        expected = journal_count(run, c.quantity)
        if c.includes_probes and run_probes is not None:
            expected += journal_count(run_probes, c.quantity)
        if run_ready is not None:
            expected += journal_count(run_ready, c.quantity)
        line = _counter_line(c, increase, expected)
        (bad if increase != expected else evidence).append(line)
        times = [t for t, _ in c.values]
        journal_values = journal_over_time(run, c.quantity, times)
        if c.includes_probes and run_probes is not None:
            more = journal_over_time(run_probes, c.quantity, times)
            journal_values = [a + b for a, b in zip(journal_values, more, strict=True)]
        rows.append(
            {
                "job": c.job,
                "name": c.name,
                "promql": c.promql,
                "sut": increase,
                "journal": expected,
                "times_s": [t - record.start_s for t in times],
                "counter": [v - (c.start or 0.0) for _, v in c.values],
                "journal_running": journal_values,
            }
        )
    request_ids: list[str] = []
    if record.log_retries is not None:
        line, wrong = _log_comparison(record, run)
        (bad if wrong else evidence).append(line)
        request_ids = wrong
        rows.append({"job": "sut log", "name": "retry log lines"})
    data = {"counters": [r for r in rows if "times_s" in r], "no_reader": record.no_reader}
    sut_compared = any(c.job == "sut" for c in record.counters) or record.log_retries is not None
    suffix = "" if sut_compared else f"; the SUT's own counters are not judged: {record.no_reader}"
    if record.skipped:
        suffix += f"; no Prometheus counters: {record.skipped}"
    if bad:
        failed = result(
            Outcome.FAIL,
            f"{len(bad)} of {len(rows)} counters disagree with the journal{suffix}",
            bad + evidence + unknown,
            data,
        )
        return failed.model_copy(update={"request_ids": request_ids[:20]})
    if unknown:
        return result(Outcome.INCONCLUSIVE, "; ".join(unknown) + suffix, evidence, data)
    return result(
        Outcome.PASS,
        f"{len(rows)} counters agree exactly with the journal{suffix}",
        evidence,
        data,
    )


def _log_comparison(record: TelemetryRecord, run: AttemptTable) -> tuple[str, list[str]]:
    """The SUT's retry log lines per request id against the journal's retries of each request;
    the evidence line and the request ids where they differ (worst first)."""
    logged = record.log_retries or {}
    per_rid = np.bincount(run.rid, minlength=len(run.request_ids)) if len(run) else np.array([])
    journal = {run.request_ids[i]: int(n) - 1 for i, n in enumerate(per_rid) if n > 0}
    ids = set(journal) | {rid for rid in logged if rid != "-"}
    diffs = sorted(((abs(logged.get(r, 0) - journal.get(r, 0)), r) for r in ids), reverse=True)
    wrong = [r for d, r in diffs if d]
    said, seen = sum(logged.values()), sum(journal.values())
    if wrong:
        first = wrong[0]
        line = (
            f"SUT log ({record.log_meaning}): {said} retry lines, the journal shows {seen} "
            f"retries; {len(wrong)} of {len(ids)} requests disagree, e.g. {first}: logged "
            f"{logged.get(first, 0)}, journaled {journal.get(first, 0)}: DISAGREES "
            f"[source: {record.log_source}]"
        )
    else:
        line = (
            f"SUT log ({record.log_meaning}): {said} retry lines over {len(ids)} requests, "
            f"each request's count equal to its journaled retries: agrees "
            f"[source: {record.log_source}]"
        )
    return line, wrong


def alerts_check(record: TelemetryRecord, journal: AttemptTable) -> CheckResult | None:
    """Expected alerts against what fired; None when the scenario names no rules file."""
    if record.rules_file is None:
        return None

    def result(outcome: Outcome, summary: str, evidence: list[str]) -> CheckResult:
        return CheckResult(
            name="alerts",
            title=TITLES["alerts"],
            kind=CheckKind.INVARIANT,
            outcome=outcome,
            summary=summary,
            evidence=evidence,
            data={
                "spans": [s.model_dump() for s in record.alerts],
                "retry_ratio": retry_ratio_per_second(_in_window(journal, record), record),
                "start_s": record.start_s,
            },
        )

    if record.skipped:
        return result(Outcome.NOT_APPLICABLE, f"not judged: {record.skipped}", [])
    if record.no_reader and "not reachable" in record.no_reader:
        # the rules are written over the SUT's own series, which were never scraped: an alert
        # that stayed quiet proves nothing, one that did not fire proves nothing either
        return result(Outcome.NOT_JUDGED, f"not judged: {record.no_reader}", [])
    fired = {s.alert for s in record.alerts}
    spans = [
        f"{s.alert} firing from t={s.start_s - record.start_s:.1f}s "
        f"to t={s.end_s - record.start_s:.1f}s"
        for s in record.alerts
    ]
    ratio = retry_ratio_per_second(_in_window(journal, record), record)
    if ratio:
        peak = max(ratio, key=lambda r: r[1])
        spans.append(
            f"journal: retries per request peaked at {peak[1]:.2f} in second "
            f"t={peak[0] - record.start_s:.0f}s; over the run "
            f"{sum(r[1] * r[2] for r in ratio) / sum(r[2] for r in ratio):.2f}"
        )
    wrong: list[str] = []
    for name, expect in sorted(record.expect_alerts.items()):
        if expect is AlertExpectation.FIRES and name not in fired:
            wrong.append(f"{name} was expected to fire and never did")
        if expect is AlertExpectation.QUIET and name in fired:
            wrong.append(f"{name} was expected to stay quiet and fired")
    if wrong:
        return result(Outcome.FAIL, "; ".join(wrong), wrong + spans)
    if not record.expect_alerts:
        return result(
            Outcome.NOT_APPLICABLE,
            f"{len(fired)} of {len(record.alert_rules)} alerts fired; no expectation to judge",
            spans,
        )
    return result(
        Outcome.PASS,
        f"{len(record.expect_alerts)} alert expectations met "
        f"({', '.join(sorted(fired)) or 'none'} fired)",
        spans,
    )

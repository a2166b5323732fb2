"""The telemetry check and the alert check: the SUT's own story against the journal.

``telemetry``: for every counter a reader maps (harness/telemetry/readers.py), its increase over
the run (the value Prometheus held at the run's end minus the value at its start) against the
journal's count of the quantity it reports, over the same interval. Both edges are taken after a
scrape that followed all traffic up to them (see session.py), so the comparison is exact: any
difference is the SUT counting something other than what it says. A counter that went down (the
process restarted) or has no sample at either edge makes the check inconclusive. The backends'
own counters are a self-check of the harness (like fault_audit): a disagreement there makes the
check inconclusive, never a failure of the SUT; with no SUT counter to compare (a system without
a reader) the check is not applicable, the backends' agreeing counters given as evidence.

``alerts``: each alert the scenario expects to fire must have been firing at some point of the
run, each it expects to stay quiet must never have fired; the evidence puts the firing spans next
to the journal's retry ratio in the same seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.oracle.journal import AttemptTable
from harness.oracle.records import DownWindow
from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.telemetry.readers import Quantity
from harness.telemetry.record import AlertExpectation, CounterSeries, TelemetryRecord

TITLES = {"telemetry": "SUT telemetry agrees with the journal", "alerts": "Alert rules"}


def _in_window(table: AttemptTable, record: TelemetryRecord) -> AttemptTable:
    lo, hi = int(record.start_s * 1e6), int(record.end_s * 1e6)
    keep = np.flatnonzero((table.arrival_us >= lo) & (table.arrival_us <= hi))
    return table.take(keep)


def _first_and_previous(table: AttemptTable) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32]]:
    """Per row: whether it is its request's first attempt (by arrival), and the replica code of
    the attempt before it (-1 for a first attempt)."""
    first = np.zeros(len(table), dtype=bool)
    previous = np.full(len(table), -1, dtype=np.int32)
    if len(table):
        order = np.lexsort((table.arrival_us, table.rid))
        rid_sorted = table.rid[order]
        starts = np.r_[True, rid_sorted[1:] != rid_sorted[:-1]]
        first[order[starts]] = True
        rep_sorted = table.replica[order]
        prev_sorted = np.r_[np.int32(-1), rep_sorted[:-1]].astype(np.int32)
        prev_sorted[starts] = -1
        previous[order] = prev_sorted
    return first, previous


def _counted_rows(
    table: AttemptTable, quantity: Quantity
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32]]:
    """Which rows count toward ``quantity``, and the replica code each is counted on."""
    if quantity is Quantity.ATTEMPTS:
        return np.ones(len(table), dtype=bool), table.replica
    first, previous = _first_and_previous(table)
    if quantity is Quantity.REQUESTS:
        return first, table.replica
    if quantity is Quantity.RETRIES:
        return ~first, table.replica
    if quantity is Quantity.RETRIES_FROM:
        return ~first, previous
    ok = (table.status >= 200) & (table.status < 300)
    return ~first & ok, table.replica


def journal_count(table: AttemptTable, quantity: Quantity) -> int:
    """How many of ``quantity`` the journal rows show (rows already cut to the run's window)."""
    if quantity is Quantity.REQUESTS:
        return int(np.unique(table.rid).size)
    counted, _ = _counted_rows(table, quantity)
    return int(counted.sum())


def journal_by_replica(table: AttemptTable, quantity: Quantity) -> dict[str, int]:
    """``quantity`` per replica name: attempts on the replica that served them, retries on the
    replica they went to (``RETRIES_FROM``: on the replica of the attempt before them)."""
    counted, replica = _counted_rows(table, quantity)
    codes = replica[counted & (replica >= 0)]
    counts = np.bincount(codes, minlength=len(table.replicas))
    return {table.replicas[i]: int(n) for i, n in enumerate(counts) if n}


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
    assert c.quantity is not None
    agree = "agrees" if increase == expected else "DISAGREES"
    return (
        f"{c.job} `{c.promql}` ({c.name}: {c.meaning}) rose by {increase:g}; the journal shows "
        f"{expected} {c.quantity.text}: {agree} [source: {c.source}]"
    )


def telemetry_check(
    record: TelemetryRecord,
    journal: AttemptTable,
    *,
    probes: AttemptTable | None = None,
    through_sut: AttemptTable | None = None,
    down_windows: Sequence[DownWindow] = (),
) -> CheckResult:
    """Compare every counter of ``record`` with the journal.

    ``down_windows`` (the run's chaos) makes the SUT's own counters one-sided: attempts sent to
    a replica while it was down fail to connect and reach no journal, so a SUT counter above the
    journal's count is inconclusive (the excess may be those), one below it still fails (every
    journaled attempt and retry was made by the SUT). Per upstream the same holds for the
    upstreams of down replicas; a per-server retry counter is inconclusive either way there,
    since the journal cannot tell which attempt a retry really followed.

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
    lo, hi = int(record.start_s * 1e6), int(record.end_s * 1e6)
    blind = sorted({w.replica for w in down_windows if w.start_us <= hi and (w.end_us or hi) >= lo})
    run_probes = _in_window(probes, record) if probes is not None else None
    run_ready = _in_window(through_sut, record) if through_sut is not None else None
    evidence: list[str] = []
    bad_sut: list[str] = []  # the SUT's counters or log against the journal
    bad_harness: list[str] = []  # the backends' own counters against the journal: a self-check
    unknown: list[str] = []
    rows: list[dict[str, Any]] = []
    for c in record.counters:
        if c.job in record.down_at_end:
            unknown.append(
                f"{c.name}: {c.job} target(s) {', '.join(record.down_at_end[c.job])} were down "
                "at the run's end (killed by the scenario's chaos?): their counts are lost, "
                "not compared"
            )
            continue
        if c.start is None and c.end is None:
            unknown.append(
                f"{c.name}: `{c.promql}` matched no series, though {c.job} exports it from the "
                "start: the selector names no route or cluster of this SUT (not compared)"
                if c.always_exported
                else f"{c.name}: `{c.promql}` had no series at either edge of the run: a "
                "selector that names nothing, or a metric {c.job} does not export, reads the "
                "same as a counter that stayed at 0 (unknown, not compared)"
            )
            continue
        if c.end is None and c.start is not None:
            unknown.append(f"{c.name}: `{c.promql}` vanished during the run")
            continue
        # a labelled counter has no series before its first increment: absent means 0
        increase = (c.end or 0.0) - (c.start or 0.0)
        if increase < 0:
            unknown.append(f"{c.name}: `{c.promql}` went down (the process restarted)")
            continue
        if c.quantity is None:
            evidence.append(
                f"{c.job} `{c.promql}` ({c.name}: {c.meaning}) rose by {increase:g}; reported, "
                f"not compared [source: {c.source}]"
            )
            continue
        quantity = c.quantity
        sources = [run, *([run_probes] if c.includes_probes and run_probes is not None else [])]
        if run_ready is not None:
            sources.append(run_ready)
        expected = sum(journal_count(t, quantity) for t in sources)
        line = _counter_line(c, increase, expected)
        bad = bad_sut if c.job == "sut" else bad_harness
        one_sided = bool(blind) and c.job == "sut"
        if one_sided and increase > expected:
            unknown.append(f"{line}; {_blind_text(blind)}")
        else:
            (bad if increase != expected else evidence).append(line)
        per_upstream: list[dict[str, Any]] = []
        if c.upstream_labels:
            lines, per_upstream = _upstream_comparison(c, sources)
            for text, agrees, row in lines:
                if agrees:
                    evidence.append(text)
                elif one_sided and row is not None and _blind_row(c, row, blind):
                    unknown.append(f"{text}; {_blind_text(blind)}")
                else:
                    bad.append(text)
        times = [t for t, _ in c.values]
        journal_values = journal_over_time(run, quantity, times)
        if c.includes_probes and run_probes is not None:
            more = journal_over_time(run_probes, quantity, times)
            journal_values = [a + b for a, b in zip(journal_values, more, strict=True)]
        rows.append(
            {
                "job": c.job,
                "name": c.name,
                "promql": c.promql,
                "sut": increase,
                "journal": expected,
                "per_upstream": per_upstream,
                "times_s": [t - record.start_s for t in times],
                "counter": [v - (c.start or 0.0) for _, v in c.values],
                "journal_running": journal_values,
            }
        )
    request_ids: list[str] = []
    if record.log_retries is not None:
        line, wrong = _log_comparison(record, run)
        (bad_sut if wrong else evidence).append(line)
        request_ids = wrong
        rows.append({"job": "sut log", "name": "retry log lines"})
    data = {"counters": [r for r in rows if "times_s" in r], "no_reader": record.no_reader}
    sut_judged = record.log_retries is not None or any(
        c.job == "sut" and c.quantity is not None for c in record.counters
    )
    no_reader = record.no_reader or "its reader maps no counter to a quantity of the journal"
    suffix = "" if sut_judged else f"; the SUT's own counters are not judged: {no_reader}"
    if record.skipped:
        suffix += f"; no Prometheus counters: {record.skipped}"
    if bad_harness:
        return result(
            Outcome.INCONCLUSIVE,
            f"the harness's own check failed, not the SUT: {len(bad_harness)} disagreement(s) "
            "of the backends' own counters with the journal, so the journal may have missed "
            "or added attempts and no counter is judged against it in this run (a repeat at "
            f"the same seed points to a harness fault){suffix}",
            bad_harness + bad_sut + evidence + unknown,
            data,
        )
    if bad_sut:
        failed = result(
            Outcome.FAIL,
            f"{len(bad_sut)} disagreement(s) with the journal over {len(rows)} counters{suffix}",
            bad_sut + evidence + unknown,
            data,
        )
        return failed.model_copy(update={"request_ids": request_ids[:20]})
    if not sut_judged or not (rows or unknown):
        # only the backends' own counters (a harness self-check) or nothing at all was compared
        agreed = (
            f"; the backends' own {len(rows)} counter(s) agree with the journal" if rows else ""
        )
        why = "no counter of the SUT was compared" if rows else "no counter was compared"
        return result(
            Outcome.NOT_APPLICABLE,
            f"not judged: {why}{agreed}{suffix}" + (f"; {'; '.join(unknown)}" if unknown else ""),
            evidence + unknown,
            data,
        )
    if unknown:
        return result(Outcome.INCONCLUSIVE, "; ".join(unknown) + suffix, evidence, data)
    return result(
        Outcome.PASS,
        f"{len(rows)} counters agree exactly with the journal{suffix}",
        evidence,
        data,
    )


def _blind_text(blind: Sequence[str]) -> str:
    return (
        f"not judged one way: replica(s) {', '.join(blind)} were down during the run (chaos), "
        "and attempts sent to a down replica reach no journal"
    )


def _blind_row(c: CounterSeries, row: dict[str, Any], blind: Sequence[str]) -> bool:
    """Whether a per-upstream disagreement may come from a down replica (not a violation)."""
    if c.quantity is Quantity.RETRIES_FROM:
        return True
    return row["replica"] in blind and row["sut"] > row["journal"]


def _upstream_comparison(
    c: CounterSeries, tables: list[AttemptTable]
) -> tuple[list[tuple[str, bool, dict[str, Any] | None]], list[dict[str, Any]]]:
    """The counter per upstream against the journal per replica: ``(line, agrees)`` pairs and
    the rows for the report. An upstream no replica stands behind, or a replica no upstream of
    the counter names, disagrees when anything was counted or journaled there."""
    assert c.quantity is not None
    journal: dict[str, int] = {}
    for table in tables:
        for name, n in journal_by_replica(table, c.quantity).items():
            journal[name] = journal.get(name, 0) + n
    keys = sorted(set(c.start_by_upstream) | set(c.end_by_upstream) | set(c.upstreams))
    lines: list[tuple[str, bool, dict[str, Any] | None]] = []
    rows: list[dict[str, Any]] = []
    agreeing: list[str] = []
    labels = ",".join(c.upstream_labels)
    for key in keys:
        rose = c.end_by_upstream.get(key, 0.0) - c.start_by_upstream.get(key, 0.0)
        replica: str | None = c.upstreams.get(key)
        expected = journal.get(replica, 0) if replica is not None else 0
        rows.append({"upstream": key, "replica": replica, "sut": rose, "journal": expected})
        if rose == expected:
            agreeing.append(f"{key}={replica}: {rose:g}")
            continue
        where = f"replica {replica}" if replica else "no replica of this run (no journal rows)"
        lines.append(
            (
                f"{c.job} {c.name} on {{{labels}}}={key} ({where}) rose by {rose:g}; the journal "
                f"shows {expected} {c.quantity.text} on {replica or 'it'}: DISAGREES "
                f"[source: {c.source}]",
                False,
                rows[-1],
            )
        )
    named = set(c.upstreams.values())
    for lost in sorted(set(journal) - named):
        rows.append({"upstream": None, "replica": lost, "sut": 0.0, "journal": journal[lost]})
        lines.append(
            (
                f"{c.job} {c.name}: the journal shows {journal[lost]} {c.quantity.text} on "
                f"replica {lost}, which no {{{labels}}} of the counter stands for: DISAGREES",
                False,
                None,
            )
        )
    if agreeing and len(agreeing) == len(keys):
        lines.append(
            (
                f"{c.job} {c.name} per {{{labels}}} against the journal per replica: "
                + ", ".join(agreeing)
                + ": agrees",
                True,
                None,
            )
        )
    return lines, rows


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

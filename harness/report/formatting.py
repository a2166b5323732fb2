"""Plain-text pieces every renderer of a verdict shares: labels, numbers and evidence lines."""

from __future__ import annotations

import math

from harness.oracle.verdict import CheckResult, Outcome, Statistic, Verdict

OUTCOME_LABEL: dict[Outcome, str] = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "FAIL",
    Outcome.INCONCLUSIVE: "inconclusive",
    Outcome.NOT_APPLICABLE: "n/a",
    Outcome.NOT_JUDGED: "not judged",
}


def fmt_number(value: float | None, digits: int = 4) -> str:
    """A short human form of a float: significant digits, no trailing noise, NaN/inf spelt out."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def fmt_seconds(value: float) -> str:
    """Seconds in the unit a reader expects: ms below one second."""
    if math.isfinite(value) and abs(value) < 1.0:
        return f"{fmt_number(value * 1000.0)} ms"
    return f"{fmt_number(value)} s"


def sample_group(stat: Statistic) -> str | None:
    """The group or index ``n`` is of, to be named beside it: when the check sized several and
    it is not the one the test's numbers are of (``stat.label``); else None."""
    return stat.n_label if stat.n_label != stat.label else None


def test_text(stat: Statistic) -> str:
    """The test and the group (or retry index) its numbers are of, when the check tested
    several, e.g. ``exact binomial on GET``; the test alone otherwise."""
    return stat.test + (f" on {stat.label}" if stat.label else "")


def sample_text(stat: Statistic) -> str:
    """``n=N/PLANNED``, naming its group when :func:`sample_group` does, e.g.
    ``n=120/300 (POST)``."""
    group = sample_group(stat)
    return f"n={stat.n}/{stat.n_planned}" + (f" ({group})" if group else "")


def stat_line(stat: Statistic) -> str:
    """One line naming the test and its numbers, e.g. ``exact binomial · p=0.31 · n=400/400``.

    When the check tests several groups (or retry indices), the test's numbers are the group's
    nearest rejection and say so (``exact binomial on GET · p=0.002``), and ``n`` names its
    own group, which may differ (the one furthest below its plan)."""
    parts = [
        test_text(stat),
        f"p={fmt_number(stat.p_value)}",
        sample_text(stat),
        f"α={fmt_number(stat.alpha)}",
    ]
    if stat.statistic is not None:
        parts.insert(1, f"stat={fmt_number(stat.statistic)}")
    if stat.effect:
        parts.append(f"effect: {stat.effect}")
    return " · ".join(parts)


def headline(verdict: Verdict) -> str:
    """The one line a user reads first: outcome, scenario and the size of the run."""
    scenario = verdict.scenario or "unnamed scenario"
    parts = [
        f"{verdict.traces} traces, {verdict.attempts} attempts, "
        f"{verdict.client_records} client records, {verdict.dropped_attempts} dropped"
        + (
            f", {verdict.untraced_attempts} without a request id"
            if verdict.untraced_attempts
            else ""
        )
    ]
    if verdict.sut_answered:
        statuses = ", ".join(f"{k}: {v}" for k, v in verdict.sut_answered_statuses.items())
        parts.append(
            f"SUT answered {verdict.sut_answered} of {verdict.client_records} itself ({statuses})"
        )
    if verdict.judged_share is not None:
        lowest = min(
            (
                c
                for c in verdict.checks
                if c.judged_share is not None
                and c.outcome in (Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE)
            ),
            key=lambda c: c.judged_share or 0.0,
        )
        parts.append(f"judged {verdict.judged_share:.0%} of eligible (lowest: {lowest.name})")
    not_judged = [c.name for c in verdict.checks if c.outcome is Outcome.NOT_JUDGED]
    if not_judged:
        parts.append(f"not judged: {', '.join(not_judged)}")
    parts.append(f"α={fmt_number(verdict.alpha)}, ε={fmt_seconds(verdict.epsilon_s)}")
    return f"{OUTCOME_LABEL[verdict.outcome].upper()} — {scenario}: " + ", ".join(parts)


def outcome_counts(verdict: Verdict) -> dict[Outcome, int]:
    """How many checks ended in each outcome (every outcome present, zero included)."""
    counts = dict.fromkeys(Outcome, 0)
    for check in verdict.checks:
        counts[check.outcome] += 1
    return counts


def evidence_text(check: CheckResult, *, max_ids: int | None = None) -> str:
    """Everything a check says, as plain text: summary, statistic, request ids, evidence."""
    lines = [check.summary]
    if check.stat is not None:
        lines.append(stat_line(check.stat))
    if check.request_ids:
        ids = check.request_ids if max_ids is None else check.request_ids[:max_ids]
        more = len(check.request_ids) - len(ids)
        lines.append("request ids: " + ", ".join(ids) + (f" (+{more} more)" if more else ""))
    lines.extend(check.evidence)
    return "\n".join(lines)

"""A statistical check that tests several groups says which group each of its numbers is of.

The test's numbers (statistic, p-value, Holm level, effect) are the hypothesis nearest rejection;
``n``/``n_planned`` are the group furthest below its plan (for delays: the best-sampled index).
The two can be different groups: a tester read a p-value of one group beside the ``n`` of
another, unlabelled (console, verdict.json's ``stat``)."""

from __future__ import annotations

from dataclasses import replace

from harness.oracle.planner import DetectionGoals, Deviations
from harness.oracle.verdict import CheckResult, Statistic
from harness.oracle.verify import verify
from harness.report.formatting import stat_line
from tests.unit.oracle.simulator import ENVOY, EPSILON_S, NOISE_S, simulate


def _checks() -> dict[str, CheckResult]:
    """Envoy with a small PUT group beside a big GET group (PUT short of its plan)."""
    goals = DetectionGoals(detect=Deviations(success_rate_drop=0.05))
    mixed = replace(ENVOY.traffic, methods={"GET": 0.97, "PUT": 0.03})
    run = simulate(ENVOY.policy, ENVOY.profile, mixed, seed=3, noise_s=NOISE_S)
    v = verify(
        ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, goals=goals
    )
    return {c.name: c for c in v.checks}


def _line_of(check: CheckResult, label: str) -> str:
    lines = [e for e in check.evidence if e.startswith(f"{label}: ")]
    assert len(lines) == 1, (label, check.evidence)
    return lines[0]


def test_each_number_names_the_group_it_is_of() -> None:
    checks = _checks()
    for name in ("success_rate", "attempt_distribution"):
        stat = checks[name].stat
        assert stat is not None and stat.label is not None and stat.n_label is not None, name
        assert f"p={stat.p_value:.3g} " in _line_of(checks[name], stat.label), name
        assert f"n={stat.n}," in _line_of(checks[name], stat.n_label), name
        assert stat.n_label.endswith("PUT"), stat  # the group short of its plan
    # in this run the G-test nearest rejection is the GET group's: the two differ
    ad = checks["attempt_distribution"].stat
    assert ad is not None and ad.label != ad.n_label


def test_the_stat_line_names_both_groups_when_they_differ() -> None:
    base = Statistic(test="G-test", p_value=0.5, n=37, n_planned=947, alpha=1e-4)
    assert stat_line(base) == "G-test · p=0.5 · n=37/947 · α=0.0001"
    two = base.model_copy(update={"label": "default GET", "n_label": "default PUT"})
    assert stat_line(two) == "G-test on default GET · p=0.5 · n=37/947 (default PUT) · α=0.0001"
    same = base.model_copy(update={"label": "default PUT", "n_label": "default PUT"})
    assert stat_line(same) == "G-test on default PUT · p=0.5 · n=37/947 · α=0.0001"

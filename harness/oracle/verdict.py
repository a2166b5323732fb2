"""The verdict: a versioned list of check results, the oracle's only output."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

VERDICT_VERSION = 1


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"  # a statistical check with fewer samples than planned
    NOT_APPLICABLE = "not_applicable"  # the policy or the run gives the check nothing to judge
    NOT_JUDGED = "not_judged"  # the adapter could not evaluate a construct the check depends on


class CheckKind(StrEnum):
    INVARIANT = "invariant"
    STATISTICAL = "statistical"


class Statistic(BaseModel):
    """What a statistical check computed."""

    model_config = ConfigDict(frozen=True)

    test: str = Field(description="Name of the test, e.g. 'exact binomial (two-sided)'")
    statistic: float | None = None
    p_value: float
    n: int
    n_planned: int = Field(description="Sample size the planner asked for")
    alpha: float = Field(description="Per-check level after Holm's correction")
    effect: str | None = Field(default=None, description="The effect seen, in words or numbers")
    label: str | None = Field(
        default=None,
        description="The group or retry index test, statistic, p_value, alpha and effect are of "
        "(the hypothesis nearest rejection after Holm's correction), when the check tests more "
        "than one; None: it tests one",
    )
    n_label: str | None = Field(
        default=None,
        description="The group or retry index n and n_planned are of (the check says which: "
        "furthest below its plan for groups, the best-sampled index for delays), when the check "
        "sizes more than one; None: the check's one sample",
    )


class CheckResult(BaseModel):
    """One check of VERIFICATION.md, judged on one run."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Stable id, e.g. 'attempts_bound'")
    title: str
    kind: CheckKind
    outcome: Outcome
    summary: str = Field(description="One line a user reads first")
    evidence: list[str] = Field(default_factory=list, description="Details, worst first")
    request_ids: list[str] = Field(default_factory=list, description="Counter-examples")
    stat: Statistic | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="Numbers for plots")
    judged: int | None = Field(default=None, description="Items the check judged")
    eligible: int | None = Field(
        default=None, description="Items it would have judged had nothing been hidden"
    )

    @property
    def judged_share(self) -> float | None:
        if self.judged is None or not self.eligible:
            return None
        return self.judged / self.eligible


class Verdict(BaseModel):
    """The whole judgement of one run."""

    model_config = ConfigDict(frozen=True)

    version: int = VERDICT_VERSION
    scenario: str | None = None
    outcome: Outcome = Field(description="fail if any check fails, else inconclusive if any is")
    alpha: float = Field(description="Family-wise false-failure rate of the statistical checks")
    epsilon_s: float = Field(
        description="Timing tolerance ε: stamp precision + a high percentile of the run's "
        "zero-delay gaps; judges shapes (jitter law, lateness floor)"
    )
    lateness_slack_s: float | None = Field(
        default=None,
        description="The run's lateness slack, seconds (what it judges: "
        "harness.oracle.tolerances); null: as epsilon_s",
    )
    traces: int
    attempts: int = Field(description="Journaled attempts, those without a request id included")
    untraced_attempts: int = Field(
        default=0, description="Attempts without a request id (not traced, not judged)"
    )
    client_records: int
    dropped_attempts: int = 0
    checks: list[CheckResult]
    notes: list[str] = Field(default_factory=list)
    judged_share: float | None = Field(
        default=None, description="Lowest judged / eligible share over the checks that judged"
    )
    sut_answered: int = Field(
        default=0, description="Client requests the SUT answered without any backend attempt"
    )
    sut_answered_statuses: dict[str, int] = Field(
        default_factory=dict, description="Their statuses ('error': no status)"
    )

    @property
    def exit_code(self) -> int:
        """0 conformant, 1 violation, 3 inconclusive (2 is reserved for bad input)."""
        return {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.INCONCLUSIVE: 3}.get(self.outcome, 0)

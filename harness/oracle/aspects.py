"""Which parts of the declared policy each check depends on: the one table behind "not judged".

An adapter that cannot evaluate a construct of a native config names the aspects it affects in
``RetryPolicy.not_judged`` (``harness.policy.model.Unmodelled``). Every check that depends on one
of them is reported NOT_JUDGED with the construct and the reason, never judged against a guess
and never a pass (:func:`not_judged_result`). ``fault_audit`` judges the backends, not the SUT,
so it depends on no aspect of the policy.

Resets (:attr:`Aspect.RESETS`) are left out attempt by attempt, not check by check: the invariant
checks that judge one failure at a time (``ATTEMPT_LEVEL``) skip the reset attempts and still
judge every status, connect failure and timeout; the checks that model whole requests
(success rate, attempt distribution, client agreement) are not judged when the run could have
resets at all. An aspect that cannot matter in a run (``irrelevant``: no reset was injected,
journaled or possible through a killed replica) makes nothing not judged.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.oracle.results import TITLES
from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.policy.model import Aspect, RetryPolicy

A = Aspect
_ATTEMPT_MODEL = frozenset(
    {
        A.STATUSES,
        A.RESETS,
        A.METHODS,
        A.MAX_RETRIES,
        A.PER_TRY_TIMEOUT,
        A.DEADLINE,
        A.BUDGET,
        A.RETRY_AFTER,
        A.UPSTREAM,
    }
)

CHECK_ASPECTS: dict[str, frozenset[Aspect]] = {
    "attempts_bound": frozenset({A.MAX_RETRIES, A.UPSTREAM}),
    # the per-try timeout decides which followed answers the SUT saw (AttemptKinds.success,
    # .trigger) and after which attempts a delay began at an unseen instant
    # (CheckContext.end_not_a_bound): tests/unit/oracle/test_per_try_aspect.py walks them
    "stop_on_success": frozenset({A.STATUSES, A.PER_TRY_TIMEOUT}),
    "non_retryable_status": frozenset({A.STATUSES, A.RESETS, A.PER_TRY_TIMEOUT, A.RETRY_AFTER}),
    "non_retryable_method": frozenset({A.METHODS, A.RESETS, A.PER_TRY_TIMEOUT}),
    "retry_when_due": _ATTEMPT_MODEL,
    "backoff_window": frozenset({A.BACKOFF, A.RETRY_AFTER, A.PER_TRY_TIMEOUT}),
    "retry_after": frozenset({A.RETRY_AFTER, A.PER_TRY_TIMEOUT}),
    "per_try_timeout": frozenset({A.PER_TRY_TIMEOUT, A.DEADLINE}),
    "overall_deadline": frozenset({A.DEADLINE}),
    "retry_budget": frozenset({A.BUDGET}),
    "jitter_distribution": frozenset({A.BACKOFF, A.PER_TRY_TIMEOUT}),
    "success_rate": _ATTEMPT_MODEL,
    "attempt_distribution": _ATTEMPT_MODEL,
    "fault_audit": frozenset(),
    # accepting a SUT's own give-up answer (StopExcuses.gave_up) rests on the whole retry
    # decision (statuses, resets, methods, per-try timeout, Retry-After), max_retries, deadline
    # and budget
    "client_agreement": _ATTEMPT_MODEL - {A.UPSTREAM},
}

ATTEMPT_LEVEL: dict[Aspect, frozenset[str]] = {
    A.RESETS: frozenset({"non_retryable_status", "non_retryable_method", "retry_when_due"}),
}
"""Aspects these checks leave out attempt by attempt (``AttemptKinds.unjudged``) instead of
being not judged as a whole: they judge each failed attempt on its own."""

STATISTICAL = frozenset(
    {"jitter_distribution", "success_rate", "attempt_distribution", "fault_audit"}
)


def check_aspects(
    name: str, irrelevant: frozenset[Aspect] = frozenset(), policy: RetryPolicy | None = None
) -> frozenset[Aspect]:
    """What check ``name`` depends on as a whole, in a run where ``irrelevant`` cannot matter;
    with ``policy``, client_agreement also depends on the backoff when a deadline or budget can
    cut a request short (whether the next delay fitted is read from the backoff window,
    ``StopExcuses.reasons``)."""
    level = frozenset(a for a, names in ATTEMPT_LEVEL.items() if name in names)
    out = CHECK_ASPECTS.get(name, frozenset())
    if (
        name == "client_agreement"
        and policy is not None
        and (policy.deadline_s is not None or policy.budget is not None)
    ):
        out = out | {A.BACKOFF}
    return out - level - irrelevant


def resets_irrelevant(profile_reset_rate: float, *, resets_seen: bool, down: bool) -> bool:
    """Resets cannot matter in a run: none injected, none journaled, no replica down."""
    return profile_reset_rate <= 0 and not resets_seen and not down


def wholly_unjudged(
    names: Iterable[str], policy: RetryPolicy, irrelevant: frozenset[Aspect] = frozenset()
) -> frozenset[str]:
    """The checks of ``names`` an unmodelled construct makes not judged as a whole (the planner
    plans no samples for them)."""
    hit = frozenset(a for u in policy.not_judged for a in u.aspects)
    return frozenset(n for n in names if check_aspects(n, irrelevant) & hit)


def not_judged_result(
    name: str, policy: RetryPolicy, irrelevant: frozenset[Aspect] = frozenset()
) -> CheckResult | None:
    """NOT_JUDGED for ``name`` when an unmodelled construct affects what it depends on as a
    whole (``check_aspects``); ``irrelevant``: aspects that cannot matter in this run."""
    depends = check_aspects(name, irrelevant, policy)
    hits = [u for u in policy.not_judged if u.aspects & depends]
    if not hits:
        return None
    lines = [
        f"{u.native}"
        + (f" ({u.location})" if u.location else "")
        + f": {u.reason} [affects {', '.join(sorted(a.value for a in u.aspects))}]"
        for u in hits
    ]
    aspects = sorted({a.value for u in hits for a in u.aspects & depends})
    return CheckResult(
        name=name,
        title=TITLES[name],
        kind=CheckKind.STATISTICAL if name in STATISTICAL else CheckKind.INVARIANT,
        outcome=Outcome.NOT_JUDGED,
        summary=f"not judged: the {policy.system} config has {len(hits)} construct(s) the "
        f"adapter cannot evaluate affecting {', '.join(aspects)}: {lines[0]}",
        evidence=lines,
        data={"aspects": aspects},
    )

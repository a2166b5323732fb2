"""Sliding-window arithmetic of a retry budget (shared by the budget and retry-when-due checks).

A budget allows, in every window of ``window_s``, ``max(ratio * requests, min_per_s * window_s)``
retries (requests = first attempts arriving in the window; retries = attempts with index >= 1),
and at most ``max_concurrent_retries`` retries in flight (a retry is in flight from the end of
the attempt it follows to the end of its own attempt). Envoy and the Gateway API use the larger
of ratio and floor; Linkerd adds them — a Linkerd adapter should fold that into ``ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.oracle.traces import Traces
from harness.policy.model import Budget

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BudgetTimes:
    """Sorted event times (µs) the budget arithmetic counts."""

    requests: I64  # first-attempt arrivals
    retries: I64  # retry arrivals
    inflight_start: I64  # sorted starts of in-flight intervals
    inflight_end: I64  # sorted ends


def budget_times(t: Traces) -> BudgetTimes:
    a = t.attempts
    retry = np.flatnonzero(t.pos >= 1)
    return BudgetTimes(
        requests=np.sort(a.arrival_us[t.start]),
        retries=np.sort(a.arrival_us[retry]),
        inflight_start=np.sort(a.end_us[retry - 1]),
        inflight_end=np.sort(a.end_us[retry]),
    )


def count_in(sorted_times: I64, lo: npt.NDArray[Any], hi: npt.NDArray[Any]) -> I64:
    """Per pair, the number of times in (lo, hi]."""
    return np.asarray(
        np.searchsorted(sorted_times, hi, side="right")
        - np.searchsorted(sorted_times, lo, "right"),
        np.int64,
    )


def limit(budget: Budget, requests: I64) -> F64:
    ratio = budget.ratio if budget.ratio is not None else 0.0
    floor = budget.min_per_s * budget.window_s
    if budget.ratio is None and budget.min_per_s == 0:
        return np.full(requests.shape, np.inf)
    return np.asarray(np.maximum(ratio * requests, floor), np.float64)


def exhausted_near(
    budget: Budget, bt: BudgetTimes, t_us: I64, horizon_us: F64, epsilon_s: float
) -> npt.NDArray[np.bool_]:
    """Whether a retry decided at ``t_us`` (arriving by ``t_us + horizon_us``) may have been
    refused by the budget: the conservative side of every window that could contain it (the
    window edges widened by the timing tolerance ``epsilon_s``)."""
    w = budget.window_s * 1e6
    eps = epsilon_s * 1e6
    out = np.zeros(t_us.shape, bool)
    if budget.ratio is not None or budget.min_per_s > 0:
        retries_max = count_in(bt.retries, t_us - w - eps, t_us + horizon_us + eps)
        requests_min = count_in(bt.requests, t_us + horizon_us + eps - w, t_us)
        out |= retries_max + 1 > limit(budget, requests_min) - 1
    if budget.max_concurrent_retries is not None:
        lo = t_us - eps
        hi = t_us + horizon_us + eps
        started = np.searchsorted(bt.inflight_start, hi, side="right")
        ended = np.searchsorted(bt.inflight_end, lo, side="left")
        out |= (started - ended) >= budget.max_concurrent_retries
    return out

"""What each attempt was, as the declared policy sees it: a success, which kind of failure
(its trigger), and whether the policy retries it.

The trigger is what the SUT saw, not only what the backend journaled:

* a hang the backend ended at its own bound ``hang_s`` (``client_gone`` false: the SUT was still
  waiting) or because its worker stopped closes the connection without a response
  (``fake_backends.dataplane`` ``_hang`` ends with EPIPE): to the SUT that is a reset / empty
  response, so it is ``TRIG_RESET``. Only a hang the SUT walked away from (``client_gone``) is
  a per-try timeout (``TRIG_TIMEOUT``), or ``TRIG_HANG`` when the policy declares none;
* with a declared per-try timeout, an attempt the SUT had to abandon is ``TRIG_TIMEOUT`` whatever
  the backend later journaled (a 200 after injected latency longer than the timeout is not a
  success the SUT saw): its timer must have fired before the SUT could read the answer
  (:func:`timer_must_have_fired`: the answer left more than the timer-read tolerance after
  the timer, armed no later than the attempt's arrival, was due), or another attempt of the
  request followed it and the SUT's per-try timer may have fired before it read the answer
  (:attr:`AttemptKinds.timeout_may_have_fired`; the attempt that followed says the SUT did not
  wait).

"The SUT's timer may have fired before it read this answer" has one rule,
:func:`timer_may_have_fired`, for the per-try timeout here and for a deadline that cuts an
attempt in flight (``harness.oracle.checks_client``); "it must have" is its other side,
:func:`timer_must_have_fired`; both with one tolerance
(``harness.oracle.tolerances.timer_read_tolerance_s``). Neither judges a SUT timer's lateness
against ε one sample at a time.

:class:`AttemptKinds` answers per attempt, in the sorted order of
:class:`~harness.oracle.traces.Traces`. Policy questions are asked of
``harness.policy.expectations`` once per distinct (status, Retry-After) or (method, key,
trigger) value, then broadcast with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from harness.oracle.journal import NO_STATUS, fault_code
from harness.oracle.records import FaultKind
from harness.oracle.tolerances import EARLY_TOLERANCE_S, timer_read_tolerance_s
from harness.oracle.traces import Traces, distinct_keys
from harness.policy.expectations import Trigger, is_retryable_method, is_retryable_status
from harness.policy.model import Aspect, RetryPolicy

B = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]

# What made an attempt fail (per attempt, ``AttemptKinds.trigger``).
TRIG_SUCCESS, TRIG_STATUS, TRIG_RESET, TRIG_TIMEOUT, TRIG_HANG = 0, 1, 2, 3, 4
_TRIGGER_NAME: dict[int, Trigger] = {
    TRIG_STATUS: "status",
    TRIG_RESET: "reset",
    TRIG_TIMEOUT: "timeout",
    TRIG_HANG: "timeout",
}


def timer_may_have_fired(
    armed_us: npt.ArrayLike, timeout_s: float, end_us: npt.ArrayLike, lateness_slack_s: float
) -> B:
    """Per answer: a SUT timer of ``timeout_s`` seconds armed no earlier than ``armed_us`` may
    have fired before the SUT read the answer that left the backend at ``end_us`` (both µs,
    same clock as the journals): ``armed + timeout - tolerance <= end``, the tolerance being
    :func:`~harness.oracle.tolerances.timer_read_tolerance_s` of the run's lateness slack (a
    timer a tick early, an answer read up to the slack late). Broadcasts like numpy."""
    tol_us = timer_read_tolerance_s(lateness_slack_s) * 1e6
    armed = np.asarray(armed_us, np.float64)
    return np.asarray(armed + timeout_s * 1e6 - tol_us <= np.asarray(end_us, np.float64))


def timer_must_have_fired(
    armed_upper_us: npt.ArrayLike,
    timeout_s: float,
    end_us: npt.ArrayLike,
    lateness_slack_s: float,
) -> B:
    """Per answer: a SUT timer of ``timeout_s`` seconds armed no later than ``armed_upper_us``
    must have fired before the SUT could read the answer that left the backend at ``end_us``
    (µs): ``armed_upper + timeout + tolerance < end``. The other side of
    :func:`timer_may_have_fired`, with the same tolerance
    (:func:`~harness.oracle.tolerances.timer_read_tolerance_s`): a loaded SUT whose timer was
    due may not run until the answer is ready too, and may then read the answer first; that
    stall is the load effect the lateness slack measures, so only an answer later than the
    slack past the timer is one it cannot have read. Broadcasts like numpy."""
    tol_us = timer_read_tolerance_s(lateness_slack_s) * 1e6
    armed = np.asarray(armed_upper_us, np.float64)
    return np.asarray(armed + timeout_s * 1e6 + tol_us < np.asarray(end_us, np.float64))


@dataclass
class AttemptKinds:
    """Per attempt: success, trigger, and the policy's retry decision for it.

    ``first_send_us``: per request (trace order), the earliest the SUT can have sent its first
    attempt: its client's send (the load generator stamps it before the request leaves,
    ``scenarios/locust_support/user.py``), NaN where no client record says; ``None``: no
    client records. Without it the first attempt's arrival less the lateness slack stands in.
    """

    policy: RetryPolicy
    traces: Traces
    first_send_us: F64 | None = None
    lateness_slack_s: float = 0.0

    @cached_property
    def send_lower_us(self) -> F64:
        """Per attempt: the earliest the SUT can have sent it (µs), i.e. armed its per-try timer.

        Attempt 0: its request's :attr:`first_send_us`, else its arrival less the lateness
        slack. Attempt j >= 1 was sent after the SUT read attempt j - 1's answer or after j - 1's
        per-try timer fired: ``min(end(j - 1), lower(j - 1) + per-try timeout - early
        tolerance)`` (``-inf`` chains without a per-try timeout). A late connect or a slow
        forward makes the SUT's send much earlier than the backend's arrival stamp, which is
        why the arrival is no lower bound."""
        t = self.traces
        a = t.attempts
        lower = np.full(len(a), -np.inf)
        if len(a) == 0:
            return lower
        lower[t.start] = a.arrival_us[t.start] - self.lateness_slack_s * 1e6
        if self.first_send_us is not None:
            known = ~np.isnan(self.first_send_us)
            lower[t.start[known]] = self.first_send_us[known]
        ptt = self.policy.per_try_timeout_s
        step_us = np.inf if ptt is None else (ptt - EARLY_TOLERANCE_S) * 1e6
        end = a.end_us.astype(np.float64)
        for k in range(1, int(t.pos.max()) + 1):
            sel = np.flatnonzero(t.pos == k)
            lower[sel] = np.minimum(end[sel - 1], lower[sel - 1] + step_us)
        return lower

    @cached_property
    def timeout_may_have_fired(self) -> B:
        """Per attempt: the SUT's per-try timer may have fired before it read the journaled
        answer (:func:`timer_may_have_fired` from :attr:`send_lower_us`), so what the SUT acted
        on may be its timeout, not this outcome. On a loaded machine a slow backend, a late
        connect or a late read makes this real: a 200 or 503 journaled after the SUT had moved
        on, a retry that arrived before its previous attempt ended, or the SUT's 504 for a
        journaled 200. All False without a per-try timeout."""
        a = self.traces.attempts
        ptt = self.policy.per_try_timeout_s
        if ptt is None or len(a) == 0:
            return np.zeros(len(a), bool)
        return timer_may_have_fired(self.send_lower_us, ptt, a.end_us, self.lateness_slack_s)

    def timer_blind(self, excused: int) -> str | None:
        """Why a check that excused ``excused`` answers by :attr:`timeout_may_have_fired` cannot
        tell anything from them: the rule's tolerance (lateness slack + early tolerance) is as
        large as the per-try timeout, so it excuses every answer whatever its timing, and a
        pass would be one that was not judged. None when it is not, or nothing was excused."""
        ptt = self.policy.per_try_timeout_s
        tol = timer_read_tolerance_s(self.lateness_slack_s)
        if ptt is None or excused == 0 or tol < ptt:
            return None
        return (
            f"{excused} answers may have come after the SUT's per-try timer fired, and this run "
            f"cannot tell which: its lateness slack + early tolerance ({tol * 1e3:.1f} ms) is as "
            f"large as the per-try timeout ({ptt * 1e3:.1f} ms)"
        )

    @cached_property
    def outlived_timeout(self) -> B:
        """Per attempt: the SUT must have abandoned it at its per-try timeout (see the module
        docstring); all False when the policy declares no per-try timeout."""
        a = self.traces.attempts
        ptt = self.policy.per_try_timeout_s
        if ptt is None or len(a) == 0:
            return np.zeros(len(a), bool)
        # the SUT armed the timer no later than the attempt's arrival at the backend
        out = timer_must_have_fired(a.arrival_us, ptt, a.end_us, self.lateness_slack_s)
        # followed by another attempt, and the timer may have fired before the answer was read:
        # the journal cannot tell an answer the SUT waited for from one it had abandoned, and
        # the attempt that followed says it did not wait (hang arrivals keep app stamps, so on
        # a loaded machine even the order of two attempts may be off by more than their gap)
        out |= ~self.traces.is_last & self.timeout_may_have_fired
        return np.asarray(out)

    @cached_property
    def hang_ended_by_bound(self) -> B:
        """A hang the backend closed itself (bound reached or worker stopped) while the SUT was
        still waiting: the SUT saw the connection close without a response (a reset)."""
        a = self.traces.attempts
        return np.asarray((a.fault == fault_code(FaultKind.HANG)) & ~a.client_gone)

    @cached_property
    def success(self) -> B:
        """A 2xx or 3xx answer the SUT waited for (not one it had abandoned at its per-try
        timeout)."""
        s = self.traces.attempts.status
        return np.asarray((s >= 200) & (s < 400) & ~self.outlived_timeout)

    @cached_property
    def trigger(self) -> npt.NDArray[np.int8]:
        """TRIG_*: success, a status, a reset, a per-try timeout, or a hang with no timeout."""
        a = self.traces.attempts
        trig = np.full(len(a), TRIG_STATUS, np.int8)
        trig[self.success] = TRIG_SUCCESS
        none = a.status == NO_STATUS
        walked_away = none & (a.fault == fault_code(FaultKind.HANG)) & a.client_gone
        trig[none] = TRIG_RESET  # resets, and hangs the backend ended itself
        trig[walked_away] = TRIG_TIMEOUT if self.policy.per_try_timeout_s is not None else TRIG_HANG
        trig[self.outlived_timeout] = TRIG_TIMEOUT
        return trig

    @cached_property
    def unjudged(self) -> B:
        """Attempts whose retry decision the policy cannot say (a reset when the adapter marked
        resets as not judged: ``harness.oracle.aspects.ATTEMPT_LEVEL``); the per-attempt
        checks leave them out."""
        if not self.policy.unmodelled(Aspect.RESETS):
            return np.zeros(len(self.traces.attempts), bool)
        return np.asarray(self.trigger == TRIG_RESET)

    def unjudged_note(self, rows: npt.NDArray[np.int64]) -> list[str]:
        """Evidence line for the attempts of ``rows`` left out as :attr:`unjudged`."""
        n = int(self.unjudged[rows].sum()) if rows.size else 0
        if not n:
            return []
        (u, *_) = self.policy.unmodelled(Aspect.RESETS)
        return [
            f"not judged: {n} reset attempts (whether a reset is retried): {u.native}"
            + (f" ({u.location})" if u.location else "")
            + f": {u.reason}"
        ]

    @cached_property
    def has_retry_after(self) -> B:
        return np.asarray(~np.isnan(self.traces.attempts.retry_after_s))

    @cached_property
    def trace_method(self) -> npt.NDArray[np.int32]:
        """The method code of the attempt's request (its first attempt)."""
        t = self.traces
        return t.attempts.method[t.start][t.trace]

    @cached_property
    def trace_idem(self) -> B:
        """The attempt's request carried an idempotency key (on its first attempt)."""
        t = self.traces
        return np.asarray(t.attempts.idem[t.start][t.trace])

    @cached_property
    def trigger_retryable(self) -> B:
        """The failure is in retry_on (status, reset, per-try timeout), methods aside."""
        a = self.traces.attempts
        trig = self.trigger
        out = np.zeros(len(a), bool)
        st = trig == TRIG_STATUS
        if st.any():
            key = a.status[st].astype(np.int64) * 2 + self.has_retry_after[st]
            uniq = distinct_keys(key)
            table = np.zeros(int(uniq.max()) + 1, bool)
            for u in uniq:
                table[u] = is_retryable_status(
                    self.policy, int(u // 2), has_retry_after=bool(u % 2)
                )
            out[st] = table[key]
        out[trig == TRIG_RESET] = self.policy.retry_on.reset
        out[trig == TRIG_TIMEOUT] = self.policy.retry_on.per_try_timeout
        return out

    @cached_property
    def method_ok(self) -> B:
        """The method rule lets this attempt's failure kind be retried."""
        a = self.traces.attempts
        trig = self.trigger.astype(np.int64)
        fail = trig != TRIG_SUCCESS
        out = np.zeros(len(a), bool)
        if not fail.any():
            return out
        mi = self.trace_method[fail].astype(np.int64) * 2 + self.trace_idem[fail]
        key = mi * 8 + trig[fail]
        uniq = distinct_keys(key)
        table = np.zeros(int(uniq.max()) + 1, bool)
        for u in uniq:
            table[u] = is_retryable_method(
                self.policy,
                a.methods[int(u // 16)],
                has_idempotency_key=bool((u // 8) % 2),
                trigger=_TRIGGER_NAME[int(u % 8)],
            )
        out[fail] = table[key]
        return out

    @cached_property
    def retryable(self) -> B:
        """A failure the policy retries (status/trigger and method both allow it)."""
        return np.asarray(self.trigger_retryable & self.method_ok)

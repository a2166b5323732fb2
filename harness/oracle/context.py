"""Per-run facts every check family reads: traces plus what the policy says about each attempt.

:class:`CheckContext` is built once per verification (``build_context``). All per-attempt arrays
are in the sorted trace order of :class:`~harness.oracle.traces.Traces`. Policy questions are
asked of ``harness.policy.expectations`` once per distinct value (status, method, retry index),
then broadcast with numpy, so the checks stay vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from fake_backends.profile import FaultProfile, Faults
from harness.oracle.down import DownView, down_view
from harness.oracle.journal import NO_STATUS, ClientTable, fault_code
from harness.oracle.planner import DetectionGoals, SamplePlan, group_label
from harness.oracle.records import DownWindow, FaultKind
from harness.oracle.sut_made import SutMade, sut_made
from harness.oracle.traces import Traces
from harness.policy.expectations import (
    Trigger,
    delay_window,
    is_retryable_method,
    is_retryable_status,
)
from harness.policy.model import RetryPolicy

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

# What made an attempt fail (per attempt, ``trigger`` column).
TRIG_SUCCESS, TRIG_STATUS, TRIG_RESET, TRIG_TIMEOUT, TRIG_HANG = 0, 1, 2, 3, 4
_TRIGGER_NAME: dict[int, Trigger] = {
    TRIG_STATUS: "status",
    TRIG_RESET: "reset",
    TRIG_TIMEOUT: "timeout",
    TRIG_HANG: "timeout",
}
MAX_EXAMPLES = 10
RUN_ENDED = "the run ended before the retry was due"
NO_PEER = "every upstream replica the SUT can reach was already tried"
DEADLINE = "the deadline left no room for the next delay"
BUDGET = "the retry budget may have been spent"


def distinct_keys(key: I64) -> I64:
    """Distinct values of small non-negative integer keys (no sort when the range is small)."""
    if key.size == 0:
        return key
    top = int(key.max())
    if top < 4 * key.size + 1_000_000:
        return np.flatnonzero(np.bincount(key, minlength=top + 1))
    return np.asarray(np.unique(key), np.int64)


@dataclass(frozen=True)
class Group:
    """Traces that share one fault model: (route profile, method, idempotency key present)."""

    key: str
    route: str | None
    method: str
    idem: bool
    faults: Faults


@dataclass
class CheckContext:
    """Everything the checks need about one run (built by :func:`build_context`)."""

    policy: RetryPolicy
    profile: FaultProfile
    traces: Traces
    clients: ClientTable | None
    epsilon_s: float
    alpha: float
    plan: SamplePlan
    dropped: int = 0
    down_windows: tuple[DownWindow, ...] = ()
    replicas: int | None = None  # backend replicas the run started (None: not known)
    notes: list[str] = field(default_factory=list)
    goals: DetectionGoals = field(default_factory=DetectionGoals)

    # ---- per attempt -------------------------------------------------------------------------
    @cached_property
    def success(self) -> B:
        s = self.traces.attempts.status
        return np.asarray((s >= 200) & (s < 400))

    @cached_property
    def trigger(self) -> npt.NDArray[np.int8]:
        a = self.traces.attempts
        trig = np.full(len(a), TRIG_STATUS, np.int8)
        trig[self.success] = TRIG_SUCCESS
        none = a.status == NO_STATUS
        hang = none & (a.fault == fault_code(FaultKind.HANG))
        trig[none] = TRIG_RESET
        trig[hang] = TRIG_TIMEOUT if self.policy.per_try_timeout_s is not None else TRIG_HANG
        return trig

    @cached_property
    def has_retry_after(self) -> B:
        return np.asarray(~np.isnan(self.traces.attempts.retry_after_s))

    @cached_property
    def trace_method(self) -> npt.NDArray[np.int32]:
        """Per attempt: the method code of its trace's first attempt."""
        t = self.traces
        return t.attempts.method[t.start][t.trace]

    @cached_property
    def trace_idem(self) -> B:
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

    @cached_property
    def delay_s(self) -> F64:
        """Delay k = arrival of attempt k - end of attempt k-1 (NaN for first attempts)."""
        a = self.traces.attempts
        d = np.full(len(a), np.nan)
        r = self.traces.pos >= 1
        idx = np.flatnonzero(r)
        d[idx] = (a.arrival_us[idx] - a.end_us[idx - 1]) / 1e6
        return d

    @cached_property
    def ra_applies(self) -> B:
        """Retry k follows an answer whose Retry-After the policy honours."""
        a = self.traces.attempts
        rule = self.policy.retry_after
        out = np.zeros(len(a), bool)
        if not rule.honoured:
            return out
        idx = np.flatnonzero(self.traces.pos >= 1)
        prev = idx - 1
        statuses = np.array(sorted(rule.statuses), np.int64)
        ok = self.has_retry_after[prev] & np.isin(a.status[prev], statuses)
        out[idx] = ok
        return out

    def windows_for(self, k: I64, ra_s: F64, status: npt.NDArray[np.int32]) -> tuple[F64, F64, F64]:
        """Delay windows (lo, hi, nominal) for retry indices ``k`` after answers with ``ra_s``."""
        n = k.shape[0]
        lo, hi, nom = np.empty(n), np.empty(n), np.empty(n)
        if n == 0:
            return lo, hi, nom
        plain = np.isnan(ra_s)
        if plain.any():  # no Retry-After: the window depends on k alone
            kp = k[plain]
            ks = distinct_keys(kp)
            tl, th, tn = (np.zeros(int(ks.max()) + 1) for _ in range(3))
            for kk in ks:
                w = delay_window(self.policy, int(kk))
                tl[kk], th[kk], tn[kk] = w.lo_s, w.hi_s, w.nominal_s
            lo[plain], hi[plain], nom[plain] = tl[kp], th[kp], tn[kp]
        rows = np.flatnonzero(~plain)
        if rows.size:
            ra_ms = np.round(ra_s[rows] * 1e3)
            key = np.stack([k[rows].astype(np.float64), ra_ms, status[rows].astype(np.float64)], 1)
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            wl, wh, wn = np.empty(len(uniq)), np.empty(len(uniq)), np.empty(len(uniq))
            for j, (kk, ms, st) in enumerate(uniq):
                w = delay_window(
                    self.policy,
                    int(kk),
                    retry_after_s=ms / 1e3,
                    status=None if st < 0 else int(st),
                )
                wl[j], wh[j], wn[j] = w.lo_s, w.hi_s, w.nominal_s
            lo[rows], hi[rows], nom[rows] = wl[inv], wh[inv], wn[inv]
        return lo, hi, nom

    @cached_property
    def window(self) -> tuple[F64, F64, F64]:
        """Per attempt with k >= 1: (lo, hi, nominal) of its delay; NaN for first attempts."""
        a = self.traces.attempts
        n = len(a)
        lo, hi, nom = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        idx = np.flatnonzero(self.traces.pos >= 1)
        prev = idx - 1
        ra = np.where(self.ra_applies[idx], a.retry_after_s[prev], np.nan)
        wl, wh, wn = self.windows_for(self.traces.pos[idx], ra, a.status[prev])
        lo[idx], hi[idx], nom[idx] = wl, wh, wn
        return lo, hi, nom

    # ---- per trace -------------------------------------------------------------------------------
    @cached_property
    def last(self) -> I64:
        return self.traces.last_row

    @cached_property
    def next_window(self) -> tuple[F64, F64]:
        """Per trace: (lo, hi) of the delay a retry after its last attempt would have."""
        t = self.traces
        a = t.attempts
        last = self.last
        k = t.length.astype(np.int64)
        ra = a.retry_after_s[last]
        rule = self.policy.retry_after
        applies = (
            ~np.isnan(ra) & np.isin(a.status[last], np.array(sorted(rule.statuses), np.int64))
            if rule.honoured
            else np.zeros(len(last), bool)
        )
        lo, hi, _ = self.windows_for(k, np.where(applies, ra, np.nan), a.status[last])
        return lo, hi

    @cached_property
    def stop_excuses(self) -> dict[str, B]:
        """Per trace, legitimate reasons a retry after its last attempt may not have come."""
        from harness.oracle.budget import budget_times, exhausted_near

        t = self.traces
        p = self.policy
        a = t.attempts
        eps_us = self.epsilon_s * 1e6
        _, hi = self.next_window
        hi_us = np.where(np.isfinite(hi), hi, 1e12) * 1e6
        t_end = a.end_us[self.last]
        excused: dict[str, B] = {}
        excused[RUN_ENDED] = np.asarray(t_end + hi_us + eps_us > self.run_end_us)
        if p.deadline_s is not None:
            deadline = a.arrival_us[t.start] + p.deadline_s * 1e6
            excused[DEADLINE] = np.asarray(t_end + hi_us + eps_us >= deadline)
        if p.budget is not None:
            bt = budget_times(self)
            excused[BUDGET] = exhausted_near(self, p.budget, bt, t_end, hi_us)
        if p.different_upstream:
            excused[NO_PEER] = np.asarray(self.replicas_tried >= self.reachable_replicas)
        if self.clients is not None:
            row = self.client_row
            has = row >= 0
            gone = np.zeros(t.n_traces, bool)
            c = self.clients
            gone[has] = (c.status[row[has]] == NO_STATUS) & (
                c.end_us[row[has]] < t_end[has] + hi_us[has] + eps_us
            )
            excused["the client gave up first"] = gone
        return excused

    @cached_property
    def replicas_seen(self) -> int:
        """Distinct replicas that appear anywhere in the run's journals."""
        return int(distinct_keys(self.traces.attempts.replica.astype(np.int64)).size)

    @property
    def reachable_replicas(self) -> int:
        """How many upstream replicas the SUT can reach, for a ``different_upstream`` policy.

        The journals cannot tell: a SUT configured with one server of two (nginx's
        ``proxy_pass`` to one URL) shows only that one. So the replicas the run started are
        used when known (``replicas``): the declared policy then owes a retry on every other
        replica, and a config that reaches fewer fails retry_when_due, which is the honest
        verdict on what it declares. Without that number (an offline verify of bare files, an
        older run folder) the replicas seen across the whole run stand in, which cannot tell
        "unreachable" from "never needed".
        """
        return self.replicas if self.replicas is not None else self.replicas_seen

    @property
    def reachable_source(self) -> str:
        """Where :attr:`reachable_replicas` comes from, for evidence."""
        if self.replicas is not None:
            return "started by the run"
        return "seen in the journals; the run did not say how many it started"

    @cached_property
    def replicas_tried(self) -> I64:
        """Per trace: how many distinct replicas its attempts went to."""
        t = self.traces
        a = t.attempts
        width = max(len(a.replicas), 1)
        pairs = distinct_keys(t.trace * width + a.replica.astype(np.int64))
        return np.bincount(pairs // width, minlength=t.n_traces).astype(np.int64)

    @cached_property
    def cut_short(self) -> B:
        """Per trace: ended on a retryable failure with retries left, stopped by the deadline
        or the budget (the independent-attempts model does not describe such traces)."""
        t = self.traces
        cand = self.retryable[self.last] & (t.length - 1 < self.policy.max_retries)
        ex = self.stop_excuses
        cut = np.zeros(t.n_traces, bool)
        for key in (DEADLINE, BUDGET):
            if key in ex:
                cut |= ex[key]
        return np.asarray(cand & cut)

    @cached_property
    def gave_up(self) -> B:
        """Per trace: it ended by giving up as the policy allows. Its last attempt was a
        retryable failure and either no retry was left (max_retries + 1 attempts) or the
        deadline or budget stopped it (:attr:`cut_short`, the excuses of retry_when_due). A SUT
        may answer such a request with its own 502/503/504 instead of the last answer (urllib3's
        MaxRetryError with raise_on_status, KubeRay's 502 on its deadline)."""
        t = self.traces
        exhausted = self.retryable[self.last] & (t.length == self.policy.max_retries + 1)
        return np.asarray(exhausted | self.cut_short)

    @cached_property
    def client_row(self) -> I64:
        """Per trace: the row of its client record, -1 if none."""
        t = self.traces
        out = np.full(t.n_traces, -1, np.int64)
        if self.clients is None:
            return out
        index = {rid: i for i, rid in enumerate(self.clients.request_ids)}
        rids = t.attempts.request_ids
        out[:] = [index.get(rids[int(r)], -1) for r in t.rid]
        return out

    @cached_property
    def groups(self) -> tuple[tuple[Group, ...], I64]:
        """Fault-model groups and, per trace, its group index."""
        t = self.traces
        a = t.attempts
        first = t.start
        key = (a.method[first].astype(np.int64) * len(a.paths) + a.path[first]) * 2 + a.idem[first]
        uniq, inv = np.unique(key, return_inverse=True)
        groups: list[Group] = []
        gid: dict[str, int] = {}
        per_uniq = np.empty(len(uniq), np.int64)
        for j, u in enumerate(uniq):
            u = int(u)
            idem = bool(u % 2)
            mp = u // 2
            method, path = a.methods[mp // len(a.paths)], a.paths[mp % len(a.paths)]
            route, faults = self.profile.faults_for(method, path)
            name = group_label(route, method, idem)
            if name not in gid:
                gid[name] = len(groups)
                groups.append(Group(name, route, method, idem, faults))
            per_uniq[j] = gid[name]
        return tuple(groups), per_uniq[inv.reshape(-1)]

    @cached_property
    def outage_trace(self) -> B:
        """Per trace: it may overlap an outage window (excluded from statistical checks)."""
        t = self.traces
        a = t.attempts
        hit = np.zeros(t.n_traces, bool)
        in_outage = a.fault == fault_code(FaultKind.OUTAGE)
        if in_outage.any():
            hit[np.unique(t.trace[in_outage])] = True
        outages = [f.outage for f in (self.profile, *[r.faults for r in self.profile.routes])]
        spans = (a.end_us[self.last] - a.arrival_us[t.start]) / 1e6
        span_max = float(spans.max()) if spans.size else 0.0
        first = a.arrival_us[t.start] / 1e6
        for o in outages:
            if o is None:
                continue
            if span_max + o.duration_s >= o.period_s:
                hit[:] = True
                continue
            # the window [first, first + span_max] overlaps [ws, ws + duration) of some period
            phase = np.mod(first - o.offset_s, o.period_s)
            hit |= (phase < o.duration_s) | (phase + span_max >= o.period_s)
        return hit

    @cached_property
    def down(self) -> DownView:
        """What the replicas' down windows may hide (all empty masks when there are none)."""
        return down_view(
            self.traces, self.clients, self.client_row, self.down_windows, self.epsilon_s * 1e6
        )

    @cached_property
    def down_trace(self) -> B:
        """Per trace: its span meets a down window (it may have attempts no journal shows)."""
        return self.down.overlap

    @cached_property
    def sut_made(self) -> SutMade:
        """Client requests the SUT answered without any backend attempt."""
        return sut_made(self.traces, self.clients, self.down, self.profile)

    @cached_property
    def forwarding_lateness_s(self) -> F64:
        """Per traced request with a client record, clear of down windows: how long the SUT
        took to forward it (client send to the first attempt's arrival), in seconds."""
        if self.clients is None:
            return np.zeros(0)
        t = self.traces
        row = self.client_row
        ok = (row >= 0) & ~self.down_trace
        first = t.attempts.arrival_us[t.start[ok]]
        return np.asarray((first - self.clients.start_us[row[ok]]) / 1e6, np.float64)

    @cached_property
    def run_end_us(self) -> int:
        a = self.traces.attempts
        return int(max(a.end_us.max(), a.arrival_us.max())) if len(a) else 0

    def examples(self, trace_idx: npt.NDArray[np.int64]) -> tuple[list[str], list[str]]:
        """Request ids and timelines of the first counter-examples."""
        chosen = [int(t) for t in trace_idx[:MAX_EXAMPLES]]
        return (
            [self.traces.request_id(t) for t in chosen],
            [self.traces.timeline(t) for t in chosen],
        )

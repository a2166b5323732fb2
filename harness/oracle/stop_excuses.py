"""Why a request may rightly have stopped without a retry, and how it gave up.

A request whose last attempt was a retryable failure with retries left owes a retry, unless a
legitimate reason stopped it: the run ended before the retry was due, the deadline left no room,
the retry budget may have been spent, every upstream replica the SUT can reach was already tried
(``different_upstream`` policies), or the client gave up first. :class:`StopExcuses` computes
those reasons per request (the conservative side of each), the requests a deadline or budget cut
short, and the requests that gave up as the policy allows. :class:`UpstreamPeers` counts the
replicas a request tried and the replicas the SUT can reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from harness.oracle.attempt_kinds import AttemptKinds
from harness.oracle.budget import budget_times, exhausted_near
from harness.oracle.delays import Delays
from harness.oracle.journal import NO_STATUS, ClientTable
from harness.oracle.traces import Traces, distinct_keys
from harness.policy.model import RetryPolicy

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

RUN_ENDED = "the run ended before the retry was due"
NO_PEER = "every upstream replica the SUT can reach was already tried"
DEADLINE = "the deadline left no room for the next delay"
BUDGET = "the retry budget may have been spent"
CLIENT_GONE = "the client gave up first"


@dataclass
class UpstreamPeers:
    """Replicas per request and replicas the SUT can reach (for ``different_upstream``)."""

    traces: Traces
    replicas: int | None  # backend replicas the run started (None: not known)

    @cached_property
    def seen(self) -> int:
        """Distinct replicas that appear anywhere in the run's journals."""
        return int(distinct_keys(self.traces.attempts.replica.astype(np.int64)).size)

    @property
    def reachable(self) -> int:
        """How many upstream replicas the SUT can reach.

        The journals cannot tell: a SUT configured with one server of two (nginx's
        ``proxy_pass`` to one URL) shows only that one. So the replicas the run started are
        used when known: the declared policy then owes a retry on every other replica, and a
        config that reaches fewer fails retry_when_due, which is the honest verdict on what it
        declares. Without that number (an offline verify of bare files, an older run folder)
        the replicas seen across the whole run stand in, which cannot tell "unreachable" from
        "never needed".
        """
        return self.replicas if self.replicas is not None else self.seen

    @property
    def source(self) -> str:
        """Where :attr:`reachable` comes from, for evidence."""
        if self.replicas is not None:
            return "started by the run"
        return "seen in the journals; the run did not say how many it started"

    @cached_property
    def tried(self) -> I64:
        """Per request: how many distinct replicas its attempts went to."""
        t = self.traces
        a = t.attempts
        width = max(len(a.replicas), 1)
        pairs = distinct_keys(t.trace * width + a.replica.astype(np.int64))
        return np.bincount(pairs // width, minlength=t.n_traces).astype(np.int64)


@dataclass
class StopExcuses:
    """Per request: the legitimate reasons a retry after its last attempt may not have come."""

    policy: RetryPolicy
    traces: Traces
    kinds: AttemptKinds
    delays: Delays
    peers: UpstreamPeers
    clients: ClientTable | None
    client_row: I64  # per request: its client record, -1 if none
    lateness_slack_s: float
    run_end_us: int

    @cached_property
    def reasons(self) -> dict[str, B]:
        """Reason -> per-request mask (see the module docstring)."""
        t = self.traces
        p = self.policy
        a = t.attempts
        eps_us = self.lateness_slack_s * 1e6
        _, hi = self.delays.next_window
        hi_us = np.where(np.isfinite(hi), hi, 1e12) * 1e6
        t_end = a.end_us[t.last_row]
        excused: dict[str, B] = {}
        excused[RUN_ENDED] = np.asarray(t_end + hi_us + eps_us > self.run_end_us)
        if p.deadline_s is not None:
            deadline = a.arrival_us[t.start] + p.deadline_s * 1e6
            excused[DEADLINE] = np.asarray(t_end + hi_us + eps_us >= deadline)
        if p.budget is not None:
            bt = budget_times(t)
            excused[BUDGET] = exhausted_near(p.budget, bt, t_end, hi_us, self.lateness_slack_s)
        if p.different_upstream and p.upstream_once:  # the rule of model.peer_capped
            excused[NO_PEER] = np.asarray(self.peers.tried >= self.peers.reachable)
        if self.clients is not None:
            row = self.client_row
            has = row >= 0
            gone = np.zeros(t.n_traces, bool)
            c = self.clients
            gone[has] = (c.status[row[has]] == NO_STATUS) & (
                c.end_us[row[has]] < t_end[has] + hi_us[has] + eps_us
            )
            excused[CLIENT_GONE] = gone
        return excused

    @cached_property
    def cut_short(self) -> B:
        """Per request: ended on a retryable failure with retries left, stopped by the deadline
        or the budget (the independent-attempts model does not describe such requests)."""
        t = self.traces
        last = t.last_row
        cand = self.kinds.retryable[last] & (t.length - 1 < self.policy.max_retries)
        cut = np.zeros(t.n_traces, bool)
        for key in (DEADLINE, BUDGET):
            if key in self.reasons:
                cut |= self.reasons[key]
        return np.asarray(cand & cut)

    @cached_property
    def gave_up(self) -> B:
        """Per request: it ended by giving up as the policy allows. Its last attempt was a
        retryable failure and either no retry was left (max_retries + 1 attempts) or the
        deadline or budget stopped it (:attr:`cut_short`). A SUT may answer such a request with
        its own 502/503/504 instead of the last answer (urllib3's MaxRetryError with
        raise_on_status, KubeRay's 502 on its deadline)."""
        t = self.traces
        last = t.last_row
        exhausted = self.kinds.retryable[last] & (t.length == self.policy.max_retries + 1)
        return np.asarray(exhausted | self.cut_short)

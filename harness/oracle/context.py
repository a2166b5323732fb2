"""The facts of one run that checks read, as small views built on demand.

:class:`CheckContext` holds the run's inputs (policy, profile, traces, client records, ε, α,
plan, goals, down windows) and builds each view once, the first time a check asks for it. A
view computes one kind of fact from explicit inputs, so a check (or a test) can take one at a
time:

* ``kinds`` (:class:`~harness.oracle.attempt_kinds.AttemptKinds`): per attempt, success,
  trigger and the policy's retry decision;
* ``delays`` (:class:`~harness.oracle.delays.Delays`): per attempt its delay and window;
* ``peers`` (:class:`~harness.oracle.stop_excuses.UpstreamPeers`): replicas tried and reachable;
* ``stops`` (:class:`~harness.oracle.stop_excuses.StopExcuses`): why a request may rightly have
  stopped, cut-short and given-up requests;
* ``fault_groups`` (:class:`~harness.oracle.fault_groups.FaultGroups`): each request's fault
  model group, outage overlap;
* ``down`` (:class:`~harness.oracle.down.DownView`): what replicas' down windows may hide;
* ``sut_made`` (:class:`~harness.oracle.sut_made.SutMade`): requests the SUT answered itself.

All per-attempt arrays are in the sorted trace order of :class:`~harness.oracle.traces.Traces`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from fake_backends.profile import FaultProfile
from harness.oracle.attempt_kinds import AttemptKinds
from harness.oracle.delays import Delays
from harness.oracle.down import DownView, down_view
from harness.oracle.fault_groups import FaultGroups
from harness.oracle.journal import ClientTable, fault_code
from harness.oracle.planner import DetectionGoals, SamplePlan
from harness.oracle.records import DownWindow, FaultKind
from harness.oracle.stop_excuses import StopExcuses, UpstreamPeers
from harness.oracle.sut_made import SutMade, sut_made
from harness.oracle.tolerances import lateness_tolerance
from harness.oracle.traces import Traces
from harness.policy.model import RetryPolicy

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
MAX_EXAMPLES = 10


@dataclass
class CheckContext:
    """One run's inputs and the views built from them (see the module docstring)."""

    policy: RetryPolicy
    profile: FaultProfile
    traces: Traces
    clients: ClientTable | None
    epsilon_s: float  # ε: shapes (harness.oracle.tolerances)
    lateness_slack_s: float  # what it judges: harness.oracle.tolerances
    alpha: float
    plan: SamplePlan
    dropped: int = 0
    down_windows: tuple[DownWindow, ...] = ()
    replicas: int | None = None  # backend replicas the run started (None: not known)
    notes: list[str] = field(default_factory=list)
    goals: DetectionGoals = field(default_factory=DetectionGoals)

    @cached_property
    def kinds(self) -> AttemptKinds:
        first_send = None
        if self.clients is not None:
            row = self.client_row
            first_send = np.full(self.traces.n_traces, np.nan)
            first_send[row >= 0] = self.clients.start_us[row[row >= 0]]
        return AttemptKinds(
            self.policy,
            self.traces,
            first_send_us=first_send,
            lateness_slack_s=self.lateness_slack_s,
        )

    @cached_property
    def delays(self) -> Delays:
        return Delays(self.policy, self.traces, self.kinds.has_retry_after)

    @cached_property
    def peers(self) -> UpstreamPeers:
        return UpstreamPeers(self.traces, self.replicas)

    @cached_property
    def stops(self) -> StopExcuses:
        return StopExcuses(
            self.policy,
            self.traces,
            self.kinds,
            self.delays,
            self.peers,
            self.clients,
            self.client_row,
            self.lateness_slack_s,
            self.run_end_us,
        )

    @cached_property
    def fault_groups(self) -> FaultGroups:
        return FaultGroups(self.profile, self.traces)

    @cached_property
    def down(self) -> DownView:
        """What the replicas' down windows may hide (all empty masks when there are none)."""
        return down_view(
            self.traces,
            self.clients,
            self.client_row,
            self.down_windows,
            self.lateness_slack_s * 1e6,
        )

    @cached_property
    def sut_made(self) -> SutMade:
        """Client requests the SUT answered without any backend attempt."""
        return sut_made(self.traces, self.clients, self.down, self.profile)

    @cached_property
    def last(self) -> I64:
        """Per request: the row of its last attempt."""
        return self.traces.last_row

    @cached_property
    def client_row(self) -> I64:
        """Per request: the row of its client record, -1 if none."""
        t = self.traces
        out = np.full(t.n_traces, -1, np.int64)
        if self.clients is None:
            return out
        index = {rid: i for i, rid in enumerate(self.clients.request_ids)}
        rids = t.attempts.request_ids
        out[:] = [index.get(rids[int(r)], -1) for r in t.rid]
        return out

    @cached_property
    def forwarding_lateness_s(self) -> F64:
        """Per traced request with a client record, clear of down windows: how long the SUT
        took to forward it (client send to the first attempt's arrival), in seconds."""
        if self.clients is None:
            return np.zeros(0)
        t = self.traces
        row = self.client_row
        ok = (row >= 0) & ~self.down.overlap
        first = t.attempts.arrival_us[t.start[ok]]
        return np.asarray((first - self.clients.start_us[row[ok]]) / 1e6, np.float64)

    @cached_property
    def end_not_a_bound(self) -> npt.NDArray[np.bool_]:
        """Per attempt: its end stamp is no bound on when the SUT was done with it, so a delay
        measured from it may look shorter than the SUT's wait: the SUT may have abandoned it at
        its per-try timeout (``AttemptKinds.timeout_may_have_fired``), or it hung or its client
        went away (the end is the app clock noticing the SUT left). The early side of the next
        delay is not judged from it."""
        a = self.traces.attempts
        hang = a.fault == fault_code(FaultKind.HANG)
        return np.asarray(self.kinds.timeout_may_have_fired | hang | a.client_gone, np.bool_)

    @cached_property
    def lateness_tolerance(self) -> tuple[float, str]:
        """The run's lateness tolerance and its source (``tolerances.lateness_tolerance``)."""
        return lateness_tolerance(self.epsilon_s, self.forwarding_lateness_s)

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

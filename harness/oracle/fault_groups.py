"""Which fault model each request was drawn under, and which requests may overlap an outage.

A request's attempts are drawn from the fault profile of its route (method and path) and judged
by the model of its (route, method, Idempotency-Key) group (``harness.oracle.model``).
:class:`FaultGroups` names the groups (the planner's labels, ``planner.group_label``) and says,
per request, its group and whether it may overlap one of the profile's outage windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from fake_backends.profile import FaultProfile, Faults
from harness.oracle.journal import fault_code
from harness.oracle.planner import group_label
from harness.oracle.records import FaultKind
from harness.oracle.traces import Traces

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Group:
    """Traces that share one fault model: (route profile, method, idempotency key present)."""

    key: str
    route: str | None
    method: str
    idem: bool
    faults: Faults


@dataclass
class FaultGroups:
    """Per request: its fault-model group, and whether it may overlap an outage window."""

    profile: FaultProfile
    traces: Traces

    @cached_property
    def groups(self) -> tuple[tuple[Group, ...], I64]:
        """The groups and, per trace, its group index."""
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
    def outage(self) -> B:
        """Per trace: it may overlap an outage window (excluded from statistical checks)."""
        t = self.traces
        a = t.attempts
        hit = np.zeros(t.n_traces, bool)
        in_outage = a.fault == fault_code(FaultKind.OUTAGE)
        if in_outage.any():
            hit[np.unique(t.trace[in_outage])] = True
        outages = [f.outage for f in (self.profile, *[r.faults for r in self.profile.routes])]
        last = t.last_row
        spans = (a.end_us[last] - a.arrival_us[t.start]) / 1e6
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

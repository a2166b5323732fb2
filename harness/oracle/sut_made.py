"""Requests the SUT answered itself: client records with no attempt at any backend.

A SUT may answer without trying any backend (nginx with every peer marked down by ``max_fails``
answers 502 "no live upstreams"; a circuit breaker answers 503). The journals then show nothing,
so these requests are found from the client's side: client records whose request id has no
traced attempt. :func:`sut_made` counts them with their statuses, once per run; the success
rate counts them as the client saw them, the client-agreement check names them, and the verdict's
headline shows them.

``steady`` are those the statistical checks may count: a request whose send time lies within the
longest request span before a replica's down window, or inside one, may have tried only the
down replica (its attempts reach no journal), and a profile with outage windows makes any
request's model time-dependent; both are left out (the same start-time rule as the traces').
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fake_backends.profile import FaultProfile
from harness.oracle.down import DownView
from harness.oracle.journal import NO_STATUS, ClientTable
from harness.oracle.traces import Traces

I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SutMade:
    """Client rows the SUT answered itself, and what the client got."""

    clients: ClientTable | None
    rows: I64  # client rows with no traced attempt
    steady: I64  # of those, the rows clear of down windows and outages
    success: B  # per client row: 2xx/3xx

    def statuses(self, rows: I64 | None = None) -> dict[str, int]:
        """Status -> count ('error': the client saw no status), most common first."""
        if self.clients is None:
            return {}
        rows = self.rows if rows is None else rows
        st = self.clients.status[rows]
        counts = Counter("error" if int(x) == NO_STATUS else str(int(x)) for x in st)
        return dict(counts.most_common())

    def describe(self, rows: I64 | None = None) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.statuses(rows).items())

    def steady_rows_of(self, method: str, idem: bool, *, first: bool = True) -> I64:
        """Steady rows of requests with ``method`` and key presence ``idem`` (client records
        carry no route: every such request goes to the first group of that method and key)."""
        if self.clients is None or not first or self.steady.size == 0:
            return np.zeros(0, np.int64)
        c = self.clients
        code = c.methods.index(method) if method in c.methods else -1
        sel = (c.method[self.steady] == code) & (c.idem[self.steady] == idem)
        return np.asarray(self.steady[sel], np.int64)


def sut_made(
    traces: Traces, clients: ClientTable | None, down: DownView, profile: FaultProfile
) -> SutMade:
    """See the module docstring."""
    if clients is None:
        z = np.zeros(0, np.int64)
        return SutMade(None, z, z, np.zeros(0, bool))
    a = traces.attempts
    traced = {a.request_ids[int(i)] for i in np.unique(a.rid)}
    rows = np.array([i for i, rid in enumerate(clients.request_ids) if rid not in traced], np.int64)
    success = np.asarray((clients.status >= 200) & (clients.status < 400))
    keep = np.ones(rows.size, bool)
    outages = [f.outage for f in (profile, *[r.faults for r in profile.routes])]
    if any(o is not None for o in outages):
        keep[:] = False
    if rows.size and down.affected:
        start = clients.start_us[rows]
        n_t = traces.n_traces
        span_max = float((down.span_end_us - down.span_start_us).max()) if n_t else 0.0
        for lo, hi in down.affected:
            keep &= ~((start >= lo - span_max) & (start <= hi))
    return SutMade(clients, rows, rows[keep], success)


_EXPLAINING = (
    "no live upstreams",
    "upstream",
    "no server available",
    "circuit",
    "overflow",
    "refused",
    "unavailable",
    "error",
)


def explaining_lines(lines: list[str], limit: int = 5) -> list[str]:
    """The SUT log lines that may explain answers it made itself: lines naming an upstream or
    error condition, grouped by their text with digits masked, most frequent first, each with
    its count and one example (e.g. nginx's ``no live upstreams while connecting to upstream``)."""
    import re

    groups: Counter[str] = Counter()
    example: dict[str, str] = {}
    for line in lines:
        low = line.lower()
        if not any(word in low for word in _EXPLAINING):
            continue
        key = re.sub(r"\d+", "#", line.strip())[-200:]
        groups[key] += 1
        example.setdefault(key, line.strip()[:300])
    return [f"{n}× {example[k]}" for k, n in groups.most_common(limit)]

"""What a replica's down window hides from the journals, per trace and per attempt.

A killed replica refuses connections: the attempts a SUT sends it fail to connect and reach no
journal (an attempt in flight at the kill may be journaled while the SUT saw a reset). A paused
replica (SIGSTOP) accepts connections but answers nothing until resumed: the SUT abandons those
attempts at its per-try timeout (or keeps waiting), and whatever the replica serves after the
resume is stamped late. A SUT may send any attempt of any request to any replica, so every trace
whose time span meets a window may have attempts the journals do not show, or show out of place.

:func:`down_view` computes, once per run:

* per trace, its span: from the earlier of its first arrival and its client's send time, to the
  later of its last attempt's end and its client's answer, and whether that span meets any window
  (± ε) — ``overlap``. A trace without a client record that has an attempt on a paused replica
  arriving up to ``PAUSE_DRAIN_S`` after the resume also overlaps (that stamp may be late, its
  send time inside the window);
* per attempt, ``unsure``: journaled on a down replica, ending after the window began, in an
  overlapping trace — the SUT may have seen another answer (a reset for a kill, its own timeout
  for a pause) than the journaled one;
* per attempt, ``displaced``: an unsure attempt of a *paused* replica, whose arrival and end
  stamps may be late, so its place in its trace's order is unknown (a killed replica's stamps
  are exact: it journals nothing after the kill);
* the time spans in which attempts may be missing or misplaced (``affected``), for checks that
  count attempts in sliding windows;
* per trace, ``stat_excluded``: its start lies within the longest span of any trace before an
  affected span, or inside one. The statistical checks leave these out rather than just the
  overlapping traces: whether a trace overlaps depends on how long it lasted, i.e. on its
  retries and delays, so dropping only overlapping traces would bias the sample towards short
  traces (too few attempts, delays too short). A rule on the start time alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.oracle.journal import ClientTable
from harness.oracle.records import DownWindow
from harness.oracle.traces import Traces

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

PAUSE_DRAIN_S = 1.0  # without a client record: how long after a resume a stamp may be late


@dataclass(frozen=True)
class DownView:
    """Per trace and per attempt, what the down windows of a run may hide."""

    windows: tuple[DownWindow, ...]
    span_start_us: I64  # per trace
    span_end_us: I64  # per trace
    overlap: B  # per trace: its span meets a window
    hits: tuple[int, ...]  # per window: traces overlapping it
    unsure: B  # per attempt: the SUT may have seen another answer than the journaled one
    displaced: B  # per attempt: stamps may be late (paused replica), place in order unknown
    affected: tuple[tuple[float, float], ...]  # (lo, hi) µs where attempts may be hidden/moved
    stat_excluded: B  # per trace: left out of statistical checks (a rule on start time alone)

    def overlaps(self, lo_us: npt.NDArray[np.int64], hi_us: npt.NDArray[np.int64]) -> B:
        """Whether each [lo, hi] meets an affected span."""
        return overlaps_spans(lo_us, hi_us, self.affected)


def overlaps_spans(
    lo_us: npt.NDArray[np.int64], hi_us: npt.NDArray[np.int64], spans: Sequence[tuple[float, float]]
) -> B:
    """Whether each interval [lo, hi] meets one of ``spans`` (closed intervals, µs)."""
    out = np.zeros(np.shape(lo_us), bool)
    for s_lo, s_hi in spans:
        out |= (lo_us <= s_hi) & (hi_us >= s_lo)
    return out


def window_spans(windows: Sequence[DownWindow], eps_us: float) -> tuple[tuple[float, float], ...]:
    """Each window as a closed span widened by ε (open-ended windows reach +inf)."""
    return tuple(
        (w.start_us - eps_us, np.inf if w.end_us is None else w.end_us + eps_us) for w in windows
    )


def down_view(
    traces: Traces,
    clients: ClientTable | None,
    client_row: I64,
    windows: Sequence[DownWindow],
    eps_us: float,
) -> DownView:
    """See the module docstring."""
    t = traces
    a = t.attempts
    n_t = t.n_traces
    start = a.arrival_us[t.start].astype(np.int64)
    end = np.maximum.reduceat(a.end_us, t.start).astype(np.int64) if n_t else np.zeros(0, np.int64)
    has = client_row >= 0
    if clients is not None and has.any():
        r = client_row[has]
        start[has] = np.minimum(start[has], clients.start_us[r])
        end[has] = np.maximum(end[has], clients.end_us[r])
    overlap = np.zeros(n_t, bool)
    unsure = np.zeros(len(a), bool)
    displaced = np.zeros(len(a), bool)
    hits: list[int] = []
    affected: list[tuple[float, float]] = []
    codes = {name: i for i, name in enumerate(a.replicas)}
    for w, (lo, hi) in zip(windows, window_spans(windows, eps_us), strict=True):
        hit = (start <= hi) & (end >= lo)
        code = codes.get(w.replica)
        on = a.replica == code if code is not None else np.zeros(len(a), bool)
        if w.kind == "pause" and np.isfinite(hi):
            late = on & (a.arrival_us >= lo) & (a.arrival_us <= hi + PAUSE_DRAIN_S * 1e6)
            late &= ~has[t.trace]
            hit[t.trace[late]] = True
        mine = on & hit[t.trace] & (a.end_us >= lo)
        if w.kind == "kill":
            mine &= a.arrival_us <= hi
        unsure |= mine
        span_hi = hi
        if w.kind == "pause":
            displaced |= mine
            if mine.any():
                span_hi = max(hi, float(a.end_us[mine].max()) + eps_us)
        affected.append((lo, span_hi))
        overlap |= hit
        hits.append(int(hit.sum()))
    span_max = float((end - start).max()) if n_t else 0.0
    stat_excluded = overlap.copy()
    for lo, hi in affected:
        stat_excluded |= (start >= lo - span_max) & (start <= hi)
    return DownView(
        windows=tuple(windows),
        span_start_us=start,
        span_end_us=end,
        overlap=overlap,
        hits=tuple(hits),
        unsure=unsure,
        displaced=displaced,
        affected=tuple(affected),
        stat_excluded=stat_excluded,
    )


def describe_windows(view: DownView, t0_us: int) -> str:
    """'r1 killed from +2.000 s to the end of the run: 812 requests; r2 paused ...'."""
    parts = []
    for w, n in zip(view.windows, view.hits, strict=True):
        verb = "killed" if w.kind == "kill" else "paused"
        until = "the end of the run" if w.end_us is None else f"{(w.end_us - t0_us) / 1e6:+.3f} s"
        parts.append(
            f"{w.replica} {verb} from {(w.start_us - t0_us) / 1e6:+.3f} s to {until}: {n} requests"
        )
    return "; ".join(parts)


def followed(traces: Traces, displaced: B) -> B:
    """Per attempt: a later attempt of its trace whose place in the order is known came after it.

    Without displaced attempts this is ``~is_last``. A displaced attempt (late stamp from a
    paused replica) may really have been sent before the attempts it seems to follow, so it is
    not taken as evidence that anything came after them.
    """
    t = traces
    if not displaced.any():
        return np.asarray(~t.is_last)
    pos = np.where(displaced, -1, t.pos)
    last_known = np.full(t.n_traces, -1, np.int64)
    np.maximum.at(last_known, t.trace, pos)
    return np.asarray(t.pos < last_known[t.trace])

"""Traces: the attempts of one request id, ordered by arrival (numpy, no per-trace objects).

:func:`build_traces` sorts an :class:`AttemptTable` by (request id, arrival) once; afterwards the
attempts of trace ``t`` are the contiguous rows ``start[t] : start[t] + length[t]`` and every
per-attempt array of the oracle uses that sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.oracle.journal import FAULT_KINDS, NO_STATUS, AttemptTable

I64 = npt.NDArray[np.int64]


def distinct_keys(key: I64) -> I64:
    """Distinct values of small non-negative integer keys (no sort when the range is small)."""
    if key.size == 0:
        return key
    top = int(key.max())
    if top < 4 * key.size + 1_000_000:
        return np.flatnonzero(np.bincount(key, minlength=top + 1))
    return np.asarray(np.unique(key), np.int64)


@dataclass(frozen=True)
class Traces:
    """The sorted attempt table and where each trace starts in it."""

    attempts: AttemptTable  # sorted by (rid, arrival)
    start: I64  # per trace: first row
    length: I64  # per trace: number of attempts
    trace: I64  # per attempt: its trace index
    pos: I64  # per attempt: 0-based index in its trace (k)
    rid: I64  # per trace: code into attempts.request_ids

    @property
    def n_traces(self) -> int:
        return int(self.start.shape[0])

    @property
    def is_last(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.pos == self.length[self.trace] - 1)

    @property
    def first_arrival_us(self) -> I64:
        return self.attempts.arrival_us[self.start]

    @property
    def last_row(self) -> I64:
        return self.start + self.length - 1

    def request_id(self, t: int) -> str:
        return self.attempts.request_ids[int(self.rid[t])]

    def timeline(self, t: int, delays_note: dict[int, str] | None = None) -> str:
        """One line per trace for evidence: every attempt with its time, status and fault."""
        a = self.attempts
        s, n = int(self.start[t]), int(self.length[t])
        t0 = int(a.arrival_us[s])
        parts = []
        for i in range(s, s + n):
            status = "-" if a.status[i] == NO_STATUS else str(int(a.status[i]))
            fault = str(FAULT_KINDS[int(a.fault[i])])
            arr = (int(a.arrival_us[i]) - t0) / 1e6
            end = (int(a.end_us[i]) - t0) / 1e6
            extra = ""
            if i > s:
                delay = (int(a.arrival_us[i]) - int(a.end_us[i - 1])) / 1e6
                extra = f" after {delay * 1e3:.1f}ms"
            if not np.isnan(a.retry_after_s[i]):
                extra += f" RA={a.retry_after_s[i]:g}s"
            if delays_note and i - s in delays_note:
                extra += " " + delays_note[i - s]
            replica = a.replicas[a.replica[i]]
            parts.append(
                f"#{i - s} {a.methods[a.method[i]]} {a.paths[a.path[i]]} "
                f"@{arr:+.3f}s..{end:+.3f}s{extra} -> {status}({fault}) [{replica}]"
            )
        return f"{self.request_id(t)}: " + " | ".join(parts)


def _order(attempts: AttemptTable) -> npt.NDArray[np.int64]:
    """Row order by (request id, arrival, journaled attempt index)."""
    if len(attempts) == 0:
        return np.zeros(0, np.int64)
    arrival = attempts.arrival_us
    span = int(arrival.max()) - int(arrival.min())
    rid_bits = max(int(attempts.rid.max()), 1).bit_length()
    time_bits = max(span, 1).bit_length()
    if rid_bits + time_bits <= 62:  # one stable argsort of a combined key
        key = (attempts.rid.astype(np.int64) << time_bits) | (arrival - arrival.min())
        pre = np.argsort(attempts.attempt, kind="stable")
        return np.asarray(pre[np.argsort(key[pre], kind="stable")], np.int64)
    return np.asarray(np.lexsort((attempts.attempt, arrival, attempts.rid)), np.int64)


def build_traces(attempts: AttemptTable) -> Traces:
    """Groups attempts by request id, ordered by arrival (ties by the journaled attempt index)."""
    order = _order(attempts)
    table = attempts.take(order)
    n = len(table)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Traces(table, empty, empty, empty, empty, empty)
    rid = table.rid.astype(np.int64)
    boundary = np.empty(n, bool)
    boundary[0] = True
    np.not_equal(rid[1:], rid[:-1], out=boundary[1:])
    start = np.flatnonzero(boundary).astype(np.int64)
    length = np.diff(np.append(start, n)).astype(np.int64)
    trace = np.cumsum(boundary, dtype=np.int64) - 1
    pos = np.arange(n, dtype=np.int64) - start[trace]
    return Traces(table, start, length, trace, pos, rid[start])

"""Delays between attempts and the windows the declared policy gives them.

Delay k of a request is the arrival of attempt k minus the end of attempt k - 1, on the
backends' clock. :class:`Delays` gives it per attempt, whether an honoured Retry-After set it,
and the (lo, hi, nominal) window of every delay and of the retry that would follow a request's
last attempt. Windows are asked of ``harness.policy.expectations.delay_window`` once per
distinct (retry index, Retry-After, status), then broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from harness.oracle.traces import Traces, distinct_keys
from harness.policy.expectations import delay_window
from harness.policy.model import RetryPolicy

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


@dataclass
class Delays:
    """Per attempt (k >= 1) its delay and window; per request the next retry's window."""

    policy: RetryPolicy
    traces: Traces
    has_retry_after: B  # per attempt: its answer carried Retry-After

    @cached_property
    def delay_s(self) -> F64:
        """Delay k = arrival of attempt k - end of attempt k-1 (NaN for first attempts)."""
        a = self.traces.attempts
        d = np.full(len(a), np.nan)
        idx = np.flatnonzero(self.traces.pos >= 1)
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
        out[idx] = self.has_retry_after[prev] & np.isin(a.status[prev], statuses)
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

    @cached_property
    def next_window(self) -> tuple[F64, F64]:
        """Per request: (lo, hi) of the delay a retry after its last attempt would have."""
        t = self.traces
        a = t.attempts
        last = t.last_row
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

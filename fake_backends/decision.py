"""The per-attempt fault decision: a pure function of (seed, replica, request id, attempt index).

Draws come from ``blake2b(f"{seed}\\x1f{replica}\\x1f{key}\\x1f{attempt}")``: the 32-byte digest
is cut into four 64-bit words, each turned into a uniform number in [0, 1) with 53 bits:

* ``u0`` partitions reset / hang / failure / ok (see :mod:`fake_backends.profile`);
* ``u1`` picks the failure status from the weighted mix (cumulative weights, sorted by status);
* ``u2`` draws the injected latency (uniform: linear; lognormal: median * exp(sigma * z) with
  ``z`` the standard normal quantile of ``u2``).

``fail_first_n`` wins over everything, then an open outage window (the one input that is wall
clock time, not part of the tuple), then the draw. A request without a request id is keyed by
``("\\x00anon", n)`` where ``n`` is the replica's arrival sequence number, and is attempt 0.
"""

from __future__ import annotations

import hashlib
import math
import struct
from dataclasses import dataclass
from statistics import NormalDist

from fake_backends.profile import RETRY_AFTER_STATUSES, Faults, Latency
from fake_backends.records import FaultKind

_TO_UNIT = 2.0**-53
_STANDARD_NORMAL = NormalDist()
_UNPACK = struct.Struct("<4Q").unpack


@dataclass(frozen=True, slots=True)
class Decision:
    """What the backend does to one attempt."""

    fault: FaultKind
    status: int | None
    retry_after: str | None
    latency_ms: float
    draw: float
    hang_s: float = 0.0


def draws(
    seed: int, replica: str, request_id: str | None, attempt: int, anon_seq: int = 0
) -> tuple[float, float, float, float]:
    """Four independent uniform draws in [0, 1) for one attempt."""
    key = request_id if request_id is not None else f"\x00anon:{anon_seq}"
    digest = hashlib.blake2b(
        f"{seed}\x1f{replica}\x1f{key}\x1f{attempt}".encode(), digest_size=32
    ).digest()
    a, b, c, d = _UNPACK(digest)
    return ((a >> 11) * _TO_UNIT, (b >> 11) * _TO_UNIT, (c >> 11) * _TO_UNIT, (d >> 11) * _TO_UNIT)


def pick_status(mix: dict[int, float], u: float) -> int:
    """The status whose cumulative weight interval holds ``u`` (weights sum to 1)."""
    acc = 0.0
    last = 0
    for status, weight in mix.items():
        acc += weight
        last = status
        if u < acc:
            return status
    return last


def latency_ms(latency: Latency, u: float) -> float:
    """The injected latency of one attempt for draw ``u``."""
    kind = latency.kind
    if kind == "none":
        return 0.0
    if kind == "fixed":
        return latency.ms
    if kind == "uniform":
        return latency.min_ms + u * (latency.max_ms - latency.min_ms)
    p = min(max(u, 1e-12), 1.0 - 1e-12)
    return latency.median_ms * math.exp(latency.sigma * _STANDARD_NORMAL.inv_cdf(p))


def outage_open(faults: Faults, now_s: float) -> bool:
    """True when an outage window of ``faults`` is open at wall-clock time ``now_s``."""
    outage = faults.outage
    if outage is None:
        return False
    return (now_s - outage.offset_s) % outage.period_s < outage.duration_s


def decide(
    faults: Faults,
    seed: int,
    replica: str,
    request_id: str | None,
    attempt: int,
    *,
    now_s: float = 0.0,
    anon_seq: int = 0,
) -> Decision:
    """The fault decision of one attempt (pure apart from ``now_s`` for outage windows)."""
    u0, u1, u2, _ = draws(seed, replica, request_id, attempt, anon_seq)
    delay = latency_ms(faults.latency, u2)

    def failed(kind: FaultKind, status: int) -> Decision:
        retry_after = faults.retry_after if status in RETRY_AFTER_STATUSES else None
        return Decision(kind, status, retry_after, delay, u0)

    if attempt < faults.fail_first_n:
        return failed(FaultKind.FIRST_N, faults.fail_first_n_status)
    if faults.outage is not None and outage_open(faults, now_s):
        return failed(FaultKind.OUTAGE, faults.outage.status)
    edge = faults.reset_rate
    if u0 < edge:
        return Decision(FaultKind.RESET, None, None, delay, u0)
    edge += faults.hang_rate
    if u0 < edge:
        return Decision(FaultKind.HANG, None, None, 0.0, u0, faults.hang_s)
    edge += faults.failure_rate
    if u0 < edge:
        return failed(FaultKind.STATUS, pick_status(faults.failure_status, u1))
    return Decision(FaultKind.NONE, 200, None, delay, u0)

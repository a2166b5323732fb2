"""Measuring the timing tolerance ε of a run, on the run's own machine and under its own load.

ε covers what the backends' clock sees beyond the SUT's own wait between a failed attempt and its
retry: the time the answer takes to reach the SUT, the SUT's own processing, and the time the next
attempt takes to reach a backend, all under the CPU contention of the run itself.

Two measurements, both from the same host clock:

1. **zero-delay gaps**: while the load runs, :class:`TimingProbe` sends back-to-back pairs of
   requests straight to one backend, never through the SUT (request ids starting
   ``harness-calib-``, marked as harness traffic so the backend answers them without fault or
   injected latency: see :mod:`harness.traffic`), so the backend journals attempt 0 and attempt 1
   of each pair; ``arrival(1) - end(0)`` is what a retry with zero delay looks like from the
   backend on this machine now. These records are split out of the journals before the oracle
   sees them (``calibration-r*.ndjson``) and counted in the run's harness-traffic summary.
2. **forward latency through the SUT**: from the run's own traces, ``arrival(attempt 0) -
   client start`` is the client-to-SUT-to-backend latency, an upper bound of one SUT hop.

ε = max(floor, largest gap) + largest forward latency, reported with its named parts
(:class:`StampSummary` adds the ones the journals show):

- **stamp precision**: what the backends' clock resolves in a journal time (1 µs: integer
  microseconds of ``CLOCK_REALTIME``, which resolves 1 ns here). A delay measured between two
  stamps can only be shorter than the SUT's real wait by this much: kernel stamps are taken on
  the wire (the answer had left before the SUT could read it; the retry had arrived), app
  stamps err the safe way (arrival stamped late, end stamped early). "Retried too early" is
  therefore judged against the stamp precision alone.
- **which clock** stamped the attempts (``arrival_clock``/``end_clock`` of each journal record:
  ``kernel`` socket timestamps, ``app`` the fallback; :mod:`fake_backends.kernel_stamps`), and
  how late the app clock would have been (``app_arrival_us - arrival_us``, the backend's own
  scheduling, which kernel stamps leave out of every delay);
- **zero-delay gap** and **SUT forwarding** (above): what the path adds to a delay, the room
  lateness is judged with.

Samples whose span meets a replica's down window (chaos) are left out of both: a paused
replica's stall is not timing noise. Maxima, not
quantiles: the delays a run judges number in the hundreds or thousands, and on a loaded 2-core
machine the noise has a heavy tail (a p99-based ε let 5 of 360 zero-backoff HAProxy retries land
outside it in a seed sweep run beside other CPU-heavy jobs).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import requests

from fake_backends.settings import DEFAULT_REQUEST_ID_HEADER as REQUEST_ID_HEADER
from harness.traffic import CALIBRATION_PREFIX, PROBE_HEADERS

EPSILON_FLOOR_S = 0.002
STAMP_PRECISION_S = max(1e-6, time.clock_getres(time.CLOCK_REALTIME))
"""What a journal time resolves: integer microseconds of CLOCK_REALTIME (see the module doc)."""
_PAIR_INTERVAL_S = 0.01
_MAX_PAIRS = 1000


class TimingProbe:
    """Sends bounded back-to-back request pairs to one backend while the load runs."""

    def __init__(self, backend_url: str, *, seed: int) -> None:
        self.backend_url = backend_url.rstrip("/")
        self.seed = seed
        self.pairs_sent = 0

    def run(self, stop: threading.Event) -> None:
        session = requests.Session()
        try:
            while not stop.is_set() and self.pairs_sent < _MAX_PAIRS:
                rid = f"{CALIBRATION_PREFIX}{self.seed:x}-{self.pairs_sent}"
                headers = {**PROBE_HEADERS, REQUEST_ID_HEADER: rid}
                with contextlib.suppress(requests.RequestException):
                    session.get(f"{self.backend_url}/__calibrate", headers=headers, timeout=2)
                    session.get(f"{self.backend_url}/__calibrate", headers=headers, timeout=2)
                self.pairs_sent += 1
                stop.wait(_PAIR_INTERVAL_S)
        finally:
            session.close()

    def epsilon(
        self, workdir: Path, down: Sequence[tuple[int, int | None]] = ()
    ) -> tuple[float, str]:
        """ε for this run, from the calibration journals and the run's first attempts.

        ``down``: (start_us, end_us or None) of the spans a replica was down on purpose. A
        sample whose span meets one is left out: a paused replica's stall is chaos, not timing
        noise, and must not widen ε (the oracle handles what the window hides on its own).
        """
        gaps = zero_delay_gaps(sorted(workdir.glob("calibration-r*.ndjson")), down)
        forward = forward_latencies(
            sorted(workdir.glob("journal-r*.ndjson")), workdir / "client-records.ndjson", down
        )
        stamps = stamp_summary(sorted(workdir.glob("journal-r*.ndjson")))
        return combine(gaps, forward, stamps)


@dataclass(frozen=True)
class StampSummary:
    """Which clock stamped a run's attempts, and what the app clock would have added."""

    records: int = 0
    kernel_arrivals: int = 0
    kernel_ends: int = 0
    app_lag_p99_s: float = 0.0  # app arrival stamp minus kernel stamp, 99th percentile

    def clock(self) -> str:
        if self.records == 0:
            return "no attempts"
        if self.kernel_arrivals == 0 and self.kernel_ends == 0:
            return "app clock (kernel stamps unavailable)"
        return (
            f"kernel socket stamps for {self.kernel_arrivals / self.records:.1%} of arrivals and "
            f"{self.kernel_ends / self.records:.1%} of ends (the rest: app clock, e.g. resets "
            f"and hangs)"
        )

    def sentence(self) -> str:
        s = f"attempt times: {self.clock()}; stamp precision {STAMP_PRECISION_S * 1e6:g} µs"
        if self.kernel_arrivals:
            s += (
                f"; the app clock would have stamped arrivals {self.app_lag_p99_s * 1e3:.2f} ms "
                "later (p99, backend scheduling left out by the kernel stamps)"
            )
        return s


def stamp_summary(journals: list[Path]) -> StampSummary:
    """Counts each clock in the run's journals (records without the fields: app clock)."""
    records = kernel_arrivals = kernel_ends = 0
    lags: list[int] = []
    for path in journals:
        with path.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                records += 1
                if rec.get("arrival_clock") == "kernel":
                    kernel_arrivals += 1
                    app = rec.get("app_arrival_us")
                    if app is not None:
                        lags.append(int(app) - int(rec["arrival_us"]))
                if rec.get("end_clock") == "kernel":
                    kernel_ends += 1
    lag = float(np.percentile(lags, 99)) / 1e6 if lags else 0.0
    return StampSummary(records, kernel_arrivals, kernel_ends, lag)


def combine(
    gaps: np.ndarray, forward: np.ndarray, stamps: StampSummary | None = None
) -> tuple[float, str]:
    """ε from the two measured samples (seconds), and a sentence naming its parts."""
    g = float(gaps.max()) if gaps.size else 0.0
    f = float(forward.max()) if forward.size else 0.0
    eps = max(EPSILON_FLOOR_S, g) + f

    def p95(x: np.ndarray) -> str:
        return f"p95 {float(np.percentile(x, 95)) * 1e3:.2f} ms, " if x.size else ""

    evidence = (
        f"ε = max({EPSILON_FLOOR_S * 1e3:.0f} ms, largest of {gaps.size} zero-delay gaps "
        f"({p95(gaps)}max {g * 1e3:.2f} ms)) + largest of {forward.size} client→SUT→backend "
        f"latencies, the SUT's forwarding ({p95(forward)}max {f * 1e3:.2f} ms) "
        f"= {eps * 1e3:.2f} ms"
    )
    if stamps is not None:
        evidence += f"; {stamps.sentence()}"
    return eps, evidence


def _clear(lo: int, hi: int, down: Sequence[tuple[int, int | None]]) -> bool:
    """Whether [lo, hi] (µs) meets none of the down spans."""
    return all(hi < a or (b is not None and lo > b) for a, b in down)


def zero_delay_gaps(paths: list[Path], down: Sequence[tuple[int, int | None]] = ()) -> np.ndarray:
    """arrival(attempt 1) - end(attempt 0) of each calibration pair clear of ``down``, seconds."""
    first_end: dict[str, int] = {}
    second_arrival: dict[str, int] = {}
    for path in paths:
        with path.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                rid = rec.get("request_id")
                if not rid or rec.get("fault") in ("hang", "reset"):
                    continue
                if rec["attempt"] == 0:
                    first_end[rid] = rec["end_us"]
                elif rec["attempt"] == 1:
                    second_arrival[rid] = rec["arrival_us"]
    gaps = [
        second_arrival[r] - first_end[r]
        for r in second_arrival
        if r in first_end and _clear(first_end[r], second_arrival[r], down)
    ]
    return np.asarray(gaps, dtype=np.float64) / 1e6


def forward_latencies(
    journals: list[Path], client_records: Path, down: Sequence[tuple[int, int | None]] = ()
) -> np.ndarray:
    """arrival(attempt 0) - client start for every logical request clear of ``down``, seconds."""
    arrival0: dict[str, int] = {}
    for path in journals:
        with path.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                if rec.get("attempt") == 0 and rec.get("request_id"):
                    arrival0[rec["request_id"]] = rec["arrival_us"]
    out: list[int] = []
    if client_records.exists():
        with client_records.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                a = arrival0.get(rec["request_id"])
                if a is not None and _clear(rec["start_us"], a, down):
                    out.append(a - rec["start_us"])
    arr = np.asarray(out, dtype=np.float64) / 1e6
    return arr[arr >= 0]


def wall_us() -> int:
    return time.time_ns() // 1000

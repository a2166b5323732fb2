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

Both feed two tolerances, each reported with its named parts (:mod:`harness.oracle.tolerances`
owns them and says which judgement uses which):

- **ε** = stamp precision + the 95th percentile of the zero-delay gaps: the timing tolerance
  of shapes and early judgements (jitter law, lateness floor);
- **lateness slack** = max(2 ms, largest gap) + largest forward latency (maxima, Locust's own
  Python time included; what it judges: :mod:`harness.oracle.tolerances`). Maxima, since a
  single late sample is judged against it: on a loaded 2-core machine the noise has a heavy
  tail.

Further named parts (:class:`StampSummary`):

- **stamp precision**: what the backends' clock resolves in a journal time (1 µs).
- **which clock** stamped the attempts (``arrival_clock``/``end_clock`` of each journal record:
  ``kernel`` socket timestamps, ``app`` the fallback; :mod:`fake_backends.kernel_stamps`), and
  how late the app clock would have been (``app_arrival_us - arrival_us``, the backend's own
  scheduling, which kernel stamps leave out of every delay).

Samples whose span meets a replica's down window (chaos) are left out of both: a paused
replica's stall is not timing noise. When that leaves no sample of a kind (a down window over
the whole of a short or interrupted load), the kind's samples are taken unfiltered, and the
evidence says so: a stall only makes a sample larger, so the tolerance errs wide, never down
to the 2 ms floor that measured nothing. Without any zero-delay gap (no calibration pair came
back) ε is not known and takes the lateness slack's value; a kind without any sample is "not
measured" in the evidence.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from fake_backends.settings import DEFAULT_REQUEST_ID_HEADER as REQUEST_ID_HEADER
from harness.errors import RunFailed
from harness.oracle.tolerances import (
    GAP_PERCENTILE,
    LATENESS_FLOOR_S,
    MIN_GAPS,
    STAMP_PRECISION_S,
    Tolerances,
)
from harness.processes import timeouts
from harness.processes.child import spawn
from harness.traffic import CALIBRATION_PREFIX, PROBE_HEADERS

PAIR_INTERVAL_S = 0.01
"""Seconds between two pairs of a run's probe."""
MAX_PAIRS = 5000
"""At most this many pairs a run (about a minute; ε takes the pairs inside the load)."""
_PROBE_MODULE = "harness.substrates.gap_probe"


class TimingProbe:
    """Sends bounded back-to-back request pairs to one backend while the load runs.

    The pairs come from a process of its own (:mod:`harness.substrates.gap_probe`, stdlib
    ``http.client``), started by :meth:`run` and stopped when ``stop`` is set: a prober thread in
    the harness shared its GIL and threads and measured them, not the machine.
    """

    def __init__(
        self,
        backend_url: str,
        *,
        seed: int,
        log_path: Path | None = None,
        interval_s: float = PAIR_INTERVAL_S,
        pairs: int = MAX_PAIRS,
        max_s: float | None = None,
    ) -> None:
        """``interval_s`` between pairs, at most ``pairs`` pairs and ``max_s`` seconds (default
        ``TIMEOUTS.timing_probe_max_s``); the prober's output goes to ``log_path``."""
        self.backend_url = backend_url.rstrip("/")
        self.seed = seed
        self.log_path = log_path
        self.interval_s = interval_s
        self.pairs = pairs
        self.max_s = max_s
        self.failure: str | None = None
        """Why the prober gave no pairs or stopped early (set by :meth:`run`), else None."""

    def argv(self) -> list[str]:
        """The prober's command line (the harness's own interpreter)."""
        argv = [sys.executable, "-m", _PROBE_MODULE, self.backend_url]
        argv += ["--id-prefix", f"{CALIBRATION_PREFIX}{self.seed:x}-"]
        argv += ["--id-header", REQUEST_ID_HEADER]
        argv += [
            arg for name, value in PROBE_HEADERS.items() for arg in ("--header", f"{name}:{value}")
        ]
        argv += ["--pairs", str(self.pairs), "--interval", str(self.interval_s)]
        max_s = timeouts.TIMEOUTS.timing_probe_max_s if self.max_s is None else self.max_s
        return [*argv, "--max-seconds", str(max_s)]

    @classmethod
    def for_load(cls, backend_url: str, *, seed: int, log_path: Path, load_s: float) -> TimingProbe:
        """A run's probe for a load of at most ``load_s`` seconds: its :data:`MAX_PAIRS` pairs
        spread over the whole load (a pair every :data:`PAIR_INTERVAL_S` or more), so a long
        load's ε is not its first minute's."""
        return cls(
            backend_url,
            seed=seed,
            log_path=log_path,
            interval_s=max(PAIR_INTERVAL_S, round(load_s / MAX_PAIRS, 3)),
        )

    def run(self, stop: threading.Event) -> None:
        """Run the prober until ``stop`` is set (or its own bounds are reached), then stop it
        (SIGTERM: it ends after the pair in flight). A prober that cannot start, or ends
        before ``stop`` with an exit code other than 0, leaves :attr:`failure` set: ε's
        evidence says it (:meth:`epsilon`)."""
        try:
            child = spawn(self.argv(), name="timing probe", log_path=self.log_path)
        except RunFailed as exc:
            self.failure = str(exc)
            return
        try:
            while child.alive() and not stop.wait(timeouts.TIMEOUTS.load_watch_interval_s):
                pass
        finally:
            code = child.stop()
        if code not in (0, None) and not stop.is_set():
            tail = " | ".join(child.log_tail(5).splitlines())
            self.failure = f"the timing probe exited with code {code} during the load: {tail}"

    def epsilon(
        self,
        workdir: Path,
        journals: Sequence[Path],
        down: Sequence[tuple[int, int | None]] = (),
    ) -> Tolerances:
        """ε and the lateness slack for this run (:func:`run_tolerances` of ``workdir``, the
        clean ``journals`` and the client records there), with the prober's :attr:`failure`
        in the evidence when it had one."""
        tol = run_tolerances(workdir, journals, workdir / "client-records.ndjson", down)
        if self.failure is None:
            return tol
        return tol._replace(evidence=f"{tol.evidence}; {self.failure}")


def run_tolerances(
    workdir: Path,
    journals: Sequence[Path],
    client_records: Path,
    down: Sequence[tuple[int, int | None]] = (),
) -> Tolerances:
    """ε and the lateness slack of one run folder: the one computation, for a finished run
    (:meth:`TimingProbe.epsilon`), an interrupted one (``harness.run.save_interrupted``) and a
    UI epoch (``harness.live_judge``).

    ``workdir`` holds the calibration journals (``calibration-r*.ndjson``); ``journals``: the
    clean backend journals, harness traffic split out (never the ``journal-r*.raw.ndjson``
    they were split from: those hold every attempt again, plus the calibration pairs);
    ``down``: (start_us, end_us or None) of the spans a replica was down on purpose. A sample
    whose span meets one is left out: a paused replica's stall is chaos, not timing noise, and
    must not widen ε (the oracle handles what the window hides on its own). When every sample
    of a kind met a window, that kind's samples count unfiltered (a stall only makes them
    larger: the tolerance errs wide) and the evidence says so.
    """
    paths = list(journals)
    pairs = _calibration_pairs(sorted(workdir.glob("calibration-r*.ndjson")))
    sends = _first_sends(paths, client_records)
    span = load_span(client_records)
    gaps = _spans(pairs, down, span)
    forward = _spans(sends, down)
    unfiltered: list[str] = []
    if down and not gaps.size:
        gaps = _spans(pairs, (), span)
        if gaps.size:
            unfiltered.append(f"zero-delay gaps ({gaps.size})")
    if down and not forward.size:
        forward = _spans(sends)
        if forward.size:
            unfiltered.append(f"client→SUT→backend latencies ({forward.size})")
    return combine(gaps, forward, stamp_summary(paths), unfiltered=tuple(unfiltered))


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
    gaps: np.ndarray,
    forward: np.ndarray,
    stamps: StampSummary | None = None,
    *,
    unfiltered: Sequence[str] = (),
) -> Tolerances:
    """ε and the lateness slack from the two measured samples (seconds), with their parts.

    ``unfiltered``: the kinds of sample (as the evidence names them, with their count) taken
    with the samples that met a down window, because every one of them did."""
    g = float(gaps.max()) if gaps.size else 0.0
    f = float(forward.max()) if forward.size else 0.0
    slack = max(LATENESS_FLOOR_S, g) + f
    gq = float(np.percentile(gaps, GAP_PERCENTILE)) if gaps.size >= MIN_GAPS else None
    eps = STAMP_PRECISION_S + gq if gq is not None else slack

    def largest(x: np.ndarray, what: str, top: float) -> str:
        if not x.size:
            return f"{what}: not measured"
        p95 = float(np.percentile(x, 95)) * 1e3
        return f"largest of {x.size} {what} (p95 {p95:.2f} ms, max {top * 1e3:.2f} ms)"

    if gq is not None:
        eps_text = (
            f"ε = stamp precision {STAMP_PRECISION_S * 1e6:g} µs + {GAP_PERCENTILE:g}th "
            f"percentile of {gaps.size} zero-delay gaps ({gq * 1e3:.3f} ms) = {eps * 1e3:.3f} ms "
            "(judges shapes: the jitter law's late band, the lateness floor)"
        )
    else:
        eps_text = (
            "ε = the lateness slack (no zero-delay gap was measured)"
            if not gaps.size
            else f"ε = the lateness slack (only {gaps.size} zero-delay gaps inside the load, "
            f"fewer than the {MIN_GAPS} a percentile needs)"
        )
    forwarding = "client→SUT→backend latencies, the SUT's forwarding"
    evidence = (
        f"{eps_text}; lateness slack = max({LATENESS_FLOOR_S * 1e3:.0f} ms, "
        f"{largest(gaps, 'zero-delay gaps', g)}) + "
        f"{largest(forward, forwarding, f)} "
        f"= {slack * 1e3:.2f} ms (the room of single-sample judgements "
        "that are not lateness: see harness.oracle.tolerances)"
    )
    if unfiltered:
        evidence += (
            f"; every one of the {' and '.join(unfiltered)} met a replica's down window: they "
            "count unfiltered (a stall only makes a sample larger: the tolerance errs wide)"
        )
    parts = {
        "epsilon": eps,
        "lateness_slack": slack,
        "stamp_precision": STAMP_PRECISION_S,
        "lateness_floor": LATENESS_FLOOR_S,
    }
    for name, x in (("zero_delay_gap", gaps), ("forwarding", forward)):
        if x.size:
            parts[f"{name}_p95"] = float(np.percentile(x, 95))
            parts[f"{name}_max"] = float(x.max())
    if stamps is not None:
        evidence += f"; {stamps.sentence()}"
        if stamps.kernel_arrivals:
            parts["app_clock_lag_p99"] = stamps.app_lag_p99_s
    return Tolerances(eps, slack, evidence, parts)


def _clear(lo: int, hi: int, down: Sequence[tuple[int, int | None]]) -> bool:
    """Whether [lo, hi] (µs) meets none of the down spans."""
    return all(hi < a or (b is not None and lo > b) for a, b in down)


def load_span(client_records: Path) -> tuple[int, int] | None:
    """(first client send, last client answer) of the run's load in µs, None without records."""
    lo = hi = None
    if client_records.exists():
        with client_records.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                start, end = rec["start_us"], rec.get("end_us") or rec["start_us"]
                lo = start if lo is None else min(lo, start)
                hi = end if hi is None else max(hi, end)
    return None if lo is None or hi is None else (lo, hi)


def zero_delay_gaps(
    paths: list[Path],
    down: Sequence[tuple[int, int | None]] = (),
    span: tuple[int, int] | None = None,
) -> np.ndarray:
    """arrival(attempt 1) - end(attempt 0) of each calibration pair clear of ``down``, seconds.

    ``span`` (µs, :func:`load_span`): only pairs inside it count. The prober starts before
    the load's first request and stops after its last answer; a pair during Locust's own
    start-up or the run's teardown measures CPU spikes no attempt of the run met (seen: 3-6 ms
    gaps there against a p95 of 0.7 ms during the load)."""
    return _spans(_calibration_pairs(paths), down, span)


def forward_latencies(
    journals: list[Path], client_records: Path, down: Sequence[tuple[int, int | None]] = ()
) -> np.ndarray:
    """arrival(attempt 0) - client start for every logical request clear of ``down``, seconds."""
    return _spans(_first_sends(journals, client_records), down)


def _calibration_pairs(paths: list[Path]) -> list[tuple[int, int]]:
    """(end of attempt 0, arrival of attempt 1) of each calibration pair, µs."""
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
    return [(first_end[r], a) for r, a in second_arrival.items() if r in first_end]


def _first_sends(journals: list[Path], client_records: Path) -> list[tuple[int, int]]:
    """(client start, arrival of attempt 0) of every logical request, µs; none that arrived
    before its client's start (clock steps)."""
    arrival0: dict[str, int] = {}
    for path in journals:
        with path.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                if rec.get("attempt") == 0 and rec.get("request_id"):
                    arrival0[rec["request_id"]] = rec["arrival_us"]
    out: list[tuple[int, int]] = []
    if client_records.exists():
        with client_records.open("rb") as f:
            for line in f:
                rec = orjson.loads(line)
                a = arrival0.get(rec["request_id"])
                if a is not None and a >= rec["start_us"]:
                    out.append((rec["start_us"], a))
    return out


def _spans(
    spans: list[tuple[int, int]],
    down: Sequence[tuple[int, int | None]] = (),
    within: tuple[int, int] | None = None,
) -> np.ndarray:
    """hi - lo (seconds) of each (lo, hi) µs span clear of ``down`` and inside ``within``."""
    kept = [
        hi - lo
        for lo, hi in spans
        if _clear(lo, hi, down) and (within is None or within[0] <= lo <= hi <= within[1])
    ]
    return np.asarray(kept, dtype=np.float64) / 1e6


def wall_us() -> int:
    return time.time_ns() // 1000

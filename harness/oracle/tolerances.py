"""The timing quantities every timing judgement is made against, and which judgement uses which.

Owns the two fixed parts (what a journal time resolves, how early a SUT's timer may fire), the
run's two measured tolerances, built by :mod:`harness.substrates.calibration`, and what is
derived from them:

* **stamp precision** (:data:`STAMP_PRECISION_S`): a journal time is an integer number of
  microseconds of ``CLOCK_REALTIME`` (which resolves 1 ns here), so two stamps resolve 1 µs;
* **timer tick** (:data:`TIMER_TICK_S`): event-loop proxies count their timers in whole
  milliseconds of a clock cached once per loop turn (nginx ``ngx_current_msec``,
  src/event/ngx_event_timer.c; HAProxy ``now_ms``, include/haproxy/clock.h), so a timer armed
  on a stale cached time may fire up to one tick before the real instant;
* **early tolerance** (:data:`EARLY_TOLERANCE_S` = precision + tick): the only room a delay
  gets on the *early* side. Kernel stamps are taken on the wire (the answer had left before the
  SUT could read it; the retry had arrived), app stamps err the safe way (arrival late, end
  early), so no load makes a measured delay shorter than the SUT's wait: "retried too early",
  a jitter law's lower edges and Retry-After are judged against this alone;
* **ε** (:attr:`Tolerances.epsilon_s`): precision + the 95th percentile of the run's own
  kernel-stamped zero-delay gaps (outside down windows). What a retry sent at once looks like
  on this machine now: the room a *shape* gets on the late side (the jitter law's late band,
  the lateness sign test's floor);
* **lateness slack** (:attr:`Tolerances.lateness_slack_s`): max(2 ms, largest zero-delay gap) +
  largest client→SUT→backend latency of the run (which includes Locust's own Python time).
  It is the room of every judgement that one late sample alone could fail and that is not
  itself a lateness judgement: a hung attempt "abandoned early" (per-try timeout), "the SUT's
  timer may have fired before it read this answer" (:func:`timer_read_tolerance_s`: the
  per-try timeout's and a cutting deadline's excuses), retry-budget windows, stop excuses
  (retry when due), down-window edges and client agreement's time span. A correct system
  must never fail because the machine was loaded;
* **lateness tolerance** (:func:`lateness_tolerance`): the larger of ε and the 90th percentile
  of the SUT's own forwarding lateness in the run. Lateness itself (the overall deadline's
  attempts and client waits, the per-try timeout's late side, a delay's late side, the jitter
  law's late band) is judged by sign tests against it, never one sample at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

STAMP_PRECISION_S = 1e-6
"""What a journal time resolves: integer microseconds of CLOCK_REALTIME."""
TIMER_TICK_S = 1e-3
"""How early a SUT's millisecond timer on a cached clock may fire (see the module doc)."""
EARLY_TOLERANCE_S = STAMP_PRECISION_S + TIMER_TICK_S
"""The only room a delay gets on the early side."""
LATENESS_FLOOR_S = 0.002
"""The smallest zero-delay term of the lateness slack."""
GAP_PERCENTILE = 95.0
"""The percentile of the run's zero-delay gaps that ε takes."""
MIN_GAPS = 20
"""Fewer zero-delay gaps than this make no percentile: ε is then the lateness slack (the
95th percentile of 3 quiet samples is just their largest; fewer data must not give a tighter
tolerance than none). The same floor :func:`lateness_tolerance` puts on forwarding samples."""


def timer_read_tolerance_s(lateness_slack_s: float) -> float:
    """How long after a SUT timer was due an answer may have left the backend and still have
    been read after that timer fired (seconds): the timer may fire one tick early
    (:data:`EARLY_TOLERANCE_S`), and a loaded SUT may read an answer that had arrived up to the
    lateness slack late (its process or thread was not scheduled between the answer's arrival
    and the timer's expiry; when it runs both are ready, and it may handle the timer first):
    the same load effect the slack measures. The one tolerance of "the SUT's timer may have
    fired before it read this answer", per-try timeout and cutting deadline alike
    (``harness.oracle.attempt_kinds.timer_may_have_fired``)."""
    return lateness_slack_s + EARLY_TOLERANCE_S


class Tolerances(NamedTuple):
    """A run's two measured timing tolerances (seconds) and the sentence naming their parts."""

    epsilon_s: float
    lateness_slack_s: float
    evidence: str
    parts: dict[str, float] = {}  # noqa: RUF012 (a NamedTuple default, never mutated)
    """Each named part in seconds (``run.json``'s ``epsilon_parts``)."""


def lateness_tolerance(
    epsilon_s: float, forwarding_s: npt.NDArray[np.float64]
) -> tuple[float, str]:
    """How late a delay may be before it counts as late in a *lateness* judgement (sign tests,
    the jitter law's late band), in seconds, and where that number comes from.

    The larger of ε and the 90th percentile of the SUT's own forwarding lateness in the same
    run (``forwarding_s``: client send to the first attempt's arrival, outside down windows;
    used from 20 samples): a SUT whose threads wake late under load forwards late too, and
    that is the machine, not the policy.
    """
    if forwarding_s.size >= MIN_GAPS:
        p90 = float(np.quantile(forwarding_s, 0.9))
        if p90 > epsilon_s:
            return p90, (
                f"the SUT's own forwarding lateness in this run (90th percentile of "
                f"{forwarding_s.size} first attempts: {p90 * 1e3:.1f} ms > "
                f"ε={epsilon_s * 1e3:.2f} ms)"
            )
    return epsilon_s, f"the measured timing tolerance ε={epsilon_s * 1e3:.2f} ms"

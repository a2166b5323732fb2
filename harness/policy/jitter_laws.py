"""Jitter laws as small objects: one per :class:`~harness.policy.model.JitterModel`, each owning
its delay window, its distribution and its sampling (like tenacity's ``wait`` objects,
https://tenacity.readthedocs.io/en/latest/api.html#wait-functions).

``d`` is the nominal delay of retry k after the cap, ``raw`` the same before the cap
(``base * multiplier**(k-1)``). Used by :mod:`harness.policy.expectations` (windows and laws the
oracle judges against) and :mod:`harness.oracle.synth` (the simulated SUT that draws delays), so
a law is written once. Sources of each law: the comments of ``JitterModel``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from harness.policy.model import Backoff, JitterModel

F64 = npt.NDArray[np.float64]


def capped(b: Backoff, value: float) -> float:
    return value if b.cap_s is None else min(value, b.cap_s)


def _uniform(lo: float, hi: float) -> Any:
    from scipy import stats

    return stats.uniform(loc=lo, scale=hi - lo)


class JitterLaw(ABC):
    """How a nominal delay becomes the real delay of retry k (see the module docstring)."""

    model: ClassVar[JitterModel]

    @abstractmethod
    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        """(lo, hi) of the delay, seconds."""

    def distribution(self, b: Backoff, lo: float, hi: float, raw: float) -> Any | None:
        """The scipy.stats frozen law on a window of positive finite width, or None when the
        law has no simple closed form there."""
        return _uniform(lo, hi)

    @abstractmethod
    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        """Delays for uniform draws ``u`` (``prev``: each request's previous delay)."""


class NoJitter(JitterLaw):
    model = JitterModel.NONE

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        return d, d

    def distribution(self, b: Backoff, lo: float, hi: float, raw: float) -> Any | None:
        return None

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        return np.full(u.size, d)


class FullJitter(JitterLaw):
    model = JitterModel.FULL

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        return 0.0, d

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        return np.asarray(u * d, np.float64)


class EqualJitter(JitterLaw):
    model = JitterModel.EQUAL

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        return d / 2, d

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        return np.asarray(d / 2 + u * d / 2, np.float64)


class PercentJitter(JitterLaw):
    """The cap applies before the jitter (gRPC A6, Traefik)."""

    model = JitterModel.PERCENT

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        p = b.jitter_fraction
        return d * (1 - p), d * (1 + p)

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        p = b.jitter_fraction
        return np.asarray(d * (1 - p + 2 * p * u), np.float64)


class AdditiveJitter(JitterLaw):
    """urllib3 adds the jitter, then caps: an atom at the cap when the cap cuts into it."""

    model = JitterModel.ADDITIVE

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        return d, capped(b, raw + b.jitter_s)

    def distribution(self, b: Backoff, lo: float, hi: float, raw: float) -> Any | None:
        if b.cap_s is not None and raw + b.jitter_s > b.cap_s:
            return None
        return _uniform(lo, hi)

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        out = d + u * b.jitter_s
        return np.asarray(out if b.cap_s is None else np.minimum(out, b.cap_s), np.float64)


class DecorrelatedJitter(JitterLaw):
    """Each delay is U[base, 3 * previous) capped (AWS): the window is a documented bound."""

    model = JitterModel.DECORRELATED

    def window(self, b: Backoff, d: float, raw: float, k: int) -> tuple[float, float]:
        try:
            spread = 3.0**k
        except OverflowError:
            spread = math.inf
        hi = capped(b, b.base_s * spread if b.base_s else 0.0)
        return min(b.base_s, hi), hi

    def distribution(self, b: Backoff, lo: float, hi: float, raw: float) -> Any | None:
        return None

    def sample(self, b: Backoff, d: float, u: F64, prev: F64) -> F64:
        hi = np.maximum(3 * prev, b.base_s)
        out = b.base_s + u * (hi - b.base_s)
        return np.asarray(out if b.cap_s is None else np.minimum(out, b.cap_s), np.float64)


LAWS: dict[JitterModel, JitterLaw] = {
    law.model: law
    for law in (
        NoJitter(),
        FullJitter(),
        EqualJitter(),
        PercentJitter(),
        AdditiveJitter(),
        DecorrelatedJitter(),
    )
}


def law_of(b: Backoff) -> JitterLaw:
    """The law object of ``b.jitter``."""
    return LAWS[b.jitter]

"""The shapes of the ``CheckResult.data`` blocks the HTML report plots, checked before plotting.

The oracle fills these blocks; the report reads them through these models so that a missing or
malformed block leaves that one plot out (with a note) instead of breaking the report. Extra keys
are ignored. Retry indexes are JSON object keys ("1", "2", ...) and come back as ints.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.oracle.verdict import CheckResult, Verdict

BACKOFF_WINDOW = "backoff_window"
ATTEMPT_DISTRIBUTION = "attempt_distribution"
SUCCESS_RATE = "success_rate"
JITTER_DISTRIBUTION = "jitter_distribution"
TELEMETRY = "telemetry"
ALERTS = "alerts"


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


BlockT = TypeVar("BlockT", bound=_Block)


class BackoffIndex(_Block):
    """Delays observed before retry k and the policy's window for them."""

    delays_s: list[float]
    lo_s: float
    hi_s: float
    nominal_s: float | None = None


class BackoffWindowData(_Block):
    """``backoff_window`` data: ``{"per_index": {"1": {...}, ...}}``."""

    per_index: dict[int, BackoffIndex] = Field(min_length=1)


class AttemptDistributionData(_Block):
    """``attempt_distribution`` data: attempts per trace, counts seen and model probabilities."""

    attempts: list[int] = Field(min_length=1)
    observed: list[int]
    expected: list[float]

    @model_validator(mode="after")
    def _same_length(self) -> AttemptDistributionData:
        if not len(self.attempts) == len(self.observed) == len(self.expected):
            raise ValueError("attempts, observed and expected must have the same length")
        return self


class SuccessRateData(_Block):
    """``success_rate`` data: client successes out of n, the model's p and an interval."""

    successes: int = Field(ge=0)
    n: int = Field(ge=1)
    expected_p: float = Field(ge=0, le=1)
    ci: tuple[float, float]

    @model_validator(mode="after")
    def _interval(self) -> SuccessRateData:
        lo, hi = self.ci
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"ci must satisfy 0 <= lo <= hi <= 1 (got [{lo}, {hi}])")
        return self


class JitterIndex(_Block):
    """Delays before retry k and the model distribution (a ``scipy.stats`` name, loc, scale)."""

    delays_s: list[float]
    dist: str
    loc: float = 0.0
    scale: float = Field(default=1.0, gt=0)


class JitterData(_Block):
    """``jitter_distribution`` data: ``{"per_index": {"1": {...}, ...}}``."""

    per_index: dict[int, JitterIndex] = Field(min_length=1)


class UpstreamCount(_Block):
    """A counter's increase on one upstream (server, replica) and the journal's count there."""

    upstream: str | None  # None: a replica no upstream of the counter stands for
    replica: str | None  # None: an upstream with no replica of the run behind it
    sut: float
    journal: int


class CounterCourse(_Block):
    """One SUT counter's increase since the run's start and the journal's running count."""

    job: str
    name: str
    promql: str
    times_s: list[float]
    counter: list[float]
    journal_running: list[int]
    per_upstream: list[UpstreamCount] = Field(default_factory=list)


class TelemetryData(_Block):
    """``telemetry`` data: ``{"counters": [...]}``, one course per counter."""

    counters: list[CounterCourse] = Field(min_length=1)


class AlertSpanData(_Block):
    alert: str
    start_s: float
    end_s: float


class AlertsData(_Block):
    """``alerts`` data: firing spans (unix s), the journal's retries per request each second
    ``(unix second, ratio, requests)`` and the run's start (unix s)."""

    spans: list[AlertSpanData]
    retry_ratio: list[tuple[float, float, int]] = Field(min_length=1)
    start_s: float


class Missing(_Block):
    """Why a plot is left out, in one line."""

    kind: Literal["missing"] = "missing"
    reason: str


def find_check(verdict: Verdict, name: str) -> CheckResult | None:
    """The first check called ``name``, if the verdict has one."""
    return next((c for c in verdict.checks if c.name == name), None)


def plot_data(verdict: Verdict, name: str, model: type[BlockT]) -> BlockT | Missing:
    """The data block of check ``name`` validated as ``model``, or why there is none."""
    check = find_check(verdict, name)
    if check is None:
        return Missing(reason=f"no {name} check in this verdict")
    if not check.data:
        return Missing(reason=f"the {name} check carries no plot data")
    try:
        return model.model_validate(check.data)
    except ValidationError as err:
        first: dict[str, Any] = dict(err.errors()[0])
        where = ".".join(str(p) for p in first["loc"])
        return Missing(reason=f"the {name} data is malformed ({where}: {first['msg']})")

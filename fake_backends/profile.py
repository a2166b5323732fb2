"""The fault profile: what a flaky backend does to each attempt (pydantic, immutable).

A profile is set from environment variables at start (see ``fake_backends.settings``) and can be
replaced at run time through the admin API (``PUT /faults``). Per attempt, one uniform draw ``u``
(a pure function of seed, replica, request id and attempt index) picks the outcome by partition:

    u < reset_rate                                   -> reset the connection
    u < reset_rate + hang_rate                       -> hang
    u < reset_rate + hang_rate + failure_rate        -> fail with a status from failure_status
    otherwise                                        -> answer normally (or pass through)

``fail_first_n`` and open ``outage`` windows take precedence over the draw. Outage windows are a
function of wall-clock time (the only decision input that is not in the 4-tuple).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RETRY_AFTER_STATUSES = frozenset({429, 503})


class Latency(BaseModel):
    """Latency injected before answering an attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = Field(default=0.0, ge=0, description="fixed: the delay")
    min_ms: float = Field(default=0.0, ge=0, description="uniform: lower bound")
    max_ms: float = Field(default=0.0, ge=0, description="uniform: upper bound")
    median_ms: float = Field(default=0.0, ge=0, description="lognormal: median (exp(mu))")
    sigma: float = Field(default=0.5, gt=0, description="lognormal: sigma of the log")

    @model_validator(mode="after")
    def _bounds(self) -> Latency:
        if self.kind == "uniform" and self.max_ms < self.min_ms:
            raise ValueError("uniform latency needs min_ms <= max_ms")
        return self


class Outage(BaseModel):
    """Fail every attempt for ``duration_s`` seconds out of every ``period_s`` seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_s: float = Field(gt=0)
    period_s: float = Field(gt=0)
    offset_s: float = Field(default=0.0, ge=0, description="Phase of the window in the period")
    status: int = Field(default=503, ge=400, le=599)

    @model_validator(mode="after")
    def _fits(self) -> Outage:
        if self.duration_s > self.period_s:
            raise ValueError("outage duration_s must not exceed period_s")
        return self


class Faults(BaseModel):
    """The per-attempt fault knobs (a profile without per-route overrides)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_rate: float = Field(default=0.0, ge=0, le=1)
    failure_status: dict[int, float] = Field(
        default_factory=lambda: {503: 1.0},
        description=(
            "Status -> weight: the share of failures answered with that status (the backend "
            "normalises them; a scenario file must give weights that sum to 1)"
        ),
    )
    fail_first_n: int = Field(default=0, ge=0)
    fail_first_n_status: int = Field(default=503, ge=400, le=599)
    retry_after: str | None = Field(
        default=None, description="Retry-After value (seconds or HTTP date) on 429/503 answers"
    )
    latency: Latency = Field(default_factory=Latency)
    hang_rate: float = Field(default=0.0, ge=0, le=1)
    hang_s: float = Field(default=30.0, gt=0, description="Upper bound of a hang")
    reset_rate: float = Field(default=0.0, ge=0, le=1)
    outage: Outage | None = None

    @field_validator("failure_status")
    @classmethod
    def _mix(cls, v: dict[int, float]) -> dict[int, float]:
        if not v:
            raise ValueError("failure_status needs at least one status")
        for status, weight in v.items():
            if not 400 <= status <= 599:
                raise ValueError(f"failure status {status} is not in 400..599")
            if weight < 0:
                raise ValueError(f"weight of {status} is negative")
        total = sum(v.values())
        if total <= 0:
            raise ValueError("failure_status weights must sum to more than 0")
        return {s: w / total for s, w in sorted(v.items())}

    @model_validator(mode="after")
    def _partition(self) -> Faults:
        if self.reset_rate + self.hang_rate + self.failure_rate > 1 + 1e-12:
            raise ValueError("reset_rate + hang_rate + failure_rate must not exceed 1")
        return self


class RouteProfile(BaseModel):
    """A profile that applies to matching attempts instead of the default one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    method: str | None = Field(default=None, description="Method to match; any when null")
    path: str = Field(description="fnmatch-style glob on the request path, e.g. /api/users*")
    faults: Faults


class FaultProfile(Faults):
    """The whole profile of one backend: default faults, per-route overrides, seed, mode."""

    seed: int = 0
    upstream_url: str | None = Field(
        default=None, description="Pass-through: attempts that are not failed go to this URL"
    )
    routes: tuple[RouteProfile, ...] = ()

    def faults_for(self, method: str, path: str) -> tuple[str | None, Faults]:
        """The faults that apply to one attempt, and the name of the matching route (if any)."""
        from fnmatch import fnmatchcase

        for i, route in enumerate(self.routes):
            if (route.method is None or route.method.upper() == method.upper()) and fnmatchcase(
                path, route.path
            ):
                return (route.name or f"route{i}", route.faults)
        return (None, self)

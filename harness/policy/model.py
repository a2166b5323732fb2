"""The canonical retry policy: what a system under test declares, in one immutable shape.

Every adapter turns a native config into a :class:`RetryPolicy`; the oracle judges journals
against it. All durations are float seconds; "retries" never counts the first attempt.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator

SCHEMA_VERSION = 1


def _sorted_list(v: frozenset[Any]) -> list[Any]:
    return sorted(v)


HttpStatus = Annotated[int, Field(ge=100, le=599)]
"""An HTTP status code (RFC 9110 section 15: three digits, 1xx to 5xx)."""

SORTED = PlainSerializer(_sorted_list, when_used="json")
"""A set field prints as a sorted list: the same policy always gives the same JSON (a set of
strings iterates in a per-process hash order)."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JitterModel(StrEnum):
    """How a nominal delay d_k becomes the real delay of retry k."""

    NONE = "none"  # exactly d_k
    FULL = "full"  # U[0, d_k)                     (Envoy, AWS, gRPC A6 original)
    EQUAL = "equal"  # d_k/2 + U[0, d_k/2)
    PERCENT = "percent"  # d_k * U[1-p, 1+p)         (gRPC A6 2024: p=0.2; Traefik: p=0.5)
    ADDITIVE = "additive"  # d_k + U[0, jitter_s)   (urllib3 backoff_jitter)
    DECORRELATED = "decorrelated"  # U[base, 3*prev) capped (AWS "decorrelated jitter")


class Backoff(Frozen):
    """Nominal delay before retry k (k >= 1): min(base_s * multiplier**(k-1), cap_s).

    With ``first_retry_waits=False`` (urllib3) retry 1 has no delay and retry k >= 2 waits
    min(base_s * multiplier**(k-1), cap_s): urllib3's 0, 2f, 4f, 8f with base_s=f, multiplier=2.
    """

    base_s: float = Field(default=0.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    cap_s: float | None = Field(default=None, ge=0)
    jitter: JitterModel = JitterModel.NONE
    jitter_fraction: float = Field(default=0.0, ge=0, le=1, description="PERCENT: p in ±p")
    jitter_s: float = Field(default=0.0, ge=0, description="ADDITIVE: upper bound of the addend")
    first_retry_waits: bool = True
    integer_exponent: bool = Field(
        default=False,
        description="KubeRay quirk: multiplier**(k-1) truncated to an integer before multiplying",
    )
    minimum_only: bool = Field(
        default=False,
        description="Gateway API GEP-1731 `backoff`: d_k is only a lower bound; retry k may wait "
        "any time >= d_k (exponential growth, caps and jitter above it are allowed)",
    )


class RetryOn(Frozen):
    """Which failed attempts are retryable."""

    statuses: Annotated[frozenset[HttpStatus], SORTED] = frozenset()
    connect_failure: bool = False
    reset: bool = Field(default=False, description="Connection closed with no response")
    per_try_timeout: bool = Field(default=False, description="An attempt abandoned at the timeout")


class MethodRule(Frozen):
    """Which methods may be retried."""

    retryable: Annotated[frozenset[str], SORTED] | None = Field(
        default=None, description="Upper-case methods that may be retried; null means all"
    )
    idempotency_key_header: str | None = Field(
        default=None,
        description="If set, a request carrying this header may be retried whatever its method",
    )
    connect_failure_any_method: bool = Field(
        default=True,
        description="A connect failure (request never sent) is retried for any method",
    )

    @field_validator("retryable", mode="before")
    @classmethod
    def _upper_case(cls, v: object) -> object:
        if isinstance(v, list | tuple | set | frozenset):
            return frozenset(m.upper() if isinstance(m, str) else m for m in v)
        return v


class RetryAfterRule(Frozen):
    """How a Retry-After header on a retryable answer changes the next delay."""

    honoured: bool = False
    statuses: Annotated[frozenset[HttpStatus], SORTED] = frozenset({429, 503})
    max_s: float | None = Field(default=None, ge=0, description="Longer values are clamped")
    replaces_backoff: bool = Field(
        default=True, description="urllib3: the delay is Retry-After, not max(backoff, it)"
    )
    makes_retryable: bool = Field(
        default=False,
        description="urllib3: an answer whose status is in `statuses` and that carries "
        "Retry-After is retried even if its status is not in retry_on.statuses",
    )


class Budget(Frozen):
    """Limits on retries across requests."""

    ratio: float | None = Field(default=None, ge=0, description="Retries / requests in a window")
    min_per_s: float = Field(default=0.0, ge=0, description="Retries always allowed per second")
    window_s: float = Field(default=10.0, gt=0)
    max_concurrent_retries: int | None = Field(default=None, ge=0)


class Aspect(StrEnum):
    """A part of the declared policy that checks depend on.

    An adapter that meets a construct it cannot evaluate statically (a condition on a header or
    a variable, a Lua hook, a construct the system accepts but whose effect is not documented)
    names the aspects it affects in :attr:`RetryPolicy.not_judged`; the oracle then reports every
    check that depends on one of them as *not judged*, with the construct and the reason, instead
    of judging it against a guess.
    """

    METHODS = "methods"  # which methods are retried
    STATUSES = "statuses"  # which answers (statuses, connect failures, timeouts) are retried
    RESETS = "resets"  # whether a connection closed with no answer after sending is retried
    MAX_RETRIES = "max_retries"  # how many retries a request may get
    BACKOFF = "backoff"  # the delay before each retry
    PER_TRY_TIMEOUT = "per_try_timeout"
    DEADLINE = "deadline"
    RETRY_AFTER = "retry_after"
    BUDGET = "budget"
    UPSTREAM = "upstream"  # which upstream server a retry goes to


class Unmodelled(Frozen):
    """One construct of the native config that the adapter cannot evaluate statically."""

    aspects: Annotated[frozenset[Aspect], SORTED] = Field(
        min_length=1, description="What the construct affects"
    )
    native: str = Field(description="The native text or field, e.g. 'if { req.hdr(x) -m found }'")
    reason: str = Field(description="Why it cannot be evaluated without running the system")
    location: str | None = Field(default=None, description="FILE:LINE of the construct, if known")


class RetryPolicy(Frozen):
    """The canonical, declared retry policy of one system under test."""

    schema_version: int = SCHEMA_VERSION
    system: str = Field(default="inline", description="Which adapter produced it")
    max_retries: int = Field(ge=0, description="Retries after the first attempt")
    retry_on: RetryOn = Field(default_factory=RetryOn)
    methods: MethodRule = Field(default_factory=MethodRule)
    backoff: Backoff = Field(default_factory=Backoff)
    per_try_timeout_s: float | None = Field(default=None, gt=0)
    deadline_s: float | None = Field(
        default=None, gt=0, description="Overall time for all attempts, from the first arrival"
    )
    deadline_precheck: bool = Field(
        default=False,
        description="KubeRay: gives up at once when the next backoff would overrun the deadline",
    )
    deadline_cuts_attempts: bool = Field(
        default=False,
        description="The deadline also aborts an attempt in flight, so the client is answered "
        "by it (Envoy's route timeout, KubeRay's request context). False: it only means no NEW "
        "attempt starts after it (nginx proxy_next_upstream_timeout, Caddy lb_try_duration, "
        "Traefik's retry timeout), so an attempt started before it may end after it",
    )
    retry_after: RetryAfterRule = Field(default_factory=RetryAfterRule)
    budget: Budget | None = None
    different_upstream: bool = Field(
        default=False,
        description="Each retry goes to another upstream server than the one just tried (nginx, "
        "Kong, HAProxy's redispatch); only upstream_once (nginx) also caps the attempts",
    )
    upstream_once: bool = Field(
        default=False,
        description="With different_upstream: each upstream server is tried at most once per "
        "request (nginx), so a request makes at most as many attempts as there are reachable "
        "servers, whatever max_retries says. False: a retry only avoids the server just tried "
        "and may come back to an earlier one (HAProxy's redispatch)",
    )
    not_judged: tuple[Unmodelled, ...] = Field(
        default=(),
        description="Constructs the adapter cannot evaluate; checks depending on their aspects "
        "are reported as not judged",
    )

    def unmodelled(self, aspect: Aspect) -> tuple[Unmodelled, ...]:
        """The constructs that make ``aspect`` impossible to judge (empty when it is modelled)."""
        return tuple(u for u in self.not_judged if aspect in u.aspects)

    @model_validator(mode="after")
    def _coherent(self) -> RetryPolicy:
        b = self.backoff
        if b.cap_s is not None and b.cap_s < b.base_s and b.first_retry_waits:
            raise ValueError("backoff.cap_s must not be below backoff.base_s")
        return self

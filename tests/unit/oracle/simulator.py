"""The SUT simulator used by the oracle tests, and the policies/profiles they judge.

The generator itself lives in ``harness.oracle.synth`` (the benchmark uses it too); this module
re-exports it and defines four reference set-ups: an Envoy-style full-jitter exponential policy,
a KubeRay fixed schedule (with the real 30 s deadline, and a tight one that binds), a urllib3
schedule that honours Retry-After, and a Linkerd-style budgeted policy; plus ``NGINX`` (next
upstream on 502/503/504 and connect failures, no delay, three replicas) for chaos tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from fake_backends.profile import FaultProfile
from harness.oracle.planner import RequestGroup
from harness.oracle.synth import (
    Defect,
    Kill,
    SimRun,
    Traffic,
    client_lines,
    journal_lines,
    simulate,
)
from harness.policy.model import (
    Backoff,
    Budget,
    JitterModel,
    MethodRule,
    RetryAfterRule,
    RetryOn,
    RetryPolicy,
)

__all__ = [
    "NGINX",
    "SETUPS",
    "Defect",
    "Kill",
    "Setup",
    "SimRun",
    "Traffic",
    "client_lines",
    "journal_lines",
    "simulate",
    "traffic_groups",
]


def traffic_groups(traffic: Traffic) -> list[RequestGroup]:
    """The request groups a simulated load sends, with their shares (for the planner)."""
    total = sum(traffic.methods.values())
    out = []
    for method, w in traffic.methods.items():
        keyed = traffic.idempotency_share  # the simulator keys any method
        for key, part in ((False, 1 - keyed), (True, keyed)):
            if part > 0:
                out.append(RequestGroup(method, traffic.path, key, w / total * part))
    return out


EPSILON_S = 0.002  # timing tolerance granted by the oracle in these tests
NOISE_S = 0.001  # measurement noise of the simulated SUT hops (below ε)


@dataclass(frozen=True)
class Setup:
    policy: RetryPolicy
    profile: FaultProfile
    traffic: Traffic


ENVOY = Setup(
    RetryPolicy(
        system="envoy",
        max_retries=3,
        retry_on=RetryOn(statuses=frozenset({503}), reset=True),
        # cap binds at retry 3: U[0,25ms), U[0,50ms), U[0,60ms)
        backoff=Backoff(base_s=0.025, multiplier=2, cap_s=0.06, jitter=JitterModel.FULL),
    ),
    FaultProfile(failure_rate=0.3, failure_status={503: 0.8, 500: 0.2}, reset_rate=0.05),
    Traffic(n_requests=1500, methods={"GET": 0.8, "POST": 0.2}),
)

KUBERAY = Setup(
    RetryPolicy(
        system="kuberay",
        max_retries=3,
        retry_on=RetryOn(statuses=frozenset({408, 429, 500, 502, 503, 504})),
        backoff=Backoff(base_s=0.5, multiplier=2, cap_s=10.0, integer_exponent=True),
        deadline_s=30.0,
        deadline_precheck=True,
        deadline_cuts_attempts=True,  # its request context cancels the attempt in flight
    ),
    FaultProfile(failure_rate=0.4, failure_status={503: 0.7, 404: 0.3}),
    Traffic(n_requests=1000, methods={"GET": 0.5, "POST": 0.5}),
)

KUBERAY_TIGHT = Setup(
    KUBERAY.policy.model_copy(update={"deadline_s": 1.2}),
    KUBERAY.profile,
    KUBERAY.traffic,
)

URLLIB3 = Setup(
    RetryPolicy(
        system="urllib3",
        max_retries=3,
        retry_on=RetryOn(statuses=frozenset({502, 503, 504})),
        methods=MethodRule(
            retryable=frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
        ),
        backoff=Backoff(base_s=0.1, multiplier=2, cap_s=120.0, first_retry_waits=False),
        retry_after=RetryAfterRule(
            honoured=True, statuses=frozenset({413, 429, 503}), max_s=21600, makes_retryable=True
        ),
    ),
    FaultProfile(
        failure_rate=0.35, failure_status={503: 0.4, 429: 0.2, 502: 0.2, 500: 0.2}, retry_after="1"
    ),
    Traffic(n_requests=1500, methods={"GET": 0.7, "POST": 0.3}),
)

BUDGETED = Setup(
    RetryPolicy(
        system="linkerd",
        max_retries=3,
        retry_on=RetryOn(statuses=frozenset({503})),
        budget=Budget(ratio=0.2, min_per_s=10.0, window_s=10.0),
    ),
    FaultProfile(failure_rate=0.5, failure_status={503: 1.0}),
    Traffic(n_requests=3000, rate_per_s=200.0),
)

SETUPS: dict[str, Setup] = {
    "envoy": ENVOY,
    "kuberay": KUBERAY,
    "kuberay_tight": KUBERAY_TIGHT,
    "urllib3": URLLIB3,
    "budgeted": BUDGETED,
}

# not in SETUPS (the false-failure and defect tables): used by the chaos (down window) tests
NGINX = Setup(
    RetryPolicy(
        system="nginx",
        max_retries=2,
        retry_on=RetryOn(statuses=frozenset({502, 503, 504}), connect_failure=True, reset=True),
        backoff=Backoff(base_s=0.0, multiplier=1.0),
        different_upstream=True,
        upstream_once=True,
    ),
    FaultProfile(failure_rate=0.2, failure_status={503: 1.0}),
    Traffic(n_requests=1500),
)

"""Every bound the harness puts on a child process or a wait: one model, named fields, seconds.

Modelled on the Gateway API conformance suite's ``TimeoutConfig``
(https://github.com/kubernetes-sigs/gateway-api/blob/main/conformance/utils/config/timeout.go):
one struct of named timeouts with documented defaults instead of literals scattered through
the code. The SUT's readiness bound is the one exception
the user sets per scenario (``sut.ready_timeout_s``); everything else is here.

The harness reads :data:`TIMEOUTS` at the moment it waits, so a test may replace it
(``monkeypatch.setattr(timeouts, "TIMEOUTS", TIMEOUTS.model_copy(update=...))``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Timeouts(BaseModel):
    """Named timeouts and poll intervals of process lifecycle and waiting (seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    term_grace_s: float = Field(
        default=5.0, gt=0, description="SIGTERM to SIGKILL: how long a process group may take"
    )
    kill_wait_s: float = Field(
        default=5.0, gt=0, description="After SIGKILL: how long to wait for the kernel to reap"
    )
    backend_ready_s: float = Field(
        default=15.0, gt=0, description="A backend replica's admin health check answers ok"
    )
    backend_container_ready_s: float = Field(
        default=30.0,
        gt=0,
        description="A backend container's admin health check answers ok (docker substrate)",
    )
    backend_stop_s: float = Field(
        default=10.0,
        gt=0,
        description="A replica's graceful stop (gunicorn finishes in-flight requests)",
    )
    substrate_backend_stop_s: float = Field(
        default=3.0,
        gt=0,
        description="A replica's graceful stop at the end of a run (journals already collected)",
    )
    counter_ready_s: float = Field(
        default=10.0, gt=0, description="redis-server (the shared attempt counter) accepts TCP"
    )
    locust_grace_s: float = Field(
        default=30.0,
        gt=0,
        description="Locust may run this long past the time cap plus one request timeout",
    )
    journal_settle_s: float = Field(
        default=5.0, gt=0, description="After the load: wait until no journal grows any more"
    )
    journal_settle_interval_s: float = Field(
        default=0.3, gt=0, description="How often the journals' size is compared"
    )
    load_watch_interval_s: float = Field(
        default=0.5, gt=0, description="How often a running load is checked and reported"
    )
    ready_poll_s: float = Field(
        default=0.05, gt=0, description="Interval between two readiness probes"
    )
    connect_s: float = Field(default=0.5, gt=0, description="One TCP connect of a readiness probe")
    probe_s: float = Field(default=2.0, gt=0, description="One HTTP readiness probe's answer")
    timing_probe_max_s: float = Field(
        default=600.0,
        gt=0,
        description="The timing probe's own bound (harness.substrates.gap_probe), beside its "
        "pair count; it is stopped with the load",
    )
    group_poll_s: float = Field(
        default=0.02, gt=0, description="Interval while waiting for a process group to be gone"
    )
    prometheus_ready_s: float = Field(
        default=30.0, gt=0, description="The run's Prometheus answers /-/ready"
    )
    prometheus_scrape_s: float = Field(
        default=10.0,
        gt=0,
        description="Every scrape target has a successful scrape later than a given moment",
    )
    prometheus_api_s: float = Field(default=10.0, gt=0, description="One Prometheus API call")


TIMEOUTS = Timeouts()
"""The timeouts in force (the defaults unless replaced)."""

"""What a SUT driver asks to start (:class:`LaunchPlan`), and running it until torn down.

The process lifecycle itself (own process group, readiness wait, SIGTERM then SIGKILL over the
tree, log tail in errors) is :mod:`harness.processes.child`'s; readiness of a SUT is "an HTTP
answer on its listen address" (:func:`harness.suts.network.http_ready`), then the plan's own
``ready_check`` when it has one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.processes.child import Child, running
from harness.suts.network import base_url, http_ready


@dataclass(frozen=True)
class LaunchPlan:
    """What a driver wants started: argv, environment, working directory and readiness path."""

    argv: list[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    probe_path: str = "/"
    config_path: Path | None = None  # the rendered config the SUT runs
    # Checked after the HTTP probe answers, until True (ready) or the deadline; for SUTs that
    # answer before their routes are loaded (Traefik's file provider). May raise BadInput.
    ready_check: Callable[[], bool] | None = None
    metrics_hostport: str | None = None  # where the SUT's own Prometheus metrics are served
    # its metrics' upstream keys (harness/telemetry/readers) -> replica name ("r0", ...)
    metrics_upstreams: Mapping[str, str] | None = None


@contextlib.contextmanager
def running_process(
    plan: LaunchPlan,
    *,
    name: str,
    listen: tuple[str, int],
    log_path: Path,
    ready_timeout_s: float,
) -> Iterator[tuple[Child, str]]:
    """Start the plan, wait until it answers HTTP on ``listen`` and passes its ``ready_check``
    (bounded by ``ready_timeout_s``), yield ``(child, base_url)``; always tear down. Raises
    ``RunFailed`` (with the log tail) when it cannot start, exits first or is not ready in time."""
    host, port = listen
    answered = False

    def ready() -> bool:
        nonlocal answered
        answered = answered or http_ready(host, port, plan.probe_path)
        return answered and (plan.ready_check is None or plan.ready_check())

    with running(
        plan.argv,
        name=name,
        log_path=log_path,
        env=plan.env,
        cwd=plan.cwd,
        ready=ready,
        ready_timeout_s=ready_timeout_s,
    ) as child:
        yield child, base_url(listen)

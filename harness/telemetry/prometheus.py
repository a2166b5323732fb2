"""A real Prometheus for one run: its config, its process, and the few HTTP API calls we make.

The harness starts Debian's ``prometheus`` (2.42 on bookworm) on 127.0.0.1 with a throw-away
TSDB, scraping the SUT's exporter and the backends' ``/metrics`` every second, with the user's
alert rules loaded (evaluated every second). After the load it asks Prometheus over its HTTP API
(https://prometheus.io/docs/prometheus/2.42/querying/api/) for instant values at the run's edges
and for the ``ALERTS`` series over the run; nothing is faked or parsed from its files.

Errors: a missing binary is :class:`~harness.errors.BadInput` with the install command (raised
before anything starts, by :func:`find_prometheus`); a Prometheus that does not become ready, or
an API call that fails, is :class:`~harness.errors.RunFailed`.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from harness.errors import BadInput, RunFailed
from harness.processes import timeouts
from harness.processes.child import wait_until
from harness.suts.network import free_port
from harness.suts.process import LaunchPlan, running_process

INSTALL_HINT = "apt-get install prometheus"
SCRAPE_INTERVAL_S = 1.0
API_TRIES = 3  # a query may meet Prometheus busy appending a scrape


@dataclass(frozen=True)
class ScrapeTarget:
    """One endpoint to scrape: ``job`` names it in the series (``job`` label)."""

    job: str
    hostport: str  # "127.0.0.1:PORT"
    path: str = "/metrics"
    bearer_token: str | None = None  # the backends' admin token, when they have one


def find_prometheus(field: str = "telemetry") -> tuple[str, str]:
    """Absolute paths of ``prometheus`` and ``promtool``; BadInput naming the install command."""
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    if prom is None or tool is None:
        raise BadInput(
            f"Prometheus is not installed (needed for the SUT's telemetry); run: {INSTALL_HINT}",
            field=field,
        )
    return prom, tool


def render_config(targets: Sequence[ScrapeTarget], rule_files: Sequence[Path]) -> str:
    """The ``prometheus.yml`` text: 1 s scrape and rule evaluation; targets grouped by job."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S:g}s",
            "scrape_timeout": f"{int(SCRAPE_INTERVAL_S * 900)}ms",
            "evaluation_interval": f"{SCRAPE_INTERVAL_S:g}s",
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [],
    }
    jobs: dict[tuple[str, str, str | None], list[str]] = {}
    for t in targets:
        jobs.setdefault((t.job, t.path, t.bearer_token), []).append(t.hostport)
    for (job, path, token), hostports in jobs.items():
        scrape: dict[str, Any] = {
            "job_name": job,
            "metrics_path": path,
            "static_configs": [{"targets": hostports}],
        }
        if token:
            scrape["authorization"] = {"type": "Bearer", "credentials": token}
        config["scrape_configs"].append(scrape)
    return yaml.safe_dump(config, sort_keys=False)


class PrometheusApi:
    """The HTTP API calls the telemetry check needs; every answer is checked for ``success``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def _get(self, path: str, params: dict[str, str]) -> Any:
        url = f"{self.base_url}{path}"

        def call() -> Any:
            answer = self._session.get(
                url, params=params, timeout=timeouts.TIMEOUTS.prometheus_api_s
            )
            return answer.json()

        try:
            body = Retrying(
                retry=retry_if_exception_type((requests.RequestException, ValueError)),
                stop=stop_after_attempt(API_TRIES),
                wait=wait_fixed(0.2),
                reraise=True,
            )(call)
        except (requests.RequestException, ValueError) as exc:
            raise RunFailed(f"prometheus: GET {path} failed: {exc}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            raise RunFailed(f"prometheus: GET {path} {params}: {body}")
        return body["data"]

    def instant(self, query: str, at: float) -> list[dict[str, Any]]:
        """``/api/v1/query`` at unix time ``at``: the vector's samples (``metric``, ``value``)."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        result: list[dict[str, Any]] = data["result"]
        return result

    def scalar(self, query: str, at: float) -> float | None:
        """The one value of ``query`` at ``at`` (sum it in PromQL first); None if no sample."""
        samples = self.instant(query, at)
        if not samples:
            return None
        return float(samples[0]["value"][1])

    def range(self, query: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        """``/api/v1/query_range``: one matrix entry per series (``metric``, ``values``)."""
        data = self._get(
            "/api/v1/query_range",
            {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"},
        )
        result: list[dict[str, Any]] = data["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``: the loaded rule groups (to check the user's rules were loaded)."""
        groups: list[dict[str, Any]] = self._get("/api/v1/rules", {})["groups"]
        return groups

    def wait_for_scrape_after(
        self,
        job: str,
        targets: int | None,
        after: float,
        timeout_s: float,
        *,
        require_up: bool = True,
    ) -> bool:
        """True once each of the ``targets`` targets of ``job`` has a scrape that started after
        ``after`` (``None``: targets discovered by Prometheus, at least one), successful for every
        target unless ``require_up`` is False (then a failed scrape of a dead target counts).

        Counting the ``up`` series matters: Prometheus spreads its targets' first scrapes over
        the interval, so a target not scraped yet has no series at all. ``timestamp()`` is
        applied to the selector itself: on an operator's result it gives the evaluation time.
        """

        def scraped() -> bool:
            now = time.time()
            stamps = self.instant(f'timestamp(up{{job="{job}"}})', now)
            ups = self.instant(f'up{{job="{job}"}}', now)
            return (
                (len(stamps) == targets if targets is not None else len(stamps) >= 1)
                and all(float(s["value"][1]) > after for s in stamps)
                and (not require_up or all(float(u["value"][1]) == 1 for u in ups))
            )

        return wait_until(scraped, timeout_s=timeout_s, interval_s=SCRAPE_INTERVAL_S / 4)


@contextlib.contextmanager
def running_prometheus(
    targets: Sequence[ScrapeTarget], rule_files: Sequence[Path], workdir: Path
) -> Iterator[PrometheusApi]:
    """Start Prometheus on a free loopback port, wait for ``/-/ready``, yield its API; stop it.

    Its config, log and TSDB live under ``workdir/prometheus/``; the TSDB is removed with the
    process (the answers the verdict needs are saved by the caller).
    """
    binary, _ = find_prometheus()
    home = workdir / "prometheus"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "prometheus.yml"
    config.write_text(render_config(targets, rule_files), encoding="utf-8")
    listen = ("127.0.0.1", free_port())
    plan = LaunchPlan(
        argv=[
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={home / 'tsdb'}",
            f"--web.listen-address={listen[0]}:{listen[1]}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ],
        cwd=home,
        probe_path="/-/ready",
    )
    try:
        with running_process(
            plan,
            name="prometheus",
            listen=listen,
            log_path=home / "prometheus.log",
            ready_timeout_s=timeouts.TIMEOUTS.prometheus_ready_s,
        ) as (_proc, url):
            yield PrometheusApi(url)
    finally:
        shutil.rmtree(home / "tsdb", ignore_errors=True)

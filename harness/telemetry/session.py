"""One run's telemetry session: Prometheus up around the load, the record taken at its end.

Use::

    with TelemetrySession(system, targets, rules, expect, workdir) as tel:
        tel.mark_start()          # after the SUT is ready, right before the load
        ...run the load...
        tel.mark_end()            # after the load and the backends' settling
        record = tel.record()     # saved as telemetry.json in the run folder

The run's edges are chosen so counters are compared exactly: ``mark_start`` waits for a scrape of
every job later than the moment it was called (nothing else is sending then), and ``mark_end``
waits for a scrape later than the end of the load, then for two rule evaluations so an alert
that the last samples trip is seen. Without Prometheus the session records why it was skipped
and the rest of the verdict stands.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

from harness.errors import BadInput, RunFailed
from harness.processes import timeouts
from harness.telemetry.logs import LOG_READERS
from harness.telemetry.prometheus import (
    INSTALL_HINT,
    SCRAPE_INTERVAL_S,
    PrometheusApi,
    ScrapeTarget,
    find_prometheus,
    running_prometheus,
)
from harness.telemetry.readers import BACKENDS, CounterMapping, TelemetryReader, reader_for
from harness.telemetry.readers.model import upstream_key
from harness.telemetry.record import AlertExpectation, AlertSpan, CounterSeries, TelemetryRecord
from harness.telemetry.rules import AlertRules

A = TypeVar("A")


def load_with_telemetry(
    substrate: object,
    run_load: Callable[[], A],
    *,
    system: str,
    rules: AlertRules | None,
    expect_alerts: Mapping[str, AlertExpectation],
    workdir: Path,
    why_not: str | None,
    log: Callable[[str], None],
) -> tuple[A, TelemetryRecord]:
    """``run_load()`` inside a telemetry session on ``substrate``: its result and the record."""
    with open_session(system, substrate, rules, expect_alerts, workdir, why_not=why_not) as session:
        jobs = sorted({t.job for t in session.targets})
        log(
            "telemetry: "
            + (session.skipped or f"Prometheus scrapes {' and '.join(jobs) or 'nothing'}")
            + (f"; {session.no_reader}" if session.no_reader and not session.skipped else "")
        )
        session.mark_start()
        artifacts = run_load()
        session.mark_end()
        return artifacts, session.record()


def open_session(
    system: str,
    substrate: object,
    rules: AlertRules | None,
    expect_alerts: Mapping[str, AlertExpectation],
    workdir: Path,
    *,
    why_not: str | None = None,
) -> TelemetrySession:
    """A session scraping ``substrate``'s processes; skipped (with the reason) when Prometheus
    or the substrate's metrics are not to be had, or ``why_not`` says so."""
    remote: InClusterPrometheus | None = getattr(substrate, "prometheus", None)
    sut = getattr(substrate, "sut", None)
    if remote is not None:
        return TelemetrySession(
            system,
            [],
            rules,
            expect_alerts,
            workdir,
            skipped=why_not or remote.why_not,
            remote=remote,
        )
    targets = scrape_targets(substrate)
    if isinstance(targets, str):
        why_not = why_not or targets
        targets = []
    return TelemetrySession(
        system,
        targets,
        rules,
        expect_alerts,
        workdir,
        skipped=why_not,
        sut_log=getattr(sut, "log_path", None),
        sut_upstreams=getattr(sut, "metrics_upstreams", None),
    )


@dataclass(frozen=True)
class InClusterPrometheus:
    """A Prometheus the substrate runs itself (a pod in kind), reached at ``url`` at the end.

    ``jobs``: its scrape jobs and how many targets each has (None: discovered in the cluster,
    at least one). ``sut_upstreams``: upstream key -> replica for the SUT's per-upstream
    counters. ``why_not``: why it is not there (the telemetry checks are then not judged).
    """

    url: str
    jobs: Mapping[str, int | None]
    sut_upstreams: Mapping[str, str] = field(default_factory=dict)
    why_not: str | None = None


def scrape_targets(substrate: object) -> list[ScrapeTarget] | str:
    """The run's scrape targets (the SUT's metrics, each replica's admin ``/metrics``), or why
    the substrate offers none (a substrate without ``sut``/``backends`` handles)."""
    sut = getattr(substrate, "sut", None)
    backends = getattr(substrate, "backends", None)
    if sut is None or backends is None:
        return f"the {type(substrate).__name__} does not expose its processes' metrics"
    targets = [ScrapeTarget("sut", sut.metrics_hostport)] if sut.metrics_hostport else []
    for handle in backends:
        admin = urlsplit(handle.admin_url)
        token = getattr(getattr(handle, "admin", None), "token", None)
        targets.append(ScrapeTarget("backends", admin.netloc, bearer_token=token))
    return targets


class TelemetrySession(contextlib.AbstractContextManager["TelemetrySession"]):
    def __init__(
        self,
        system: str,
        targets: Sequence[ScrapeTarget],
        rules: AlertRules | None,
        expect_alerts: Mapping[str, AlertExpectation],
        workdir: Path,
        *,
        skipped: str | None = None,
        sut_log: Path | None = None,
        sut_upstreams: Mapping[str, str] | None = None,
        remote: InClusterPrometheus | None = None,
    ) -> None:
        self.system = system
        self.targets = list(targets)
        self.rules = rules
        self.expect_alerts = dict(expect_alerts)
        self.workdir = workdir
        found = reader_for(system)
        self.no_reader = found if isinstance(found, str) else None
        self.readers: list[TelemetryReader] = [] if isinstance(found, str) else [found]
        self.readers.append(BACKENDS)
        self.remote = remote
        self.jobs: dict[str, int | None] = (
            dict(remote.jobs) if remote is not None else dict(Counter(t.job for t in self.targets))
        )
        self.sut_upstreams = dict(
            remote.sut_upstreams if remote is not None else (sut_upstreams or {})
        )
        scraped = set(self.jobs)
        unreachable = [r for r in self.readers if r.job not in scraped]
        if unreachable and not skipped:
            self.no_reader = (
                f"{', '.join(r.system for r in unreachable)}: its metrics endpoint is not "
                "reachable on this substrate (no scrape target), so its counters and alerts "
                "are not judged"
            )
        self.readers = [r for r in self.readers if r.job in scraped]
        self._stack = contextlib.ExitStack()
        self._api: PrometheusApi | None = None
        self.skipped = skipped
        self.sut_log = sut_log
        self.log_reader = LOG_READERS.get(system)
        self.start_s = 0.0
        self.end_s = 0.0
        self.down_at_end: dict[str, list[str]] = {}

    def __enter__(self) -> TelemetrySession:
        if self.skipped:
            return self
        if self.remote is not None:
            self._api = PrometheusApi(self.remote.url)
            return self
        try:
            find_prometheus()
        except BadInput:
            self.skipped = f"Prometheus is not installed; run: {INSTALL_HINT}"
            return self
        rule_files = [self.rules.write(self.workdir / "prometheus")] if self.rules else []
        self._api = self._stack.enter_context(
            running_prometheus(self.targets, rule_files, self.workdir)
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _wait_scraped(self, after: float, *, require_up: bool = True) -> None:
        assert self._api is not None
        for job, targets in sorted(self.jobs.items()):
            wait_s = timeouts.TIMEOUTS.prometheus_scrape_s
            if not self._api.wait_for_scrape_after(
                job, targets, after, wait_s, require_up=require_up
            ):
                where = (
                    f"its targets page: {self.remote.url}/targets"
                    if self.remote is not None
                    else self.workdir / "prometheus" / "prometheus.log"
                )
                raise RunFailed(
                    f"prometheus: no successful scrape of {job} within {wait_s:g} s; see {where}"
                )

    def mark_start(self) -> None:
        """Wait for a fresh scrape of every target; the run's counters start here."""
        now = time.time()
        if self._api is not None:
            self._wait_scraped(now)
        self.start_s = time.time()

    def mark_end(self) -> None:
        """Wait for a scrape later than the load's end (and two rule evaluations). A target down
        by then (a replica the scenario's chaos killed) counts as scraped and is recorded in
        ``down_at_end``: the counters of its job are not compared (inconclusive, with the
        targets named), and the rest of the verdict stands."""
        load_end = time.time()
        if self._api is not None:
            self._wait_scraped(load_end, require_up=False)
            now = time.time()
            for sample in self._api.instant("up == 0", now):
                labels = sample["metric"]
                job = labels.get("job", "?")
                self.down_at_end.setdefault(job, []).append(labels.get("instance", "?"))
            if self.rules is not None:
                time.sleep(2 * SCRAPE_INTERVAL_S)
        self.end_s = time.time()

    def record(self) -> TelemetryRecord:
        """Ask Prometheus for every counter and alert over [start_s, end_s]."""
        logged: dict[str, object] = {}
        if self.log_reader is not None and self.sut_log is not None:
            logged = {
                "log_retries": self.log_reader.retries_by_request(self.sut_log),
                "log_meaning": self.log_reader.meaning,
                "log_source": self.log_reader.source,
            }
        base = TelemetryRecord(
            system=self.system,
            skipped=self.skipped,
            no_reader=self.no_reader,
            start_s=self.start_s,
            end_s=self.end_s,
            rules_file=str(self.rules.source) if self.rules else None,
            down_at_end=self.down_at_end,
            alert_rules=list(self.rules.alerts) if self.rules else [],
            expect_alerts=self.expect_alerts,
            **logged,
        )
        if self._api is None:
            return base
        api = self._api
        counters = []
        for reader in self.readers:
            for mapping in reader.counters:
                counters.append(self._series(api, reader, mapping))
        alerts: list[AlertSpan] = []
        if self.rules is not None:
            firing = api.range(
                'ALERTS{alertstate="firing"}', self.start_s, self.end_s, SCRAPE_INTERVAL_S
            )
            for alert in firing:
                name = alert["metric"].get("alertname", "?")
                alerts.extend(_spans(name, [float(t) for t, _ in alert["values"]]))
        return base.model_copy(update={"counters": counters, "alerts": alerts})

    def _series(
        self, api: PrometheusApi, reader: TelemetryReader, mapping: CounterMapping
    ) -> CounterSeries:
        """One counter's answers: its course, its edges, and per upstream where it has them."""
        series = api.range(mapping.promql, self.start_s, self.end_s, SCRAPE_INTERVAL_S)
        values = [(float(t), float(v)) for t, v in series[0]["values"]] if series else []
        by_start: dict[str, float] = {}
        by_end: dict[str, float] = {}
        upstreams: dict[str, str] = {}
        if mapping.per_upstream is not None:
            labels = mapping.upstream_labels
            for at, into in ((self.start_s, by_start), (self.end_s, by_end)):
                for sample in api.instant(mapping.per_upstream, at):
                    into[upstream_key(sample["metric"], labels)] = float(sample["value"][1])
            if reader.upstreams_are_replicas:
                upstreams = {key: key for key in {*by_start, *by_end}}
            else:
                upstreams = dict(self.sut_upstreams)
        return CounterSeries(
            name=mapping.name,
            job=reader.job,
            promql=mapping.promql,
            quantity=mapping.quantity,
            includes_probes=mapping.includes_probes,
            meaning=mapping.meaning,
            source=mapping.source,
            start=api.scalar(mapping.promql, self.start_s),
            end=api.scalar(mapping.promql, self.end_s),
            values=values,
            always_exported=mapping.always_exported,
            upstream_labels=list(mapping.upstream_labels),
            upstreams=upstreams,
            start_by_upstream=by_start,
            end_by_upstream=by_end,
        )


def _spans(alert: str, times: list[float]) -> list[AlertSpan]:
    """Consecutive evaluation times (one scrape interval apart) merged into firing spans."""
    spans: list[AlertSpan] = []
    for t in sorted(times):
        if spans and t - spans[-1].end_s <= 1.5 * SCRAPE_INTERVAL_S:
            spans[-1] = spans[-1].model_copy(update={"end_s": t})
        else:
            spans.append(AlertSpan(alert=alert, start_s=t, end_s=t))
    return spans

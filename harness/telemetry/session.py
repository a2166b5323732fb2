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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from harness.errors import BadInput, RunFailed
from harness.telemetry.prometheus import (
    INSTALL_HINT,
    SCRAPE_INTERVAL_S,
    PrometheusApi,
    ScrapeTarget,
    find_prometheus,
    running_prometheus,
)
from harness.telemetry.readers import BACKENDS, TelemetryReader, reader_for
from harness.telemetry.record import AlertExpectation, AlertSpan, CounterSeries, TelemetryRecord
from harness.telemetry.rules import AlertRules

SCRAPE_WAIT_S = 10.0


class TelemetrySession(contextlib.AbstractContextManager["TelemetrySession"]):
    def __init__(
        self,
        system: str,
        targets: Sequence[ScrapeTarget],
        rules: AlertRules | None,
        expect_alerts: Mapping[str, AlertExpectation],
        workdir: Path,
    ) -> None:
        self.system = system
        self.targets = list(targets)
        self.rules = rules
        self.expect_alerts = dict(expect_alerts)
        self.workdir = workdir
        found = reader_for(system)
        self.readers: list[TelemetryReader] = [r for r in (found,) if not isinstance(found, str)]
        self.no_reader = found if isinstance(found, str) else None
        self.readers.append(BACKENDS)
        self._stack = contextlib.ExitStack()
        self._api: PrometheusApi | None = None
        self.skipped: str | None = None
        self.start_s = 0.0
        self.end_s = 0.0

    def __enter__(self) -> TelemetrySession:
        try:
            find_prometheus()
        except BadInput:
            self.skipped = f"Prometheus is not installed; run: {INSTALL_HINT}"
            return self
        rule_files = [self.rules.plain] if self.rules else []
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

    def _wait_scraped(self, after: float) -> None:
        assert self._api is not None
        for job in sorted({t.job for t in self.targets}):
            if not self._api.wait_for_scrape_after(job, after, SCRAPE_WAIT_S):
                raise RunFailed(
                    f"prometheus: no successful scrape of {job} within {SCRAPE_WAIT_S:g} s; "
                    f"see {self.workdir / 'prometheus' / 'prometheus.log'}"
                )

    def mark_start(self) -> None:
        """Wait for a fresh scrape of every target; the run's counters start here."""
        now = time.time()
        if self._api is not None:
            self._wait_scraped(now)
        self.start_s = time.time()

    def mark_end(self) -> None:
        """Wait for a scrape later than the load's end (and two rule evaluations)."""
        load_end = time.time()
        if self._api is not None:
            self._wait_scraped(load_end)
            if self.rules is not None:
                time.sleep(2 * SCRAPE_INTERVAL_S)
        self.end_s = time.time()

    def record(self) -> TelemetryRecord:
        """Ask Prometheus for every counter and alert over [start_s, end_s]."""
        base = TelemetryRecord(
            system=self.system,
            skipped=self.skipped,
            no_reader=self.no_reader,
            start_s=self.start_s,
            end_s=self.end_s,
            rules_file=str(self.rules.source) if self.rules else None,
            alert_rules=list(self.rules.alerts) if self.rules else [],
            expect_alerts=self.expect_alerts,
        )
        if self._api is None:
            return base
        api = self._api
        counters = []
        for reader in self.readers:
            for mapping in reader.counters:
                series = api.range(mapping.promql, self.start_s, self.end_s, SCRAPE_INTERVAL_S)
                values = [(float(t), float(v)) for t, v in series[0]["values"]] if series else []
                counters.append(
                    CounterSeries(
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
                    )
                )
        alerts: list[AlertSpan] = []
        if self.rules is not None:
            firing = api.range(
                'ALERTS{alertstate="firing"}', self.start_s, self.end_s, SCRAPE_INTERVAL_S
            )
            for series in firing:
                name = series["metric"].get("alertname", "?")
                alerts.extend(_spans(name, [float(t) for t, _ in series["values"]]))
        return base.model_copy(update={"counters": counters, "alerts": alerts})


def _spans(alert: str, times: list[float]) -> list[AlertSpan]:
    """Consecutive evaluation times (one scrape interval apart) merged into firing spans."""
    spans: list[AlertSpan] = []
    for t in sorted(times):
        if spans and t - spans[-1].end_s <= 1.5 * SCRAPE_INTERVAL_S:
            spans[-1] = spans[-1].model_copy(update={"end_s": t})
        else:
            spans.append(AlertSpan(alert=alert, start_s=t, end_s=t))
    return spans

"""``telemetry.json``: what Prometheus answered during one run, saved in the run folder.

The telemetry check and the alert check are pure functions of this record and the journals, so
``retry-harness verify RUN_DIR`` recomputes them offline like every other check. Times are unix
seconds (wall clock, the clock the journals use); counter values are Prometheus sample values.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.telemetry.readers import Quantity

TELEMETRY_FILE = "telemetry.json"
RECORD_VERSION = 1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertExpectation(StrEnum):
    """What the scenario says an alert of the user's rules must do during the run."""

    FIRES = "fires"
    QUIET = "quiet"


class CounterSeries(Frozen):
    """One counter mapping's answers: its value at the run's edges and its course in between."""

    name: str
    job: str
    promql: str
    quantity: Quantity | None = Field(description="None: reported only (no journal row for it)")
    includes_probes: bool = False
    meaning: str = ""
    source: str = ""
    start: float | None = Field(description="Value at start_s (None: no sample)")
    end: float | None = Field(description="Value at end_s, after a scrape later than the load")
    values: list[tuple[float, float]] = Field(
        default_factory=list, description="(unix s, value) every scrape interval over the run"
    )
    always_exported: bool = Field(
        default=False, description="No series at either edge means the selector matched nothing"
    )
    upstream_labels: list[str] = Field(
        default_factory=list, description="Labels naming one upstream (empty: total only)"
    )
    upstreams: dict[str, str] = Field(
        default_factory=dict,
        description="Upstream key (label values joined with '/') -> the journal's replica name",
    )
    start_by_upstream: dict[str, float] = Field(
        default_factory=dict, description="Value per upstream key at start_s"
    )
    end_by_upstream: dict[str, float] = Field(
        default_factory=dict, description="Value per upstream key at end_s"
    )


class AlertSpan(Frozen):
    """An alert of the user's rules in state ``firing`` from ``start_s`` to ``end_s``."""

    alert: str
    start_s: float
    end_s: float


class TelemetryRecord(Frozen):
    version: int = RECORD_VERSION
    system: str
    skipped: str | None = Field(
        default=None, description="Why nothing was scraped (e.g. Prometheus not installed)"
    )
    no_reader: str | None = Field(
        default=None, description="Why the SUT's own counters are not compared"
    )
    start_s: float = 0.0
    end_s: float = 0.0
    counters: list[CounterSeries] = Field(default_factory=list)
    down_at_end: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Scrape job -> its targets down at end_s (their counters are lost)",
    )
    rules_file: str | None = None
    alert_rules: list[str] = Field(default_factory=list, description="Alert names loaded")
    alerts: list[AlertSpan] = Field(default_factory=list)
    expect_alerts: dict[str, AlertExpectation] = Field(default_factory=dict)
    log_retries: dict[str, int] | None = Field(
        default=None,
        description="Retry lines per request id in the SUT's log (systems that log retries)",
    )
    log_meaning: str = ""
    log_source: str = ""

    def save(self, run_dir: Path) -> Path:
        path = run_dir / TELEMETRY_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def load_record(run_dir: Path) -> TelemetryRecord | None:
    """The run's telemetry record, or None when the run had no ``telemetry:`` section."""
    path = run_dir / TELEMETRY_FILE
    if not path.exists():
        return None
    return TelemetryRecord.model_validate_json(path.read_text(encoding="utf-8"))

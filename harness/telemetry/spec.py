"""The scenario's ``telemetry:`` section and its checks before anything starts.

```yaml
telemetry:
  rules: alerts/retry-rate.yaml      # optional: Prometheus rules or a PrometheusRule manifest
  expect_alerts: {HighRetryRate: fires, LowRetrySuccess: quiet}
```

With the section present the run starts Prometheus (harness/telemetry/session.py); without the
``prometheus`` binary the telemetry checks are reported as not judged with the install command
and the rest of the verdict stands. A rules file is checked with ``promtool check rules`` and every
name in ``expect_alerts`` must be an alert it defines: both are bad input (exit 2) before the run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import BadInput
from harness.telemetry.record import AlertExpectation
from harness.telemetry.rules import AlertRules, load_rules


class TelemetrySpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: Path | None = Field(
        default=None,
        description="Alert rules to evaluate during the run (relative to the scenario file): a "
        "Prometheus rules file or a PrometheusRule manifest",
    )
    expect_alerts: dict[str, AlertExpectation] = Field(
        default_factory=dict,
        description="Alert name -> 'fires' (must fire during the run) or 'quiet' (must not)",
    )

    @model_validator(mode="after")
    def _rules_for_expectations(self) -> TelemetrySpec:
        if self.expect_alerts and self.rules is None:
            raise ValueError("expect_alerts needs a rules file (telemetry.rules)")
        return self


def prepare_rules(
    spec: TelemetrySpec, *, scenario_file: Path | None, base_dir: Path | None
) -> tuple[AlertRules | None, str | None]:
    """Check the rules file and the expectations; ``(rules, why_not)`` where ``why_not`` says
    why the rules cannot be evaluated here (Prometheus missing). Raises BadInput naming the
    scenario file and field for everything the user must fix."""
    if spec.rules is None:
        return None, None
    path = spec.rules if spec.rules.is_absolute() else (base_dir or Path.cwd()) / spec.rules
    if not path.is_file():
        raise BadInput(f"no such rules file: {path}", file=scenario_file, field="telemetry.rules")
    from harness.telemetry.prometheus import find_prometheus  # imports requests: only when used

    try:
        _, promtool = find_prometheus("telemetry.rules")
    except BadInput as missing:
        return None, missing.reason
    rules = load_rules(path, promtool)
    unknown = sorted(set(spec.expect_alerts) - set(rules.alerts))
    if unknown:
        raise BadInput(
            f"{', '.join(unknown)} not defined in {path.name}; its alerts: "
            f"{', '.join(rules.alerts)}",
            file=scenario_file,
            field="telemetry.expect_alerts",
        )
    return rules, None

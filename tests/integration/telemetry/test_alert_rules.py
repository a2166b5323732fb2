"""Alert rules through the real CLI and real runs: a malformed rules file is refused before
anything starts; HighRetryRate fires during the retry storm and stays quiet under steady load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.oracle.verdict import Outcome
from harness.run import run_scenario
from tests.integration.cli.helpers import (
    REPO,
    assert_nothing_left,
    error_line,
    run_cli,
    tiny_scenario,
    write_scenario,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("promtool") is None or shutil.which("haproxy") is None,
        reason="needs prometheus (apt-get install prometheus) and haproxy",
    ),
]

RULES = """groups:
  - name: g
    rules:
      - alert: HighRetryRate
        expr: sum(rate(haproxy_backend_retry_warnings_total[5s])) > 1
"""


@pytest.mark.parametrize(
    ("rules", "expect", "said"),
    [
        (
            RULES.replace("> 1", "> > 1"),
            {"HighRetryRate": "fires"},
            "promtool check rules refused it",
        ),
        (RULES, {"HighRetyRate": "fires"}, "telemetry.expect_alerts: HighRetyRate not defined"),
        ("groups: {}\n", {}, "groups: must be a non-empty list of rule groups"),
    ],
)
def test_bad_rules_are_refused_before_anything_starts(
    tmp_path: Path, rules: str, expect: dict[str, str], said: str
) -> None:
    (tmp_path / "rules.yaml").write_text(rules)
    telemetry: dict[str, object] = {"rules": "rules.yaml"}
    if expect:
        telemetry["expect_alerts"] = expect
    scenario = write_scenario(tmp_path, tiny_scenario("bad-rules", telemetry=telemetry))
    result = run_cli("run", scenario, "--report-dir", tmp_path / "report", "--quiet")
    assert result.returncode == 2, result.stderr
    assert said in error_line(result)
    assert not (tmp_path / "report").exists()  # refused before the run folder, before any process
    assert_nothing_left(str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "fired"), [("retry-storm.yaml", True), ("haproxy.yaml", False)]
)
def test_retry_rate_alert_fires_in_the_storm_and_not_in_steady_load(
    tmp_path: Path, scenario: str, fired: bool
) -> None:
    verdict = run_scenario(
        REPO / "scenarios" / scenario, report_dir=tmp_path, formats=("json",)
    ).verdict
    by_name = {c.name: c for c in verdict.checks}
    assert by_name["telemetry"].outcome is Outcome.PASS, by_name["telemetry"].evidence
    alerts = by_name["alerts"]
    assert alerts.outcome is Outcome.PASS, alerts.evidence
    spans = alerts.data["spans"]
    assert bool(spans) is fired, alerts.evidence

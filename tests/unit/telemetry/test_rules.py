"""Alert rules: both file formats, promtool's refusal, and the scenario's expectations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.telemetry.rules import load_rules
from harness.telemetry.spec import TelemetrySpec, prepare_rules

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed: apt-get install prometheus"
)

PLAIN = """groups:
  - name: g
    rules:
      - alert: HighRetryRate
        expr: sum(rate(haproxy_backend_retry_warnings_total[5s])) > 1
"""
MANIFEST = """apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: retries}
spec:
  groups:
    - name: g
      rules:
        - alert: LowRetrySuccess
          expr: vector(1) > 0
"""


@needs_promtool
@pytest.mark.parametrize(
    ("text", "alert"), [(PLAIN, "HighRetryRate"), (MANIFEST, "LowRetrySuccess")]
)
def test_both_formats_load(tmp_path: Path, text: str, alert: str) -> None:
    source = tmp_path / "rules.yaml"
    source.write_text(text)
    rules = load_rules(source, PROMTOOL or "")
    assert rules.alerts == (alert,)
    assert "groups:" in rules.write(tmp_path / "work").read_text()


@needs_promtool
def test_a_malformed_expression_is_refused_with_promtools_words(tmp_path: Path) -> None:
    source = tmp_path / "rules.yaml"
    source.write_text(PLAIN.replace("> 1", "> > 1"))
    with pytest.raises(BadInput) as err:
        load_rules(source, PROMTOOL or "")
    assert str(err.value).startswith(f"{source}: promtool check rules refused it:")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("groups: []\n", "groups: must be a non-empty list"),
        ("- a\n", "must be a Prometheus rules file"),
    ],
)
def test_not_a_rules_file(tmp_path: Path, text: str, said: str) -> None:
    source = tmp_path / "rules.yaml"
    source.write_text(text)
    with pytest.raises(BadInput, match=said):
        load_rules(source, PROMTOOL or "promtool")


@needs_promtool
def test_an_expected_alert_the_rules_lack_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(PLAIN)
    spec = TelemetrySpec(rules=Path("rules.yaml"), expect_alerts={"Typo": "fires"})  # type: ignore[dict-item]
    with pytest.raises(BadInput) as err:
        prepare_rules(spec, scenario_file=tmp_path / "s.yaml", base_dir=tmp_path)
    assert (
        "telemetry.expect_alerts: Typo not defined in rules.yaml; its alerts: HighRetryRate"
        in str(err.value)
    )


def test_expectations_need_a_rules_file() -> None:
    with pytest.raises(ValueError, match="expect_alerts needs a rules file"):
        TelemetrySpec(expect_alerts={"A": "fires"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        ("groups:\n  - name: g\n    rules: [unclosed\n", 4, "malformed YAML"),
        ("groups: []\ngroups: []\n", 2, "duplicate key 'groups'"),
        ("groups: []\n---\ngroups: []\n", 3, "expected one YAML document, found 2"),
    ],
)
def test_malformed_yaml_names_file_and_line(
    tmp_path: Path, text: str, line: int, said: str
) -> None:
    source = tmp_path / "rules.yaml"
    source.write_text(text)
    with pytest.raises(BadInput, match=said) as err:
        load_rules(source, PROMTOOL or "promtool")
    assert err.value.file == str(source) and err.value.line == line, str(err.value)

"""The proxy deadline scenario (tests/scenarios/retrying_proxy/deadline.yaml) against the real
retrying proxy (tests/support/retrying_proxy.py, a real process on 127.0.0.1, Locust): the
correct proxy is conformant with its deadline judged, and a proxy that ignores its overall
deadline is a violation found by ``overall_deadline`` at the scenario's size (issue 8: a defect
is caught at the planned size; limits.yaml sends too few requests into its deadline for that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.cli.helpers import REPO, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = REPO / "tests" / "scenarios" / "retrying_proxy" / "deadline.yaml"
PROXY = REPO / "tests" / "support" / "retrying_proxy.py"
EXIT_OK, EXIT_VIOLATION = 0, 1


def _run(tmp_path: Path, seed: int, defect: str | None = None) -> tuple[int, dict[str, Any]]:
    doc = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    scenario = tmp_path / "deadline.yaml"
    doc["sut"]["command"] = (
        f"{{python}} {PROXY} --listen {{listen}} --upstreams {{upstreams}} --scenario {scenario}"
        + (f" --defect {defect}" if defect else "")
    )
    if defect:
        doc["name"] = f"{doc['name']}-{defect}"
        doc["expect"] = "violation"
    scenario.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(
        "run", scenario, "--seed", str(seed), "--report-dir", out, "--quiet", timeout=300
    )
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads((out / "verdict.json").read_text())


def _outcomes(verdict: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in verdict["checks"]}


def test_the_correct_proxy_passes_with_its_deadline_judged(tmp_path: Path) -> None:
    code, verdict = _run(tmp_path, seed=11)
    assert code == EXIT_OK, [c["summary"] for c in verdict["checks"] if c["outcome"] != "pass"]
    assert _outcomes(verdict)["overall_deadline"] == "pass"


def test_ignoring_the_deadline_is_caught_by_overall_deadline(tmp_path: Path) -> None:
    code, verdict = _run(tmp_path, seed=11, defect="ignore_deadline")
    assert code == EXIT_VIOLATION
    assert _outcomes(verdict)["overall_deadline"] == "fail"

"""``retry-harness run`` exit codes 0 (conformant), 1 (violation) and 3 (inconclusive), its
reports (verdict.json, junit.xml, report.html) and ``verify RUN_DIR`` recomputing the verdict.

One conformant run is shared by several tests (a module-scoped fixture): each Locust run costs
a few seconds of start-up.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import (
    assert_nothing_left,
    kill_leftovers,
    run_cli,
    tiny_scenario,
    write_scenario,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Run:
    scenario: Path
    report: Path
    result: subprocess.CompletedProcess[str]

    @property
    def verdict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report / "verdict.json").read_text())
        return data

    def outcomes(self) -> dict[str, str]:
        return {c["name"]: c["outcome"] for c in self.verdict["checks"]}


def _run(folder: Path, data: dict[str, Any], *extra: str) -> Run:
    scenario = write_scenario(folder, data)
    report = folder / "report"
    try:
        # A relative --report-dir, from another working directory: Locust runs inside the run
        # folder, so every path the run hands it must have been made absolute first.
        result = run_cli("run", scenario, "--report-dir", "report", *extra, cwd=folder)
        assert "Traceback" not in result.stderr, result.stderr
        assert_nothing_left(str(folder))
    finally:
        kill_leftovers(str(folder))
    return Run(scenario, report, result)


@pytest.fixture(scope="module")
def conformant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tiny_scenario("tiny-conformant")
    data["load"]["requests"] = 150
    yield _run(tmp_path_factory.mktemp("conformant"), data)


def test_conformant_run_exits_0(conformant: Run) -> None:
    assert conformant.result.returncode == 0, conformant.result.stderr
    verdict = conformant.verdict
    assert verdict["outcome"] == "pass"
    assert verdict["traces"] == 150 and verdict["client_records"] == 150
    judged = {n: o for n, o in conformant.outcomes().items() if o != "not_applicable"}
    assert judged and set(judged.values()) == {"pass"}, judged
    assert {"attempts_bound", "retry_when_due", "success_rate"} <= set(judged)
    assert "fault_audit" not in conformant.outcomes()  # checks.skip is honoured
    stderr = conformant.result.stderr
    assert f"run folder (for 'retry-harness verify'): {conformant.report / 'run'}" in stderr


def test_reports_exist_and_junit_has_one_testcase_per_check(conformant: Run) -> None:
    names = [c["name"] for c in conformant.verdict["checks"]]
    root = ET.parse(conformant.report / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    assert [c.get("name") for c in cases] == names
    assert not [c for c in cases if c.find("failure") is not None or c.find("error") is not None]


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.images += tag == "img"
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "data")]


def test_html_report_is_self_contained(conformant: Run) -> None:
    text = (conformant.report / "report.html").read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    external = [r for r in parser.refs if not r.startswith(("data:", "#"))]
    assert not external, external
    assert parser.images >= 1  # the plots are embedded
    assert "@import" not in text and "url(http" not in text
    assert "tiny-conformant" in text


def test_verify_recomputes_the_same_verdict(conformant: Run, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = run_cli("verify", conformant.report / "run", "--report-dir", again)
    assert result.returncode == 0, result.stderr
    first, second = conformant.verdict, json.loads((again / "verdict.json").read_text())
    assert first.keys() == second.keys()
    for key in first:
        if key != "checks":
            assert first[key] == second[key], key
    assert [c["name"] for c in first["checks"]] == [c["name"] for c in second["checks"]]
    for a, b in zip(first["checks"], second["checks"], strict=True):
        assert a == b, a["name"]


def test_verify_of_a_folder_that_is_no_run_is_bad_input(tmp_path: Path) -> None:
    result = run_cli("verify", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'run.json'}: missing run file (expected run.json in a run folder)"
    ]


def test_violation_exits_1(tmp_path: Path) -> None:
    # HAProxy retries 3 times; the declared (inline) policy allows 1 retry.
    inline = {
        "max_retries": 1,
        "retry_on": {"statuses": [502, 503, 504], "connect_failure": True},
        "backoff": {"base_s": 0.0},
    }
    run = _run(tmp_path, tiny_scenario("declares-one-retry", policy={"inline": inline}), "--quiet")
    assert run.result.returncode == 1, run.result.stderr
    assert run.result.stderr == ""
    assert run.verdict["outcome"] == "fail"
    bound = next(c for c in run.verdict["checks"] if c["name"] == "attempts_bound")
    assert bound["outcome"] == "fail"
    assert bound["request_ids"], bound  # the counter-examples are named
    root = ET.parse(run.report / "junit.xml").getroot()
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert "attempts_bound" in failed


def test_too_few_requests_is_inconclusive_exit_3(tmp_path: Path) -> None:
    data = tiny_scenario("too-small")
    data["load"]["requests"] = 40
    data["checks"] = {"detect": {"extra_retries": None, "success_rate_drop": 0.02}}
    plan = run_cli("plan", write_scenario(tmp_path, data))
    assert plan.returncode == 0 and "the scenario sends 40" in plan.stdout
    run = _run(tmp_path, data, "--quiet")
    assert run.result.returncode == 3, run.result.stderr
    assert run.verdict["outcome"] == "inconclusive"
    outcomes = run.outcomes()
    assert "fail" not in outcomes.values()
    small = [c for c in run.verdict["checks"] if c["outcome"] == "inconclusive"]
    assert small and all(c["summary"].startswith("below plan:") for c in small), small

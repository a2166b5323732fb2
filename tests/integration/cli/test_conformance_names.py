"""Two scenario files with the same ``name:``: the conformance table tells their rows apart by
file, and neither's reports overwrite the other's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli.helpers import (
    assert_nothing_left,
    run_cli,
    tiny_scenario,
    write_scenario,
)

pytestmark = pytest.mark.integration


def test_same_name_two_files_two_rows_two_report_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    first = write_scenario(tmp_path / "one", tiny_scenario("twin"), file="first.yaml")
    second = write_scenario(tmp_path / "two", tiny_scenario("twin", seed=6), file="second.yaml")
    reports = tmp_path / "reports"
    done = run_cli("conformance", first, second, "--report-dir", reports, timeout=300)
    assert done.returncode in (0, 3), done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if "twin" in line]
    assert any("twin (first.yaml)" in r for r in rows), done.stdout
    assert any("twin (second.yaml)" in r and "reports in" in r for r in rows), done.stdout
    for folder in ("twin", "twin-2"):
        assert json.loads((reports / folder / "verdict.json").read_text())["scenario"] == "twin"
    copies = {(reports / f / "run" / "scenario.yaml").read_text() for f in ("twin", "twin-2")}
    assert copies == {first.read_text(), second.read_text()}  # each run kept its own
    assert_nothing_left(str(tmp_path))

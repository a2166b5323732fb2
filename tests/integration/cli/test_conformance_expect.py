"""A showcase names the checks it must fail: conformance fails it when another check fails
instead (a harness false failure would otherwise pass as "expected violation")."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.integration.cli.helpers import REPO, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _copy(tmp_path: Path, must: list[str], may: list[str]) -> Path:
    data = yaml.safe_load((REPO / "scenarios" / "deadline.yaml").read_text())
    data["sut"]["config"] = str(REPO / "scenarios" / data["sut"]["config"])
    data["expect_failing"] = must
    data["expect_may_fail"] = may
    path = tmp_path / "showcase.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_named_finding_passes_and_another_failing_check_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the table's detail cells on one line each
    good = _copy(tmp_path, ["overall_deadline"], [])
    done = run_cli("conformance", good, "--report-dir", tmp_path / "a", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed: overall_deadline" in " ".join(done.stdout.split())
    wrong = _copy(tmp_path, ["attempts_bound"], [])
    done = run_cli("conformance", wrong, "--report-dir", tmp_path / "b", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    text = " ".join(done.stdout.split())
    assert (
        "NONE of attempts_bound failed" in text and "failed unexpectedly: overall_deadline" in text
    )
    # the finding may show in one of several checks: one of them failing is enough
    either = _copy(tmp_path, ["attempts_bound", "overall_deadline"], [])
    done = run_cli("conformance", either, "--report-dir", tmp_path / "c", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_expect_failing_needs_expect_violation_and_known_checks(tmp_path: Path) -> None:
    path = _copy(tmp_path, ["overall_deadline"], [])
    data = yaml.safe_load(path.read_text())
    data["expect"] = "conformant"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = run_cli("plan", path)
    assert done.returncode == 2 and "expect_failing" in done.stderr
    data["expect"] = "violation"
    data["expect_failing"] = ["overall_deadlin"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = run_cli("run", path, "--report-dir", tmp_path / "c")
    assert done.returncode == 2 and "unknown check(s) overall_deadlin" in done.stderr

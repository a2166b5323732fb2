"""The GitHub workflows, validated offline: the workflow JSON Schema (check-jsonschema's
vendored copy) and actionlint when it is installed (``bash .ci/install-go-tools actionlint``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
KITS = sorted(p.parent.name for p in (ROOT / "scenarios" / "kits").glob("*/scenario.yaml"))


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"conformance.yml", "tests.yml"}


def _check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its vendored GitHub workflow schema (offline)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_workflows_match_the_github_workflow_schema() -> None:
    done = _check_jsonschema(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_fails_the_schema(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    data["jobs"]["tests"]["stepz"] = data["jobs"]["tests"].pop("steps")
    bad.write_text(yaml.safe_dump(data))
    done = _check_jsonschema(bad)
    assert done.returncode == 1 and "stepz" in done.stdout


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    actionlint = shutil.which("actionlint") or shutil.which(str(Path.home() / "go/bin/actionlint"))
    if actionlint is None:
        pytest.skip("actionlint not on PATH (bash .ci/install-go-tools actionlint)")
    return subprocess.run(
        [actionlint, "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_actionlint() -> None:
    done = _actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_wrong_matrix_key(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "conformance.yml"
    bad.parent.mkdir(parents=True)
    text = (ROOT / ".github" / "workflows" / "conformance.yml").read_text()
    bad.write_text(text.replace("${{ matrix.kit }}/scenario", "${{ matrix.kitt }}/scenario"))
    done = _actionlint(bad)
    assert done.returncode == 1 and "kitt" in done.stdout


def test_conformance_matrix_covers_every_kit() -> None:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "conformance.yml").read_text())
    job = data["jobs"]["kind"]
    assert sorted(job["strategy"]["matrix"]["kit"]) == KITS
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "nox -s kind -- scenarios/kits/${{ matrix.kit }}/scenario.yaml" in runs
    assert "install-go-tools kind" in runs
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "reports/"


def test_tests_workflow_runs_the_readme_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    runs = [step.get("run", "") for step in data["jobs"]["tests"]["steps"]]
    assert "nox -s lint tests" in runs
    assert "nox -s tests" in readme


def test_kind_pin_is_the_one_ci_installs() -> None:
    from harness.substrates.kind_tools import KIND_VERSION

    script = ROOT / ".ci" / "install-go-tools"
    if not script.exists():
        pytest.skip(".ci/install-go-tools is not in this tree")
    assert f"[kind]={KIND_VERSION}" in script.read_text()

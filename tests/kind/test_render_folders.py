"""What ``--render DIR`` copies of a kit: its own folder and the sibling kits it builds on, never
the rest of the kit's parent folder, and never into itself (a new user's finding: a render folder
inside the kit's parent was copied into itself without end, 5.6 GB in 20 s)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.scenario import load_scenario
from harness.substrates.kind_kit import kit_of
from harness.substrates.kind_render import kit_folders, render
from tests.kind.conftest import KIT_SCENARIOS

KITS = KIT_SCENARIOS[0].parent.parent


def _user_copy(tmp: Path, name: str) -> Path:
    """A user's copy of the shipped kits folder, with an unrelated file beside the kits."""
    root = tmp / "mine"
    shutil.copytree(KITS, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "unrelated-notes.txt").write_text("hi\n")
    return root / name / "scenario.yaml"


def test_a_kit_copies_itself_and_the_siblings_it_builds_on() -> None:
    assert [p.name for p in kit_folders(KITS / "envoy_gateway")] == ["envoy_gateway"]
    # httproute's kustomization builds on ../envoy_gateway/gateway
    assert [p.name for p in kit_folders(KITS / "httproute")] == ["envoy_gateway", "httproute"]


def test_render_copies_only_the_kit_folders(tmp_path: Path) -> None:
    scenario_file = _user_copy(tmp_path, "httproute")
    scenario = load_scenario(scenario_file)
    render(scenario, kit_of(scenario), tmp_path / "out", token="t")
    copied = sorted(p.name for p in (tmp_path / "out" / "kits").iterdir())
    assert copied == ["envoy_gateway", "httproute"]


@pytest.mark.parametrize("inside", ["render", "httproute/render"])
def test_a_render_folder_inside_a_copied_kit_folder_is_refused(tmp_path: Path, inside: str) -> None:
    scenario_file = _user_copy(tmp_path, "httproute")
    scenario = load_scenario(scenario_file)
    out = tmp_path / "mine" / inside
    if inside == "render":  # beside the kits, not inside one: allowed and bounded
        render(scenario, kit_of(scenario), out, token="t")
        assert sorted(p.name for p in (out / "kits").iterdir()) == ["envoy_gateway", "httproute"]
        return
    with pytest.raises(BadInput, match="inside the kit folder"):
        render(scenario, kit_of(scenario), out, token="t")
    assert not out.exists()


def test_render_refuses_a_rules_file_a_run_would_refuse(tmp_path: Path) -> None:
    """A new user's finding: --render wrote manifests for a rules file promtool refuses."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (Debian's prometheus package: bash .ci/bootstrap)")
    from harness.substrates.kind_run import render_only

    scenario_file = _user_copy(tmp_path, "envoy_gateway")
    scenario = load_scenario(scenario_file)
    assert scenario.telemetry is not None and scenario.telemetry.rules is not None
    rules = scenario.telemetry.rules
    rules = rules if rules.is_absolute() else scenario_file.parent / rules
    rules.write_text(rules.read_text().replace("expr: ", "expr: bogus( ", 1))
    with pytest.raises(BadInput) as err:
        render_only(scenario_file, tmp_path / "out", None)
    assert "unclosed left parenthesis" in str(err.value) or "promtool" in str(err.value)
    assert not (tmp_path / "out").exists()

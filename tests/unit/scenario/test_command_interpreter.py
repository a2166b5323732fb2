"""Every shipped or test scenario whose command SUT is a Python program runs it with
``{python}`` (the harness's own interpreter), not a bare ``python``: a bare one is whatever
PATH finds, and without the venv activated that one lacks the harness's packages
(``ModuleNotFoundError: No module named 'fake_backends'``)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[3]
COMMAND_SCENARIOS = sorted(
    str(p.relative_to(ROOT))
    for folder in ("scenarios", "tests/scenarios")
    for p in (ROOT / folder).rglob("*.yaml")
    if "\n  kind: command" in p.read_text(encoding="utf-8")
)


def test_the_proxy_scenarios_are_found() -> None:
    assert "scenarios/envoy-like.yaml" in COMMAND_SCENARIOS
    assert len(COMMAND_SCENARIOS) >= 7


@pytest.mark.parametrize("name", COMMAND_SCENARIOS)
def test_a_python_command_uses_the_harness_interpreter(name: str) -> None:
    sut = load_scenario(ROOT / name).sut
    program = shlex.split(getattr(sut, "command", ""))[0]
    assert not Path(program).name.startswith("python"), (
        f"{name}: sut.command starts with {program!r}; write {{python}} (the harness's own "
        "interpreter) so it runs without the venv on PATH"
    )

"""Every shipped scenario that fixes ``load.requests`` sends at least what its own sample plan
needs to conclude (``retry-harness plan``): a shipped example that is too small for its goals
ends inconclusive on a correct SUT, the first thing a new user runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run import preflight
from harness.scenario import load_scenario

SHIPPED = Path(__file__).resolve().parents[3] / "scenarios"
FIXED_SIZE = sorted(
    p.name
    for p in SHIPPED.glob("*.yaml")
    if load_scenario(p).load.requests is not None and load_scenario(p).load.duration_s is None
)


@pytest.mark.parametrize("name", FIXED_SIZE)
def test_a_shipped_scenario_sends_what_its_plan_needs(name: str) -> None:
    scenario, _, planned = preflight(SHIPPED / name)
    assert scenario.load.requests is not None
    needed = planned.requests_to_conclude()
    assert scenario.load.requests >= needed, (
        f"{name}: load.requests {scenario.load.requests} < {needed} the plan needs to conclude"
    )


def test_nginx_round_robin_is_sized_by_its_plan() -> None:
    scenario, _, planned = preflight(SHIPPED / "nginx.yaml")
    sends = scenario.load.requests
    assert sends is None or sends >= planned.requests_to_conclude()

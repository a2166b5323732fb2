"""The run's sample plan covers every kind of request a load sends, each by its share."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run import declared_policy, request_groups, sample_plan
from harness.scenario import LoadSpec, load_scenario

SHIPPED = Path(__file__).resolve().parents[3] / "scenarios"


def test_groups_follow_the_locustfiles_draw() -> None:
    load = LoadSpec(
        requests=10, methods={"GET": 0.75, "POST": 0.25}, paths=["/a", "/b"], idempotency_keys=0.25
    )
    groups = {(m, p, k): share for m, p, k, share in request_groups(load)}
    assert groups[("GET", "/a", False)] == pytest.approx(0.375)
    assert ("GET", "/a", True) not in groups  # an idempotent method never carries a key
    assert groups[("POST", "/b", True)] == pytest.approx(0.25 / 2 * 0.25)
    assert groups[("POST", "/b", False)] == pytest.approx(0.25 / 2 * 0.75)
    assert sum(groups.values()) == pytest.approx(1.0)


def test_a_split_load_needs_more_requests_than_its_largest_group() -> None:
    scenario = load_scenario(SHIPPED / "post-idempotency.yaml")  # POST, half with a key
    policy = declared_policy(scenario).policy
    whole = sample_plan(scenario, policy)
    unsplit = scenario.model_copy(
        update={"load": scenario.load.model_copy(update={"idempotency_keys": 0.0})}
    )
    unsplit._base_dir, unsplit._source_file = scenario.base_dir, scenario.source_file
    one_group = sample_plan(unsplit, policy)
    # the success rate is judged per group: each half needs at least what the whole load
    # needed alone (a little more: two groups are two hypotheses under Holm's correction)
    assert whole.checks["success_rate"].requests >= 2 * one_group.checks["success_rate"].requests
    assert whole.checks["success_rate"].requests <= 2.2 * one_group.checks["success_rate"].requests
    # the fault audit judges the route's attempts, whatever the key: no split there (only the
    # stricter level of more hypotheses)
    audit_whole = whole.checks["fault_audit"].requests
    assert one_group.checks["fault_audit"].requests <= audit_whole
    assert audit_whole <= 1.1 * one_group.checks["fault_audit"].requests

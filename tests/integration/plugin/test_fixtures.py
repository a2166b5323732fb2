"""The pytest plugin from a user's point of view: test files that use ``flaky_backend``,
``retry_scenario``, ``assert_conformant`` and ``assert_check``, run by pytester in a fresh
pytest process (the plugin is found through its ``pytest11`` entry point, as after
``pip install``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.cli.helpers import assert_nothing_left, kill_leftovers

# In this module, not a conftest: pytest allows pytest_plugins only in the root conftest.
pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]

# Locust's own pytest plugin would monkey-patch this process with gevent (see pyproject addopts).
ARGS = ("-p", "no:locust", "-p", "no:cacheprovider")

USER_BACKEND_TEST = """
import requests

from fake_backends.profile import FaultProfile
from fake_backends.records import AttemptRecord


def test_my_client_sees_the_injected_faults(flaky_backend):
    backend = flaky_backend(FaultProfile(fail_first_n=2, fail_first_n_status=503))
    answers = []
    for _ in range(3):
        r = requests.get(backend.url + "/orders", headers={"X-Request-ID": "order-1"}, timeout=5)
        answers.append(r.status_code)
    assert answers == [503, 503, 200]
    journal = [AttemptRecord.model_validate(d) for d in backend.admin.iter_journal()]
    mine = [a for a in journal if a.request_id == "order-1"]
    assert [a.attempt for a in mine] == [0, 1, 2]
    assert [a.status for a in mine] == [503, 503, 200]
    assert {a.path for a in mine} == {"/orders"}
    assert backend.admin.stats().dropped == 0
"""

USER_SCENARIO_TEST = """
from pathlib import Path

import pytest

from harness.pytest_plugin import assert_check, assert_conformant

HERE = Path(__file__).parent


def test_proxy_is_conformant(retry_scenario):
    verdict = retry_scenario(HERE / "conformant.yaml")
    assert_conformant(verdict)
    assert_check(verdict, "attempts_bound")


def test_declared_policy_is_kept(retry_scenario):
    verdict = retry_scenario(HERE / "declares-one-retry.yaml")
    assert_check(verdict, "stop_on_success")  # passes: this part of the policy holds
    assert_check(verdict, "attempts_bound")  # fails: HAProxy retries up to 3 times
"""


def _scenario(name: str, **sections: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": name,
        "seed": 11,
        "backends": {"replicas": 1, "profile": {"failure_rate": 0.3, "failure_status": {503: 1}}},
        "sut": {"kind": "haproxy", "config": "haproxy.cfg"},
        "policy": {"source": {"system": "haproxy"}},
        "load": {"users": 4, "spawn_rate": 4, "requests": 100, "request_timeout_s": 5},
        "checks": {
            "detect": {"extra_retries": None, "success_rate_drop": 0.1, "delay_shortfall": None},
            "skip": ["fault_audit"],
        },
    }
    data.update(sections)
    return data


def test_flaky_backend_fixture_serves_faults_and_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_backend=USER_BACKEND_TEST)
    try:
        result = pytester.runpytest_subprocess(*ARGS, timeout=120)
        result.assert_outcomes(passed=1)
        assert_nothing_left(str(pytester.path))  # the fixture stopped the replica
    finally:
        kill_leftovers(str(pytester.path))


def test_retry_scenario_and_assertions(pytester: pytest.Pytester) -> None:
    shutil.copyfile(REPO / "scenarios" / "configs" / "haproxy.cfg", pytester.path / "haproxy.cfg")
    inline = {
        "max_retries": 1,
        "retry_on": {"statuses": [502, 503, 504], "connect_failure": True},
        "backoff": {"base_s": 0.0},
    }
    for name, data in (
        ("conformant", _scenario("plugin-conformant")),
        ("declares-one-retry", _scenario("plugin-violation", policy={"inline": inline})),
    ):
        (pytester.path / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    pytester.makepyfile(test_user_scenario=USER_SCENARIO_TEST)
    try:
        result = pytester.runpytest_subprocess(*ARGS, timeout=180)
        assert_nothing_left(str(pytester.path))
    finally:
        kill_leftovers(str(pytester.path))
    result.assert_outcomes(passed=1, failed=1)
    # The failure message of assert_check shows the check, its outcome, evidence and the
    # request ids of the counter-examples; the passing assert_check before it said nothing.
    result.stdout.fnmatch_lines(
        [
            "*test_declared_policy_is_kept*",
            "*AssertionError: check 'attempts_bound' did not pass:",
            "*[[]fail[]] attempts_bound: *max_retries=1*",
            "*request ids: *",
        ]
    )
    assert "stop_on_success' did not pass" not in result.stdout.str()

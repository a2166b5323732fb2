"""Admin API over HTTP: profile changes reach every worker, token, isolation, metrics, replay."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest
import requests

from fake_backends.admin_client import AdminClient, AdminError
from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle, start_backend
from tests.integration.backends.load import fire

pytestmark = pytest.mark.integration


def test_put_faults_reaches_all_workers_at_once(fresh: BackendHandle) -> None:
    for rate, expected in [(1.0, {503}), (0.0, {200}), (1.0, {503})]:
        fresh.admin.put_faults(FaultProfile(failure_rate=rate))
        outcomes = fire(fresh.url, [None] * 60, threads=6, keep_alive=False)
        assert set(outcomes) == expected
    assert len({r["worker"] for r in fresh.admin.iter_journal()}) == 2


def test_invalid_put_is_400_and_keeps_the_profile(fresh: BackendHandle) -> None:
    kept = FaultProfile(failure_rate=0.25, seed=11)
    fresh.admin.put_faults(kept)
    for body in [b'{"failure_rate": 1.5}', b"not json", b'{"reset_rate": 0.6, "hang_rate": 0.6}']:
        response = requests.put(fresh.admin_url + "/faults", data=body, timeout=5)
        assert response.status_code == 400
        assert response.json()["error"].startswith("invalid fault profile")
    assert fresh.admin.get_faults() == kept


def test_admin_is_not_reachable_through_the_data_port(fresh: BackendHandle) -> None:
    fire(fresh.url, ["keep-me"], threads=1)
    for method, path in [("DELETE", "/journal"), ("GET", "/faults"), ("PUT", "/faults")]:
        response = requests.request(method, fresh.url + path, data=b'{"failure_rate":1}', timeout=5)
        assert response.status_code == 200
        assert set(response.json()) == {"replica", "attempt", "request_id", "worker"}
    assert fresh.admin.get_faults() == FaultProfile()
    assert fresh.admin.stats().recorded == 4


def test_metrics_count_attempts_by_status_and_fault(fresh: BackendHandle) -> None:
    before = fresh.admin.metrics()
    fresh.admin.put_faults(FaultProfile(fail_first_n=1))
    outcomes = fire(fresh.url, ["m-1", "m-1", "m-2"], threads=1)
    assert outcomes == [503, 200, 503]

    def value(text: str, status: str, fault: str) -> float:
        pattern = (
            rf'fake_backend_attempts_total\{{fault="{fault}",replica="m0",route="",'
            rf'status="{status}"\}} (\S+)'
        )
        match = re.search(pattern, text)
        return float(match.group(1)) if match else 0.0

    after = fresh.admin.metrics()
    assert value(after, "503", "first_n") - value(before, "503", "first_n") == 2
    assert value(after, "200", "none") - value(before, "200", "none") == 1


@pytest.mark.slow
def test_same_seed_same_requests_same_decisions() -> None:
    profile = FaultProfile(
        failure_rate=0.4, reset_rate=0.1, seed=99, failure_status={503: 1, 500: 1}
    )
    rids = [f"replay-{i % 40}" for i in range(120)]  # 40 ids, 3 attempts each

    def run(p: FaultProfile) -> list[tuple[object, ...]]:
        port, admin_port = free_ports(2)
        with start_backend(port, admin_port, profile=p, replica="rp") as b:
            fire(b.url, rids, threads=1)
            records = list(b.admin.iter_journal())
        return sorted(
            (r["request_id"], r["attempt"], r["fault"], r["status"], r["draw"]) for r in records
        )

    first, second = run(profile), run(profile)
    assert first == second
    assert Counter(r[2] for r in first)["none"] < len(first)  # faults were injected at all
    other = run(profile.model_copy(update={"seed": 100}))
    assert [r[2:] for r in other] != [r[2:] for r in first]


def test_token_guards_the_admin_api() -> None:
    port, admin_port = free_ports(2)
    with start_backend(port, admin_port, admin_token="t0ken") as b:
        assert b.admin.health()["status"] == "ok"
        with pytest.raises(AdminError) as info:
            AdminClient(b.admin_url).health()
        assert info.value.status == 401
        with pytest.raises(AdminError):
            AdminClient(b.admin_url, token="wrong").put_faults(FaultProfile(failure_rate=1))
        assert b.admin.get_faults() == FaultProfile()


def test_pause_and_resume_the_process_group(fresh: BackendHandle) -> None:
    fresh.pause()
    try:
        with pytest.raises(requests.ReadTimeout):
            requests.get(fresh.url + "/p", timeout=0.5)
    finally:
        fresh.resume()
    assert requests.get(fresh.url + "/p", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"FAILURE_RATE": "1.5"}, [], "FAILURE_RATE: must be a number in 0..1 (got '1.5')"),
        ({"OUTAGE": "x"}, [], "OUTAGE"),
        ({}, ["--workers", "0"], "--workers: must be an integer in 1..64"),
        ({}, ["--port", "abc"], "--port"),
        ({"STAMP_CLOCK": "tsc"}, [], "STAMP_CLOCK: must be kernel or app (got 'tsc')"),
        ({}, ["--stamp-clock", "wall"], "--stamp-clock: must be kernel or app (got 'wall')"),
    ],
)
def test_bad_start_input_is_one_line_and_exit_2(
    env: dict[str, str], args: list[str], expected: str
) -> None:
    port, admin_port = free_ports(2)
    argv = ["--port", str(port), "--admin-port", str(admin_port), *args]
    result = subprocess.run(
        [sys.executable, "-m", "fake_backends", *argv],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr

"""Each fault as a client sees it on the wire, and as the journal records it."""

from __future__ import annotations

import time

import pytest
import requests

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile, Latency, Outage, RouteProfile
from harness.processes.backends import BackendHandle, start_backend

pytestmark = pytest.mark.integration


def _records(handle: BackendHandle, expect: int = 1) -> list[dict[str, object]]:
    """The journal once it holds at least ``expect`` records (bounded wait).

    A record is journaled when the server closes the response, which can be a moment after the
    client already has the answer.
    """
    deadline = time.monotonic() + 5.0
    records = list(handle.admin.iter_journal())
    while len(records) < expect and time.monotonic() < deadline:
        time.sleep(0.02)
        records = list(handle.admin.iter_journal())
    return records


def test_reset_is_a_connection_error_and_is_journaled_once(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(reset_rate=1.0))
    for i in range(5):
        with pytest.raises(requests.ConnectionError):
            requests.get(fresh.url + "/r", headers={"X-Request-ID": f"reset-{i}"}, timeout=5)
    records = _records(fresh, expect=5)
    assert [(r["fault"], r["status"]) for r in records] == [("reset", None)] * 5
    assert "Traceback" not in fresh.log_text()
    assert "Error" not in fresh.log_text()


def test_hang_is_a_client_timeout_and_ends_when_the_client_leaves(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(hang_rate=1.0, hang_s=20.0))
    start = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(fresh.url + "/h", headers={"X-Request-ID": "hang-1"}, timeout=0.5)
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 5
    while not (records := _records(fresh)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (record,) = records
    assert record["fault"] == "hang" and record["client_gone"] is True
    held_ms = (int(record["end_us"]) - int(record["arrival_us"])) / 1000  # type: ignore[call-overload]
    assert 400 <= held_ms < 3000


def test_hang_bound_closes_without_response(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(hang_rate=1.0, hang_s=0.3))
    with pytest.raises(requests.ConnectionError):
        requests.get(fresh.url + "/h", timeout=5)
    (record,) = _records(fresh)
    assert record["client_gone"] is False


def test_fixed_latency_and_retry_after(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(
        FaultProfile(
            failure_rate=1.0,
            failure_status={429: 1.0},
            retry_after="Wed, 21 Oct 2026 07:28:00 GMT",
            latency=Latency(kind="fixed", ms=150),
        )
    )
    start = time.monotonic()
    response = requests.get(fresh.url + "/l", timeout=5)
    assert time.monotonic() - start >= 0.15
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    (record,) = _records(fresh)
    assert record["latency_ms"] == 150
    assert int(record["end_us"]) - int(record["arrival_us"]) >= 150_000  # type: ignore[call-overload]


def test_outage_window_flaps(fresh: BackendHandle) -> None:
    period, duration = 1.0, 0.5
    fresh.admin.put_faults(FaultProfile(outage=Outage(duration_s=duration, period_s=period)))
    session = requests.Session()
    seen = []
    end = time.time() + 2 * period
    while time.time() < end:
        sent = time.time()
        status = session.get(fresh.url + "/o", timeout=5).status_code
        phase = sent % period
        if 0.05 < phase < duration - 0.05:
            seen.append(("in", status))
        elif duration + 0.05 < phase < period - 0.05:
            seen.append(("out", status))
        time.sleep(0.02)
    assert {s for w, s in seen if w == "in"} == {503}
    assert {s for w, s in seen if w == "out"} == {200}


def test_route_profile_over_http(fresh: BackendHandle) -> None:
    route = RouteProfile(
        name="users", method="POST", path="/api/users*", faults={"failure_rate": 1}
    )
    fresh.admin.put_faults(FaultProfile(routes=(route,)))
    assert requests.post(fresh.url + "/api/users", timeout=5).status_code == 503
    assert requests.get(fresh.url + "/api/users", timeout=5).status_code == 200
    assert [r["route"] for r in _records(fresh, expect=2)] == ["users", None]


def test_pass_through_to_an_upstream(fresh: BackendHandle) -> None:
    upstream = fresh  # a clean replica serves as the real upstream
    port, admin_port = free_ports(2)
    profile = FaultProfile(upstream_url=upstream.url, fail_first_n=1)
    with start_backend(port, admin_port, replica="front", profile=profile, workers=1) as front:
        headers = {"X-Request-ID": "pt-1"}
        first = requests.post(front.url + "/echo?x=1", headers=headers, data=b"hi", timeout=5)
        second = requests.post(front.url + "/echo?x=1", headers=headers, data=b"hi", timeout=5)
        assert first.status_code == 503  # failed by the front, never forwarded
        assert second.status_code == 200
        assert second.json()["replica"] == "m0"  # the upstream's own answer
        front_records = _records(front)
        assert [(r["fault"], r["upstream_status"]) for r in front_records] == [
            ("first_n", None),
            ("none", 200),
        ]
    (upstream_record,) = _records(upstream)
    assert (upstream_record["method"], upstream_record["path"]) == ("POST", "/echo")


def test_pass_through_upstream_down_is_502(fresh: BackendHandle) -> None:
    (dead_port,) = free_ports(1)
    fresh.admin.put_faults(FaultProfile(upstream_url=f"http://127.0.0.1:{dead_port}"))
    assert requests.get(fresh.url + "/x", timeout=10).status_code == 502
    (record,) = _records(fresh)
    assert record["fault"] == "upstream_error"

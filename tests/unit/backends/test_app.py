"""The app in-process (Flask test client): data plane answers and journal, admin API rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from fake_backends.app import create_app
from fake_backends.dataplane import PLANE_ENVIRON_KEY
from fake_backends.profile import FaultProfile, RouteProfile
from fake_backends.records import AttemptRecord
from fake_backends.settings import BackendSettings

ADMIN = {PLANE_ENVIRON_KEY: "admin"}


class _BufferedClient(FlaskClient):
    """Consumes and closes each response at once, as a WSGI server does after sending it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def _app(tmp_path: Path, profile: FaultProfile, **settings: Any) -> Flask:
    app = create_app(profile, BackendSettings(**settings), state_dir=tmp_path / "state")
    app.test_client_class = _BufferedClient
    return app


def _journal(client: FlaskClient, **headers: str) -> list[AttemptRecord]:
    response = client.get("/journal", environ_overrides=ADMIN, headers=headers)
    assert response.status_code == 200
    return [AttemptRecord.model_validate_json(x) for x in response.data.splitlines()]


def test_success_body_names_replica_and_attempt(tmp_path: Path) -> None:
    client = _app(tmp_path, FaultProfile(), replica="b7").test_client()
    for expected in range(3):
        response = client.post("/any/path?q=1", headers={"X-Request-ID": "abc"})
        assert response.status_code == 200
        body = response.get_json()
        assert body == {
            "replica": "b7",
            "attempt": expected,
            "request_id": "abc",
            "worker": body["worker"],
        }
    records = _journal(client)
    assert [r.attempt for r in records] == [0, 1, 2]
    assert all(r.method == "POST" and r.path == "/any/path" for r in records)
    assert all(r.arrival_us <= r.end_us for r in records)


def test_failure_status_retry_after_and_attempt_headers_are_journaled(tmp_path: Path) -> None:
    profile = FaultProfile(fail_first_n=1, retry_after="2")
    client = _app(tmp_path, profile, request_id_header="X-Trace").test_client()
    headers = {"X-Trace": "t1", "x-envoy-attempt-count": "1", "Idempotency-Key": "k"}
    first = client.get("/", headers=headers)
    second = client.get("/", headers=headers)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    assert second.status_code == 200
    records = _journal(client)
    assert [(r.fault.value, r.status, r.retry_after) for r in records] == [
        ("first_n", 503, "2"),
        ("none", 200, None),
    ]
    assert records[0].envoy_attempt_count == 1 and records[0].idempotency_key == "k"


def test_route_profile_applies_to_matching_method_and_path(tmp_path: Path) -> None:
    route = RouteProfile(
        name="users", method="POST", path="/api/users*", faults={"failure_rate": 1}
    )
    client = _app(tmp_path, FaultProfile(routes=(route,))).test_client()
    assert client.post("/api/users/1").status_code == 503
    assert client.get("/api/users/1").status_code == 200
    assert [r.route for r in _journal(client)] == ["users", None]


def test_admin_routes_are_not_on_the_data_plane(tmp_path: Path) -> None:
    client = _app(tmp_path, FaultProfile()).test_client()
    assert client.delete("/journal").status_code == 200  # an attempt like any other
    assert len(_journal(client)) == 1


def test_put_faults_valid_and_invalid(tmp_path: Path) -> None:
    client = _app(tmp_path, FaultProfile(seed=5)).test_client()
    new = FaultProfile(failure_rate=1.0, seed=6)
    put = client.put("/faults", data=new.model_dump_json(), environ_overrides=ADMIN)
    assert put.get_json()["profile_generation"] == 2
    assert client.get("/x").status_code == 503
    bad = client.put("/faults", json={"failure_rate": 3}, environ_overrides=ADMIN)
    assert bad.status_code == 400
    assert "failure_rate" in bad.get_json()["error"]
    assert client.put("/faults", data=b"{", environ_overrides=ADMIN).status_code == 400
    current = client.get("/faults", environ_overrides=ADMIN)
    assert FaultProfile.model_validate_json(current.data) == new


def test_token_guards_every_admin_call(tmp_path: Path) -> None:
    client = _app(tmp_path, FaultProfile(), admin_token="s3cret").test_client()
    for method, path in [("GET", "/healthz"), ("GET", "/journal"), ("DELETE", "/journal")]:
        denied = client.open(path, method=method, environ_overrides=ADMIN)
        assert denied.status_code == 401
    ok = client.get("/healthz", environ_overrides=ADMIN, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/x").status_code == 200  # the data plane needs no token


def test_journal_cap_is_reported(tmp_path: Path) -> None:
    client = _app(tmp_path, FaultProfile(), journal_max_records=2).test_client()
    for i in range(5):
        client.get("/", headers={"X-Request-ID": f"r{i}"})
    response = client.get("/journal", environ_overrides=ADMIN)
    assert response.headers["X-Journal-Dropped"] == "3"
    assert len(response.data.splitlines()) == 2
    health = client.get("/healthz", environ_overrides=ADMIN).get_json()
    assert health["journal"] | {"path": None} == {
        "recorded": 2,
        "dropped": 3,
        "cap": 2,
        "generation": 0,
        "path": None,
    }
    metrics = client.get("/metrics", environ_overrides=ADMIN).data.decode()
    assert 'fake_backend_journal_dropped{replica="r0"} 3.0' in metrics


@pytest.mark.parametrize("query", ["since=zz", "limit=0", "since=1"])
def test_bad_journal_queries(tmp_path: Path, query: str) -> None:
    client = _app(tmp_path, FaultProfile()).test_client()
    response = client.get(f"/journal?{query}", environ_overrides=ADMIN)
    assert response.status_code == 400
    assert orjson.loads(response.data)["error"].startswith("bad query")

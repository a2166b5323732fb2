"""The urllib3 client SUT really retries, with urllib3's schedule, and forwards faithfully."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from harness.suts.base import start_sut
from harness.suts.network import free_port
from harness.suts.spec import Urllib3ClientSut
from harness.suts.urllib3_service import ERROR_HEADER
from tests.integration.suts.conftest import DATA
from tests.integration.suts.upstream import running_upstream

pytestmark = pytest.mark.integration

SPEC = Urllib3ClientSut(config=Path("urllib3-retry.yaml"), ready_timeout_s=15)


def _config(tmp_path: Path, text: str) -> Urllib3ClientSut:
    path = tmp_path / "client.yaml"
    path.write_text(text)
    return Urllib3ClientSut(config=path, ready_timeout_s=15)


def test_retries_503_with_urllib3_backoff_first_retry_immediate(
    listen: tuple[str, int], workdir: Path
) -> None:
    # total 3, backoff_factor 0.2: urllib3 waits 0 s before retry 1 and 0.4 s before retry 2.
    with (
        running_upstream(fail_first=2) as up,
        start_sut(SPEC, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=DATA) as sut,
    ):
        assert sut.pid is not None
        for i in range(3):
            r = requests.get(f"{sut.url}/r/{i}", headers={"X-Request-ID": f"id{i}"}, timeout=10)
            assert r.status_code == 200, r.text
    assert up.probes() == []  # readiness is answered by the service itself
    for i in range(3):
        attempts = up.of(f"id{i}")
        assert [a.status for a in attempts] == [503, 503, 200]
        first_delay = attempts[1].at - attempts[0].done
        second_delay = attempts[2].at - attempts[1].done
        # Bounds leave room for a loaded CI machine; the two windows do not overlap.
        assert first_delay < 0.25, f"urllib3 does not wait before the first retry: {first_delay}"
        assert 0.38 < second_delay < 1.5, f"backoff 0.2 * 2**1 = 0.4 s, got {second_delay}"


def test_forwards_method_path_query_body_and_headers(
    listen: tuple[str, int], workdir: Path
) -> None:
    with (
        running_upstream() as up,
        start_sut(SPEC, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=DATA) as sut,
    ):
        r = requests.put(
            f"{sut.url}/a/b%20c?x=1&y=%2F",
            data=b'{"k": 1}',
            headers={
                "X-Request-ID": "fwd-1",
                "Idempotency-Key": "idem-1",
                "X-Custom": "v",
                "Content-Type": "application/json",
            },
            timeout=10,
        )
    assert r.status_code == 200
    assert r.headers["X-Upstream"] == "up0"
    (arrival,) = up.of("fwd-1")
    assert arrival.method == "PUT"
    assert arrival.path == "/a/b%20c?x=1&y=%2F"
    assert arrival.body == b'{"k": 1}'
    assert arrival.headers["idempotency-key"] == "idem-1"
    assert arrival.headers["x-custom"] == "v"
    assert arrival.headers["content-type"] == "application/json"


def test_exhausted_status_retries_answer_502_json_when_raise_on_status(
    tmp_path: Path, listen: tuple[str, int], workdir: Path
) -> None:
    spec = _config(tmp_path, "total: 2\nstatus_forcelist: [503]\n")
    with (
        running_upstream(fail_first=100) as up,
        start_sut(spec, listen=listen, upstreams=[up.url], workdir=workdir) as sut,
    ):
        r = requests.get(f"{sut.url}/x", headers={"X-Request-ID": "ex-1"}, timeout=10)
        post = requests.post(f"{sut.url}/x", headers={"X-Request-ID": "post-1"}, timeout=10)
    assert r.status_code == 502
    assert r.headers[ERROR_HEADER] == "retries_exhausted"
    assert json.loads(r.text)["error"] == "retries_exhausted"
    assert len(up.of("ex-1")) == 3  # original + total retries
    # POST is not in urllib3's default allowed_methods: no retry, the 503 is passed through.
    assert post.status_code == 503
    assert len(up.of("post-1")) == 1


def test_raise_on_status_false_returns_the_last_upstream_answer(
    tmp_path: Path, listen: tuple[str, int], workdir: Path
) -> None:
    spec = _config(tmp_path, "total: 2\nstatus_forcelist: [503]\nraise_on_status: false\n")
    with (
        running_upstream(fail_first=100) as up,
        start_sut(spec, listen=listen, upstreams=[up.url], workdir=workdir) as sut,
    ):
        r = requests.get(f"{sut.url}/x", headers={"X-Request-ID": "last-1"}, timeout=10)
    assert r.status_code == 503
    assert ERROR_HEADER not in r.headers
    assert r.text.startswith("up0 503 GET /x")
    assert len(up.of("last-1")) == 3


def test_unreachable_upstream_is_502_connection_error(
    tmp_path: Path, listen: tuple[str, int], workdir: Path
) -> None:
    spec = _config(tmp_path, "total: 2\ntimeout: 1s\n")
    dead = f"http://127.0.0.1:{free_port()}"
    with start_sut(spec, listen=listen, upstreams=[dead], workdir=workdir) as sut:
        r = requests.get(f"{sut.url}/x", timeout=10)
    assert r.status_code == 502
    assert r.headers[ERROR_HEADER] == "connection_error"


def test_concurrent_callers_each_get_their_own_retries(
    listen: tuple[str, int], workdir: Path
) -> None:
    def call(worker: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.get(
                    f"{sut.url}/c", headers={"X-Request-ID": f"c{worker}-{i}"}, timeout=10
                ).status_code
                for i in range(5)
            ]

    with (
        running_upstream(fail_first=1) as up,
        start_sut(SPEC, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=DATA) as sut,
        ThreadPoolExecutor(8) as pool,
    ):
        statuses = [s for batch in pool.map(call, range(8)) for s in batch]
    assert statuses == [200] * 40
    for worker in range(8):
        for i in range(5):
            assert [a.status for a in up.of(f"c{worker}-{i}")] == [503, 200]


def test_logs_one_urllib3_retry_line_per_retry_with_the_request_id(
    listen: tuple[str, int], workdir: Path
) -> None:
    from harness.telemetry.logs import URLLIB3

    with (
        running_upstream(fail_first=2) as up,
        start_sut(SPEC, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=DATA) as sut,
    ):
        for i in range(3):
            requests.get(f"{sut.url}/r/{i}", headers={"X-Request-ID": f"log{i}"}, timeout=10)
        log = sut.log_path
    assert log is not None
    # every request: two 503s retried (fail_first=2), so two retry lines each
    assert URLLIB3.retries_by_request(log) == {f"log{i}": 2 for i in range(3)}
    assert [len(up.of(f"log{i}")) - 1 for i in range(3)] == [2, 2, 2]

"""HAProxy's own Prometheus counters against the journal, through a real Prometheus.

Real processes on 127.0.0.1: two flaky backend replicas (30 % 503), HAProxy 2.6 with
``retries 3`` / ``retry-on 503`` and its built-in exporter, Debian's Prometheus scraping both.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from fake_backends.profile import FaultProfile
from harness.oracle.journal import AttemptTable, load_attempts
from harness.oracle.verdict import Outcome
from harness.processes.backends import BackendHandle
from harness.suts.network import free_port
from harness.suts.process import LaunchPlan, running_process
from harness.telemetry.check import telemetry_check
from harness.telemetry.prometheus import ScrapeTarget
from harness.telemetry.readers import HAPROXY, CounterMapping, Quantity, TelemetryReader
from harness.telemetry.readers.haproxy import server_replicas
from harness.telemetry.session import TelemetrySession

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed"),
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus not installed: apt-get install prometheus",
    ),
]

CONFIG = """
global
    maxconn 256
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 5s
    retries 3
    retry-on conn-failure 503
    option redispatch
frontend fe
    bind 127.0.0.1:{listen}
    default_backend be
frontend telemetry
    bind 127.0.0.1:{metrics}
    http-request use-service prometheus-exporter if {{ path /metrics }}
backend be
    balance roundrobin
{servers}
"""


@pytest.fixture
def haproxy(
    tmp_path: Path, flaky_backend: Callable[..., BackendHandle]
) -> Iterator[tuple[str, str, list[BackendHandle]]]:
    profile = FaultProfile(failure_rate=0.3, failure_status={503: 1.0}, seed=7)
    replicas = [flaky_backend(profile, replica=f"r{i}", workers=1) for i in range(2)]
    listen, metrics = free_port(), free_port()
    # weights 3:1, so the two servers' counts differ and a swapped mapping cannot agree
    servers = "\n".join(
        f"    server s{i} {r.url.removeprefix('http://')} weight {3 if i == 0 else 1}"
        for i, r in enumerate(replicas)
    )
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONFIG.format(listen=listen, metrics=metrics, servers=servers))
    plan = LaunchPlan(argv=[shutil.which("haproxy") or "haproxy", "-db", "-f", str(cfg)])
    with running_process(
        plan,
        name="haproxy",
        listen=("127.0.0.1", listen),
        log_path=tmp_path / "h.log",
        ready_timeout_s=20,
    ) as (_proc, url):
        yield url, f"127.0.0.1:{metrics}", replicas


def _drive(url: str, n: int) -> None:
    with requests.Session() as s:
        for i in range(n):
            s.get(f"{url}/t", headers={"X-Request-ID": f"tel-{i}"}, timeout=10)


def _journal(replicas: list[BackendHandle]) -> AttemptTable:
    for r in replicas:  # the journal is complete once the replica has stopped
        r.stop()
    return load_attempts([r.journal_path for r in replicas])


def _session(
    tmp_path: Path,
    metrics: str,
    replicas: list[BackendHandle],
    upstreams: dict[str, str] | None = None,
) -> TelemetrySession:
    targets = [ScrapeTarget("sut", metrics)] + [
        ScrapeTarget("backends", r.admin_url.removeprefix("http://")) for r in replicas
    ]
    if upstreams is None:  # what the HAProxy driver computes from the config it renders
        cfg = (tmp_path / "haproxy.cfg").read_text()
        upstreams = server_replicas(cfg, [r.url for r in replicas])
    return TelemetrySession("haproxy", targets, None, {}, tmp_path, sut_upstreams=upstreams)


def test_haproxy_counters_agree_with_the_journal(
    tmp_path: Path, haproxy: tuple[str, str, list[BackendHandle]]
) -> None:
    url, metrics, replicas = haproxy
    _drive(url, 20)  # traffic before the run's start must not count
    with _session(tmp_path, metrics, replicas) as tel:
        tel.mark_start()
        _drive(url, 300)
        time.sleep(0.3)
        tel.mark_end()
        record = tel.record()
    journal = _journal(replicas)
    result = telemetry_check(record, journal)
    assert result.outcome is Outcome.PASS, "\n".join(
        e[:60] + e[e.index(" rose") : e.index(" [source")] for e in result.evidence
    )
    by_name = {c["name"]: c for c in result.data["counters"]}
    assert by_name["retries"]["journal"] > 50  # 30 % of 300 requests fail at least once
    assert by_name["attempts"]["sut"] == by_name["attempts"]["journal"] >= 300
    # per server: each server's sessions equal the journal's attempts on its replica, and its
    # retry counter the retries after an attempt on that replica (weights 3:1: both serve)
    for name in ("attempts", "retries per server", "attempts served"):
        rows = by_name[name]["per_upstream"]
        assert len(rows) == 2 and all(r["sut"] == r["journal"] > 0 for r in rows), rows
    served = {r["replica"]: r["journal"] for r in by_name["attempts"]["per_upstream"]}
    assert served["r0"] > 2 * served["r1"]
    assert any("per {proxy,server}" in e and ": agrees" in e for e in result.evidence)


def test_attempts_counted_on_the_wrong_server_are_caught(
    tmp_path: Path, haproxy: tuple[str, str, list[BackendHandle]]
) -> None:
    """HAProxy serving replica r0 from server s0 while its counters name s0 as r1 (the mapping
    swapped, as a SUT counting one server's attempts on another would look): totals agree, the
    per-server comparison fails and names the servers."""
    url, metrics, replicas = haproxy
    swapped = {"be/s0": "r1", "be/s1": "r0"}
    with _session(tmp_path, metrics, replicas, upstreams=swapped) as tel:
        tel.mark_start()
        _drive(url, 120)
        time.sleep(0.3)
        tel.mark_end()
        record = tel.record()
    result = telemetry_check(record, _journal(replicas))
    assert result.outcome is Outcome.FAIL
    wrong = [e for e in result.evidence if "DISAGREES" in e]
    assert any("{proxy,server}=be/s0 (replica r1)" in e for e in wrong), wrong
    assert not any("`sum(haproxy_server_sessions_total)`" in e for e in wrong)  # totals agree


def test_a_reader_mapped_to_the_wrong_counter_is_caught(
    tmp_path: Path,
    haproxy: tuple[str, str, list[BackendHandle]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, metrics, replicas = haproxy
    wrong = TelemetryReader(
        system="haproxy",
        job="sut",
        counters=(
            CounterMapping(  # requests, read as if it counted retries
                name="retries",
                promql="sum(haproxy_backend_http_requests_total)",
                quantity=Quantity.RETRIES,
            ),
        ),
    )
    monkeypatch.setitem(
        __import__("harness.telemetry.readers").telemetry.readers.READERS, "haproxy", wrong
    )
    with _session(tmp_path, metrics, replicas) as tel:
        tel.mark_start()
        _drive(url, 120)
        tel.mark_end()
        record = tel.record()
    result = telemetry_check(record, _journal(replicas))
    assert result.outcome is Outcome.FAIL
    assert "DISAGREES" in result.evidence[0]
    assert HAPROXY.counters[0].promql not in result.evidence[0]


def test_a_replica_killed_before_the_end_makes_its_counters_inconclusive(
    tmp_path: Path, haproxy: tuple[str, str, list[BackendHandle]]
) -> None:
    """A replica the scenario's chaos killed is down at the run's end: its counts are lost, so
    the backends' counter is not compared (inconclusive, naming the target), never a false
    disagreement; the SUT's own counters are still judged."""
    url, metrics, replicas = haproxy
    with _session(tmp_path, metrics, replicas) as tel:
        tel.mark_start()
        _drive(url, 60)
        replicas[1].stop()
        tel.mark_end()
        record = tel.record()
    assert list(record.down_at_end) == ["backends"]
    result = telemetry_check(record, _journal(replicas))
    assert result.outcome is Outcome.INCONCLUSIVE, result.summary
    assert "were down at the run's end" in result.summary
    assert replicas[1].admin_url.removeprefix("http://") in result.summary
    assert sum("sut `" in e and ": agrees" in e for e in result.evidence) == 3


def test_connection_retries_to_a_killed_replica_are_not_a_false_disagreement(
    tmp_path: Path, haproxy: tuple[str, str, list[BackendHandle]]
) -> None:
    """Replica r1 killed during the run: HAProxy's connections to s1 are refused, it retries and
    redispatches them, and counts sessions and retries no journal can see. With the run's down
    window the check says so (inconclusive), never a violation; without it, it would fail."""
    from harness.oracle.records import DownWindow
    from harness.substrates.calibration import wall_us

    url, metrics, replicas = haproxy
    with _session(tmp_path, metrics, replicas) as tel:
        tel.mark_start()
        _drive(url, 30)
        window = DownWindow(replica="r1", kind="kill", start_us=wall_us())
        replicas[1].stop()
        for i in range(60):  # some may fail: HAProxy's retries to r1 are refused
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{url}/t", headers={"X-Request-ID": f"down-{i}"}, timeout=10)
        tel.mark_end()
        record = tel.record()
    journal = _journal(replicas)
    judged = telemetry_check(record, journal, down_windows=[window])
    assert judged.outcome is Outcome.INCONCLUSIVE, judged.summary
    assert "were down during the run" in judged.summary
    assert not any("DISAGREES" in e for e in judged.evidence if "were down" not in e)
    blind = telemetry_check(record, journal)
    assert blind.outcome is Outcome.FAIL  # the same counters, read as if nothing was down

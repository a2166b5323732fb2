"""Issue 8, "a verdict that holds": a correct system must not fail, and nothing is a pass that
was not judged. Each case is a small hand-written run (journal + client records) of what a
correct (or a defective) SUT does, built from the backends' own record shape."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.oracle.journal import (
    AttemptTable,
    ClientTable,
    load_attempts,
    load_client_records,
)
from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.oracle.verify import verify
from harness.policy.model import RetryOn, RetryPolicy
from harness.run import preflight

T0 = 1_700_000_000_000_000
EPS = 0.02
MS = 1000


def attempt(
    rid: str | None,
    k: int,
    at_ms: float,
    dur_ms: float,
    status: int | None,
    fault: str = "none",
    *,
    gone: bool = False,
    replica: str = "r0",
    method: str = "GET",
) -> dict[str, Any]:
    return {
        "v": 1,
        "request_id": rid,
        "method": method,
        "path": "/x",
        "replica": replica,
        "worker": 1,
        "attempt": k,
        "arrival_us": T0 + int(at_ms * MS),
        "end_us": T0 + int((at_ms + dur_ms) * MS),
        "status": status,
        "fault": fault,
        "retry_after": None,
        "client_gone": gone,
        "idempotency_key": None,
    }


def client(rid: str, start_ms: float, end_ms: float, status: int | None) -> dict[str, Any]:
    return {
        "request_id": rid,
        "method": "GET",
        "path": "/x",
        "status": status,
        "error": None if status is not None else "ReadTimeout",
        "start_us": T0 + int(start_ms * MS),
        "end_us": T0 + int(end_ms * MS),
        "idempotency_key": None,
    }


def tables(
    attempts: Sequence[dict[str, Any]], clients: Sequence[dict[str, Any]]
) -> tuple[AttemptTable, ClientTable]:
    return (
        load_attempts([orjson.dumps(r) for r in attempts]),
        load_client_records([orjson.dumps(c) for c in clients]),
    )


def judge(
    policy: RetryPolicy,
    attempts: Sequence[dict[str, Any]],
    clients: Sequence[dict[str, Any]],
    profile: FaultProfile | None = None,
    **kw: Any,
) -> Verdict:
    a, c = tables(attempts, clients)
    return verify(policy, profile or FaultProfile(), a, c, epsilon_s=EPS, **kw)


def check(v: Verdict, name: str) -> CheckResult:
    return next(c for c in v.checks if c.name == name)


def not_failed(v: Verdict) -> list[tuple[str, str]]:
    return [(c.name, c.summary) for c in v.checks if c.outcome is Outcome.FAIL]


# -- 1. a hang the backend ended at its own bound is a reset to the SUT ----------------------


def _hang_then_retry(n: int, *, hang_ms: float, gone: bool) -> tuple[list[Any], list[Any]]:
    atts, cls = [], []
    for i in range(n):
        t = i * 3000.0
        atts.append(attempt(f"h{i}", 1, t + 1, hang_ms, None, "hang", gone=gone))
        atts.append(attempt(f"h{i}", 2, t + hang_ms + 3, 5, 200))
        cls.append(client(f"h{i}", t, t + hang_ms + 10, 200))
    return atts, cls


def test_a_hang_ended_by_its_bound_is_a_retryable_reset_without_a_per_try_timeout() -> None:
    policy = RetryPolicy(max_retries=2, retry_on=RetryOn(reset=True, connect_failure=True))
    atts, cls = _hang_then_retry(3, hang_ms=1000, gone=False)
    v = judge(policy, atts, cls, checks=["non_retryable_status", "retry_when_due"])
    assert not not_failed(v), not_failed(v)
    # a hang the SUT walked away from (no per-try timeout declared) is not a reset: retrying it
    # is outside retry_on
    atts, cls = _hang_then_retry(3, hang_ms=1000, gone=True)
    v = judge(policy, atts, cls, checks=["non_retryable_status"])
    assert check(v, "non_retryable_status").outcome is Outcome.FAIL


def test_a_hang_ended_by_its_bound_before_the_per_try_timeout_is_not_abandoned_early() -> None:
    policy = RetryPolicy(
        max_retries=2, per_try_timeout_s=2.0, retry_on=RetryOn(reset=True, per_try_timeout=True)
    )
    atts, cls = _hang_then_retry(3, hang_ms=1000, gone=False)
    v = judge(policy, atts, cls, checks=["per_try_timeout", "non_retryable_status"])
    assert check(v, "per_try_timeout").outcome is not Outcome.FAIL, check(v, "per_try_timeout")
    assert check(v, "non_retryable_status").outcome is not Outcome.FAIL
    # the SUT walking away at 1 s of a 2 s per-try timeout is still "abandoned early"
    atts, _ = _hang_then_retry(3, hang_ms=1000, gone=True)
    v = judge(policy, atts, [], checks=["per_try_timeout"])
    assert check(v, "per_try_timeout").outcome is Outcome.FAIL


# -- 2. an answer that came after the per-try timeout is a timeout, not a success --------------


def _slow_then_retry(n: int, *, latency_ms: float, retry_at_ms: float) -> list[Any]:
    atts = []
    for i in range(n):
        t = i * 5000.0
        atts.append(attempt(f"s{i}", 1, t + 1, latency_ms, 200))
        atts.append(attempt(f"s{i}", 2, t + 1 + retry_at_ms, 5, 200))
    return atts


def test_a_200_after_the_per_try_timeout_is_a_timeout_the_sut_retried() -> None:
    policy = RetryPolicy(
        max_retries=2, per_try_timeout_s=2.0, retry_on=RetryOn(per_try_timeout=True)
    )
    atts = _slow_then_retry(3, latency_ms=3000, retry_at_ms=2005)
    v = judge(policy, atts, [], checks=["stop_on_success", "non_retryable_status"])
    assert not not_failed(v), not_failed(v)
    # a real success (answered well inside the timeout) followed by an attempt still fails
    atts = _slow_then_retry(3, latency_ms=100, retry_at_ms=150)
    v = judge(policy, atts, [], checks=["stop_on_success"])
    assert check(v, "stop_on_success").outcome is Outcome.FAIL


def test_a_hang_bound_within_the_per_try_timeout_is_refused_before_start(tmp_path: Path) -> None:
    steady = Path(__file__).resolve().parents[3] / "scenarios" / "steady.py"
    text = f"""
name: hangs
backends:
  profile:
    hang_rate: 0.1
    hang_s: {{hang_s}}
sut: {{{{kind: urllib3_client, config: c.yaml}}}}
policy:
  inline: {{{{max_retries: 2, per_try_timeout_s: 2.0, retry_on: {{{{per_try_timeout: true}}}}}}}}
load: {{{{requests: 10, locustfile: {steady}}}}}
"""
    (tmp_path / "c.yaml").write_text("total: 2\ntimeout: 2\n")
    path = tmp_path / "s.yaml"
    path.write_text(text.format(hang_s=2.5))
    with pytest.raises(BadInput) as err:
        preflight(path)
    assert err.value.field == "backends.profile.hang_s" and err.value.line == 6
    assert "allowed: hang_s >= per_try_timeout_s + 1 s" in str(err.value)
    path.write_text(text.format(hang_s=3.0))
    preflight(path)

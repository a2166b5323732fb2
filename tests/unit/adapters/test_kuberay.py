"""KubeRay adapter: env vars from manifests and Helm values, defaults, quirks, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.adapters import load_adapted
from harness.errors import BadInput
from harness.policy import JitterModel, is_retryable_status, nominal_delay

DEPLOYMENT = """\
apiVersion: v1
kind: Service
metadata: {name: kuberay-apiserver}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: kuberay-apiserver}
spec:
  template:
    spec:
      containers:
        - name: apiserver
          image: kuberay/apiserver:v1.5.0
          env:
            - name: HTTP_CLIENT_MAX_RETRY
              value: "5"
            - name: HTTP_CLIENT_BACKOFF_FACTOR
              value: "1.5"
            - name: HTTP_CLIENT_INIT_BACKOFF_MS
              value: "200"
            - name: UNRELATED
              value: "x"
"""


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "kuberay.yaml"
    f.write_text(text)
    return f


def test_deployment_env_is_read_and_rest_defaulted(tmp_path: Path) -> None:
    adapted = load_adapted("kuberay", write(tmp_path, DEPLOYMENT))
    p = adapted.policy
    assert p.system == "kuberay"
    assert p.max_retries == 5
    assert p.backoff.multiplier == 1.5 and p.backoff.base_s == 0.2
    assert p.backoff.cap_s == 10 and p.deadline_s == 30  # defaults
    assert p.backoff.integer_exponent and p.backoff.jitter is JitterModel.NONE
    assert p.deadline_precheck
    assert p.retry_on.statuses == {408, 429, 500, 502, 503, 504}
    assert not (p.retry_on.connect_failure or p.retry_on.reset or p.retry_on.per_try_timeout)
    assert p.methods.retryable is None
    assert not p.retry_after.honoured
    assert {n.field for n in adapted.defaults} == {
        "HTTP_CLIENT_MAX_BACKOFF_MS",
        "HTTP_CLIENT_OVERALL_TIMEOUT_MS",
    }
    quirks = " ".join(n.text for n in adapted.quirks)
    assert "hard-coded" in quirks and "v1.5.0" in quirks
    assert "502" in quirks and "truncated" in quirks


def test_helm_values_mapping_style(tmp_path: Path) -> None:
    f = write(
        tmp_path,
        "apiserver:\n  image: {tag: v1.5.0}\n  env:\n"
        "    HTTP_CLIENT_MAX_RETRY: 2\n    HTTP_CLIENT_MAX_BACKOFF_MS: 4s\n"
        "    HTTP_CLIENT_OVERALL_TIMEOUT_MS: 12000\n",
    )
    p = load_adapted("kuberay", f).policy
    assert (p.max_retries, p.backoff.cap_s, p.deadline_s) == (2, 4.0, 12.0)


def test_no_env_gives_the_hard_coded_defaults(tmp_path: Path) -> None:
    adapted = load_adapted("kuberay", write(tmp_path, "replicaCount: 1\n"))
    p = adapted.policy
    assert [nominal_delay(p, k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert p.max_retries == 3 and p.deadline_s == 30
    assert len(adapted.defaults) == 5


def test_truncated_exponent_schedule(tmp_path: Path) -> None:
    f = write(tmp_path, "env:\n  - {name: HTTP_CLIENT_BACKOFF_FACTOR, value: '1.5'}\n")
    p = load_adapted("kuberay", f).policy
    assert [nominal_delay(p, k) for k in (1, 2, 3, 4)] == [0.5, 0.5, 1.0, 1.5]
    assert is_retryable_status(p, 408) and not is_retryable_status(p, 409)


@pytest.mark.parametrize(
    ("text", "field", "line", "match"),
    [
        (
            "env:\n  - name: HTTP_CLIENT_MAX_RETRY\n    value: three\n",
            "HTTP_CLIENT_MAX_RETRY",
            3,
            "integer",
        ),
        (
            "env:\n  - name: HTTP_CLIENT_MAX_RETRY\n    value: '-1'\n",
            "HTTP_CLIENT_MAX_RETRY",
            3,
            ">= 0",
        ),
        ("env:\n  HTTP_CLIENT_BACKOFF_FACTOR: 0.5\n", "HTTP_CLIENT_BACKOFF_FACTOR", 2, ">= 1"),
        ("env:\n  HTTP_CLIENT_BACKOFF_FACTOR: nan\n", "HTTP_CLIENT_BACKOFF_FACTOR", 2, "finite"),
        (
            "env:\n  HTTP_CLIENT_INIT_BACKOFF_MS: soon\n",
            "HTTP_CLIENT_INIT_BACKOFF_MS",
            2,
            "duration",
        ),
        (
            "env:\n  HTTP_CLIENT_OVERALL_TIMEOUT_MS: 0\n",
            "HTTP_CLIENT_OVERALL_TIMEOUT_MS",
            2,
            "greater",
        ),
        (
            "env:\n  HTTP_CLIENT_INIT_BACKOFF_MS: 5000\n  HTTP_CLIENT_MAX_BACKOFF_MS: 1000\n",
            "HTTP_CLIENT_MAX_BACKOFF_MS",
            3,
            "below",
        ),
        (
            "a:\n  env:\n  - name: HTTP_CLIENT_MAX_RETRY\n"
            "    valueFrom: {secretKeyRef: {name: s}}\n",
            "a.env[0].valueFrom",
            4,
            "valueFrom",
        ),
        (
            "a:\n  env: {HTTP_CLIENT_MAX_RETRY: 1}\nb:\n  env: {HTTP_CLIENT_MAX_RETRY: 2}\n",
            "b.env.HTTP_CLIENT_MAX_RETRY",
            4,
            "twice",
        ),
    ],
)
def test_bad_values_name_field_and_line(
    tmp_path: Path, text: str, field: str, line: int, match: str
) -> None:
    f = write(tmp_path, text)
    with pytest.raises(BadInput, match=match) as err:
        load_adapted("kuberay", f)
    assert (err.value.file, err.value.field, err.value.line) == (str(f), field, line)


def test_malformed_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="malformed YAML") as err:
        load_adapted("kuberay", write(tmp_path, "env:\n  - name: [x\n"))
    assert err.value.line == 3
    with pytest.raises(BadInput, match="mapping"):
        load_adapted("kuberay", write(tmp_path, "- 1\n"))


def go_backoff_ns(init_ms: int, factor: float, max_ms: int, attempt: int) -> int:
    """apiserversdk/util/http.go GetRetryBackoff in Go's integer nanoseconds (reference).

    min(initBackoff * time.Duration(math.Pow(factor, attempt)), maxBackoff); attempt is 0-based.
    """
    pow_as_duration = int(factor**attempt)  # time.Duration(float64) truncates toward zero
    return min(init_ms * 1_000_000 * pow_as_duration, max_ms * 1_000_000)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    retries=st.integers(0, 8),
    factor=st.sampled_from([1, 1.25, 1.5, 2, 2.5, 3, 4]),
    init_ms=st.integers(1, 2000),
    extra_ms=st.integers(0, 60_000),
    overall_ms=st.integers(1, 600_000),
    style=st.sampled_from(["list", "map"]),
)
def test_round_trip_matches_go_formula(
    tmp_path: Path,
    retries: int,
    factor: float,
    init_ms: int,
    extra_ms: int,
    overall_ms: int,
    style: str,
) -> None:
    max_ms = init_ms + extra_ms
    env = {
        "HTTP_CLIENT_MAX_RETRY": str(retries),
        "HTTP_CLIENT_BACKOFF_FACTOR": str(factor),
        "HTTP_CLIENT_INIT_BACKOFF_MS": str(init_ms),
        "HTTP_CLIENT_MAX_BACKOFF_MS": str(max_ms),
        "HTTP_CLIENT_OVERALL_TIMEOUT_MS": str(overall_ms),
    }
    node = [{"name": k, "value": v} for k, v in env.items()] if style == "list" else env
    f = write(tmp_path, yaml.safe_dump({"apiserver": {"env": node}}))
    adapted = load_adapted("kuberay", f)
    p = adapted.policy
    assert adapted.defaults == []
    assert p.max_retries == retries and p.deadline_s == pytest.approx(overall_ms / 1000)
    for k in range(1, 9):
        expected_s = go_backoff_ns(init_ms, factor, max_ms, k - 1) / 1e9
        assert nominal_delay(p, k) == pytest.approx(expected_s, rel=1e-12)

"""KubeRay adapter: the hard-coded V2 proxy policy whatever the file declares, and the notes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.adapters import kuberay, load_adapted
from harness.errors import BadInput
from harness.policy import JitterModel, is_retryable_status, nominal_delay

from ._gateway_files import shown_policy

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


def assert_hard_coded(p: kuberay.RetryPolicy) -> None:
    """newRetryRoundTripper's constants (apiserversdk/util/config.go) and RoundTrip's rules."""
    assert p.system == "kuberay"
    assert p.max_retries == 3
    assert [nominal_delay(p, k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert p.backoff.cap_s == 10 and p.deadline_s == 30
    assert p.backoff.integer_exponent and p.backoff.jitter is JitterModel.NONE
    assert p.deadline_precheck
    assert p.retry_on.statuses == {408, 429, 500, 502, 503, 504}
    assert not (p.retry_on.connect_failure or p.retry_on.reset or p.retry_on.per_try_timeout)
    assert p.methods.retryable is None
    assert not p.retry_after.honoured
    assert p.not_judged == ()


def test_env_vars_in_a_deployment_have_no_effect(tmp_path: Path) -> None:
    """KubeRay reads none of them: the declared policy is what it really does, with notes."""
    adapted = load_adapted("kuberay", write(tmp_path, DEPLOYMENT))
    assert_hard_coded(adapted.policy)
    no_effect = [n for n in adapted.quirks if "has no effect" in n.text]
    assert [n.text.split("=")[0] for n in no_effect] == [
        "HTTP_CLIENT_MAX_RETRY",
        "HTTP_CLIENT_BACKOFF_FACTOR",
        "HTTP_CLIENT_INIT_BACKOFF_MS",
    ]
    assert no_effect[0].field == "document[1].spec.template.spec.containers[0].env[0].value"
    assert "(line 16)" in no_effect[0].text and "30234a2b" in no_effect[0].text
    [default] = adapted.defaults
    assert "hard-coded" in default.text and "v1.5.0" in default.text


def test_no_note_contradicts_the_policy(tmp_path: Path) -> None:
    """The old note said 'the policy states what the file declares' and 'expect the hard-coded
    behaviour' at once; now every note agrees with the (hard-coded) policy."""
    adapted = load_adapted("kuberay", write(tmp_path, DEPLOYMENT))
    text = " ".join(n.text for n in adapted.notes)
    assert "declares" not in text and "withdrawn" not in text
    assert "truncated" not in text  # factor 2: truncating 2^(k-1) changes nothing


def test_helm_values_mapping_style_and_bad_values_are_not_refused(tmp_path: Path) -> None:
    """Values nothing reads are not checked: 'three' or a valueFrom is as inert as '2'."""
    f = write(
        tmp_path,
        "apiserver:\n  image: {tag: v1.5.0}\n  env:\n"
        "    HTTP_CLIENT_MAX_RETRY: three\n    HTTP_CLIENT_MAX_BACKOFF_MS: 4s\n"
        "    HTTP_CLIENT_OVERALL_TIMEOUT_MS: {valueFrom: {configMapKeyRef: {name: c, key: k}}}\n",
    )
    adapted = load_adapted("kuberay", f)
    assert_hard_coded(adapted.policy)
    text = " ".join(n.text for n in adapted.quirks)
    assert "HTTP_CLIENT_MAX_RETRY='three'" in text and "valueFrom" in text


def test_no_env_gives_the_same_policy(tmp_path: Path) -> None:
    adapted = load_adapted("kuberay", write(tmp_path, "replicaCount: 1\n"))
    assert_hard_coded(adapted.policy)
    assert is_retryable_status(adapted.policy, 408)
    assert not is_retryable_status(adapted.policy, 409)
    assert not any("has no effect" in n.text for n in adapted.notes)


def test_every_note_cites_kuberay_source_at_a_commit(tmp_path: Path) -> None:
    adapted = load_adapted("kuberay", write(tmp_path, DEPLOYMENT))
    for note in adapted.notes:
        assert note.source is not None
        assert note.source.startswith(
            "https://github.com/ray-project/kuberay/blob/feeaf72facab4881ba2b179248bb67315634e229/"
        )


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


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(
    env=st.dictionaries(
        st.sampled_from(kuberay.KNOWN_VARS),
        st.text(max_size=6) | st.integers(-5, 100_000).map(str),
        max_size=5,
    ),
    style=st.sampled_from(["list", "map"]),
)
def test_any_declared_values_give_the_go_schedule_of_the_constants(
    tmp_path: Path, env: dict[str, str], style: str
) -> None:
    node = [{"name": k, "value": v} for k, v in env.items()] if style == "list" else env
    f = write(tmp_path, yaml.safe_dump({"apiserver": {"env": node}}))
    adapted = load_adapted("kuberay", f)
    p = adapted.policy
    assert_hard_coded(p)
    for k in range(1, 4):
        expected_s = go_backoff_ns(500, 2, 10_000, k - 1) / 1e9
        assert nominal_delay(p, k) == pytest.approx(expected_s, rel=1e-12)
    assert sum("has no effect" in n.text for n in adapted.notes) == len(env)


def test_policy_show_of_the_draft_guide_values(capsys: pytest.CaptureFixture[str]) -> None:
    """`retry-harness policy show FILE --system kuberay`: the hard-coded policy, 3 notes."""
    shown = shown_policy(capsys, "kuberay", "kuberay-helm-env.yaml")
    policy = shown["policy"]
    assert policy["max_retries"] == 3 and policy["deadline_s"] == 30.0
    assert policy["backoff"]["base_s"] == 0.5 and policy["backoff"]["multiplier"] == 2.0
    assert sorted(policy["retry_on"]["statuses"]) == [408, 429, 500, 502, 503, 504]
    no_effect = [n for n in shown["notes"] if "has no effect" in n["text"]]
    assert [n["field"] for n in no_effect] == [
        "apiserver.env[0].value",
        "apiserver.env[1].value",
        "apiserver.env[2].value",
    ]

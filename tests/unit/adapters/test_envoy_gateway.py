"""Envoy Gateway BackendTrafficPolicy adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import envoy_gateway
from harness.adapters._gateway_common import envoy_retry_on
from harness.policy.expectations import delay_window
from harness.policy.model import Aspect, JitterModel

from ._gateway_files import (
    DATA,
    bad_input,
    dump,
    line_of,
    load_example,
    load_text,
    note_fields,
    refused,
    shown_policy,
)

BTP = {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy"}


def btp(spec: dict[str, Any]) -> str:
    return dump({**BTP, "metadata": {"name": "p"}, "spec": spec})


def test_docs_example_multi_document() -> None:
    """The EG retry task: HTTPRoute + BackendTrafficPolicy, retriable-status-codes [500]."""
    adapted = load_example(envoy_gateway.load, "eg-retry-docs.yaml")
    p = adapted.policy
    assert adapted.system == envoy_gateway.SYSTEM == "envoy-gateway"
    assert p.max_retries == 5
    assert p.retry_on.statuses == {500}
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert not p.retry_on.per_try_timeout  # no 5xx/gateway-error/reset trigger
    assert p.per_try_timeout_s == 0.25
    assert (p.backoff.base_s, p.backoff.cap_s, p.backoff.jitter) == (0.1, 10.0, JitterModel.FULL)
    assert p.methods.retryable is None
    assert "spec.retry.perRetry.timeout" in note_fields(adapted, "quirk")
    assert "spec.retry.perRetry.backOff" in note_fields(adapted, "quirk")


def test_defaults_filled_and_noted() -> None:
    """`retry: {}`: 2 retries, default triggers with 503, Envoy's 25 ms / 250 ms backoff."""
    adapted = load_example(envoy_gateway.load, "eg-retry-defaults.yaml")
    p = adapted.policy
    assert p.max_retries == envoy_gateway.DEFAULT_NUM_RETRIES == 2
    assert p.retry_on.statuses == {503}
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert p.backoff.base_s == 0.025 and p.backoff.cap_s == pytest.approx(0.25)
    assert p.deadline_s == 15.0
    assert p.budget is not None and p.budget.max_concurrent_retries == 1024
    assert {
        "spec.retry.numRetries",
        "spec.retry.retryOn",
        "spec.retry.perRetry.backOff.baseInterval",
        "spec.timeout.http.requestTimeout",
        "spec.circuitBreaker.maxParallelRetries",
    } <= note_fields(adapted, "default")
    quirks = note_fields(adapted, "quirk")
    assert "spec.circuitBreaker.maxParallelRetries" in quirks  # 1024 instead of Envoy's 3
    assert "spec.retry.retryOn.triggers" in quirks  # refused-stream, gRPC: no HTTP/1 form


def test_envoy_real_backoff_windows_not_the_documented_ones() -> None:
    """Envoy code: U[0, min(25*2^(k-1), 250)) ms; the docs' (2^k-1)*25 would give 75, 175."""
    policy = load_example(envoy_gateway.load, "eg-retry-defaults.yaml").policy
    highs = [delay_window(policy, k).hi_s for k in range(1, 7)]
    assert highs == pytest.approx([0.025, 0.05, 0.1, 0.2, 0.25, 0.25])
    assert all(delay_window(policy, k).lo_s == 0 for k in range(1, 7))


def test_5xx_triggers_timeouts_and_breaker() -> None:
    adapted = load_example(envoy_gateway.load, "eg-retry-5xx-budget.yaml")
    p = adapted.policy
    assert p.max_retries == 3
    assert p.retry_on.statuses == frozenset(range(500, 600))
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.per_try_timeout_s == 0.5 and p.deadline_s == 5.0
    assert p.backoff.cap_s == pytest.approx(0.5)  # 10 x 50 ms
    assert p.budget is not None and p.budget.max_concurrent_retries == 10
    assert "spec.retry.retryOn.httpStatusCodes" in note_fields(adapted, "quirk")


def test_triggers_without_codes_drop_the_default_503() -> None:
    text = btp({"retry": {"retryOn": {"triggers": ["connect-failure", "retriable-status-codes"]}}})
    adapted = load_text(envoy_gateway.load, text)
    assert adapted.policy.retry_on.statuses == frozenset()
    assert "spec.retry.retryOn.httpStatusCodes" in note_fields(adapted, "quirk")


def test_no_retry_means_no_retries() -> None:
    adapted = load_text(envoy_gateway.load, btp({"circuitBreaker": {"maxParallelRetries": 5}}))
    assert adapted.policy.max_retries == 0
    assert "spec.retry" in note_fields(adapted, "default")


def test_retry_budget_is_noted_and_not_modelled_as_a_ratio() -> None:
    spec = {"retry": {}, "circuitBreaker": {"retryBudget": {"percent": {"numerator": 20}}}}
    adapted = load_text(envoy_gateway.load, btp(spec))
    assert adapted.policy.budget is not None
    assert adapted.policy.budget.ratio is None
    assert "spec.circuitBreaker.retryBudget" in note_fields(adapted, "quirk")


_HTTP_TRIGGERS = ["5xx", "gateway-error", "reset", "reset-before-request", "connect-failure"]
_OTHER_TRIGGERS = ["retriable-4xx", "retriable-status-codes", "refused-stream", "unavailable"]


@settings(max_examples=60, deadline=None)
@given(
    num=st.integers(0, 50),
    base_ms=st.integers(1, 4999),  # x 20 stays within GEP-2257's 5 digits: 99980ms
    max_factor=st.integers(1, 20),
    triggers=st.lists(st.sampled_from(_HTTP_TRIGGERS + _OTHER_TRIGGERS), unique=True),
    codes=st.lists(st.integers(100, 599), unique=True, max_size=5),
    timeout_ms=st.none() | st.integers(1, 10_000),
)
def test_fields_round_trip(
    num: int,
    base_ms: int,
    max_factor: int,
    triggers: list[str],
    codes: list[int],
    timeout_ms: int | None,
) -> None:
    """Generated BackendTrafficPolicies: every field lands where the Envoy semantics say."""
    per_retry: dict[str, Any] = {
        "backOff": {"baseInterval": f"{base_ms}ms", "maxInterval": f"{base_ms * max_factor}ms"}
    }
    if timeout_ms is not None:
        per_retry["timeout"] = f"{timeout_ms}ms"
    retry_on: dict[str, Any] = {"triggers": triggers, "httpStatusCodes": codes}
    text = btp({"retry": {"numRetries": num, "retryOn": retry_on, "perRetry": per_retry}})
    p = load_text(envoy_gateway.load, text).policy
    effective = triggers or list(envoy_gateway.DEFAULT_TRIGGERS)
    assert p.max_retries == num
    assert p.backoff.base_s == pytest.approx(base_ms / 1000)
    assert p.backoff.cap_s == pytest.approx(base_ms * max_factor / 1000)
    assert p.per_try_timeout_s == (None if timeout_ms is None else pytest.approx(timeout_ms / 1000))
    whole = {"5xx", "gateway-error", "reset"} & set(effective)
    assert p.retry_on.reset == bool(whole)
    assert p.retry_on.connect_failure == bool(
        whole | ({"connect-failure", "reset-before-request"} & set(effective))
    )
    assert p.retry_on.per_try_timeout == (bool(whole) and timeout_ms is not None)
    if "retriable-status-codes" in effective:
        assert set(codes) <= p.retry_on.statuses
    if "5xx" in effective:
        assert set(range(500, 600)) <= p.retry_on.statuses
    if "retriable-4xx" in effective:
        assert 409 in p.retry_on.statuses
    expected_extra = set(p.retry_on.statuses) - set(codes) - set(range(500, 600)) - {409}
    assert not expected_extra  # nothing beyond codes, 5xx/gateway-error and 409


@settings(max_examples=30, deadline=None)
@given(bad=st.integers(max_value=-1) | st.text(max_size=5) | st.booleans())
def test_bad_num_retries_names_field_and_line(bad: object) -> None:
    text = btp({"targetRefs": [{"kind": "HTTPRoute", "name": "r"}], "retry": {"numRetries": bad}})
    err = bad_input(envoy_gateway.load, text)
    assert err.field == "spec.retry.numRetries"
    assert err.line == line_of(text, "numRetries:")
    assert "integer" in err.reason


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from(["1.5s", "100", "-1s", "10 ms", "1d", "0s", "123456ms"]))
def test_bad_durations_are_rejected_with_the_gep_2257_rule(bad: str) -> None:
    text = btp({"retry": {"perRetry": {"backOff": {"baseInterval": bad}}}})
    err = bad_input(envoy_gateway.load, text)
    assert err.field == "spec.retry.perRetry.backOff.baseInterval"
    assert err.line == line_of(text, "baseInterval:")
    assert "GEP-2257" in err.reason


def test_max_below_base_is_rejected() -> None:
    text = btp({"retry": {"perRetry": {"backOff": {"baseInterval": "1s", "maxInterval": "500ms"}}}})
    err = bad_input(envoy_gateway.load, text)
    assert err.field == "spec.retry.perRetry.backOff.maxInterval"
    assert err.line == line_of(text, "maxInterval:")


def test_unknown_trigger_and_unknown_field() -> None:
    text = btp({"retry": {"retryOn": {"triggers": ["5xx", "timeout"]}}})
    err = bad_input(envoy_gateway.load, text)
    assert err.field == "spec.retry.retryOn.triggers[1]"
    assert err.line == line_of(text, "- timeout")
    assert "gateway-error" in err.reason  # lists what is allowed
    err = bad_input(envoy_gateway.load, btp({"retry": {"numRetry": 3}}))
    assert err.field == "spec.retry.numRetry" and "numRetries" in err.reason


def test_wrong_kind_and_malformed_yaml() -> None:
    err = bad_input(envoy_gateway.load, dump({"apiVersion": "v1", "kind": "Service"}))
    assert "BackendTrafficPolicy" in err.reason and "v1/Service" in err.reason
    err = bad_input(envoy_gateway.load, "spec:\n  retry: [1,\n")
    assert err.line is not None and "YAML" in err.reason


# --- absent / empty / set (issue 7): as buildRetry and buildRetryPolicy read them -------------


def test_retry_on_empty_keeps_the_defaults_and_503(capsys: pytest.CaptureFixture[str]) -> None:
    """`retryOn: {}`: buildRetry drops a RetryOn with neither list, so 503 stays retried."""
    shown = shown_policy(capsys, "envoy-gateway", "eg-retryon-empty.yaml")
    policy = shown["policy"]
    assert policy["max_retries"] == 3
    assert policy["retry_on"] == {
        "statuses": [503],
        "connect_failure": True,
        "reset": False,
        "per_try_timeout": False,
    }
    texts = [n["text"] for n in shown["notes"] if n["field"] == "spec.retry.retryOn"]
    assert any("empty" in t and "503" in t for t in texts)
    assert not any("dropped" in n["text"] for n in shown["notes"])


def test_triggers_without_codes_drop_503_in_policy_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = shown_policy(capsys, "envoy-gateway", "eg-retryon-triggers-only.yaml")
    assert shown["policy"]["retry_on"]["statuses"] == []
    assert shown["policy"]["retry_on"]["connect_failure"] is True
    assert any("503 is dropped" in n["text"] for n in shown["notes"])


@pytest.mark.parametrize("key", ["triggers", "httpStatusCodes"])
def test_an_empty_list_is_set_not_absent(key: str) -> None:
    """An empty list is non-nil in Go: the RetryOn is kept and its (empty) codes replace 503."""
    adapted = load_text(envoy_gateway.load, btp({"retry": {"retryOn": {key: []}}}))
    p = adapted.policy
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure  # default triggers kept
    assert "spec.retry.retryOn.httpStatusCodes" in note_fields(adapted, "quirk")


def test_retry_absent_empty_and_set_are_three_cases() -> None:
    absent = load_text(envoy_gateway.load, btp({"timeout": {"http": {"requestTimeout": "5s"}}}))
    empty = load_text(envoy_gateway.load, btp({"retry": {}}))
    zero = load_text(envoy_gateway.load, btp({"retry": {"numRetries": 0}}))
    assert absent.policy.max_retries == 0
    assert empty.policy.max_retries == 2 and empty.policy.retry_on.statuses == {503}
    assert zero.policy.max_retries == 0 and zero.policy.retry_on.statuses == {503}


# --- fields copied from guides that the API never had (issue 7) ------------------------------

GUIDE_MISTAKES = [
    ("eg-guide-perretrypolicy.yaml", "spec.retry.perRetryPolicy", "did you mean 'perRetry'?"),
    ("eg-guide-backoff.yaml", "spec.retry.perRetry.backoff", "did you mean 'backOff'?"),
    ("eg-guide-budget.yaml", "spec.retry.budget", "circuitBreaker.retryBudget"),
    (
        "eg-guide-jitter.yaml",
        "spec.retry.perRetry.backOff.jitterPercent",
        "has no jitter field: Envoy always uses full jitter",
    ),
]


@pytest.mark.parametrize(("name", "field", "hint"), GUIDE_MISTAKES)
def test_guide_fields_are_refused_with_the_field_meant(
    capsys: pytest.CaptureFixture[str], name: str, field: str, hint: str
) -> None:
    """The API server refuses these too: exit 2, one line naming file:line, field and the fix."""
    err = refused(capsys, "envoy-gateway", name)
    text = (DATA / name).read_text()
    key = field.rsplit(".", 1)[1]
    assert f"{name}:{line_of(text, key + ':')}: {field}: unknown field" in err
    assert hint in err


@pytest.mark.parametrize(
    ("retry", "field", "meant"),
    [
        ({"numRetry": 3}, "spec.retry.numRetry", "numRetries"),
        ({"retryon": {}}, "spec.retry.retryon", "retryOn"),
        (
            {"retryOn": {"httpStatusCode": [503]}},
            "spec.retry.retryOn.httpStatusCode",
            "httpStatusCodes",
        ),
        (
            {"perRetry": {"backOff": {"baseinterval": "1s"}}},
            "spec.retry.perRetry.backOff.baseinterval",
            "baseInterval",
        ),
    ],
)
def test_typos_name_the_closest_field(retry: dict[str, Any], field: str, meant: str) -> None:
    err = bad_input(envoy_gateway.load, btp({"retry": retry}))
    assert err.field == field
    assert f"did you mean {meant!r}?" in err.reason


def test_unknown_spec_field_is_refused_with_a_suggestion() -> None:
    err = bad_input(envoy_gateway.load, btp({"retryPolicy": {"numRetries": 3}}))
    assert err.field == "spec.retryPolicy" and "did you mean 'retry'?" in err.reason
    err = bad_input(envoy_gateway.load, btp({"circuitBreaker": {"maxRetries": 3}}))
    assert "maxParallelRetries" in err.reason


# --- constructs that depend on the run: not judged, never a guess (issue 7) ------------------


def test_retry_budget_is_not_judged() -> None:
    spec = {"retry": {}, "circuitBreaker": {"retryBudget": {"percent": {"numerator": 20}}}}
    text = btp(spec)
    p = load_text(envoy_gateway.load, text).policy
    [entry] = p.unmodelled(Aspect.BUDGET)
    assert entry.aspects == {Aspect.BUDGET}
    assert "in flight" in entry.reason and "circuitBreaker.retryBudget" in entry.native
    assert entry.location is not None and entry.location.endswith(
        f":{line_of(text, 'retryBudget:')}"
    )


def test_num_attempts_per_priority_leaves_the_upstream_not_judged() -> None:
    p = load_text(envoy_gateway.load, btp({"retry": {"numAttemptsPerPriority": 2}})).policy
    assert [u.aspects for u in p.not_judged] == [{Aspect.UPSTREAM}]
    assert p.max_retries == 2  # the default still applies (the note used to need numRetries)
    p = load_text(envoy_gateway.load, btp({"retry": {"numAttemptsPerPriority": 0}})).policy
    assert p.not_judged == ()


def test_route_level_policy_wins_over_the_gateway_level_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = shown_policy(capsys, "envoy-gateway", "eg-gateway-and-route-policies.yaml")
    assert shown["policy"]["max_retries"] == 4  # the HTTPRoute's, though it comes second
    assert shown["policy"]["not_judged"] == []
    assert any("takes precedence" in n["text"] for n in shown["notes"])


def test_merge_type_is_not_judged() -> None:
    gateway = {
        **BTP,
        "metadata": {"name": "g"},
        "spec": {"targetRefs": [{"kind": "Gateway", "name": "eg"}], "retry": {"numRetries": 1}},
    }
    route = {
        **BTP,
        "metadata": {"name": "r"},
        "spec": {
            "targetRefs": [{"kind": "HTTPRoute", "name": "r"}],
            "mergeType": "StrategicMerge",
            "retry": {"numRetries": 4},
        },
    }
    p = load_text(envoy_gateway.load, dump(gateway, route)).policy
    [entry] = p.not_judged
    assert Aspect.MAX_RETRIES in entry.aspects and "mergeType" in entry.native


def reference_retry_on(retry_on: dict[str, Any] | None) -> tuple[list[str], list[int]]:
    """Envoy Gateway@d32f2829 buildRetry + buildRetryPolicy, transcribed: (retry_on, codes).

    buildRetry keeps a RetryOn only when Triggers or HTTPStatusCodes is non-nil (an empty list
    is non-nil); buildRetryPolicy then replaces the triggers when there is at least one and
    always replaces the status codes (nil -> none)."""
    triggers = list(envoy_gateway.DEFAULT_TRIGGERS)
    codes = list(envoy_gateway.DEFAULT_STATUS_CODES)
    if retry_on is None:
        return triggers, codes
    given_t, given_c = retry_on.get("triggers"), retry_on.get("httpStatusCodes")
    if given_t is None and given_c is None:
        return triggers, codes
    if given_t:
        triggers = sorted(set(given_t))
    return triggers, sorted(set(given_c or []))


@settings(max_examples=80, deadline=None)
@given(
    retry_on=st.none()
    | st.fixed_dictionaries(
        {},
        optional={
            "triggers": st.none() | st.lists(st.sampled_from(_HTTP_TRIGGERS + _OTHER_TRIGGERS)),
            "httpStatusCodes": st.none()
            | st.lists(st.sampled_from([409, 429, 500, 502, 503, 504])),
        },
    )
)
def test_absent_empty_and_set_match_build_retry(retry_on: dict[str, Any] | None) -> None:
    """Random retryOn shapes (absent, {}, null lists, empty lists, values) read as EG does."""
    retry: dict[str, Any] = {} if retry_on is None else {"retryOn": retry_on}
    p = load_text(envoy_gateway.load, btp({"retry": retry})).policy
    triggers, codes = reference_retry_on(retry_on)
    expected = envoy_retry_on(triggers, codes)
    assert p.retry_on.statuses == expected.statuses
    assert p.retry_on.connect_failure == expected.connect_failure
    assert p.retry_on.reset == expected.reset

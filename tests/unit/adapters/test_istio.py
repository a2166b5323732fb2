"""Istio VirtualService/DestinationRule adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import istio
from harness.policy.expectations import delay_window
from harness.policy.model import Aspect, JitterModel

from ._gateway_files import (
    bad_input,
    dump,
    line_of,
    load_example,
    load_text,
    note_fields,
    shown_policy,
)

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService"}


def virtual_service(*routes: dict[str, Any]) -> str:
    dest = {"route": [{"destination": {"host": "backend"}}]}
    return dump(
        {
            **VS,
            "metadata": {"name": "backend"},
            "spec": {"hosts": ["backend"], "http": [{**dest, **r} for r in routes]},
        }
    )


def test_docs_example() -> None:
    """attempts 3, perTryTimeout 2s, retryOn gateway-error,connect-failure,refused-stream."""
    adapted = load_example(istio.load, "istio-vs-retries-docs.yaml")
    p = adapted.policy
    assert adapted.system == istio.SYSTEM == "istio"
    assert p.max_retries == 3
    assert p.retry_on.statuses == {502, 503, 504}
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.per_try_timeout_s == 2.0 and p.deadline_s is None
    assert (p.backoff.base_s, p.backoff.jitter) == (0.025, JitterModel.FULL)
    assert p.budget is not None and p.budget.max_concurrent_retries == 2**32 - 1
    assert "spec.http[0].retries.retryOn" in note_fields(adapted, "quirk")  # refused-stream
    assert "spec.http[0].retries.backoff" in note_fields(adapted, "default")


def test_default_policy_without_retries_stanza() -> None:
    """2 retries on connect-failure etc.; 503 not retried since 1.24 (quirk)."""
    adapted = load_example(istio.load, "istio-vs-default.yaml")
    p = adapted.policy
    assert p.max_retries == istio.DEFAULT_ATTEMPTS == 2
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert "spec.http[0].retries" in note_fields(adapted, "default")
    assert "spec.http[0]" in note_fields(adapted, "default")  # 2 routes: the first is used
    assert any("1.24" in n.text for n in adapted.quirks)


def test_codes_backoff_timeout_and_destination_rule() -> None:
    adapted = load_example(istio.load, "istio-vs-codes-dr.yaml")
    p = adapted.policy
    assert p.max_retries == 4
    assert p.retry_on.statuses == {503, 504} and p.retry_on.reset
    assert p.backoff.base_s == 0.1
    assert p.backoff.cap_s == pytest.approx(1.0)
    assert (p.per_try_timeout_s, p.deadline_s) == (0.5, 5.0)
    assert p.budget is not None and p.budget.max_concurrent_retries == 16
    windows = [delay_window(p, k) for k in (1, 2, 3, 4, 5)]
    assert [w.hi_s for w in windows] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    assert all(w.lo_s == 0 for w in windows)  # "minimum duration" in Istio docs: not really
    assert any("minimum" in n.text for n in adapted.quirks)


def test_attempts_zero_or_missing_disables() -> None:
    for retries in ({"attempts": 0}, {}, {"attempts": 0, "retryOn": ""}):
        adapted = load_text(istio.load, virtual_service({"retries": retries}))
        assert adapted.policy.max_retries == 0
        assert "spec.http[0].retries.attempts" in note_fields(adapted, "quirk")


@pytest.mark.parametrize(
    "retries",
    [{"perTryTimeout": "1s"}, {"attempts": 0, "retryOn": "5xx"}, {"retryRemoteLocalities": True}],
)
def test_settings_on_a_disabled_policy_are_refused_like_istio_validation(
    retries: dict[str, Any],
) -> None:
    """ValidateHTTPRetry: 'http retry policy configured when attempts are set to 0'."""
    err = bad_input(istio.load, virtual_service({"retries": retries}))
    assert "attempts are set to 0" in err.reason
    assert err.field is not None and err.field.startswith("spec.http[0].retries.")


def test_retry_budget_in_destination_rule_is_noted() -> None:
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "b"},
        "spec": {"host": "backend", "trafficPolicy": {"retryBudget": {"percent": 20}}},
    }
    text = virtual_service({"retries": {"attempts": 2}}) + "---\n" + dump(dr)
    adapted = load_text(istio.load, text)
    assert adapted.policy.budget is not None
    assert adapted.policy.budget.max_concurrent_retries is None
    assert "spec.trafficPolicy.retryBudget" in note_fields(adapted, "quirk")


_CONDITIONS = ["5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "cancelled"]


@settings(max_examples=60, deadline=None)
@given(
    attempts=st.integers(1, 100),
    conditions=st.lists(st.sampled_from(_CONDITIONS), unique=True),
    codes=st.lists(st.sampled_from([404, 409, 429, 500, 502, 503, 504]), unique=True),
    backoff_ms=st.integers(1, 10_000),
    per_try_ms=st.none() | st.integers(1, 10_000),
)
def test_fields_round_trip(
    attempts: int,
    conditions: list[str],
    codes: list[int],
    backoff_ms: int,
    per_try_ms: int | None,
) -> None:
    retries: dict[str, Any] = {"attempts": attempts, "backoff": f"{backoff_ms}ms"}
    tokens = conditions + [str(c) for c in codes]
    if tokens:
        retries["retryOn"] = ",".join(tokens)
    if per_try_ms is not None:
        retries["perTryTimeout"] = f"{per_try_ms}ms"
    p = load_text(istio.load, virtual_service({"retries": retries})).policy
    assert p.max_retries == attempts
    assert p.backoff.base_s == pytest.approx(backoff_ms / 1000)
    assert p.backoff.cap_s == pytest.approx(backoff_ms / 100)
    assert set(codes) <= p.retry_on.statuses  # integers always become retriable codes
    whole = {"5xx", "gateway-error", "reset"} & set(conditions)
    assert p.retry_on.reset == bool(whole)
    assert p.retry_on.per_try_timeout == (bool(whole) and per_try_ms is not None)
    if not tokens:  # Istio's default conditions: connect-failure only, no status
        assert p.retry_on.connect_failure and not p.retry_on.statuses


@settings(max_examples=20, deadline=None)
@given(token=st.sampled_from(["timeout", "5XX", "retry-on-503", "all", "599", "", " 503"]))
def test_unknown_retry_on_condition_rejected(token: str) -> None:
    """Istio's validation refuses these (unknown, unregistered status, empty item, spaces)."""
    text = virtual_service({"retries": {"attempts": 2, "retryOn": f"5xx,{token}"}})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].retries.retryOn"
    assert err.line == line_of(text, "retryOn:")
    assert "gateway-error" in err.reason and "not a valid retryOn policy" in err.reason


def test_retry_on_suggestions() -> None:
    err = bad_input(istio.load, virtual_service({"retries": {"attempts": 2, "retryOn": "5XX"}}))
    assert "did you mean '5xx'?" in err.reason
    text = virtual_service({"retries": {"attempts": 2, "retryOn": "5xx, 503"}})
    assert "remove the spaces" in bad_input(istio.load, text).reason


# --- absent / empty / set (issue 7) -----------------------------------------------------------


def test_empty_retry_on_keeps_the_default_conditions(capsys: pytest.CaptureFixture[str]) -> None:
    shown = shown_policy(capsys, "istio", "istio-vs-retryon-empty.yaml")
    assert shown["policy"]["max_retries"] == 3
    assert shown["policy"]["retry_on"] == {
        "statuses": [],
        "connect_failure": True,
        "reset": False,
        "per_try_timeout": False,
    }
    assert any('empty ("")' in n["text"] for n in shown["notes"])
    absent = load_text(istio.load, virtual_service({"retries": {"attempts": 3}})).policy
    assert absent.retry_on.model_dump() == shown["policy"]["retry_on"] | {"statuses": set()}


# --- not judged: what only the run decides (issue 7) -----------------------------------------


def test_header_matched_route_with_another_policy_is_not_judged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = shown_policy(capsys, "istio", "istio-vs-header-match.yaml")
    [entry] = shown["policy"]["not_judged"]
    # 5 on 5xx (resets included) vs 2 on the defaults (no reset trigger)
    assert set(entry["aspects"]) == {"max_retries", "statuses", "resets"}
    assert entry["native"].startswith("spec.http[0].match")
    assert "spec.http[1]" in entry["reason"]
    assert entry["location"].endswith(":12")  # the match: key
    assert any(n["text"].startswith("NOT JUDGED") for n in shown["notes"])


def test_header_matched_route_with_the_same_policy_is_judged() -> None:
    """Both routes of the Istio docs example have Istio's default policy: nothing to lose."""
    adapted = load_example(istio.load, "istio-vs-default.yaml")
    assert adapted.policy.not_judged == ()
    assert any("same retry policy" in n.text for n in adapted.defaults)


def test_match_without_a_catch_all_route_is_not_judged() -> None:
    text = virtual_service({"match": [{"uri": {"prefix": "/api"}}], "retries": {"attempts": 1}})
    p = load_text(istio.load, text).policy
    assert p.not_judged and "404" in p.not_judged[0].reason


@pytest.mark.parametrize("condition", ["retriable-headers", "envoy-ratelimited"])
def test_header_conditions_are_not_judged(condition: str) -> None:
    text = virtual_service({"retries": {"attempts": 2, "retryOn": f"5xx,{condition}"}})
    p = load_text(istio.load, text).policy
    [entry] = p.not_judged
    assert entry.aspects == {Aspect.STATUSES} and condition in entry.native
    assert p.retry_on.statuses == frozenset(range(500, 600))  # the rest is still read


def test_retry_budget_is_not_judged() -> None:
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "b"},
        "spec": {"host": "backend", "trafficPolicy": {"retryBudget": {"percent": 20}}},
    }
    text = virtual_service({"retries": {"attempts": 2}}) + "---\n" + dump(dr)
    [entry] = load_text(istio.load, text).policy.not_judged
    assert entry.aspects == {Aspect.BUDGET}


def test_guide_style_fields_name_the_field_meant() -> None:
    err = bad_input(istio.load, virtual_service({"retries": {"attempts": 2, "retryon": "5xx"}}))
    assert "did you mean 'retryOn'?" in err.reason
    err = bad_input(istio.load, virtual_service({"retries": {"attempts": 2, "timeout": "1s"}}))
    assert "perTryTimeout" in err.reason


def test_bad_values_name_field_and_line() -> None:
    text = virtual_service({"retries": {"attempts": -2}})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].retries.attempts" and err.line == line_of(text, "attempts:")
    text = virtual_service({"retries": {"attempts": 2, "perTryTimeout": "500us"}})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].retries.perTryTimeout" and "1ms" in err.reason
    text = virtual_service({"retries": {"attempts": 2, "backof": "1s"}})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].retries.backof" and "backoff" in err.reason
    text = virtual_service({"retries": {"attempts": 2, "retryIgnorePreviousHosts": "yes"}})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].retries.retryIgnorePreviousHosts"
    text = virtual_service({"timeout": "soon"})
    err = bad_input(istio.load, text)
    assert err.field == "spec.http[0].timeout" and err.line == line_of(text, "timeout:")


def test_not_a_virtual_service() -> None:
    err = bad_input(istio.load, dump({"apiVersion": "networking.istio.io/v1", "kind": "Gateway"}))
    assert "VirtualService" in err.reason


def test_destination_rule_max_retries_zero_is_unset() -> None:
    """cluster_traffic_policy.go copies maxRetries only when > 0: 0 keeps 2^32-1, not 'none'."""
    dr = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "b"},
        "spec": {
            "host": "backend",
            "trafficPolicy": {"connectionPool": {"http": {"maxRetries": 0}}},
        },
    }
    text = virtual_service({"retries": {"attempts": 2}}) + "---\n" + dump(dr)
    adapted = load_text(istio.load, text)
    assert adapted.policy.budget is not None
    assert adapted.policy.budget.max_concurrent_retries == istio.DEFAULT_MAX_RETRIES_CB
    assert any("proto3's unset" in n.text for n in adapted.defaults)


@pytest.mark.parametrize(
    ("field", "hint"), [("retry", "'retries'"), ("timeouts", "'timeout'"), ("retires", "'retries'")]
)
def test_misspelt_route_fields_are_refused_not_read_as_the_default(field: str, hint: str) -> None:
    """`retry:` on an HTTP route would otherwise leave Istio's default policy in force."""
    err = bad_input(istio.load, virtual_service({field: {"attempts": 5}}))
    assert err.field == f"spec.http[0].{field}" and f"did you mean {hint}?" in err.reason

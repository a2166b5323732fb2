"""Gateway API HTTPRoute retry adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import httproute
from harness.policy.expectations import nominal_delay
from harness.policy.model import Aspect

from ._gateway_files import (
    DATA,
    bad_input,
    dump,
    line_of,
    load_example,
    load_text,
    note_fields,
    note_text,
    shown_policy,
)

ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute"}


def route(*rules: dict[str, Any]) -> str:
    backend = {"backendRefs": [{"name": "infra-backend-v3", "port": 8080}]}
    return dump(
        {
            **ROUTE,
            "metadata": {"name": "r"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [{**backend, **r} for r in rules]},
        }
    )


def test_conformance_shaped_route_uses_first_rule_with_retry() -> None:
    """/retry/code-500-attempts-3: attempts 3 are 3 retries, 500 only, connection errors too."""
    adapted = load_example(httproute.load, "httproute-retry-conformance.yaml")
    p = adapted.policy
    assert adapted.system == httproute.SYSTEM == "httproute"
    assert p.max_retries == 3
    assert p.retry_on.statuses == {500}
    assert p.retry_on.connect_failure and p.retry_on.reset
    assert p.methods.retryable is None
    assert "spec.rules[0]" in note_fields(adapted, "default")  # 2 rules with retry: first used
    assert "spec.rules[0].retry.attempts" in note_fields(adapted, "quirk")  # boundary not pinned


def test_timeouts_and_minimum_backoff() -> None:
    adapted = load_example(httproute.load, "httproute-retry-timeouts.yaml")
    p = adapted.policy
    assert (p.max_retries, p.per_try_timeout_s, p.deadline_s) == (5, 0.2, 0.4)
    assert p.retry_on.per_try_timeout
    assert p.backoff.minimum_only and p.backoff.base_s == 0.1 and p.backoff.multiplier == 1
    assert [nominal_delay(p, k) for k in (1, 2, 5)] == [0.1, 0.1, 0.1]
    assert "spec.rules[0].retry.backoff" in note_fields(adapted, "quirk")
    assert "U[0, backoff)" in note_text(adapted, "quirk")  # Envoy-based gateways break it


def test_defaults_for_an_empty_retry_stanza(capsys: pytest.CaptureFixture[str]) -> None:
    """`retry: {}` asks for retries and leaves count and statuses to the implementation:
    those are not judged (no guessed default that one implementation would fail)."""
    adapted = load_text(httproute.load, route({"retry": {}}))
    p = adapted.policy
    assert p.max_retries == httproute.DEFAULT_ATTEMPTS == 2
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure  # the GEP: connection errors SHOULD be retried
    assert p.backoff.minimum_only and p.backoff.base_s == 0
    assert {u.aspects for u in p.not_judged} == {
        frozenset({Aspect.MAX_RETRIES}),
        frozenset({Aspect.STATUSES}),
        frozenset({Aspect.RESETS}),
    }
    assert {"spec.rules[0].retry.backoff", "spec.rules[0].timeouts"} <= note_fields(
        adapted, "default"
    )
    assert {"spec.rules[0].retry.attempts", "spec.rules[0].retry.codes"} <= note_fields(
        adapted, "quirk"
    )
    shown = shown_policy(capsys, "httproute", DATA / "httproute-retry-empty.yaml")
    assert shown["policy"] == p.model_dump(mode="json") | {
        "not_judged": shown["policy"]["not_judged"]
    }
    assert len(shown["policy"]["not_judged"]) == 3


def test_empty_codes_are_not_judged_either() -> None:
    p = load_text(httproute.load, route({"retry": {"attempts": 3, "codes": []}})).policy
    [entry] = [u for u in p.not_judged if Aspect.RESETS not in u.aspects]
    assert entry.aspects == {Aspect.STATUSES} and "empty" in entry.native
    assert p.max_retries == 3


def test_resets_alone_are_not_judged_statuses_are() -> None:
    """The GEP says connection errors SHOULD be retried; Envoy Gateway adds no reset trigger.
    Only the reset aspect is not judged: codes and attempts stay judged."""
    adapted = load_text(
        httproute.load, route({"retry": {"attempts": 2, "codes": [503], "backoff": "10ms"}})
    )
    p = adapted.policy
    assert p.retry_on.reset and p.retry_on.statuses == frozenset({503})
    [entry] = p.not_judged
    assert entry.aspects == {Aspect.RESETS}
    assert "Envoy Gateway" in entry.reason and "processRouteRetry" in entry.reason
    (note,) = [n for n in adapted.quirks if "NOT JUDGED (resets)" in n.text]
    assert note.source is not None
    assert "github.com/envoyproxy/gateway/blob/" in note.source
    assert "gateway-api.sigs.k8s.io/geps/gep-1731" in note.source


def test_no_retry_stanza_declares_no_retries_not_judged() -> None:
    """Absent: the route declares nothing; Istio still retries twice: count not judged."""
    adapted = load_text(httproute.load, route({"timeouts": {"request": "10s"}}))
    p = adapted.policy
    assert p.max_retries == 0
    assert p.deadline_s == 10.0
    [entry] = p.not_judged
    assert entry.aspects == {Aspect.MAX_RETRIES, Aspect.STATUSES}
    assert "spec.rules[0].retry" in note_fields(adapted, "quirk")


@pytest.mark.parametrize(
    ("retry", "hint"),
    [
        ({"numRetries": 3}, "did you mean 'attempts'?"),
        ({"retryOn": [503]}, "did you mean 'codes'?"),
        ({"perTryTimeout": "1s"}, "timeouts.backendRequest"),
        ({"attempt": 3}, "did you mean 'attempts'?"),
    ],
)
def test_fields_the_api_lacks_name_the_field_meant(retry: dict[str, Any], hint: str) -> None:
    err = bad_input(httproute.load, route({"retry": retry}))
    assert err.field is not None and err.field.startswith("spec.rules[0].retry.")
    assert hint in err.reason
    err = bad_input(httproute.load, route({"retries": {"attempts": 2}}))
    assert err.field == "spec.rules[0].retries" and "did you mean 'retry'?" in err.reason


def test_zero_timeouts_disable() -> None:
    text = route({"retry": {"attempts": 1}, "timeouts": {"request": "0s", "backendRequest": "1s"}})
    p = load_text(httproute.load, text).policy
    assert p.deadline_s is None and p.per_try_timeout_s == 1.0


def test_unusual_codes_are_noted() -> None:
    adapted = load_text(httproute.load, route({"retry": {"codes": [429, 503], "attempts": 2}}))
    assert adapted.policy.retry_on.statuses == {429, 503}
    assert "spec.rules[0].retry.codes" in note_fields(adapted, "quirk")


_DURATIONS = st.one_of(
    st.integers(0, 99_999).map(lambda n: (f"{n}ms", n / 1000)),
    st.integers(0, 9_999).map(lambda n: (f"{n}s", float(n))),
    st.tuples(st.integers(0, 59), st.integers(0, 59)).map(
        lambda t: (f"{t[0]}m{t[1]}s", 60.0 * t[0] + t[1])
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    attempts=st.integers(0, 100),
    codes=st.lists(st.integers(400, 599), unique=True, max_size=6),
    backoff=_DURATIONS,
    backend=st.none() | st.integers(1, 5000),
)
def test_fields_round_trip(
    attempts: int, codes: list[int], backoff: tuple[str, float], backend: int | None
) -> None:
    rule: dict[str, Any] = {"retry": {"codes": codes, "attempts": attempts, "backoff": backoff[0]}}
    if backend is not None:
        rule["timeouts"] = {"request": "100s", "backendRequest": f"{backend}ms"}
    p = load_text(httproute.load, route(rule)).policy
    assert p.max_retries == attempts
    assert p.retry_on.statuses == set(codes)
    assert abs(p.backoff.base_s - backoff[1]) < 1e-9 and p.backoff.minimum_only
    assert p.per_try_timeout_s == (None if backend is None else backend / 1000)
    assert p.retry_on.per_try_timeout == (backend is not None)
    assert p.deadline_s == (None if backend is None else 100.0)


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from(["1.5s", "250", "1d", "-1s", "123456ms", "1h1m1s1ms1s", "1 s"]))
def test_bad_backoff_names_field_line_and_format(bad: str) -> None:
    text = route({"retry": {"attempts": 2, "backoff": bad}})
    err = bad_input(httproute.load, text)
    assert err.field == "spec.rules[0].retry.backoff"
    assert err.line == line_of(text, "backoff:")
    assert "GEP-2257" in err.reason


@settings(max_examples=30, deadline=None)
@given(code=st.integers(-1000, 399) | st.integers(600, 10_000))
def test_codes_outside_400_599_rejected(code: int) -> None:
    text = route({"retry": {"codes": [500, code]}})
    err = bad_input(httproute.load, text)
    assert err.field == "spec.rules[0].retry.codes[1]"
    assert err.line == line_of(text, f"- {code}", after="- 500")
    assert "400..599" in err.reason


def test_backend_request_longer_than_request_rejected() -> None:
    text = route({"retry": {}, "timeouts": {"request": "1s", "backendRequest": "2s"}})
    err = bad_input(httproute.load, text)
    assert err.field == "spec.rules[0].timeouts.backendRequest"
    assert err.line == line_of(text, "backendRequest:")


def test_negative_attempts_and_missing_route() -> None:
    text = route({"retry": {"attempts": -1}})
    err = bad_input(httproute.load, text)
    assert err.field == "spec.rules[0].retry.attempts" and err.line == line_of(text, "attempts:")
    err = bad_input(httproute.load, dump({"apiVersion": "v1", "kind": "ConfigMap"}))
    assert "HTTPRoute" in err.reason

"""Traefik retry middleware adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import traefik
from harness.policy.expectations import delay_window, is_retryable_method, nominal_delay
from harness.policy.model import Aspect, JitterModel

from ._gateway_files import bad_input, dump, line_of, load_example, load_text, note_fields


def file_provider(**retry: Any) -> str:
    return dump({"http": {"middlewares": {"test-retry": {"retry": retry}}}})


def test_documented_example_schedule() -> None:
    """attempts=4, initialInterval=100ms: 3 retries, nominal 100, 126, 159 ms, each x U[.5,1.5]."""
    adapted = load_example(traefik.load, "traefik-file-provider.yaml")
    p = adapted.policy
    assert adapted.system == traefik.SYSTEM == "traefik"
    assert p.max_retries == 3
    assert p.backoff.jitter is JitterModel.PERCENT and p.backoff.jitter_fraction == 0.5
    nominal_ms = [round(nominal_delay(p, k) * 1000) for k in (1, 2, 3)]
    assert nominal_ms == [100, 126, 159]
    first = delay_window(p, 1)
    assert (first.lo_s, first.hi_s) == pytest.approx((0.05, 0.15))
    assert p.retry_on.statuses == frozenset()  # no status: network errors only
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert "http.middlewares.test-retry.retry.attempts" in note_fields(adapted, "quirk")
    assert "http.middlewares.test-retry.retry.status" in note_fields(adapted, "default")


def test_v37_toml_status_retries() -> None:
    adapted = load_example(traefik.load, "traefik-v37-status.toml")
    p = adapted.policy
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset(range(500, 600)) | {429}
    assert p.retry_on.reset  # a reset becomes Traefik's 502, which is in status
    assert p.deadline_s == 2.0
    assert p.methods.retryable is not None and "POST" not in p.methods.retryable
    assert not is_retryable_method(p, "POST", has_idempotency_key=False, trigger="status")
    assert is_retryable_method(p, "POST", has_idempotency_key=False, trigger="connect")
    assert "http.middlewares.test-retry.retry" in note_fields(adapted, "quirk")  # v3.7 only


def test_middleware_crd_without_network_retries() -> None:
    p = load_example(traefik.load, "traefik-middleware-crd.yaml").policy
    assert p.max_retries == 4
    assert p.retry_on.statuses == {502, 503, 504}
    assert p.retry_on.connect_failure  # via the 502 Traefik answers for a refused connection
    assert not p.methods.connect_failure_any_method


def test_single_attempt_and_integer_seconds() -> None:
    p = load_text(traefik.load, file_provider(attempts=1, initialInterval=1)).policy
    assert p.max_retries == 0
    p = load_text(traefik.load, file_provider(attempts=2, initialInterval=1)).policy
    assert p.backoff.base_s == 1.0 and p.backoff.multiplier == 2.0


def test_retry_non_idempotent_method() -> None:
    text = file_provider(attempts=3, status=["503"], retryNonIdempotentMethod=True)
    assert load_text(traefik.load, text).policy.methods.retryable is None


@settings(max_examples=60, deadline=None)
@given(
    attempts=st.integers(2, 30),
    initial_ms=st.integers(1, 60_000),
    ranges=st.lists(st.tuples(st.integers(100, 599), st.integers(0, 50)), max_size=4),
)
def test_fields_round_trip(attempts: int, initial_ms: int, ranges: list[tuple[int, int]]) -> None:
    blocks = [f"{low}-{min(low + width, 599)}" if width else str(low) for low, width in ranges]
    retry: dict[str, Any] = {"attempts": attempts, "initialInterval": f"{initial_ms}ms"}
    if blocks:
        retry["status"] = blocks
    p = load_text(traefik.load, file_provider(**retry)).policy
    assert p.max_retries == attempts - 1
    assert p.backoff.base_s == pytest.approx(initial_ms / 1000)
    # the multiplier makes the interval double over attempts-1 steps
    assert p.backoff.multiplier ** (attempts - 1) == pytest.approx(2.0)
    expected = {c for low, width in ranges for c in range(low, min(low + width, 599) + 1)}
    assert p.retry_on.statuses == expected
    assert p.retry_on.reset == (502 in expected)


@settings(max_examples=30, deadline=None)
@given(bad=st.integers(max_value=0) | st.text(max_size=3) | st.booleans())
def test_bad_attempts_name_field_and_line(bad: object) -> None:
    text = file_provider(attempts=bad, initialInterval="100ms")
    err = bad_input(traefik.load, text)
    assert err.field == "http.middlewares.test-retry.retry.attempts"
    assert err.line == line_of(text, "attempts:")


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from(["5xx", "600", "500-400", "abc", "99"]))
def test_bad_status_rejected(bad: str) -> None:
    text = file_provider(attempts=2, status=["503", bad])
    err = bad_input(traefik.load, text)
    assert err.field == "http.middlewares.test-retry.retry.status[1]"
    assert err.line == line_of(text, "- '503'") + 1  # the next list item


def test_configuration_errors() -> None:
    err = bad_input(traefik.load, file_provider(attempts=3, disableRetryOnNetworkError=True))
    assert "status" in err.reason
    text = file_provider(attempts=3, initialIntervall="1s")
    err = bad_input(traefik.load, text)
    assert err.field == "http.middlewares.test-retry.retry.initialIntervall"
    assert err.line == line_of(text, "initialIntervall")
    text = file_provider(attempts=3, initialInterval="fast")
    err = bad_input(traefik.load, text)
    assert err.line == line_of(text, "initialInterval")
    err = bad_input(traefik.load, dump({"http": {"routers": {}}}))
    assert "retry middleware" in err.reason
    err = bad_input(traefik.load, "[http.middlewares.x.retry]\nattempts = \n", name="bad.toml")
    assert "TOML" in err.reason


def test_a_misspelt_middleware_type_names_what_the_file_holds() -> None:
    """A file-provider YAML has no apiVersion/kind: say which middlewares and types it holds,
    not "kinds seen: None/None"."""
    err = bad_input(traefik.load, dump({"http": {"middlewares": {"my-retry": {"retyr": {}}}}}))
    assert "file-provider middlewares seen: my-retry (retyr)" in err.reason
    assert "None" not in err.reason


# --- absent / empty / set, and fields the middleware lacks (issue 7) --------------------------


def test_empty_status_and_zero_interval_are_the_same_as_absent() -> None:
    """Go zero values: status [] is no status, initialInterval 0 no backoff, timeout 0 none."""
    absent = load_text(traefik.load, file_provider(attempts=3)).policy
    empty = load_text(
        traefik.load, file_provider(attempts=3, status=[], initialInterval=0, timeout=0)
    ).policy
    assert absent == empty


@pytest.mark.parametrize(("limit", "judged"), [(None, True), (-1, True), (0, False), (1024, True)])
def test_body_limit_absent_unbounded_zero_and_set(limit: int | None, judged: bool) -> None:
    """Absent: 2 MiB (SetDefaults); -1 unbounded; 0: any body stops status retries."""
    retry: dict[str, Any] = {"attempts": 3, "status": ["503"]}
    if limit is not None:
        retry["maxRequestBodyBytes"] = limit
    adapted = load_text(traefik.load, file_provider(**retry))
    assert (adapted.policy.not_judged == ()) is judged
    if not judged:
        [entry] = adapted.policy.not_judged
        assert entry.aspects == {Aspect.STATUSES} and "body" in entry.reason


@pytest.mark.parametrize(
    ("retry", "hint"),
    [
        ({"attempts": 3, "maxAttempts": 3}, "did you mean 'attempts'?"),
        ({"attempts": 3, "retryOn": ["503"]}, "did you mean 'status'?"),
        ({"attempts": 3, "perTryTimeout": "1s"}, "no per-try timeout"),
        ({"attempts": 3, "initialinterval": "1s"}, "did you mean 'initialInterval'?"),
    ],
)
def test_fields_the_middleware_lacks_name_the_field_meant(retry: dict[str, Any], hint: str) -> None:
    err = bad_input(traefik.load, file_provider(**retry))
    assert err.field is not None and err.field.startswith("http.middlewares.test-retry.retry.")
    assert hint in err.reason


def test_misspelt_middleware_type_is_named() -> None:
    text = dump({"http": {"middlewares": {"r": {"retries": {"attempts": 3}}}}})
    err = bad_input(traefik.load, text)
    assert err.field == "http.middlewares.r.retries" and "did you mean 'retry'?" in err.reason
    crd = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": "r"},
        "spec": {"retries": {"attempts": 3}},
    }
    assert "did you mean 'retry'?" in bad_input(traefik.load, dump(crd)).reason


def test_settings_without_effect_are_noted_not_refused() -> None:
    """Accepted by Traefik, ignored without `status`: read as what happens, with a note."""
    text = file_provider(attempts=2, retryNonIdempotentMethod=True, maxRequestBodyBytes=0)
    adapted = load_text(traefik.load, text)
    assert adapted.policy.not_judged == ()  # 0 only matters for status retries
    assert adapted.policy.max_retries == 1 and adapted.policy.retry_on.statuses == frozenset()
    quirks = [n for n in adapted.quirks if "has no effect without status" in n.text]
    assert {n.field.rsplit(".", 1)[1] for n in quirks} == {
        "retryNonIdempotentMethod",
        "maxRequestBodyBytes",
    }


# -- servers that are not harness backends ---------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "foreign"),
    [
        (["http://{{upstream_hostport}}"], []),
        (["http://{{upstream_hostport}}", "http://127.0.0.1:1"], ["http://127.0.0.1:1"]),
        (["http://10.0.0.5:80"], ["http://10.0.0.5:80"]),
    ],
)
def test_a_server_url_without_a_placeholder_is_not_judged(
    urls: list[str], foreign: list[str]
) -> None:
    """Traefik's attempts to a server that is not a harness backend reach no journal."""
    text = dump(
        {
            "http": {
                "middlewares": {"r": {"retry": {"attempts": 3}}},
                "services": {"app": {"loadBalancer": {"servers": [{"url": u} for u in urls]}}},
            }
        }
    )
    policy = load_text(traefik.load, text).policy
    assert [u.native.split(": ", 1)[1] for u in policy.not_judged] == foreign
    for u in policy.not_judged:
        assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
        assert u.location is not None and u.location.rsplit(":", 1)[1].isdigit()

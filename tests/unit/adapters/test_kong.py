"""Kong service retries adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import kong
from harness.policy.expectations import delay_window, is_retryable_method

from ._gateway_files import bad_input, dump, line_of, load_example, load_text, note_fields


def declarative(**service: Any) -> str:
    return dump(
        {"_format_version": "3.0", "services": [{"name": "s", "url": "http://b:80", **service}]}
    )


def test_declarative_example() -> None:
    adapted = load_example(kong.load, "kong-declarative.yaml")
    p = adapted.policy
    assert adapted.system == kong.SYSTEM == "kong"
    assert p.max_retries == 3
    assert p.per_try_timeout_s == 1.5
    assert p.retry_on.statuses == frozenset()  # nginx 'error timeout': no status retries
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.different_upstream
    assert delay_window(p, 1).hi_s == 0  # immediate
    assert "services[0]" in note_fields(adapted, "default")  # 2 services, the first is used


def test_defaults_filled_and_noted() -> None:
    """Kong's published defaults: retries 5, timeouts 60000 ms."""
    adapted = load_example(kong.load, "kong-defaults.yaml")
    p = adapted.policy
    assert p.max_retries == kong.DEFAULT_RETRIES == 5
    assert p.per_try_timeout_s == 60.0
    assert {
        "services[0].retries",
        "services[0].connect_timeout",
        "services[0].write_timeout",
        "services[0].read_timeout",
    } <= note_fields(adapted, "default")
    assert {"services[0].retries", "services[0].read_timeout"} <= note_fields(adapted, "quirk")


def test_non_idempotent_methods_only_retried_on_connect_failure() -> None:
    p = load_example(kong.load, "kong-defaults.yaml").policy
    for method in ("POST", "PATCH", "LOCK"):
        assert not is_retryable_method(p, method, has_idempotency_key=False, trigger="reset")
        assert is_retryable_method(p, method, has_idempotency_key=False, trigger="connect")
    for method in ("GET", "PUT", "DELETE", "HEAD"):
        assert is_retryable_method(p, method, has_idempotency_key=False, trigger="timeout")


def test_kubernetes_annotations() -> None:
    adapted = load_example(kong.load, "kong-k8s-annotations.yaml")
    p = adapted.policy
    assert (p.max_retries, p.per_try_timeout_s) == (2, 3.0)
    assert "metadata.annotations.konghq.com/write-timeout" in note_fields(adapted, "default")


def test_kong_ingress_proxy_section() -> None:
    ingress = {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongIngress",
        "metadata": {"name": "retries"},
        "proxy": {"retries": 7, "read_timeout": 2500},
    }
    adapted = load_text(kong.load, dump(ingress))
    assert (adapted.policy.max_retries, adapted.policy.per_try_timeout_s) == (7, 2.5)
    assert "proxy" in note_fields(adapted, "quirk")  # deprecated in favour of annotations


def test_single_upstream_retries_the_same_server() -> None:
    adapted = load_example(kong.load, "kong-defaults.yaml", upstream_servers=1)
    assert not adapted.policy.different_upstream
    assert any("same server" in n.text for n in adapted.quirks)


@settings(max_examples=60, deadline=None)
@given(
    retries=st.integers(0, kong.MAX_RETRIES),
    read_ms=st.integers(1, kong.MAX_TIMEOUT_MS),
    connect_ms=st.integers(1, kong.MAX_TIMEOUT_MS),
)
def test_fields_round_trip(retries: int, read_ms: int, connect_ms: int) -> None:
    text = declarative(retries=retries, read_timeout=read_ms, connect_timeout=connect_ms)
    adapted = load_text(kong.load, text)
    assert adapted.policy.max_retries == retries
    assert adapted.policy.per_try_timeout_s == read_ms / 1000
    assert "services[0].connect_timeout" not in note_fields(adapted, "default")
    assert "services[0].write_timeout" in note_fields(adapted, "default")


@settings(max_examples=40, deadline=None)
@given(bad=st.integers(max_value=-1) | st.integers(min_value=32768) | st.text(max_size=4))
def test_bad_retries_name_field_and_line(bad: object) -> None:
    text = declarative(retries=bad)
    err = bad_input(kong.load, text)
    assert err.field == "services[0].retries"
    assert err.line == line_of(text, "retries:")
    assert "0..32767" in err.reason


def test_bad_annotation_and_timeout() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo", "annotations": {"konghq.com/retries": "three"}},
    }
    text = dump(service)
    err = bad_input(kong.load, text)
    assert err.field == "metadata.annotations.konghq.com/retries"
    assert err.line == line_of(text, "konghq.com/retries")
    err = bad_input(kong.load, declarative(read_timeout=0))
    assert err.field == "services[0].read_timeout"


def test_no_service_found() -> None:
    err = bad_input(kong.load, dump({"apiVersion": "v1", "kind": "ConfigMap"}))
    assert "Kong service" in err.reason

"""Kong service retries adapter: examples, defaults, quirks, properties, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import kong
from harness.policy.expectations import delay_window, is_retryable_method
from harness.policy.model import Aspect

from ._gateway_files import (
    bad_input,
    dump,
    line_of,
    load_example,
    load_text,
    note_fields,
    refused,
    shown_policy,
)


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


def test_kong_ingress_proxy_section_is_refused_with_the_annotations_meant() -> None:
    """KIC 3.0 removed KongIngress proxy; its CRD refuses the section."""
    ingress = {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongIngress",
        "metadata": {"name": "retries"},
        "proxy": {"retries": 7, "read_timeout": 2500},
    }
    err = bad_input(kong.load, dump(ingress))
    assert err.field == "proxy" and "konghq.com/retries" in err.reason


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


def annotated(value: object) -> str:
    return dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "annotations": {"konghq.com/retries": value}},
        }
    )


@pytest.mark.parametrize("value", ["three", "", " 3", "3.0", "3s"])
def test_annotation_atoi_cannot_read_is_skipped_like_kic(value: str) -> None:
    """KIC: strconv.Atoi fails -> the annotation is skipped: Kong's default 5, with a note."""
    adapted = load_text(kong.load, annotated(value))
    assert adapted.policy.max_retries == kong.DEFAULT_RETRIES == 5
    assert any("strconv.Atoi" in n.text for n in adapted.quirks)


def test_annotation_signs_and_refusals() -> None:
    assert load_text(kong.load, annotated("+3")).policy.max_retries == 3  # Atoi reads "+3"
    text = annotated("-1")
    err = bad_input(kong.load, text)  # KIC passes -1, Kong's schema refuses it
    assert err.field == "metadata.annotations.konghq.com/retries"
    assert err.line == line_of(text, "konghq.com/retries") and "0..32767" in err.reason
    err = bad_input(kong.load, annotated(3))  # annotations are strings: the API refuses 3
    assert "quote it" in err.reason
    err = bad_input(kong.load, declarative(read_timeout=0))
    assert err.field == "services[0].read_timeout"


# --- accepted without effect / unknown to the API (issue 7) ----------------------------------


def test_retries_annotation_on_an_httproute_has_no_effect(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What Kong will really do: its default 5 retries, with a note saying why."""
    shown = shown_policy(capsys, "kong", "kong-httproute-annotation.yaml")
    assert shown["policy"]["max_retries"] == 5
    assert shown["policy"]["per_try_timeout_s"] == 60.0
    [note] = [n for n in shown["notes"] if "has no effect on a HTTPRoute" in n["text"]]
    assert note["field"] == "metadata.annotations.konghq.com/retries"
    assert note["source"].startswith("https://github.com/Kong/kubernetes-ingress-controller/")


def test_misplaced_annotation_next_to_an_annotated_service() -> None:
    route = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i", "annotations": {"konghq.com/retries": "9"}},
    }
    adapted = load_text(kong.load, annotated("2") + "---\n" + dump(route))
    assert adapted.policy.max_retries == 2  # the Service's, not the Ingress's
    assert any("has no effect on a Ingress" in n.text for n in adapted.quirks)


def test_kong_plugin_without_plugin_says_kong_ships_no_retry_plugin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "kong", "kong-plugin-no-name.yaml")
    assert "KongPlugin retry-on-failure has no plugin: field" in err
    assert "Kong ships no retry plugin" in err


@pytest.mark.parametrize("plugin", ["pre-function", "post-function", "retry", "my-balancer"])
def test_plugins_with_code_of_their_own_are_not_judged(plugin: str) -> None:
    kong_plugin = {
        "apiVersion": "configuration.konghq.com/v1",
        "kind": "KongPlugin",
        "metadata": {"name": "p"},
        "plugin": plugin,
    }
    p = load_text(kong.load, annotated("2") + "---\n" + dump(kong_plugin)).policy
    [entry] = p.not_judged
    assert entry.aspects == {Aspect.MAX_RETRIES, Aspect.STATUSES, Aspect.RESETS, Aspect.UPSTREAM}
    assert plugin in entry.reason and p.max_retries == 2


def test_harmless_plugins_and_declarative_plugins() -> None:
    text = dump(
        {
            "_format_version": "3.0",
            "plugins": [{"name": "rate-limiting"}],
            "services": [{"name": "s", "url": "http://b", "plugins": [{"name": "post-function"}]}],
        }
    )
    p = load_text(kong.load, text).policy
    assert [e.native.split(":")[0] for e in p.not_judged] == ["services[0].plugins[0].name"]


def test_declarative_typos_name_the_field_meant() -> None:
    err = bad_input(kong.load, declarative(retry=3))
    assert err.field == "services[0].retry" and "did you mean 'retries'?" in err.reason
    err = bad_input(kong.load, declarative(read_timeot=100))
    assert "did you mean 'read_timeout'?" in err.reason


def test_no_service_found() -> None:
    err = bad_input(kong.load, dump({"apiVersion": "v1", "kind": "ConfigMap"}))
    assert "Kong service" in err.reason


def test_misspelt_annotation_has_no_effect_and_names_the_one_meant() -> None:
    text = dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "annotations": {"konghq.com/retry": "2"}},
        }
    )
    adapted = load_text(kong.load, text)
    assert adapted.policy.max_retries == 5  # KIC ignores the unknown annotation
    assert any("did you mean konghq.com/retries?" in n.text for n in adapted.quirks)


# -- health checks -------------------------------------------------------------------------


def _with_upstream(healthchecks: dict[str, Any], *, name: str = "b") -> str:
    return dump(
        {
            "_format_version": "3.0",
            "services": [{"name": "s", "url": "http://b:80", "retries": 2}],
            "upstreams": [
                {"name": name, "healthchecks": healthchecks, "targets": [{"target": "x:1"}]}
            ],
        }
    )


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ({"passive": {"unhealthy": {"http_failures": 3}}}, "passive.unhealthy.http_failures"),
        ({"passive": {"unhealthy": {"tcp_failures": 1}}}, "passive.unhealthy.tcp_failures"),
        ({"active": {"healthy": {"interval": 5}}}, "active.healthy.interval"),
        ({"active": {"unhealthy": {"interval": 0.5}}}, "active.unhealthy.interval"),
    ],
)
def test_health_checks_of_the_services_upstream_are_not_judged(
    checks: dict[str, Any], field: str
) -> None:
    """A target marked unhealthy changes how many attempts a request gets (Kong's own 503 when
    every target is unhealthy) and where retries go; that was judged as if none ever were."""
    text = _with_upstream(checks)
    adapted = load_text(kong.load, text, upstream_servers=3)
    [entry] = adapted.policy.not_judged
    assert entry.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert entry.native.startswith(f"upstreams[0].healthchecks.{field}")
    assert entry.location is not None
    assert entry.location.endswith(f":{line_of(text, field.rsplit('.', 1)[1])}")
    assert "503" in entry.reason and "unhealthy" in entry.reason
    assert adapted.policy.max_retries == 2
    one = load_text(kong.load, text, upstream_servers=1).policy.not_judged
    assert [e.aspects for e in one] == [frozenset({Aspect.MAX_RETRIES})]


@pytest.mark.parametrize(
    ("checks", "name"),
    [
        ({"passive": {"unhealthy": {"http_failures": 0, "tcp_failures": 0, "timeouts": 0}}}, "b"),
        ({"active": {"healthy": {"interval": 0}, "unhealthy": {"interval": 0}}}, "b"),
        ({"passive": {"unhealthy": {"http_failures": 3}}}, "another"),  # not the service's
    ],
)
def test_health_checks_that_are_off_or_elsewhere_stay_judged(
    checks: dict[str, Any], name: str
) -> None:
    assert not load_text(kong.load, _with_upstream(checks, name=name)).policy.not_judged


@pytest.mark.parametrize("url", ["http://user:secret@b:80/api", "https://b:8443", "http://b"])
def test_the_judged_services_url_names_its_upstream(url: str) -> None:
    """The upstream is the one the judged service's ``url`` host names, read as a URL (user info
    and port are not part of the host): the hand-made parse took
    ``user`` for the host and judged a health-checked service as if it had no checks."""
    text = _with_upstream({"passive": {"unhealthy": {"http_failures": 3}}})
    text = text.replace("http://b:80", url)
    [entry] = load_text(kong.load, text).policy.not_judged
    assert entry.native.startswith("upstreams[0].healthchecks.passive.unhealthy")


def test_kong_upstream_policy_health_checks_are_not_judged() -> None:
    text = dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "b",
                "annotations": {"konghq.com/retries": "2", "konghq.com/upstream-policy": "hc"},
            },
        },
        {
            "apiVersion": "configuration.konghq.com/v1beta1",
            "kind": "KongUpstreamPolicy",
            "metadata": {"name": "hc"},
            "spec": {"healthchecks": {"passive": {"unhealthy": {"httpFailures": 2}}}},
        },
    )
    [entry] = load_text(kong.load, text, upstream_servers=2).policy.not_judged
    assert entry.native.startswith("spec.healthchecks.passive.unhealthy.httpFailures")


def test_a_non_number_health_check_threshold_is_refused() -> None:
    text = _with_upstream({"passive": {"unhealthy": {"timeouts": "three"}}})
    err = bad_input(kong.load, text)
    assert err.field == "upstreams[0].healthchecks.passive.unhealthy.timeouts"
    assert "number" in str(err) and err.line == line_of(text, "timeouts")

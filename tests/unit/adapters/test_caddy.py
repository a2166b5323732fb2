"""The Caddy 2.6 adapter: realistic files, documented defaults, quirks, errors, properties."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import caddy
from harness.adapters.base import AdaptedPolicy, AdapterContext, AdapterNote
from harness.errors import BadInput
from harness.oracle.aspects import not_judged_result
from harness.policy.model import Aspect, JitterModel
from tests.unit.adapters._proxy_files import DATA, SHIPPED, fields, load_text

CTX3 = AdapterContext(upstream_servers=3)


def _caddyfile(subdirectives: str) -> str:
    return (
        "{\n\tadmin off\n}\n"
        "http://:{{listen_port}} {\n"
        "\tbind {{listen_host}}\n"
        "\treverse_proxy {\n"
        "\t\tto {{upstream_hostport}}\n"
        f"{subdirectives}\n"
        "\t}\n"
        "}\n"
    )


# -- pinned documented numbers -------------------------------------------------------------


def test_interval_default_250ms_only_with_try_duration() -> None:
    assert caddy.DEFAULT_TRY_INTERVAL_S == 0.25
    with_duration = load_text(caddy.load, _caddyfile("\t\tlb_try_duration 1s")).policy
    assert with_duration.backoff.base_s == 0.25
    only_retries = load_text(caddy.load, _caddyfile("\t\tlb_retries 3"))
    assert only_retries.policy.backoff.base_s == 0.0
    assert only_retries.policy.max_retries == 3
    quirk = next(n for n in only_retries.quirks if n.field == "lb_try_interval")
    assert "back to back" in quirk.text


def test_no_retry_settings_means_no_retries() -> None:
    adapted = caddy.load(DATA / "Caddyfile-no-retry", CTX3)
    assert adapted.policy.max_retries == 0
    assert "lb_retries" in fields(adapted, "default")


# -- realistic files ----------------------------------------------------------------------


def test_shipped_caddyfile() -> None:
    adapted = caddy.load(SHIPPED / "Caddyfile", CTX3)
    p = adapted.policy
    assert p.system == "caddy"
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset()  # never retries a status
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.backoff.base_s == 0.1
    assert p.backoff.multiplier == 1.0
    assert p.backoff.jitter is JitterModel.NONE
    assert p.backoff.first_retry_waits
    assert p.deadline_s == 5.0
    assert p.per_try_timeout_s == 5.0
    assert p.methods.retryable == frozenset({"GET"})
    assert p.methods.connect_failure_any_method
    assert p.different_upstream is False
    assert any("status codes are never retried" in n.text for n in adapted.quirks)


def test_shipped_try_duration_only() -> None:
    adapted = caddy.load(SHIPPED / "Caddyfile-try-duration", CTX3)
    p = adapted.policy
    assert p.deadline_s == 2.0
    assert p.backoff.base_s == 0.25
    assert p.max_retries == 8  # ceil(2s / 250ms) when attempts fail at once
    assert p.per_try_timeout_s is None
    assert {"lb_try_interval", "lb_retries"} <= fields(adapted, "default")


def test_retry_match_first_reverse_proxy_and_nesting() -> None:
    adapted = caddy.load(DATA / "Caddyfile-retry-match", CTX3)
    p = adapted.policy
    assert p.max_retries == 4
    assert p.methods.retryable == frozenset({"POST", "PUT"})
    assert p.per_try_timeout_s == 1.5
    assert p.retry_on.per_try_timeout
    assert "first of 2" in adapted.notes[0].text
    assert {"fail_duration", "lb_retry_match"} <= fields(adapted, "quirk")


def test_unmodelled_retry_match_is_noted() -> None:
    sub = "\t\tlb_retries 1\n\t\tlb_retry_match {\n\t\t\tpath /idempotent/*\n\t\t}"
    adapted = load_text(caddy.load, _caddyfile(sub))
    (u,) = adapted.policy.not_judged
    assert '"path"' in u.native and "/idempotent/*" in u.native
    assert any("not judged" in n.text for n in adapted.quirks)


def test_single_upstream_noted() -> None:
    adapted = load_text(caddy.load, _caddyfile("\t\tlb_retries 2"), upstream_servers=1)
    assert "to" in fields(adapted, "quirk")


def test_zero_interval_with_duration_is_caddys_250ms_default() -> None:
    """Caddy's Provision replaces a zero try_interval by 250ms when try_duration > 0."""
    adapted = load_text(caddy.load, _caddyfile("\t\tlb_try_duration 1s\n\t\tlb_try_interval 0"))
    assert adapted.policy.backoff.base_s == 0.25
    assert adapted.policy.max_retries == 4  # ceil(1s / 250ms)


def test_tokenizer_comments_quotes_and_placeholders() -> None:
    sub = (
        '\t\theader_up X-Note "a { b } # c"  # lb_retries 9\n'
        "\t\theader_up Host {http.request.host}\n"
        '\t\tlb_retries "5"'
    )
    assert load_text(caddy.load, _caddyfile(sub)).policy.max_retries == 5


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("250ms", 0.25), ("1.5s", 1.5), ("1m30s", 90.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_duration_syntax(value: str, seconds: float) -> None:
    p = load_text(caddy.load, _caddyfile(f"\t\tlb_try_duration {value}\n\t\tlb_retries 1")).policy
    assert p.deadline_s == pytest.approx(seconds)


# -- errors: one BadInput naming file, line and field ---------------------------------------


@pytest.mark.parametrize(
    ("sub", "field", "words"),
    [
        # Caddy's own messages (caddy adapt), with the user's file, line and directive
        ("\t\tlb_retries two", "lb_retries", "bad lb_retries number 'two'"),
        ("\t\tlb_try_duration 5", "lb_try_duration", "missing unit"),
        ("\t\tlb_try_interval 1 s", "lb_try_interval", "bad interval value '1'"),
        ("\t\tlb_try_duration 5sec", "lb_try_duration", "5sec"),
    ],
)
def test_bad_values_name_file_line_field(sub: str, field: str, words: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(caddy.load, _caddyfile(sub), name="Caddyfile")
    assert err.value.file is not None and err.value.file.endswith("Caddyfile")
    assert err.value.line == 8
    assert err.value.field == field
    assert words in err.value.reason


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # Caddy's own messages (caddy adapt)
        (":80 {\n}\n}\n", None, "subject does not qualify for certificate: '}'"),
        (":80 {\n\treverse_proxy a:1 { lb_retries 1 }\n}\n", 2, "after '{' on same line"),
        (":80 {\n\trespond hi\n}\n", None, "no reverse_proxy"),
    ],
)
def test_structural_errors(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(caddy.load, text)
    assert reason in err.value.reason
    assert err.value.line == line


def test_a_block_left_open_at_the_end_is_read_as_caddy_reads_it() -> None:
    """Caddy 2.6 accepts it (caddy adapt gives the JSON); so does the adapter."""
    text = ":80 {\n\treverse_proxy a:1 {\n\t\tlb_retries 1\n}\n"
    assert load_text(caddy.load, text).policy.max_retries == 1


def test_negative_lb_retries_would_retry_forever_and_is_refused() -> None:
    with pytest.raises(BadInput, match="retries without limit") as err:
        load_text(caddy.load, _caddyfile("\t\tlb_retries -1"))
    assert err.value.field == "lb_retries"


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    retries=st.none() | st.integers(min_value=0, max_value=1000),
    duration_ms=st.none() | st.integers(min_value=0, max_value=600_000),
    interval_ms=st.none() | st.integers(min_value=1, max_value=60_000),
)
def test_property_lb_settings_round_trip(
    retries: int | None, duration_ms: int | None, interval_ms: int | None
) -> None:
    lines = []
    if retries is not None:
        lines.append(f"\t\tlb_retries {retries}")
    if duration_ms is not None:
        lines.append(f"\t\tlb_try_duration {duration_ms}ms")
    if interval_ms is not None:
        lines.append(f"\t\tlb_try_interval {interval_ms}ms")
    p = load_text(caddy.load, _caddyfile("\n".join(lines))).policy

    duration_s = (duration_ms or 0) / 1000
    default_interval_s = 0.25 if duration_s > 0 else 0.0  # the documented quirk
    interval_s = default_interval_s if interval_ms is None else interval_ms / 1000
    assert p.backoff.base_s == pytest.approx(interval_s)
    assert p.backoff.multiplier == 1.0 and p.backoff.jitter is JitterModel.NONE
    assert p.deadline_s == (pytest.approx(duration_s) if duration_s > 0 else None)
    if retries:
        assert p.max_retries == retries
    elif duration_s > 0:
        assert p.max_retries == max(1, math.ceil(duration_s / interval_s - 1e-9))
    else:
        assert p.max_retries == 0
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure


# -- findings of this harness against Caddy 2.6.2 ----------------------------------------------


def _keepalive_note(adapted: AdaptedPolicy) -> list[AdapterNote]:
    return [n for n in adapted.quirks if n.field == "transport http.keepalive"]


@pytest.mark.parametrize(
    "transport",
    [
        "",
        "\t\ttransport http {\n\t\t\tdial_timeout 1s\n\t\t}",
        "\t\ttransport http {\n\t\t\tkeepalive 30s\n\t\t}",
    ],
    ids=["no-transport", "transport-without-keepalive", "keepalive-duration"],
)
def test_keepalive_on_notes_hidden_transport_replays(transport: str) -> None:
    adapted = load_text(caddy.load, _caddyfile("\t\tlb_retries 2\n" + transport))
    (note,) = _keepalive_note(adapted)
    assert "replays an idempotent request" in note.text
    assert "same upstream" in note.text and "outside lb_retries" in note.text
    assert "keepalive off" in note.text
    assert "caddy-keepalive-hidden-retries.yaml" in (note.source or "")
    assert "2.6.2" in (note.source or "")
    assert adapted.policy.max_retries == 2  # the declared count is what the file says


def test_keepalive_off_has_no_replay_note() -> None:
    adapted = caddy.load(SHIPPED / "Caddyfile-no-keepalive", CTX3)
    assert _keepalive_note(adapted) == []
    assert _keepalive_note(caddy.load(SHIPPED / "Caddyfile", CTX3))


def test_try_duration_checked_before_the_interval_sleep_is_noted() -> None:
    adapted = caddy.load(SHIPPED / "Caddyfile-deadline", CTX3)
    assert adapted.policy.deadline_s == 1.0 and adapted.policy.backoff.base_s == 0.7
    overrun = [n for n in adapted.quirks if n.field == "lb_try_duration" and "BEFORE" in n.text]
    assert len(overrun) == 1
    assert "up to one interval after the try duration" in overrun[0].text
    assert "1s + 0.7s = 1.7s" in overrun[0].text
    assert "scenarios/deadline.yaml" in (overrun[0].source or "")


def test_no_overrun_note_without_a_try_duration() -> None:
    adapted = load_text(caddy.load, _caddyfile("\t\tlb_retries 2\n\t\tlb_try_interval 100ms"))
    assert not [n for n in adapted.quirks if "BEFORE" in n.text]


# -- passive health checks -------------------------------------------------------------------


def test_passive_health_checks_make_retry_count_upstream_and_backoff_not_judged() -> None:
    sub = "\t\tlb_retries 2\n\t\tlb_try_interval 100ms\n\t\tfail_duration 10s\n\t\tmax_fails 3"
    adapted = load_text(caddy.load, _caddyfile(sub), name="Caddyfile", upstream_servers=2)
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
    assert u.native == "fail_duration 10s max_fails 3"
    assert "max_fails (3) failures within fail_duration (10s)" in u.reason
    assert u.location is not None and u.location.endswith("Caddyfile:10")  # fail_duration
    (note,) = [n for n in adapted.quirks if n.field == "fail_duration"]
    assert note.text.startswith("not judged (backoff, max_retries, upstream)")
    assert "caddyserver.com/docs" in (note.source or "")
    for name in ("attempts_bound", "retry_when_due", "client_agreement", "backoff_window"):
        assert not_judged_result(name, adapted.policy) is not None, name
    for name in ("non_retryable_status", "per_try_timeout", "overall_deadline"):
        assert not_judged_result(name, adapted.policy) is None, name


def test_passive_health_checks_without_retries_leave_the_backoff_judged() -> None:
    adapted = load_text(caddy.load, _caddyfile("\t\tfail_duration 10s"), upstream_servers=1)
    (u,) = adapted.policy.not_judged  # one upstream is no exception: Caddy marks it down too
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert "max_fails (1)" in u.reason  # Caddy's default with a fail_duration


def test_passive_health_checks_without_fail_duration_mark_every_upstream_down() -> None:
    sub = "\t\tlb_retries 1\n\t\tunhealthy_status 5xx\n\t\tunhealthy_request_count 10"
    (u,) = load_text(caddy.load, _caddyfile(sub)).policy.not_judged
    assert u.native == "unhealthy_status 5xx unhealthy_request_count 10"
    assert "EVERY upstream unhealthy" in u.reason and "unhealthy_request_count" in u.reason
    assert Aspect.BACKOFF not in u.aspects  # lb_retries without an interval: back to back


def test_passive_health_checks_in_json_name_the_json_path() -> None:
    text = (
        '{"apps": {"http": {"servers": {"s": {"listen": [":1"], "routes": [{"handle": [{'
        '"handler": "reverse_proxy", "upstreams": [{"dial": "{{upstream_hostport}}"}],'
        '"load_balancing": {"retries": 1},'
        '"health_checks": {"passive": {"fail_duration": 5000000000}}}]}]}}}}}'
    )
    (u,) = load_text(caddy.load, text, name="caddy.json").policy.not_judged
    assert u.native == "fail_duration 5s"
    assert u.location is not None and u.location.endswith(
        "apps.http.servers.s.routes[0].handle[0].health_checks.passive"
    )


def test_no_passive_health_checks_nothing_not_judged() -> None:
    adapted = caddy.load(SHIPPED / "Caddyfile", CTX3)
    assert adapted.policy.not_judged == ()
    assert "fail_duration" not in fields(adapted, "quirk")


def test_active_health_checks_are_not_judged_too() -> None:
    sub = "\t\tlb_retries 1\n\t\tlb_try_interval 50ms\n\t\thealth_uri /healthz\n\t\thealth_port 9"
    adapted = load_text(caddy.load, _caddyfile(sub), name="Caddyfile")
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
    assert u.native == "health_uri /healthz health_port 9 health_interval 30s"  # the default
    assert u.location is not None and u.location.endswith(".health_checks.active")
    assert "health_uri" in fields(adapted, "quirk")


def test_active_health_check_settings_without_a_probe_target_change_nothing() -> None:
    # Caddy starts the active checker only with a uri, path or port
    adapted = load_text(caddy.load, _caddyfile("\t\tlb_retries 1\n\t\thealth_interval 1s"))
    assert adapted.policy.not_judged == ()


# -- request_body max_size: Caddy's own body limit ------------------------------------------


def _json(routes: list[dict[str, Any]]) -> str:
    server = {"listen": [":1"], "routes": routes}
    return json.dumps({"apps": {"http": {"servers": {"s": server}}}})


_RP = {"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:1"}]}


def _body(size: int) -> dict[str, Any]:
    return {"handler": "request_body", "max_size": size}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ([{"handle": [_body(4000), _RP]}], 4000),  # same handle list, before it
        ([{"handle": [_body(900)]}, {"handle": [_RP]}], 900),  # an earlier route
        ([{"handle": [_body(9000), _body(100), _RP]}], 100),  # the smallest
        ([{"handle": [_RP, _body(4000)]}], None),  # after it: not met
        (  # behind a matcher: may not apply, not read
            [{"match": [{"path": ["/up*"]}], "handle": [_body(900)]}, {"handle": [_RP]}],
            None,
        ),
        ([{"handle": [_RP]}], None),
    ],
)
def test_request_body_max_size_before_the_proxy_is_the_body_limit(
    routes: list[dict[str, Any]], expected: int | None
) -> None:
    limit = load_text(caddy.load, _json(routes), name="caddy.json").body_limit
    assert (limit.max_bytes if limit is not None else None) == expected
    if limit is not None:
        assert "request_body max_size" in limit.source and "apps.http.servers.s" in limit.source


# -- upstreams that are not harness backends -------------------------------------------------


@pytest.mark.parametrize(
    ("dials", "foreign"),
    [
        (["{{upstream_hostport}}"], []),
        (["{{upstream_hostport}}", "127.0.0.1:1"], ["127.0.0.1:1"]),
        (["10.0.0.5:80"], ["10.0.0.5:80"]),
    ],
)
def test_a_json_upstream_without_a_placeholder_is_not_judged(
    dials: list[str], foreign: list[str]
) -> None:
    """Caddy's attempts to an upstream that is not a harness backend reach no journal."""
    rp = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": d} for d in dials],
        "load_balancing": {"retries": 2},
    }
    adapted = load_text(caddy.load, _json([{"handle": [rp]}]), name="caddy.json")
    unjudged = [u for u in adapted.policy.not_judged if u.reason == caddy._FOREIGN_REASON]
    assert [u.native for u in unjudged] == [f"upstream {d}" for d in foreign]
    for u in unjudged:
        assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
        assert u.location is not None and ":" in u.location
    assert (not_judged_result("client_agreement", adapted.policy) is None) == (not foreign)


def test_a_caddyfile_upstream_next_to_the_placeholder_names_its_line() -> None:
    text = _caddyfile("\t\tto 127.0.0.1:9\n\t\tlb_retries 1")
    adapted = load_text(caddy.load, text, name="Caddyfile")
    (u,) = adapted.policy.not_judged
    assert u.native == "upstream 127.0.0.1:9" and u.location is not None
    assert u.location.endswith("Caddyfile:8")
    assert load_text(caddy.load, _caddyfile("\t\tlb_retries 1")).policy.not_judged == ()

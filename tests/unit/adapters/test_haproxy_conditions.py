"""HAProxy conditions over methods: the grammar, the issue's examples, and a hypothesis property
against an independent brute-force reference (tests/unit/adapters/haproxy_condition_strategies).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from harness.adapters import haproxy
from harness.adapters import haproxy_conditions as hc
from harness.errors import BadInput
from harness.policy.model import Aspect
from tests.unit.adapters._proxy_files import load_text
from tests.unit.adapters.haproxy_condition_strategies import (
    METHODS,
    Condition,
    conditions,
    reference,
    render,
)


def _eval(acl_lines: list[str], cond: str) -> dict[str, bool | None]:
    table = hc.AclTable()
    for i, line in enumerate(acl_lines, start=1):
        table.declare(line.split()[1:], file="t.cfg", line=i)
    truth = hc.parse_condition(cond.split(), table.acls, file="t.cfg", line=99, field_name="x")
    return {m: truth.value(m) for m in METHODS}


def _true_for(acl_lines: list[str], cond: str) -> set[str]:
    return {m for m, v in _eval(acl_lines, cond).items() if v}


def test_meth_get_is_get_and_head_as_documented() -> None:
    assert _true_for([], "if METH_GET") == {"GET", "HEAD"}
    assert _true_for([], "if !METH_GET !METH_HEAD !METH_OPTIONS") == set(METHODS) - {
        "GET",
        "HEAD",
        "OPTIONS",
    }


@pytest.mark.parametrize(
    ("acls", "cond", "true_for"),
    [
        ([], "if METH_POST || METH_PUT", {"POST", "PUT"}),
        ([], "if METH_POST or METH_PUT", {"POST", "PUT"}),
        ([], "if METH_POST OR METH_PUT", {"POST", "PUT"}),
        ([], "unless METH_GET", set(METHODS) - {"GET", "HEAD"}),
        ([], "if ! METH_GET", set(METHODS) - {"GET", "HEAD"}),
        ([], "if !!METH_POST", {"POST"}),
        ([], "if { method POST PATCH }", {"POST", "PATCH"}),
        ([], "if !{ method POST }", set(METHODS) - {"POST"}),
        (["acl is_write method POST PUT"], "if is_write", {"POST", "PUT"}),
        (["acl w method POST", "acl w method DELETE"], "if w", {"POST", "DELETE"}),
        (["acl METH_POST method PUT"], "if METH_POST", {"PUT"}),  # user ACL shadows
        ([], "if METH_POST METH_PUT", set()),  # dead: one request has one method
        ([], "if TRUE", set(METHODS)),
        ([], "if FALSE || METH_TRACE", {"TRACE"}),
        (["acl lc method post"], "if lc", set()),  # values are case-sensitive
        (["acl lc method -i get"], "if lc", set()),  # known method: enum compare, no -i
        (["acl lc method -i patch"], "if lc", {"PATCH"}),  # other method: -i string compare
    ],
)
def test_grammar(acls: list[str], cond: str, true_for: set[str]) -> None:
    values = _eval(acls, cond)
    assert {m for m, v in values.items() if v} == true_for
    assert None not in values.values()


def test_request_dependent_terms_are_unknown_only_where_they_decide() -> None:
    values = _eval(["acl big req.hdr_val(content-length) gt 1000"], "if METH_POST big")
    assert values["POST"] is None
    assert all(values[m] is False for m in METHODS if m != "POST")
    values = _eval([], "if METH_GET || { path_beg /x }")
    assert values["GET"] is True and values["POST"] is None
    values = _eval([], "if HTTP_CONTENT")
    assert set(values.values()) == {None}


@pytest.mark.parametrize(
    ("cond", "reason"),
    [
        ("if nope", "no such ACL: 'nope'"),
        ("if { method POST", "missing closing '}'"),
        ("if", "needs a condition"),
        ("when METH_POST", "expected 'if' or 'unless'"),
    ],
)
def test_conditions_haproxy_refuses(cond: str, reason: str) -> None:
    with pytest.raises(BadInput, match=reason):
        _eval([], cond)


@settings(max_examples=300, deadline=None)
@given(cond=conditions())
def test_property_evaluation_matches_the_reference(cond: Condition) -> None:
    acl_lines, text = render(cond)
    assert _eval(acl_lines, text) == reference(cond)


# -- the adapter ------------------------------------------------------------------------------

ISSUE_EXAMPLE = """\
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 5s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    retries 2
    retry-on conn-failure empty-response 502
    http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS
    server s{{upstream_index}} {{upstream_hostport}}
"""


def test_issue_example_retries_get_head_options_only() -> None:
    adapted = load_text(haproxy.load, ISSUE_EXAMPLE, upstream_servers=2)
    p = adapted.policy
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset({502})
    assert p.methods.retryable == frozenset({"GET", "HEAD", "OPTIONS"})
    assert p.methods.connect_failure_any_method
    assert p.not_judged == ()  # no body method is layer-7 retried: nothing left unjudged


def _backend(lines: str) -> str:
    return ISSUE_EXAMPLE.replace(
        "    http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS\n", lines
    )


def test_named_acl_rule_in_the_backend() -> None:
    text = _backend(
        "    option http-buffer-request\n"
        "    acl is_write method POST PUT\n"
        "    acl is_write method DELETE PATCH\n"
        "    http-request disable-l7-retry if is_write\n"
    )
    p = load_text(haproxy.load, text, upstream_servers=2).policy
    assert p.methods.retryable == frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
    assert p.not_judged == ()


def test_dead_rule_gets_a_note_and_changes_nothing() -> None:
    text = _backend(
        "    option http-buffer-request\n    http-request disable-l7-retry if METH_POST METH_PUT\n"
    )
    adapted = load_text(haproxy.load, text, upstream_servers=2)
    assert adapted.policy.methods.retryable is None
    dead = [n for n in adapted.quirks if "dead" in n.text]
    assert len(dead) == 1 and "line 13" in dead[0].text


def test_header_condition_is_not_judged_never_guessed() -> None:
    text = _backend(
        "    option http-buffer-request\n"
        "    http-request disable-l7-retry if METH_POST { req.hdr(x-idempotent) -m found }\n"
    )
    adapted = load_text(haproxy.load, text, upstream_servers=2)
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.METHODS})
    assert "req.hdr(x-idempotent)" in u.native and "POST" in u.reason
    assert u.location is not None and u.location.endswith(":13")
    assert adapted.policy.unmodelled(Aspect.METHODS) == (u,)


def test_body_methods_without_http_buffer_request_are_not_judged() -> None:
    text = _backend("    http-request disable-l7-retry if METH_DELETE\n")
    adapted = load_text(haproxy.load, text, upstream_servers=2)
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.METHODS})
    assert "http-buffer-request" in u.native and "POST, PUT, PATCH" in u.native
    assert any(n.field == "option http-buffer-request" for n in adapted.quirks)
    # with the option HAProxy waits for the body: nothing is left unjudged
    buffered = load_text(
        haproxy.load,
        _backend(
            "    option http-buffer-request\n    http-request disable-l7-retry if METH_DELETE\n"
        ),
        upstream_servers=2,
    )
    assert buffered.policy.not_judged == ()


def test_rules_that_switch_everything_off_leave_connection_retries() -> None:
    text = _backend("    http-request disable-l7-retry unless FALSE\n")
    p = load_text(haproxy.load, text, upstream_servers=2).policy
    assert p.retry_on.statuses == frozenset() and not p.retry_on.reset
    assert p.retry_on.connect_failure and p.not_judged == ()


def test_acl_declared_after_its_use_is_refused_like_haproxy_does() -> None:
    text = _backend("    http-request disable-l7-retry if w\n    acl w method POST\n")
    with pytest.raises(BadInput, match="no such ACL: 'w'") as err:
        load_text(haproxy.load, text, upstream_servers=2)
    assert err.value.line == 12


@pytest.mark.parametrize(
    ("line", "field", "meant"),
    [
        ("    retry_on 502", "retry_on", "retry-on"),
        ("    retrys 3", "retrys", "retries"),
        ("    option redispatc", "option redispatc", "redispatch"),
        (
            "    http-request disable-l7-retries",
            "http-request disable-l7-retries",
            "disable-l7-retry",
        ),
        ("    retry-on conn-failures", "retry-on", "conn-failure"),
    ],
)
def test_misspelt_keywords_are_refused_with_the_likely_one(
    line: str, field: str, meant: str
) -> None:
    with pytest.raises(BadInput) as err:
        load_text(haproxy.load, _backend(line + "\n"), upstream_servers=2)
    assert err.value.field == field
    assert f"did you mean {meant!r}" in err.value.reason


def test_retry_keywords_in_a_frontend_have_no_effect_and_say_so() -> None:
    text = ISSUE_EXAMPLE.replace("    bind {{listen}}\n", "    bind {{listen}}\n    retries 9\n")
    adapted = load_text(haproxy.load, text, upstream_servers=2)
    assert adapted.policy.max_retries == 2
    assert any("no effect" in n.text and n.field == "retries" for n in adapted.quirks)


@pytest.mark.parametrize("interval", ["1", "", "3", "0", "-2"])
def test_redispatch_wording_does_not_contradict_itself(interval: str) -> None:
    """Whatever the interval, HAProxy 2.6.12 moves every retry (test_haproxy_notes_live.py)."""
    text = _backend(f"    option redispatch {interval}\n")
    adapted = load_text(haproxy.load, text, upstream_servers=2)
    (note,) = [n for n in adapted.quirks if n.field == "option redispatch"]
    assert "every retry, connection or layer-7, may go to another server" in note.text
    assert "whatever the interval" in note.text
    assert "stay" not in note.text and "reuse" not in note.text
    assert adapted.policy.different_upstream
    one = load_text(haproxy.load, text, upstream_servers=1)
    (note,) = [n for n in one.quirks if n.field == "option redispatch"]
    assert "one server, every retry stays on it" in note.text
    assert not one.policy.different_upstream


def test_rules_in_a_named_defaults_section_are_not_judged() -> None:
    text = (
        "defaults base\n    mode http\n    timeout server 5s\n"
        "    http-request disable-l7-retry if METH_POST\n"
        "frontend fe\n    bind {{listen}}\n    default_backend be\n"
        "backend be from base\n    retries 2\n    retry-on 503\n    option http-buffer-request\n"
        "    server s{{upstream_index}} {{upstream_hostport}}\n"
    )
    (u,) = load_text(haproxy.load, text, upstream_servers=2).policy.not_judged
    assert u.aspects == frozenset({Aspect.METHODS, Aspect.STATUSES, Aspect.RESETS})
    assert u.location is not None and u.location.endswith(":4")

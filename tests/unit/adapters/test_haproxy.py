"""The HAProxy 2.6 adapter: realistic files, documented defaults, quirks, errors, properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import haproxy
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.oracle.aspects import not_judged_result
from harness.policy.model import Aspect, Unmodelled
from tests.unit.adapters._proxy_files import DATA, SHIPPED, fields, load_text

CTX3 = AdapterContext(upstream_servers=3)


def _cfg(backend_lines: str, *, defaults: str = "mode http\n    timeout server 4s") -> str:
    return (
        "global\n    maxconn 64\n"
        f"defaults\n    {defaults}\n"
        "frontend fe\n    bind {{listen}}\n    default_backend be\n"
        f"backend be\n{backend_lines}\n"
        "    server s{{upstream_index}} {{upstream_hostport}}\n"
    )


# -- pinned documented numbers -------------------------------------------------------------


def test_documented_defaults_are_pinned() -> None:
    assert haproxy.DEFAULT_RETRIES == 3
    assert haproxy.DEFAULT_RETRY_ON == ("conn-failure",)
    assert haproxy.CONN_RETRY_DELAY_CAP_S == 1.0
    assert set(haproxy.ALL_RETRYABLE_ERRORS) == {
        "conn-failure",
        "empty-response",
        "junk-response",
        "response-timeout",
        "0rtt-rejected",
        "500",
        "502",
        "503",
        "504",
    }


def test_nothing_set_means_three_retries_on_connection_failures() -> None:
    adapted = haproxy.load(DATA / "haproxy-defaults-only.cfg", CTX3)
    p = adapted.policy
    assert p.system == "haproxy"
    assert p.max_retries == 3
    assert p.retry_on.connect_failure
    assert p.retry_on.statuses == frozenset()
    assert not p.retry_on.reset and not p.retry_on.per_try_timeout
    assert p.per_try_timeout_s == 3.0
    assert {"retries", "retry-on"} <= fields(adapted, "default")
    wait_note = next(n for n in adapted.quirks if n.field == "timeout connect")
    assert "0.5s" in wait_note.text  # min(timeout connect 500ms, 1s)


# -- realistic files ----------------------------------------------------------------------


def test_shipped_haproxy_cfg() -> None:
    adapted = haproxy.load(SHIPPED / "haproxy.cfg", CTX3)
    p = adapted.policy
    assert adapted.source_file.endswith("haproxy.cfg")
    assert p.max_retries == 3
    assert p.retry_on.statuses == frozenset({502, 503, 504})
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert p.backoff.base_s == 0.0  # layer-7 retries are immediate
    assert p.per_try_timeout_s == 5.0
    assert p.methods.retryable is None  # no method filter
    assert p.different_upstream is True  # redispatch: every retry may move (2.6.12)
    texts = " ".join(n.text for n in adapted.quirks)
    assert "no method filter" in texts
    assert "every retry, connection or layer-7, may go to another server" in texts
    assert "2.6.0" in texts and "retries-1" in texts  # the off-by-one note
    assert "default_backend of frontend 'fe_main'" in adapted.notes[0].text


def test_shipped_haproxy_l7_cfg_excludes_post_from_layer7_retries() -> None:
    p = haproxy.load(SHIPPED / "haproxy-l7.cfg", CTX3).policy
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset({500, 502, 503, 504})
    assert p.retry_on.reset and p.retry_on.per_try_timeout and p.retry_on.connect_failure
    assert p.per_try_timeout_s == 2.0
    assert p.methods.retryable is not None
    assert "POST" not in p.methods.retryable and "GET" in p.methods.retryable
    assert p.methods.connect_failure_any_method


def test_named_defaults_and_default_backend_choice() -> None:
    adapted = haproxy.load(DATA / "haproxy-multi.cfg", CTX3)
    p = adapted.policy
    # 'api from base': retries 5 from 'base', retry-on replaced by the backend's own line
    assert p.max_retries == 5
    assert p.retry_on.statuses == frozenset({503})
    assert p.retry_on.connect_failure and not p.retry_on.reset
    assert p.per_try_timeout_s == 10.0
    assert "backend 'api'" in adapted.notes[0].text


def test_latest_unnamed_defaults_section_applies() -> None:
    text = (
        "defaults\n    mode http\n    retries 7\n"
        "defaults\n    mode http\n    retries 1\n"
        "backend be\n    server a 127.0.0.1:1\n"
    )
    assert load_text(haproxy.load, text).policy.max_retries == 1


def test_tcp_mode_ignores_retry_on() -> None:
    adapted = haproxy.load(DATA / "haproxy-listen.cfg", CTX3)
    p = adapted.policy
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure
    assert "mode" in fields(adapted, "quirk")
    # option redispatch 1 would redispatch every retry, but there is only one server
    assert p.different_upstream is False


def test_redispatch_every_retry_with_several_servers() -> None:
    text = _cfg("    option redispatch 1")
    assert load_text(haproxy.load, text, upstream_servers=3).policy.different_upstream is True


def test_all_retryable_errors_expands() -> None:
    p = load_text(haproxy.load, _cfg("    retry-on all-retryable-errors")).policy
    assert p.retry_on.statuses == frozenset({500, 502, 503, 504})
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.per_try_timeout_s == 4.0


def test_retry_on_none_retries_nothing() -> None:
    adapted = load_text(haproxy.load, _cfg("    retry-on none"))
    assert adapted.policy.retry_on.statuses == frozenset()
    assert not adapted.policy.retry_on.connect_failure
    assert "retry-on" in fields(adapted, "quirk")


def test_unconditional_disable_l7_retry_leaves_connection_retries() -> None:
    text = _cfg("    retry-on conn-failure 503\n    http-request disable-l7-retry")
    p = load_text(haproxy.load, text).policy
    assert p.retry_on.statuses == frozenset()
    assert p.retry_on.connect_failure


def test_conditional_disable_l7_retry_with_several_methods() -> None:
    text = _cfg("    retry-on 503\n    http-request disable-l7-retry if METH_POST || METH_PUT")
    p = load_text(haproxy.load, text).policy
    assert p.methods.retryable is not None
    assert not {"POST", "PUT"} & p.methods.retryable


def test_disable_l7_retry_notes_say_whether_connection_failures_are_retried() -> None:
    """Connection retries need conn-failure in retry-on (HAProxy back_handle_st_cer): without it
    the note must not claim they remain (a new user's finding), and the policy retries none."""
    rule = "    http-request disable-l7-retry if !METH_GET !METH_HEAD"
    without = load_text(haproxy.load, _cfg(f"    retry-on 503\n{rule}"))
    assert not without.policy.retry_on.connect_failure
    assert not without.policy.methods.connect_failure_any_method
    texts = " ".join(n.text for n in without.notes)
    assert "connection failures are not retried at all" in texts
    assert "still retried for every method" not in texts
    with_conn = load_text(haproxy.load, _cfg(f"    retry-on conn-failure 503\n{rule}"))
    assert with_conn.policy.retry_on.connect_failure
    assert with_conn.policy.methods.connect_failure_any_method
    assert "still retried for every method" in " ".join(n.text for n in with_conn.notes)
    everything_off = load_text(
        haproxy.load, _cfg("    retry-on 503\n    http-request disable-l7-retry")
    )
    assert "nothing is retried" in " ".join(n.text for n in everything_off.notes)


def test_unmodelled_condition_is_noted_not_guessed() -> None:
    text = _cfg("    retry-on 503\n    http-request disable-l7-retry if { path_beg /upload }")
    adapted = load_text(haproxy.load, text)
    assert adapted.policy.methods.retryable is None
    assert any("not judged" in n.text for n in adapted.quirks)
    assert any("path_beg /upload" in u.native for u in adapted.policy.not_judged)


def test_comments_quotes_and_escapes() -> None:
    text = _cfg("    retries \"4\"   # four\n    retry-on '503' conn\\-failure # x")
    p = load_text(haproxy.load, text).policy
    assert p.max_retries == 4
    assert p.retry_on.statuses == frozenset({503}) and p.retry_on.connect_failure


# -- errors: one BadInput naming file, line and field ---------------------------------------


@pytest.mark.parametrize(
    ("backend_lines", "line", "field", "words"),
    [
        ("    retry-on conn-failure 418", 10, "retry-on", "418"),
        ("    retries three", 10, "retries", "integer"),
        ("    retry-on none 503", 10, "retry-on", "none"),
        ("    timeout server 5 sec", 10, "timeout server", "one time value"),
        ("    timeout connect 5sec", 10, "timeout connect", "5sec"),
        ("    option redispatch soon", 10, "option redispatch", "integer"),
    ],
)
def test_bad_values_name_file_line_field(
    backend_lines: str, line: int, field: str, words: str
) -> None:
    with pytest.raises(BadInput) as err:
        load_text(haproxy.load, _cfg(backend_lines), name="bad.cfg")
    assert err.value.file is not None and err.value.file.endswith("bad.cfg")
    assert err.value.line == line
    assert err.value.field == field
    assert words in err.value.reason


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("retries 3\n", "retries", "outside any section"),
        ("frontend\n    bind :1\n", "frontend", "needs a name"),
        ("defaults\n    mode http\n", "backend", "no backend"),
        (
            "frontend fe\n    default_backend nope\nbackend be\n    server a 127.0.0.1:1\n",
            "default_backend",
            "unknown backend",
        ),
        (
            "backend a\n    server a 127.0.0.1:1\nbackend b\n    server b 127.0.0.1:2\n",
            "default_backend",
            "several backends",
        ),
        ("backend be from nope\n    server a 127.0.0.1:1\n", "backend", "no defaults"),
    ],
)
def test_structural_errors(text: str, field: str, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(haproxy.load, text)
    assert err.value.field == field
    assert reason in err.value.reason


def test_unterminated_quote_has_a_line() -> None:
    with pytest.raises(BadInput) as err:
        load_text(haproxy.load, _cfg('    retries "3'))
    assert err.value.line == 10


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        haproxy.load(tmp_path / "absent.cfg", CTX3)
    assert "absent.cfg" in str(err.value)


# -- properties ----------------------------------------------------------------------------

_KEYWORDS = ["conn-failure", "empty-response", "junk-response", "response-timeout"]
_STATUSES = sorted(haproxy.RETRY_ON_STATUSES)


@settings(max_examples=60, deadline=None)
@given(
    retries=st.integers(min_value=0, max_value=10_000),
    keywords=st.lists(st.sampled_from(_KEYWORDS), min_size=0, max_size=4, unique=True),
    statuses=st.lists(st.sampled_from(_STATUSES), max_size=10, unique=True),
    server_ms=st.integers(min_value=1, max_value=600_000),
    unit=st.sampled_from(["ms", "", "s"]),
)
def test_property_retry_settings_round_trip(
    retries: int, keywords: list[str], statuses: list[int], server_ms: int, unit: str
) -> None:
    words = keywords + [str(s) for s in statuses]
    retry_on = f"    retry-on {' '.join(words)}" if words else ""
    value = server_ms if unit != "s" else server_ms // 1000 or 1
    expected_timeout = value / 1000 if unit != "s" else float(value)
    text = _cfg(
        f"    retries {retries}\n{retry_on}",
        defaults=f"mode http\n    timeout server {value}{unit}",
    )
    p = load_text(haproxy.load, text).policy
    assert p.max_retries == retries
    effective = words or ["conn-failure"]
    assert p.retry_on.statuses == frozenset(statuses)
    assert p.retry_on.connect_failure == ("conn-failure" in effective)
    assert p.retry_on.reset == ("empty-response" in effective)
    assert p.retry_on.per_try_timeout == ("response-timeout" in effective)
    assert p.per_try_timeout_s == pytest.approx(expected_timeout)
    assert p.backoff.base_s == 0.0


def test_per_replica_placeholder_with_spaces_counts_every_replica() -> None:
    """The placeholder grammar is templating's (``{{ upstream_hostport }}`` renders one server
    per replica); the adapter's own copy used to miss the spaced form and count one server."""
    text = _cfg("    option redispatch 1").replace(
        "server s{{upstream_index}} {{upstream_hostport}}", "server s {{ upstream_hostport }}"
    )
    assert load_text(haproxy.load, text, upstream_servers=3).policy.different_upstream is True


_TWO_BACKENDS = (
    "defaults\n    mode http\n    timeout server 4s\n"
    "frontend fe\n    bind {{listen}}\n{rules}"
    "backend be\n    retries 3\n    retry-on conn-failure 503\n"
    "    server s{{upstream_index}} {{upstream_hostport}}\n"
    "backend be2\n    retries 1\n    retry-on 502\n"
    "    server s{{upstream_index}} {{upstream_hostport}}\n"
)


def _routing(entries: tuple[Unmodelled, ...]) -> list[Unmodelled]:
    return [u for u in entries if u.native.startswith("use_backend")]


def test_conditional_use_backend_to_another_backend_is_not_judged() -> None:
    """A new user's finding: requests a `use_backend ... if` rule takes get another backend's
    retry settings; that was silently ignored. Now every aspect is not judged for them."""
    rules = "    use_backend be2 if { path_beg /api }\n    default_backend be\n"
    adapted = load_text(haproxy.load, _TWO_BACKENDS.replace("{rules}", rules))
    assert adapted.policy.max_retries == 3  # the default backend's policy is still read
    [u] = _routing(adapted.policy.not_judged)
    assert u.native == "use_backend be2 if { path_beg /api }"
    assert u.aspects == frozenset(Aspect)
    assert u.location is not None and u.location.endswith(":6")
    assert any(n.field == "use_backend" and "not judged" in n.text for n in adapted.notes)
    same = "    use_backend be if { path_beg /api }\n    default_backend be\n"
    assert not _routing(
        load_text(haproxy.load, _TWO_BACKENDS.replace("{rules}", same)).policy.not_judged
    )


def test_unconditional_use_backend_picks_the_backend() -> None:
    rules = "    use_backend be2\n"
    adapted = load_text(haproxy.load, _TWO_BACKENDS.replace("{rules}", rules))
    assert adapted.policy.max_retries == 1
    assert adapted.policy.retry_on.statuses == frozenset({502})
    assert not _routing(adapted.policy.not_judged)
    with pytest.raises(BadInput, match="unknown backend 'nope'") as err:
        load_text(haproxy.load, _TWO_BACKENDS.replace("{rules}", "    use_backend nope\n"))
    assert (err.value.line, err.value.field) == (6, "use_backend")


def test_disable_l7_retry_in_an_anonymous_defaults_section_is_refused() -> None:
    """HAProxy 2.6.12 refuses the config ("not allowed in anonymous 'defaults' section", fatal);
    the adapter said "not judged" and exit 0 (a new user's finding)."""
    text = _cfg(
        "    retry-on conn-failure 503",
        defaults="mode http\n    timeout server 4s\n    http-request disable-l7-retry if METH_POST",
    )
    with pytest.raises(BadInput, match="not allowed in an anonymous defaults section") as err:
        load_text(haproxy.load, text)
    assert err.value.field == "http-request"
    assert err.value.line == 6


# -- health checks (check, observe, default-server) ---------------------------------------


def _health(entries: tuple[Unmodelled, ...]) -> list[Unmodelled]:
    return [u for u in entries if u.reason == haproxy._HEALTH_REASON]


_PLAIN_SERVER = "server s{{upstream_index}} {{upstream_hostport}}"


@pytest.mark.parametrize(
    ("backend", "suffix", "shown"),
    [
        ("", " check inter 200ms fall 2", " check inter 200ms fall 2"),
        ("", " observe layer7 error-limit 2 on-error mark-down", " observe layer7"),
        ("    default-server check\n", "", " (check from default-server)"),
        ("", " agent-check agent-port 9999", " agent-check"),
        ("", " track other/s1", " track other/s1"),
    ],
)
def test_health_checked_server_is_not_judged_on_retries_and_upstream(
    backend: str, suffix: str, shown: str
) -> None:
    """A server marked DOWN by a failed check (or by live errors with observe) changes how many
    attempts a request gets (HAProxy's own 503 when all are DOWN) and where a retry goes; that
    was judged as if every server were always available."""
    text = _cfg(backend + "    retries 2\n    retry-on conn-failure 503").replace(
        _PLAIN_SERVER, _PLAIN_SERVER + suffix
    )
    adapted = load_text(haproxy.load, text, upstream_servers=3)
    [u] = _health(adapted.policy.not_judged)
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert shown in u.native and u.native.endswith("in backend be")
    assert u.location is not None and u.location.endswith(f":{text.count(chr(10))}")
    assert "DOWN" in u.reason and "503" in u.reason
    assert any(n.field == "server" and "not judged" in n.text for n in adapted.notes)
    assert adapted.policy.max_retries == 2  # the declared count is still read


def test_one_health_checked_server_affects_only_the_retry_count() -> None:
    text = _cfg("    retries 2").replace(_PLAIN_SERVER, "server s1 127.0.0.1:9000 check")
    [u] = _health(load_text(haproxy.load, text).policy.not_judged)
    assert u.aspects == frozenset({Aspect.MAX_RETRIES})


@pytest.mark.parametrize(
    ("defaults", "backend", "suffix"),
    [
        ("mode http\n    timeout server 4s", "    retries 2", ""),
        ("mode http\n    default-server check", "    retries 2", " no-check"),
        ("mode http", "    default-server check\n    default-server no-check", ""),
        ("mode http\n    timeout server 4s", "    retries 2", " observe none"),
        ("mode http\n    default-server agent-check", "    retries 2", " no-agent-check"),
    ],
)
def test_servers_without_health_checks_stay_judged(
    defaults: str, backend: str, suffix: str
) -> None:
    text = _cfg(backend, defaults=defaults).replace(_PLAIN_SERVER, _PLAIN_SERVER + suffix)
    assert not _health(load_text(haproxy.load, text, upstream_servers=3).policy.not_judged)


def test_default_server_check_in_defaults_reaches_the_backend() -> None:
    text = _cfg("    retries 2", defaults="mode http\n    default-server check fall 1")
    [u] = _health(load_text(haproxy.load, text, upstream_servers=2).policy.not_judged)
    assert "(check from default-server)" in u.native


# -- request bodies and the buffer (tune.bufsize) -------------------------------------------


def _with_bodies(text: str, bodies: dict[str, int], tmp_path: Path) -> AdaptedPolicy:
    path = tmp_path / "haproxy.cfg"
    path.write_text(text, encoding="utf-8")
    ctx = AdapterContext(upstream_servers=1, body_bytes=bodies, body_source="s.yaml:9")
    return haproxy.load(path, ctx)


_BUFFERED = "    retry-on conn-failure 500 503\n    option http-buffer-request"


def test_buffer_defaults_are_pinned() -> None:
    assert (haproxy.DEFAULT_BUFSIZE, haproxy.DEFAULT_MAXREWRITE) == (16384, 1024)


def test_a_body_larger_than_the_usable_buffer_is_not_retried_at_layer7(tmp_path: Path) -> None:
    adapted = _with_bodies(_cfg(_BUFFERED), {"POST": 15361, "PUT": 200}, tmp_path)
    methods = adapted.policy.methods
    assert methods.retryable is not None and "POST" not in methods.retryable
    assert {"GET", "PUT"} <= methods.retryable
    assert methods.connect_failure_any_method  # conn-failure is in retry-on
    assert adapted.policy.not_judged == ()
    text = next(n.text for n in adapted.quirks if n.field == "tune.bufsize")
    assert "15361-byte" in text and "s.yaml:9" in text and "15360 bytes" in text


def test_a_body_that_fits_keeps_the_method_retryable(tmp_path: Path) -> None:
    fits = haproxy.DEFAULT_BUFSIZE - haproxy.DEFAULT_MAXREWRITE - haproxy.REQUEST_HEAD_ALLOWANCE
    adapted = _with_bodies(_cfg(_BUFFERED), {"POST": fits}, tmp_path)
    assert adapted.policy.methods.retryable is None
    assert adapted.policy.not_judged == ()


@pytest.mark.parametrize("size", [13313, 15000, 15360])
def test_a_body_near_the_buffer_size_is_not_judged(tmp_path: Path, size: int) -> None:
    adapted = _with_bodies(_cfg(_BUFFERED), {"PATCH": size}, tmp_path)
    assert adapted.policy.methods.retryable is None
    (entry,) = adapted.policy.not_judged
    assert entry.aspects == frozenset({Aspect.METHODS})
    assert entry.location == "s.yaml:9" and "PATCH" in entry.native


def test_tune_bufsize_and_maxrewrite_are_read_from_global(tmp_path: Path) -> None:
    text = _cfg(_BUFFERED).replace(
        "maxconn 64", "maxconn 64\n    tune.bufsize 32760\n    tune.maxrewrite 30000"
    )
    # bufsize rounded up to 32768; maxrewrite cut to half of it: 16384 usable
    assert _with_bodies(text, {"POST": 16385}, tmp_path).policy.methods.retryable is not None
    near = _with_bodies(text, {"POST": 16384}, tmp_path).policy.not_judged
    assert len(near) == 1 and "tune.bufsize 32768" in near[0].native
    assert ":3: tune.bufsize 32760" in near[0].reason


def test_a_large_body_without_buffering_is_exact_and_needs_no_not_judged(tmp_path: Path) -> None:
    adapted = _with_bodies(_cfg("    retry-on 503"), {"POST": 40000}, tmp_path)
    assert adapted.policy.methods.retryable is not None
    assert {"PUT", "PATCH"} <= adapted.policy.methods.retryable
    assert not adapted.policy.methods.connect_failure_any_method  # no conn-failure in retry-on
    # PUT and PATCH have no body in this load, but the scenario may send them: still not judged
    assert [u.aspects for u in adapted.policy.not_judged] == [frozenset({Aspect.METHODS})]
    assert "POST" not in adapted.policy.not_judged[0].native


def test_no_load_known_keeps_the_policy_and_says_so(tmp_path: Path) -> None:
    adapted = load_text(haproxy.load, _cfg(_BUFFERED))
    assert adapted.policy.methods.retryable is None
    text = next(n.text for n in adapted.quirks if n.field == "retry-on" and "buffer" in n.text)
    assert "here none is" in text


def test_tune_bufsize_must_be_a_number(tmp_path: Path) -> None:
    text = _cfg(_BUFFERED).replace("maxconn 64", "maxconn 64\n    tune.bufsize 16k")
    with pytest.raises(BadInput) as err:
        _with_bodies(text, {}, tmp_path)
    assert err.value.line == 3 and err.value.field == "tune.bufsize"


# -- servers that are not harness backends ---------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "judged"),
    [
        ("server spare 127.0.0.1:1", False),  # round robin sends attempts to it
        ("server spare 127.0.0.1:1 backup", True),  # never used: no server has checks
        ("server spare 127.0.0.1:1 disabled", True),  # maintenance: never used
    ],
)
def test_a_server_that_is_no_harness_backend(extra: str, judged: bool) -> None:
    """HAProxy's attempts to a literal address reach no journal. A backup is used only when
    every other server is unavailable, which without health checks never happens (tester5's
    my-haproxy-bk.cfg passed, rightly)."""
    text = _cfg("    retries 2").replace(_PLAIN_SERVER, f"{_PLAIN_SERVER}\n    {extra}")
    adapted = load_text(haproxy.load, text)
    foreign = [u for u in adapted.policy.not_judged if u.reason == haproxy._FOREIGN_REASON]
    if judged:
        assert foreign == []
        assert any("HAProxy never uses it" in n.text for n in adapted.quirks)
        return
    (u,) = foreign
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
    assert u.native.startswith("server spare 127.0.0.1:1") and u.location is not None
    for name in ("attempts_bound", "retry_when_due", "client_agreement", "backoff_window"):
        assert not_judged_result(name, adapted.policy) is not None, name


def test_a_backup_is_not_judged_when_health_checks_can_make_it_used() -> None:
    text = _cfg("    retries 2").replace(
        _PLAIN_SERVER, f"{_PLAIN_SERVER} check\n    server spare 127.0.0.1:1 backup"
    )
    adapted = load_text(haproxy.load, text)
    assert [u.native for u in adapted.policy.not_judged if u.reason == haproxy._FOREIGN_REASON] == [
        "server spare 127.0.0.1:1 backup in backend be"
    ]

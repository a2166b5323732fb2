"""The nginx 1.22 adapter: realistic files, documented defaults, quirks, errors, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.adapters import nginx
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.oracle.aspects import not_judged_result
from harness.policy.model import Aspect, Unmodelled
from tests.unit.adapters._proxy_files import DATA, SHIPPED, fields, load_text

CTX3 = AdapterContext(upstream_servers=3)


def _conf(location: str, *, servers: str = "server {{upstream_hostport}} max_fails=0;") -> str:
    return (
        "events {}\n"
        "http {\n"
        f"    upstream pool {{ {servers} }}\n"
        "    server {\n"
        "        listen {{listen}};\n"
        "        location / {\n"
        "            proxy_pass http://pool;\n"
        f"{location}\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


# -- pinned documented numbers -------------------------------------------------------------


def test_documented_defaults_are_pinned() -> None:
    assert nginx.DEFAULT_NEXT_UPSTREAM == ("error", "timeout")
    assert nginx.DEFAULT_READ_TIMEOUT_S == 60.0
    assert frozenset({"POST", "LOCK", "PATCH"}) == nginx.NON_IDEMPOTENT_METHODS
    assert not nginx.NON_IDEMPOTENT_METHODS & nginx.RETRYABLE_METHODS


@pytest.mark.parametrize(("tries", "retries"), [(1, 0), (2, 1), (3, 2), (10, 9)])
def test_tries_count_the_first_attempt(tries: int, retries: int) -> None:
    text = _conf(f"proxy_next_upstream_tries {tries};")
    assert load_text(nginx.load, text, upstream_servers=20).policy.max_retries == retries


def test_nothing_set_error_timeout_unlimited_60s() -> None:
    adapted = nginx.load(DATA / "nginx-defaults.conf", CTX3)
    p = adapted.policy
    assert p.system == "nginx"
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.retry_on.statuses == frozenset()
    assert p.per_try_timeout_s == 60.0
    assert p.deadline_s is None
    assert p.max_retries == 2  # unlimited tries, 3 replicas: each tried once
    assert p.different_upstream is True
    assert p.backoff.base_s == 0.0
    assert {
        "proxy_next_upstream",
        "proxy_next_upstream_tries",
        "proxy_read_timeout",
        "proxy_next_upstream_timeout",
    } <= fields(adapted, "default")
    assert "max_fails" in fields(adapted, "quirk")  # default max_fails=1 marks peers down


def test_unlimited_tries_with_unknown_server_count_uses_documented_bound() -> None:
    adapted = nginx.load(DATA / "nginx-defaults.conf", AdapterContext())
    assert adapted.policy.max_retries == nginx.UNLIMITED_TRIES_BOUND
    note = next(n for n in adapted.defaults if n.field == "proxy_next_upstream_tries")
    assert str(nginx.UNLIMITED_TRIES_BOUND) in note.text


# -- realistic files ----------------------------------------------------------------------


def test_shipped_nginx_conf() -> None:
    adapted = nginx.load(SHIPPED / "nginx.conf", CTX3)
    p = adapted.policy
    assert p.max_retries == 2
    assert p.retry_on.statuses == frozenset({502, 503, 504})
    assert p.retry_on.connect_failure and p.retry_on.reset and p.retry_on.per_try_timeout
    assert p.per_try_timeout_s == 5.0
    assert p.deadline_s == 10.0
    assert p.methods.retryable is not None and "POST" not in p.methods.retryable
    assert p.methods.connect_failure_any_method
    assert "max_fails" not in fields(adapted, "quirk")  # max_fails=0 on every server
    assert not any("single" in n.text for n in adapted.quirks)


def test_shipped_single_server_declares_tries_but_notes_no_retry() -> None:
    adapted = nginx.load(SHIPPED / "nginx-single.conf", CTX3)
    assert adapted.policy.max_retries == 2  # what the file declares
    quirk = next(n for n in adapted.quirks if n.field == "proxy_next_upstream_tries")
    assert "single-server" in quirk.text and "never" in quirk.text


def test_more_tries_than_servers_is_noted() -> None:
    text = _conf("proxy_next_upstream_tries 5;")
    adapted = load_text(nginx.load, text, upstream_servers=2)
    assert adapted.policy.max_retries == 4
    quirk = next(n for n in adapted.quirks if n.field == "proxy_next_upstream_tries")
    assert "at most 1 of the declared 4" in quirk.text


def test_inheritance_location_choice_and_explicit_servers() -> None:
    adapted = nginx.load(DATA / "nginx-upstream.conf", AdapterContext(upstream_servers=9))
    p = adapted.policy
    # http-level proxy_next_upstream inherited; location / sets the timeout
    assert p.retry_on.statuses == frozenset({503})
    assert p.retry_on.connect_failure and not p.retry_on.per_try_timeout
    assert p.methods.retryable is None  # non_idempotent
    assert p.deadline_s == 0.75
    assert p.per_try_timeout_s == 90.0  # 1m30s
    # tries 0 (server level): 3 usable servers (one is down; the backup counts)
    assert p.max_retries == 2
    assert "location /" in adapted.notes[0].text and "2 locations" in adapted.notes[0].text


def test_off_turns_retries_off() -> None:
    adapted = load_text(nginx.load, _conf("proxy_next_upstream off;"))
    assert adapted.policy.max_retries == 0
    assert adapted.policy.retry_on.statuses == frozenset()
    assert not adapted.policy.retry_on.connect_failure


def test_timeout_without_error_does_not_retry_refused_connections() -> None:
    adapted = load_text(
        nginx.load, _conf("proxy_next_upstream timeout http_500;"), upstream_servers=3
    )
    p = adapted.policy
    assert not p.retry_on.connect_failure and not p.retry_on.reset
    assert p.retry_on.per_try_timeout and p.retry_on.statuses == frozenset({500})


def test_location_overrides_http_level() -> None:
    text = "events {}\nhttp {\n    proxy_next_upstream_tries 9;\n" + _conf(
        "proxy_next_upstream_tries 2;"
    ).removeprefix("events {}\nhttp {\n")
    assert load_text(nginx.load, text, upstream_servers=3).policy.max_retries == 1


def test_tokenizer_quotes_comments_and_variables() -> None:
    location = (
        '            proxy_set_header X-A "x; { y }";  # proxy_next_upstream off;\n'
        "            proxy_set_header X-B ${host}$request_uri;\n"
        "            proxy_next_upstream 'http_429' error;"
    )
    p = load_text(nginx.load, _conf(location), upstream_servers=3).policy
    assert p.retry_on.statuses == frozenset({429})
    assert p.retry_on.connect_failure


def test_duration_units() -> None:
    for value, seconds in [("500ms", 0.5), ("2", 2.0), ("1m30s", 90.0), ("1h", 3600.0)]:
        p = load_text(nginx.load, _conf(f"proxy_read_timeout {value};"), upstream_servers=2).policy
        assert p.per_try_timeout_s == pytest.approx(seconds), value


# -- errors: one BadInput naming file, line and field ---------------------------------------


@pytest.mark.parametrize(
    ("location", "field", "words"),
    [
        ("proxy_next_upstream error http_418;", "proxy_next_upstream", "http_418"),
        ("proxy_next_upstream_tries -1;", "proxy_next_upstream_tries", "integer"),
        ("proxy_next_upstream_tries three;", "proxy_next_upstream_tries", "integer"),
        ("proxy_read_timeout 5sec;", "proxy_read_timeout", "5sec"),
        (
            "proxy_next_upstream_timeout 1 2;",
            "proxy_next_upstream_timeout",
            "invalid number of arguments",
        ),
    ],
)
def test_bad_values_name_file_line_field(location: str, field: str, words: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(nginx.load, _conf(location), name="bad.conf", upstream_servers=2)
    assert err.value.file is not None and err.value.file.endswith("bad.conf")
    assert err.value.line == 8
    assert err.value.field == field
    assert words in err.value.reason


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        # nginx's own wording (crossplane reproduces it)
        ("http {\n  server {\n    listen 1\n  }\n}\n", 3, 'not terminated by ";"'),
        ("http {\n  server {\n", 2, "unexpected end of file"),
        ("http { }\n}\n", 2, 'unexpected "}"'),
        ('http {\n  x "abc;\n}\n', 2, "unexpected end of file"),
        ("http { server { location / { root /x; } } }\n", None, "no location with a proxy_pass"),
    ],
)
def test_structural_errors(text: str, line: int | None, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(nginx.load, text)
    assert err.value.line == line
    assert reason in err.value.reason


# -- properties ----------------------------------------------------------------------------

_VALUES = ["error", "timeout", "invalid_header", "non_idempotent", *nginx.STATUS_VALUES]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from(_VALUES), min_size=1, max_size=8, unique=True),
    tries=st.integers(min_value=1, max_value=1000),
    read_ms=st.integers(min_value=1, max_value=10**7),
    timeout_s=st.integers(min_value=0, max_value=3600),
    servers=st.integers(min_value=1, max_value=50),
)
def test_property_directives_round_trip(
    values: list[str], tries: int, read_ms: int, timeout_s: int, servers: int
) -> None:
    location = (
        f"proxy_next_upstream {' '.join(values)};\n"
        f"proxy_next_upstream_tries {tries};\n"
        f"proxy_read_timeout {read_ms}ms;\n"
        f"proxy_next_upstream_timeout {timeout_s};"
    )
    p = load_text(nginx.load, _conf(location), upstream_servers=servers).policy
    assert p.max_retries == tries - 1
    assert p.retry_on.statuses == frozenset(
        nginx.STATUS_VALUES[v] for v in values if v.startswith("http_")
    )
    assert p.retry_on.connect_failure == ("error" in values)
    assert p.retry_on.reset == ("error" in values)
    assert p.retry_on.per_try_timeout == ("timeout" in values)
    assert p.per_try_timeout_s == pytest.approx(read_ms / 1000)
    assert p.deadline_s == (timeout_s or None)
    assert (p.methods.retryable is None) == ("non_idempotent" in values)
    assert p.different_upstream


@settings(max_examples=30, deadline=None)
@given(servers=st.integers(min_value=1, max_value=64))
def test_property_unlimited_tries_bounded_by_replicas(servers: int) -> None:
    p = load_text(nginx.load, _conf("proxy_next_upstream_tries 0;"), upstream_servers=servers)
    assert p.policy.max_retries == servers - 1


# -- passive health check (max_fails) -------------------------------------------------------

_PASSIVE_JUDGED = ("stop_on_success", "non_retryable_status", "per_try_timeout", "backoff_window")
_PASSIVE_NOT_JUDGED = (
    "attempts_bound",
    "retry_when_due",
    "success_rate",
    "attempt_distribution",
    "client_agreement",
)


def _passive(adapted: AdaptedPolicy) -> list[Unmodelled]:
    """The passive-health-check entries of ``not_judged`` (literal servers add their own)."""
    return [u for u in adapted.policy.not_judged if u.reason == nginx._PASSIVE_REASON]


def test_default_max_fails_in_a_multi_server_upstream_is_not_judged() -> None:
    text = _conf("proxy_next_upstream error http_503;", servers="server {{upstream_hostport}};")
    adapted = load_text(nginx.load, text, upstream_servers=3)
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert u.native.startswith("server {{upstream_hostport}} (max_fails=1 fail_timeout=10s")
    assert u.location is not None and u.location.endswith(":3")  # the server line
    assert "no live upstreams" in u.reason
    (note,) = [n for n in adapted.quirks if n.field == "max_fails"]
    assert note.text.startswith("not judged (max_retries, upstream)")
    assert "nginx.org" in (note.source or "")
    for name in _PASSIVE_NOT_JUDGED:
        assert not_judged_result(name, adapted.policy) is not None, name
    for name in _PASSIVE_JUDGED:
        assert not_judged_result(name, adapted.policy) is None, name


@pytest.mark.parametrize(
    "servers",
    [
        "server {{upstream_hostport}} max_fails=0;",
        "server 127.0.0.1:1 max_fails=0; server 127.0.0.1:2 max_fails=0 fail_timeout=30s;",
        "server 127.0.0.1:1 max_fails=0; server 127.0.0.1:2 down;",  # down: never tried
    ],
)
def test_max_fails_0_on_every_server_is_judged(servers: str) -> None:
    adapted = load_text(nginx.load, _conf("", servers=servers), upstream_servers=3)
    assert _passive(adapted) == []  # literal servers: only their own not-judged entries
    assert "max_fails" not in fields(adapted, "quirk")


@pytest.mark.parametrize(
    ("servers", "upstream_servers"),
    [
        ("server {{upstream_hostport}};", 1),  # one replica: a group with one server
        ("server 127.0.0.1:1 max_fails=5;", 3),  # one literal server
        ("server 127.0.0.1:1; server 127.0.0.1:2 down;", 3),  # one usable server
    ],
)
def test_a_single_server_is_never_marked_down(servers: str, upstream_servers: int) -> None:
    adapted = load_text(nginx.load, _conf("", servers=servers), upstream_servers=upstream_servers)
    assert _passive(adapted) == []
    assert "max_fails" not in fields(adapted, "quirk")


def test_a_proxy_pass_url_without_upstream_block_is_one_server() -> None:
    text = (
        "events {}\nhttp {\n  server {\n    listen {{listen}};\n"
        "    location / { proxy_pass {{upstream}}; }\n  }\n}\n"
    )
    assert load_text(nginx.load, text, upstream_servers=3).policy.not_judged == ()


def test_every_server_line_without_max_fails_0_is_named() -> None:
    adapted = nginx.load(DATA / "nginx-upstream.conf", AdapterContext(upstream_servers=9))
    found = {int(u.location.rsplit(":", 1)[1]): u.native for u in _passive(adapted) if u.location}
    # 8001 (default), 8002 (max_fails=3 written), 8004 (backup: tried after the others);
    # 8003 is down and never tried
    assert sorted(found) == [9, 10, 12]
    assert "by default" in found[9] and "by default" not in found[10]
    assert "max_fails=3" in found[10]
    (note,) = [n for n in adapted.quirks if n.field == "max_fails"]
    assert "and 2 more server line(s)" in note.text


def test_a_server_count_that_depends_on_the_replicas_is_not_judged_until_known() -> None:
    text = _conf("", servers="server {{upstream_hostport}};")
    assert len(load_text(nginx.load, text).policy.not_judged) == 1  # replicas unknown
    assert load_text(nginx.load, text, upstream_servers=1).policy.not_judged == ()


# -- client_max_body_size: nginx's own 413 -------------------------------------------------


def test_body_limit_defaults_to_1m() -> None:
    assert nginx.DEFAULT_CLIENT_MAX_BODY_SIZE == 1024 * 1024
    limit = load_text(nginx.load, _conf("")).body_limit
    assert limit is not None and limit.max_bytes == 1048576 and limit.status == 413
    assert "default 1m" in limit.source


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [("location", "512k", 512 * 1024), ("location", "2M", 2 * 1024**2), ("http", "10", 10)],
)
def test_body_limit_is_the_innermost_client_max_body_size(
    where: str, value: str, expected: int
) -> None:
    text = _conf(f"            client_max_body_size {value};" if where == "location" else "")
    if where == "http":  # the location's own value would win; none here, so http's applies
        text = text.replace("http {\n", f"http {{\n    client_max_body_size {value};\n")
    adapted = load_text(nginx.load, text)
    assert adapted.body_limit is not None and adapted.body_limit.max_bytes == expected
    assert f"client_max_body_size {value}" in adapted.body_limit.source
    assert adapted.body_limit.source.split(":")[1].isdigit()  # FILE:LINE


def test_body_limit_location_wins_and_0_disables_it() -> None:
    text = _conf("            client_max_body_size 0;").replace(
        "http {\n", "http {\n    client_max_body_size 1k;\n"
    )
    assert load_text(nginx.load, text).body_limit is None


@pytest.mark.parametrize("value", ["1.5m", "1t", "lots", "1m 2m"])
def test_bad_client_max_body_size_names_its_line(value: str) -> None:
    with pytest.raises(BadInput) as err:
        load_text(nginx.load, _conf(f"            client_max_body_size {value};"))
    assert err.value.field == "client_max_body_size" and err.value.line == 8


# -- servers that are not harness backends ---------------------------------------------------

_FOREIGN_NOT_JUDGED = (*_PASSIVE_NOT_JUDGED, "backoff_window")


@pytest.mark.parametrize(
    ("servers", "tries"),
    [
        # a dead peer in the pool: round robin sends first tries and retries to it
        ("server {{upstream_hostport}} max_fails=0; server 127.0.0.1:1 max_fails=0;", 3),
        # a backup reached once both primaries had their try (tester5's my-nginx3.conf)
        ("server {{upstream_hostport}} max_fails=0; server 127.0.0.1:1 max_fails=0 backup;", 4),
        # unlimited tries reach the backup too
        ("server {{upstream_hostport}} max_fails=0; server 127.0.0.1:1 max_fails=0 backup;", 0),
    ],
)
def test_a_server_that_is_no_harness_backend_is_not_judged(servers: str, tries: int) -> None:
    """nginx's tries to a literal address are attempts no journal records: a correct nginx got
    a client_agreement violation (503 -> 502: its try to 127.0.0.1:1 was refused)."""
    location = f"proxy_next_upstream error timeout http_503; proxy_next_upstream_tries {tries};"
    adapted = load_text(nginx.load, _conf(location, servers=servers), upstream_servers=2)
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
    assert u.native.startswith("server 127.0.0.1:1 max_fails=0")
    assert u.location is not None and u.location.endswith(":3")
    (note,) = [n for n in adapted.quirks if n.field == "server"]
    assert note.text.startswith("not judged (max_retries, upstream, backoff")
    for name in _FOREIGN_NOT_JUDGED:
        assert not_judged_result(name, adapted.policy) is not None, name
    for name in ("stop_on_success", "non_retryable_status", "per_try_timeout"):
        assert not_judged_result(name, adapted.policy) is None, name


@pytest.mark.parametrize(
    ("location", "upstream_servers"),
    [
        ("proxy_next_upstream error http_503; proxy_next_upstream_tries 2;", 2),
        ("proxy_next_upstream error http_503; proxy_next_upstream_tries 3;", 3),
        ("proxy_next_upstream off;", 1),
    ],
)
def test_a_backup_no_request_reaches_is_judged_with_a_note(
    location: str, upstream_servers: int
) -> None:
    """A backup gets a request only after every primary had its try: with tries at most the
    primaries, nginx never reaches it."""
    servers = "server {{upstream_hostport}} max_fails=0; server 127.0.0.1:1 max_fails=0 backup;"
    adapted = load_text(
        nginx.load, _conf(location, servers=servers), upstream_servers=upstream_servers
    )
    assert adapted.policy.not_judged == ()
    (note,) = [n for n in adapted.quirks if n.field == "server"]
    assert "never reached" in note.text and "127.0.0.1:1" in note.text


def test_a_backup_with_the_passive_check_on_is_not_judged() -> None:
    """With max_fails on, a primary marked down sends requests to the backup earlier."""
    servers = "server {{upstream_hostport}}; server 127.0.0.1:1 backup;"
    text = _conf("proxy_next_upstream_tries 2;", servers=servers)
    adapted = load_text(nginx.load, text, upstream_servers=2)
    assert [u.reason for u in adapted.policy.not_judged if "127.0.0.1:1" in u.native] == [
        nginx._PASSIVE_REASON,
        nginx._FOREIGN_REASON,
    ]


@pytest.mark.parametrize(
    "servers",
    [
        "server {{upstream_host}}:{{upstream_port}} max_fails=0;",
        "server {{upstream_hostport}} max_fails=0; server 127.0.0.1:1 down;",  # never tried
    ],
)
def test_servers_from_placeholders_are_judged(servers: str) -> None:
    adapted = load_text(nginx.load, _conf("", servers=servers), upstream_servers=3)
    assert adapted.policy.not_judged == ()
    assert "server" not in fields(adapted, "quirk")

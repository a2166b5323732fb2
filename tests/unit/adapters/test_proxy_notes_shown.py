"""Every note the HAProxy, nginx, Caddy and urllib3 adapters emit is either shown by a live test
of the real system (tests/integration/suts/) or says why it makes no behavioural claim.

``SHOWN`` is the audit: (system, field, a phrase of the note) -> the live test that shows it, or
``"-- <why no live test>"``. A note emitted for any of the configs below that matches no row
fails here, so a new behavioural note comes with its live test; a row naming a test that does
not exist fails too.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.adapters import load_adapted
from harness.adapters.base import AdapterContext, AdapterNote
from tests.unit.adapters.test_proxy_note_sources import (
    CASES,
    HAPROXY_EXTRA,
    NGINX_EXTRA,
    SHIPPED,
)

SUTS = Path(__file__).resolve().parents[2] / "integration" / "suts"
H, N, C, U = "haproxy", "nginx", "caddy", "urllib3"
HB, HN, HL = "test_haproxy_behaviour.py", "test_haproxy_notes_live.py", "test_proxy_notes_live.py"
NB, NN = "test_nginx_behaviour.py", "test_nginx_notes_live.py"
CN, UB = "test_caddy_notes_live.py", "test_urllib3_behaviour.py"
SHOWN: list[tuple[str, str, str, str]] = [
    # a server that is not a harness backend (a literal address), all three proxies
    (
        H,
        "server",
        "HAProxy never uses it",
        f"{HN}::test_a_literal_server_gets_attempts_unless_it_is_an_unused_backup",
    ),
    (
        H,
        "server",
        "not judged (max_retries, upstream, backoff",
        f"{HN}::test_a_literal_server_gets_attempts_unless_it_is_an_unused_backup",
    ),
    (
        N,
        "server",
        "never reached",
        f"{NN}::test_a_backup_is_reached_only_after_every_primary_had_its_try",
    ),
    (
        N,
        "server",
        "not judged (max_retries, upstream, backoff",
        f"{NN}::test_a_backup_is_reached_only_after_every_primary_had_its_try",
    ),
    (
        C,
        "to",
        "not judged (max_retries, upstream, backoff",
        f"{CN}::test_a_literal_upstream_gets_attempts_the_harness_cannot_see",
    ),
    # HAProxy
    (H, "backend", "policy read from", "-- which section was read (the harness's choice)"),
    (
        H,
        "retries",
        "in a frontend has no effect",
        f"{HL}::test_haproxy_ignores_retries_in_a_frontend_as_the_adapter_notes",
    ),
    (
        H,
        "retry-on",
        "in a frontend has no effect",
        f"{HL}::test_haproxy_ignores_retries_in_a_frontend_as_the_adapter_notes",
    ),
    (
        H,
        "option",
        "in a frontend has no effect",
        f"{HL}::test_haproxy_ignores_retries_in_a_frontend_as_the_adapter_notes",
    ),
    (
        H,
        "retries",
        "HAProxy's default 3",
        f"{HL}::test_haproxy_defaults_retry_a_failed_connection_three_times",
    ),
    (
        H,
        "retry-on",
        "default 'conn-failure'",
        f"{HN}::test_only_connection_failures_are_retried_without_l7_retries",
    ),
    (H, "mode", "not http", f"{HL}::test_haproxy_tcp_mode_ignores_retry_on"),
    (
        H,
        "http-request disable-l7-retry",
        "is dead",
        f"{HB}::test_real_haproxy_agrees_with_the_condition_evaluation",
    ),
    (
        H,
        "http-request disable-l7-retry",
        "only conn-failure remains",
        f"{HN}::test_only_connection_failures_are_retried_without_l7_retries",
    ),
    (
        H,
        "http-request disable-l7-retry",
        "not retried at all",
        f"{HN}::test_without_conn_failure_a_connection_failure_is_not_retried",
    ),
    (
        H,
        "http-request disable-l7-retry",
        "not judged (methods)",
        f"{HB}::test_real_haproxy_agrees_with_the_condition_evaluation",
    ),
    (
        H,
        "http-request disable-l7-retry",
        "not judged (methods, statuses, resets)",
        "-- the harness does not evaluate rules of a named defaults section",
    ),
    (
        H,
        "http-request disable-l7-retry",
        "layer-7 retries are off for",
        f"{HB}::test_real_haproxy_issue_example_retries_get_not_post",
    ),
    (H, "retry-on", "'none'", f"{HN}::test_retry_on_none_retries_nothing"),
    (H, "retry-on", "junk-response", "-- says the harness's backends never produce it"),
    (H, "retry-on", "0rtt-rejected", "-- TLS early data, which the harness never uses"),
    (
        H,
        "retry-on",
        "no method filter",
        f"{HB}::test_real_haproxy_drops_l7_retries_for_a_request_not_received_completely",
    ),
    (
        H,
        "option http-buffer-request",
        "set: HAProxy waits",
        f"{HB}::test_real_haproxy_drops_l7_retries_for_a_request_not_received_completely",
    ),
    (
        H,
        "option http-buffer-request",
        "not set: not judged",
        f"{HB}::test_real_haproxy_drops_l7_retries_for_a_request_not_received_completely",
    ),
    (H, "timeout server", "no timeout", f"{HN}::test_missing_timeout_server_is_warned_about"),
    (
        H,
        "timeout server",
        "is abandoned after",
        f"{HL}::test_haproxy_timeout_server_is_a_504_retried_only_with_response_timeout",
    ),
    (
        H,
        "timeout connect",
        "min(timeout connect, 1s)",
        f"{HL}::test_haproxy_connection_retry_waits_min_of_timeout_connect_and_1s",
    ),
    (
        H,
        "option redispatch",
        "not set",
        f"{HN}::test_redispatch_moves_every_layer7_retry_whatever_the_interval",
    ),
    (
        H,
        "option redispatch",
        "connection or layer-7",
        f"{HN}::test_redispatch_moves_every_layer7_retry_whatever_the_interval",
    ),
    (
        H,
        "retry-on",
        "tune.bufsize",
        f"{HN}::test_a_body_larger_than_the_buffer_gets_no_layer7_retry",
    ),
    (H, "retries", "2.6.0 to 2.6.2", f"{HN}::test_2_6_12_makes_every_declared_retry"),
    (H, "server", "nowhere else to go", f"{HN}::test_one_server_keeps_every_retry_with_redispatch"),
    (
        H,
        "option redispatch",
        "one server, every retry stays",
        f"{HN}::test_one_server_keeps_every_retry_with_redispatch",
    ),
    # nginx
    (N, "location", "policy read from", "-- which location was read (the harness's choice)"),
    (
        N,
        "proxy_next_upstream",
        "default 'error timeout'",
        f"{NN}::test_default_next_upstream_passes_on_errors_not_statuses",
    ),
    (N, "proxy_next_upstream", "'off' wins", f"{NN}::test_off_wins_over_the_other_values"),
    (
        N,
        "proxy_next_upstream_tries",
        "unlimited tries",
        f"{NN}::test_each_server_is_tried_at_most_once_per_request",
    ),
    (N, "proxy_read_timeout", "not set: default 60s", "-- the documented default value"),
    (N, "proxy_next_upstream_timeout", "not set: default 0", "-- the documented default value"),
    (
        N,
        "proxy_read_timeout",
        "the per-try timeout is",
        f"{NN}::test_read_timeout_is_the_per_try_timeout",
    ),
    (
        N,
        "proxy_next_upstream",
        "only a connect timeout is",
        f"{NN}::test_a_connect_timeout_is_passed_on_under_timeout_without_error",
    ),
    (N, "proxy_next_upstream", "invalid_header", "-- says the harness has no such fault"),
    (
        N,
        "proxy_next_upstream",
        "no non_idempotent",
        f"{HL}::test_nginx_post_goes_to_the_next_server_only_with_non_idempotent",
    ),
    (
        N,
        "proxy_next_upstream",
        "with keepalive: only an error",
        f"{NB}::test_keepalive_single_server_does_not_retry_a_status_or_a_fresh_error",
    ),
    (
        N,
        "keepalive",
        "not judged (max_retries, upstream)",
        f"{NB}::test_keepalive_every_failing_cached_connection_gives_the_try_back",
    ),
    (
        N,
        "proxy_next_upstream_tries",
        "never retries a single-server upstream",
        f"{NB}::test_without_keepalive_a_single_server_is_never_retried",
    ),
    (
        N,
        "proxy_next_upstream_tries",
        "at most once per request",
        f"{NN}::test_each_server_is_tried_at_most_once_per_request",
    ),
    (
        N,
        "max_fails",
        "no live upstreams",
        f"{NN}::test_max_fails_marks_servers_down_and_nginx_answers_502_itself",
    ),
    (
        N,
        "proxy_request_buffering",
        "not judged (methods)",
        f"{HL}::test_nginx_unbuffered_body_is_retried_only_when_read_whole",
    ),
    (N, "proxy_pass", "not judged", "-- a variable the harness cannot resolve"),
    (N, "if", "not judged", "-- a condition the harness does not evaluate"),
    # Caddy
    (C, "reverse_proxy", "policy read from", "-- which handler was read (the harness's choice)"),
    (C, "lb_try_interval", "no effect", f"{CN}::test_interval_alone_makes_no_retry"),
    (
        C,
        "lb_try_interval",
        "default 250ms",
        f"{HL}::test_caddy_interval_is_250ms_only_with_a_try_duration",
    ),
    (
        C,
        "lb_try_interval",
        "the interval is 0",
        f"{HL}::test_caddy_interval_is_250ms_only_with_a_try_duration",
    ),
    (
        C,
        "lb_retries",
        "limited only by lb_try_duration",
        f"{CN}::test_the_last_attempt_may_start_up_to_one_interval_after_the_try_duration",
    ),
    (C, "lb_retries", "does not retry", f"{CN}::test_no_retry_without_lb_retries_or_try_duration"),
    (
        C,
        "lb_retry_match",
        "retried only for GET",
        f"{HL}::test_caddy_retries_a_reset_only_for_the_matching_methods",
    ),
    (
        C,
        "lb_retry_match",
        "replaces the GET-only rule",
        f"{HL}::test_caddy_retries_a_reset_only_for_the_matching_methods",
    ),
    (
        C,
        "lb_retry_match",
        "not judged (methods)",
        f"{HL}::test_caddy_retries_a_reset_only_for_the_matching_methods",
    ),
    (C, "lb_retry_match", "no effect", f"{CN}::test_no_retry_without_lb_retries_or_try_duration"),
    (
        C,
        "transport http.keepalive",
        "REUSED connection",
        f"{CN}::test_keepalive_replays_a_reset_get_although_lb_retries_is_0",
    ),
    (
        C,
        "transport http.response_header_timeout",
        "no response timeout",
        "-- the documented default (none)",
    ),
    (
        C,
        "reverse_proxy",
        "status codes are never retried",
        f"{HL}::test_caddy_never_retries_a_status",
    ),
    (
        C,
        "lb_try_duration",
        "start of the handler",
        f"{CN}::test_try_duration_counts_the_attempt_time_and_never_cuts_it_short",
    ),
    (
        C,
        "lb_try_duration",
        "checked BEFORE",
        f"{CN}::test_the_last_attempt_may_start_up_to_one_interval_after_the_try_duration",
    ),
    (C, "to", "one upstream", f"{HL}::test_caddy_interval_is_250ms_only_with_a_try_duration"),
    (
        C,
        "fail_duration",
        "within fail_duration",
        f"{CN}::test_passive_health_marks_the_upstream_down_and_caddy_answers_503",
    ),
    (
        C,
        "fail_duration",
        "without fail_duration",
        f"{CN}::test_passive_health_without_fail_duration_marks_every_upstream_down",
    ),
    (
        C,
        "health_uri",
        "active health checks",
        f"{CN}::test_active_health_check_failing_marks_the_upstream_down",
    ),
    # urllib3
    (U, "*", "documented default", f"{UB}::test_defaults_are_urllib3s_own"),
    (
        U,
        "backoff_factor",
        "the first retry does not wait",
        f"{UB}::test_retry_after_replaces_the_backoff_clamped_to_its_max",
    ),
    (U, "connect", "any method", f"{UB}::test_connect_errors_are_retried_for_post"),
    (
        U,
        "allowed_methods",
        "excluded by default",
        f"{UB}::test_allowed_methods_as_urllib3_applies_them",
    ),
    (U, "allowed_methods", "EVERY method", f"{UB}::test_allowed_methods_as_urllib3_applies_them"),
    (
        U,
        "allowed_methods",
        "match no request",
        f"{UB}::test_allowed_methods_as_urllib3_applies_them",
    ),
    (
        U,
        "respect_retry_after_header",
        "Retry-After replaces the backoff",
        f"{UB}::test_retry_after_replaces_the_backoff_clamped_to_its_max",
    ),
    (
        U,
        "respect_retry_after_header",
        "urlopen RETURNS it",
        f"{UB}::test_retry_after_status_returns_the_last_answer_when_total_runs_out",
    ),
    (
        U,
        "raise_on_status",
        "MaxRetryError",
        f"{UB}::test_forcelisted_status_raises_max_retry_error",
    ),
    (
        U,
        "total",
        "folded into one limit",
        f"{UB}::test_a_looser_per_kind_counter_retries_more_than_the_folded_limit",
    ),
]

CADDY_EXTRA = [
    "lb_try_interval 100ms",
    "lb_retries 2\n\t\tlb_retry_match {\n\t\t\tmethod POST\n\t\t}",
    "lb_retry_match {\n\t\t\tpath /x\n\t\t}",
    "lb_try_duration 1s\n\t\tfail_duration 10s",
]
URLLIB3_EXTRA = [
    {},
    {"total": 3, "connect": 1, "status_forcelist": [503]},
    {"allowed_methods": []},
    {"allowed_methods": ["get", "POST"]},
]


def _row(system: str, note: AdapterNote) -> tuple[str, str, str, str] | None:
    for row in SHOWN:
        if row[0] == system and row[1] in (note.field, "*") and row[2] in note.text:
            return row
    return None


def _notes(tmp_path: Path) -> list[tuple[str, AdapterNote]]:
    out: list[tuple[str, AdapterNote]] = []
    for system, name in CASES:
        if system == C and shutil.which("caddy") is None:
            continue
        for servers in (1, 2):
            adapted = load_adapted(system, SHIPPED / name, AdapterContext(upstream_servers=servers))
            out += [(system, n) for n in adapted.notes]
    for i, extra in enumerate(HAPROXY_EXTRA):
        path = tmp_path / f"h{i}.cfg"
        path.write_text(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
            "frontend fe\n    bind {{listen}}\n    retries 4\n    default_backend be\n"
            f"backend be\n{extra}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}\n"
        )
        for servers in (1, 2):
            adapted = load_adapted(H, path, AdapterContext(upstream_servers=servers))
            out += [(H, n) for n in adapted.notes]
    for i, extra in enumerate(NGINX_EXTRA):
        path = tmp_path / f"n{i}.conf"
        path.write_text(
            "events {}\nhttp {\n upstream b {\n  server {{upstream_hostport}};\n"
            "  keepalive 4;\n }\n"
            " server {\n  listen {{listen}};\n  location / {\n   proxy_pass http://b;\n"
            f"   {extra}\n  }}\n }}\n}}\n"
        )
        for servers in (1, 3):
            adapted = load_adapted(N, path, AdapterContext(upstream_servers=servers))
            out += [(N, n) for n in adapted.notes]
    if shutil.which("caddy") is not None:
        for i, extra in enumerate(CADDY_EXTRA):
            path = tmp_path / f"c{i}" / "Caddyfile"
            path.parent.mkdir()
            path.write_text(
                f"http://:8080 {{\n\treverse_proxy {{\n\t\tto 127.0.0.1:9\n\t\t{extra}\n\t}}\n}}\n"
            )
            out += [(C, n) for n in load_adapted(C, path, AdapterContext()).notes]
    for i, kwargs in enumerate(URLLIB3_EXTRA):
        path = tmp_path / f"u{i}.yaml"
        path.write_text(yaml.safe_dump(kwargs))
        out += [(U, n) for n in load_adapted(U, path, AdapterContext()).notes]
    return out


def test_every_emitted_note_is_in_the_audit(tmp_path: Path) -> None:
    notes = _notes(tmp_path)
    assert len(notes) > 100
    missing = sorted({(s, n.field, n.text[:80]) for s, n in notes if _row(s, n) is None})
    assert not missing, "notes with no live test and no reason in SHOWN:\n" + "\n".join(
        map(str, missing)
    )


@pytest.mark.parametrize("row", SHOWN, ids=lambda r: f"{r[0]}-{r[1]}-{r[2][:20]}")
def test_each_named_live_test_exists(row: tuple[str, str, str, str]) -> None:
    evidence = row[3]
    if evidence.startswith("-- "):
        return
    file, name = evidence.split("::")
    text = (SUTS / file).read_text(encoding="utf-8")
    assert re.search(rf"^def {re.escape(name)}\(", text, re.M), evidence

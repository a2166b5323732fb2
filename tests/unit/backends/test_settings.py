"""Environment variables become a profile, or one BadSetting line naming variable, value, range."""

from __future__ import annotations

import pytest

from fake_backends.profile import FaultProfile, Latency, RouteProfile
from fake_backends.settings import BadSetting, profile_from_env, settings_from_env


def test_individual_variables() -> None:
    profile = profile_from_env(
        {
            "FAILURE_RATE": "0.3",
            "FAILURE_STATUS": "503:0.7,500:0.2,429:0.1",
            "FAIL_FIRST_N": "2",
            "RETRY_AFTER": "3",
            "LATENCY_MS": "lognormal:50:0.5",
            "HANG_RATE": "0.05",
            "HANG_MS": "1500",
            "RESET_RATE": "0.01",
            "OUTAGE": "5/30",
            "SEED": "42",
            "UPSTREAM_URL": "http://127.0.0.1:9/",
        }
    )
    assert profile.failure_rate == 0.3
    assert profile.failure_status == pytest.approx({429: 0.1, 500: 0.2, 503: 0.7})
    assert profile.fail_first_n == 2
    assert profile.retry_after == "3"
    assert profile.latency == Latency(kind="lognormal", median_ms=50, sigma=0.5)
    assert (profile.hang_rate, profile.hang_s, profile.reset_rate) == (0.05, 1.5, 0.01)
    assert profile.outage is not None and profile.outage.period_s == 30
    assert profile.seed == 42
    assert profile.upstream_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("50", Latency(kind="fixed", ms=50)),
        ("20-80", Latency(kind="uniform", min_ms=20, max_ms=80)),
        ("uniform:1:2", Latency(kind="uniform", min_ms=1, max_ms=2)),
        ("none", Latency()),
    ],
)
def test_latency_forms(raw: str, expected: Latency) -> None:
    assert profile_from_env({"LATENCY_MS": raw}).latency == expected


def test_fault_profile_json_is_the_base_and_single_variables_override_it() -> None:
    base = FaultProfile(
        failure_rate=0.5,
        seed=9,
        routes=(RouteProfile(path="/api/*", method="POST", faults={"failure_rate": 1.0}),),
    )
    profile = profile_from_env({"FAULT_PROFILE": base.model_dump_json(), "FAILURE_RATE": "0.1"})
    assert profile.failure_rate == 0.1
    assert profile.seed == 9
    assert profile.routes == base.routes


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"FAILURE_RATE": "1.5"}, ["FAILURE_RATE", "1.5", "0..1"]),
        ({"FAILURE_RATE": "abc"}, ["FAILURE_RATE", "abc", "0..1"]),
        ({"FAILURE_STATUS": "200"}, ["FAILURE_STATUS", "200", "400..599"]),
        ({"FAILURE_STATUS": "503:x"}, ["FAILURE_STATUS", "503:x"]),
        ({"FAIL_FIRST_N": "-1"}, ["FAIL_FIRST_N", "-1", ">= 0"]),
        ({"RETRY_AFTER": "soon"}, ["RETRY_AFTER", "soon", "HTTP date"]),
        ({"LATENCY_MS": "80-20"}, ["LATENCY_MS", "80-20"]),
        ({"OUTAGE": "40/30"}, ["OUTAGE", "40/30", "D <= P"]),
        ({"HANG_MS": "0"}, ["HANG_MS", "0", "> 0"]),
        ({"SEED": "1.5"}, ["SEED", "1.5", "integer"]),
        ({"UPSTREAM_URL": "ftp://x"}, ["UPSTREAM_URL", "ftp://x"]),
        ({"ROUTE_PROFILES": '{"a": 1}'}, ["ROUTE_PROFILES", "JSON list"]),
        ({"ROUTE_PROFILES": '[{"path": 3}]'}, ["ROUTE_PROFILES", "path"]),
        ({"FAULT_PROFILE": "{"}, ["FAULT_PROFILE", "JSON"]),
        ({"FAULT_PROFILE": '{"failure_rate": 2}'}, ["FAULT_PROFILE", "failure_rate"]),
        ({"FAILURE_RATE": "0.6", "RESET_RATE": "0.6"}, ["FAILURE_RATE", "at most 1", "0.6"]),
    ],
)
def test_bad_values_name_variable_value_and_rule(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(BadSetting) as info:
        profile_from_env(env)
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message


def test_service_settings() -> None:
    settings = settings_from_env(
        {
            "REPLICA": "b1",
            "REQUEST_ID_HEADER": "X-Trace",
            "CHAOS_ADMIN_TOKEN": "t",
            "COUNTER_URL": "redis://127.0.0.1:6379/0",
            "JOURNAL_MAX_RECORDS": "10",
        },
        replica="b2",
    )
    assert settings.replica == "b2"  # a flag wins over the environment
    assert settings.request_id_header == "X-Trace"
    assert settings.admin_token == "t"
    assert settings.journal_max_records == 10


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"JOURNAL_MAX_RECORDS": "0"}, "JOURNAL_MAX_RECORDS"),
        ({"COUNTER_URL": "mysql://x"}, "COUNTER_URL"),
        ({"REPLICA": "a b"}, "REPLICA"),
        ({"REQUEST_ID_HEADER": "bad header"}, "REQUEST_ID_HEADER"),
    ],
)
def test_bad_service_settings(env: dict[str, str], name: str) -> None:
    with pytest.raises(BadSetting, match=name):
        settings_from_env(env)

"""load_scenario: valid files load and resolve; each kind of bad input is one clear line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.scenario import (
    DEFAULT_TIME_CAP_S,
    SHIPPED_ROOT,
    Scenario,
    load_config_dict,
    load_scenario,
    write_load_config,
)

VALID = """\
name: haproxy-steady
description: steady flaky load through haproxy
seed: 42
backends:
  replicas: 3
  profile:
    failure_rate: 0.3
    failure_status: {503: 1}
sut:
  kind: haproxy
  config: haproxy.cfg
policy:
  source: {system: haproxy}
load:
  users: 8
  spawn_rate: 4
  requests: 500
  methods: {get: 0.8, POST: 0.2}
  idempotency_keys: true
chaos:
  - {at_s: 5, action: kill, replica: 2, duration_s: 3}
checks:
  detect: {extra_retries: null}
  skip: [budget]
"""


BOTH_POLICIES = "  source: {system: haproxy}\n  inline: {max_retries: 1}"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    (tmp_path / "haproxy.cfg").write_text("# placeholder config\n", encoding="utf-8")
    return path


def bad(tmp_path: Path, text: str) -> BadInput:
    with pytest.raises(BadInput) as info:
        load_scenario(write(tmp_path, text))
    return info.value


def test_valid_file_loads_with_resolved_paths(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID))
    assert s.name == "haproxy-steady"
    assert s.base_dir == tmp_path.resolve()
    assert s.sut.kind == "haproxy"
    assert s.sut.config == (tmp_path / "haproxy.cfg").resolve()
    assert s.policy_file == s.sut.config  # source.file omitted: the SUT's own config
    assert s.load.methods == {"GET": 0.8, "POST": 0.2}
    assert s.load.idempotency_keys == 1.0
    assert s.load.locustfile == str(SHIPPED_ROOT / "scenarios" / "steady.py")
    assert s.load.time_cap_s == DEFAULT_TIME_CAP_S
    assert s.backends.replicas == 3 and s.backends.counter == "file"
    assert s.chaos[0].action == "kill" and s.chaos[0].replica == 2
    assert s.checks.alpha == 0.001 and s.checks.detect.extra_retries is None


def test_inline_policy_and_own_locustfile(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("# a locustfile\n", encoding="utf-8")
    s = load_scenario(
        write(
            tmp_path,
            """\
            name: inline
            sut: {kind: url, url: "http://127.0.0.1:9"}
            policy:
              inline: {max_retries: 2, retry_on: {statuses: [503]}}
            load: {duration_s: 30, locustfile: mine.py, shape: {at_s: 1, users: 9, duration_s: 2}}
            """,
        )
    )
    assert s.policy.inline is not None and s.policy.inline.max_retries == 2
    assert s.policy_file is None
    assert s.load.locustfile == str((tmp_path / "mine.py").resolve())
    assert s.load.time_cap_s == 30


def test_load_config_json_round_trips_through_file(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, VALID))
    path = write_load_config(s, tmp_path / "load.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == load_config_dict(s)
    assert data["version"] == 1 and data["seed"] == 42
    assert data["load"]["requests"] == 500 and data["load"]["methods"] == {"GET": 0.8, "POST": 0.2}


@pytest.mark.parametrize(
    ("text", "line", "field", "needle"),
    [
        (  # unknown field: names the allowed ones
            VALID.replace("  users: 8", "  user: 8"),
            15,
            "load.user",
            "unknown field 'user'; allowed: users, spawn_rate, requests, duration_s, methods",
        ),
        (  # wrong type
            VALID.replace("spawn_rate: 4", "spawn_rate: fast"),
            16,
            "load.spawn_rate",
            "must be a number > 0 and <= 10000 (got ",
        ),
        (  # out of range
            VALID.replace("users: 8", "users: 0"),
            15,
            "load.users",
            "must be a whole number in 1..10000 (got 0)",
        ),
        (  # missing required field (reported at its parent)
            VALID.replace("name: haproxy-steady\n", ""),
            1,
            "name",
            "required field is missing",
        ),
        (  # literal
            VALID.replace("  replicas: 3", "  replicas: 3\n  counter: etcd"),
            6,
            "backends.counter",
            "'file', 'sqlite' or 'redis'",
        ),
        (  # unknown field inside a discriminated union member
            VALID.replace("  config: haproxy.cfg", "  config: haproxy.cfg\n  confg: x"),
            12,
            "sut.confg",
            "allowed: ready_timeout_s, kind, config, binary",
        ),
        (  # unknown SUT kind
            VALID.replace("kind: haproxy", "kind: envoyy"),
            9,
            "sut",
            "unknown kind 'envoyy'; allowed: haproxy, nginx, caddy",
        ),
        (  # both policy forms
            VALID.replace("  source: {system: haproxy}", BOTH_POLICIES),
            12,
            "policy",
            "exactly one of 'source'",
        ),
        (  # neither policy form
            VALID.replace("  source: {system: haproxy}", "  {}"),
            12,
            "policy",
            "neither given",
        ),
        (  # cross-field: chaos replica out of range
            VALID.replace("replica: 2", "replica: 3"),
            21,
            "chaos[0].replica",
            "allowed: 0..2",
        ),
        (  # a chaos op at or after the end of a time-bound load could never run (tester6)
            VALID.replace("requests: 500", "duration_s: 5"),
            21,
            "chaos[0].at_s",
            "5 s is not before the end of the load, which is time-bound (load.duration_s 5 s)",
        ),
        (  # per-action rule with its own field
            VALID.replace("action: kill", "action: set_faults"),
            21,
            "chaos[0].profile",
            "set_faults needs a profile",
        ),
        (  # bad method name in the mix
            VALID.replace("get: 0.8", "'GE T': 0.8"),
            18,
            "load.methods",
            "not an HTTP method",
        ),
        (  # policy file omitted for a SUT without its own config
            VALID.replace("kind: haproxy\n  config: haproxy.cfg", 'kind: url\n  url: "http://x"'),
            13,
            "policy.source.file",
            "may be omitted only for caddy, haproxy, nginx, traefik, urllib3_client",
        ),
        (  # referenced file does not exist
            VALID.replace("config: haproxy.cfg", "config: nope.cfg"),
            11,
            "sut.config",
            "nope.cfg does not exist",
        ),
        (  # unknown locustfile
            VALID.replace("  requests: 500", "  requests: 500\n  locustfile: nope.py"),
            18,
            "load.locustfile",
            "shipped: scenarios/deadline.py",
        ),
        (  # nested FaultProfile rule
            VALID.replace("failure_rate: 0.3", "failure_rate: 1.5"),
            7,
            "backends.profile.failure_rate",
            "must be a number in 0..1 (got 1.5)",
        ),
        (  # a boolean is not a count (lax mode read `true` as 1 request: a new user's finding)
            VALID.replace("requests: 500", "requests: true"),
            17,
            "load.requests",
            "must be a whole number in 1..10000000 (got True)",
        ),
        (  # nor is a quoted number
            VALID.replace("requests: 500", 'requests: "500"'),
            17,
            "load.requests",
            "whole number in 1..10000000 (got '500', which YAML reads as text)",
        ),
        (  # an inline policy's status must be an HTTP status
            VALID.replace(
                "  source: {system: haproxy}",
                "  inline: {max_retries: 2, retry_on: {statuses: [503, 99999]}}",
            ),
            13,
            "policy.inline.retry_on.statuses[1]",
            "must be a whole number in 100..599 (got 99999)",
        ),
        (  # a policy another system's adapter reads, for a SUT run from its own config
            VALID.replace("source: {system: haproxy}", "source: {system: nginx}"),
            13,
            "policy.source.system",
            "'nginx' does not describe sut kind 'haproxy', which the harness runs from its own "
            "config; allowed: 'haproxy'",
        ),
        (  # ... even with that system's own file given
            VALID.replace(
                "source: {system: haproxy}", "source: {system: caddy, file: haproxy.cfg}"
            ),
            13,
            "policy.source.system",
            "allowed: 'haproxy' (or an inline policy, or sut kind command/url",
        ),
        (  # duplicate key
            VALID.replace("  users: 8", "  users: 8\n  users: 9"),
            16,
            "load.users",
            "duplicate key 'users'",
        ),
    ],
)
def test_bad_input_is_one_line_with_file_line_field_and_rule(
    tmp_path: Path, text: str, line: int, field: str, needle: str
) -> None:
    err = bad(tmp_path, text)
    message = str(err)
    assert "\n" not in message
    assert err.file is not None and err.file.endswith("s.yaml")
    assert (err.line, err.field) == (line, field), message
    assert needle in message, message
    assert message.startswith(f"{err.file}:{line}: {field}: ")


@pytest.mark.parametrize(
    ("written", "got"),
    [
        ("1e30", "1e30, which YAML reads as text"),  # YAML 1.1: an exponent without a dot
        ("2e+07", "2e+07, which YAML reads as text"),
        ("20000000", "20000000"),  # a plain integer, not 2e+07
        ("20_000_000", "20000000"),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        ("1.0e+7", "10000000.0"),  # a float, which a count is not
        ("2.5", "2.5"),
        (".inf", "inf"),
    ],
)
def test_a_bad_count_is_said_as_written_with_its_range(
    tmp_path: Path, written: str, got: str
) -> None:
    err = bad(tmp_path, VALID.replace("requests: 500", f"requests: {written}"))
    assert (err.line, err.field) == (17, "load.requests"), str(err)
    assert err.reason == f"must be a whole number in 1..10000000 (got {got})"


@pytest.mark.parametrize(
    ("field", "written", "reason"),
    [
        ("users: 8", "users: 1e30", "must be a whole number in 1..10000 (got 1e30, which YAML "),
        ("spawn_rate: 4", "spawn_rate: 1e30", "must be a number > 0 and <= 10000 (got 1e30)"),
        ("failure_rate: 0.3", "failure_rate: 2e5", "must be a number in 0..1 (got 2e5)"),
        (
            "description: steady flaky load through haproxy",
            "description: [x]",
            "must be text (got ['x'])",
        ),
        ("methods: {get: 0.8, POST: 0.2}", "methods: GET", "must be a mapping (got 'GET')"),
        ("seed: 42", "seed: 42\nexpect: maybe", "must be 'conformant', 'violation' or 'incon"),
    ],
)
def test_no_pydantic_phrasing_in_value_errors(
    tmp_path: Path, field: str, written: str, reason: str
) -> None:
    assert field in VALID
    err = bad(tmp_path, VALID.replace(field, written))
    assert err.reason.startswith(reason), str(err)
    assert "Input should" not in str(err) and "e+" not in str(err), str(err)


def test_several_problems_report_the_first_and_count_the_rest(tmp_path: Path) -> None:
    text = VALID.replace("users: 8", "users: 0").replace("spawn_rate: 4", "spawn_rate: -1")
    err = bad(tmp_path, text)
    assert err.line == 15 and err.field == "load.users"
    assert "(and 1 more problem)" in str(err)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = bad(tmp_path, "name: x\nload: {users: 1\nsut: y\n")
    assert err.line is not None and err.line >= 2
    assert "malformed YAML" in str(err)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    err = bad(tmp_path, text)
    fields = "name, description, expect, expect_failing, expect_may_fail, expect_not_judged, seed"
    assert f"must be a mapping with fields {fields}" in str(err)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="file not found"):
        load_scenario(tmp_path / "absent.yaml")


def test_model_rejects_unknown_fields_directly() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        Scenario.model_validate({"name": "x", "bogus": 1})


def test_recursive_alias_is_bad_input_not_a_crash(tmp_path: Path) -> None:
    err = bad(tmp_path, "name: a\nsut: &s {kind: url, url: x, env: *s}\n")
    assert err.line == 2 and err.field == "sut.env"


def test_precise_errors_come_before_missing_fields(tmp_path: Path) -> None:
    err = bad(tmp_path, "name: a\nload: {users: 1, requests: 1, bogus: 2}\n")
    assert (err.line, err.field) == (2, "load.bogus")
    assert "(and 2 more problems)" in str(err)  # sut and policy are missing


def test_a_shipped_scenario_copied_elsewhere_keeps_its_short_locustfile_name(
    tmp_path: Path,
) -> None:
    """scenarios/haproxy.yaml names `locustfile: steady.py`; a copy outside scenarios/ (its
    config made absolute) still finds the shipped locustfile."""
    import yaml

    from harness.scenario import load_scenario

    data = yaml.safe_load((SHIPPED_ROOT / "scenarios" / "haproxy.yaml").read_text())
    assert data["load"]["locustfile"] == "steady.py"
    data["sut"]["config"] = str(SHIPPED_ROOT / "scenarios" / data["sut"]["config"])
    copy = tmp_path / "mine.yaml"
    copy.write_text(yaml.safe_dump(data))
    scenario = load_scenario(copy)
    assert Path(scenario.load.locustfile) == SHIPPED_ROOT / "scenarios" / "steady.py"


def test_method_weights_must_sum_to_one_like_status_weights(tmp_path: Path) -> None:
    """A new user's `methods: {GET: 0.6, POST: 0.3}` was sent as 2:1 without a word while status
    weights summing to 0.9 are refused: both are shares and both must sum to 1."""
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\nsut: {kind: command, command: 'x {listen} {upstreams}'}\n"
        "policy: {inline: {max_retries: 0}}\n"
        "load:\n  requests: 10\n  methods: {GET: 0.6, POST: 0.3}\n",
        encoding="utf-8",
    )
    with pytest.raises(BadInput) as err:
        load_scenario(path)
    text = str(err.value)
    assert "load.methods" in text and "sum to 0.9; they must sum to 1" in text
    assert "m.yaml:6:" in text  # the line of `methods:`


@pytest.mark.parametrize(
    "sut",
    [
        "kind: command\n  command: my-proxy {listen} {upstreams}",
        'kind: url\n  url: "http://127.0.0.1:9"',
    ],
)
def test_any_system_may_describe_a_command_or_url_sut(tmp_path: Path, sut: str) -> None:
    text = VALID.replace("kind: haproxy\n  config: haproxy.cfg", sut).replace(
        "source: {system: haproxy}", "source: {system: nginx, file: haproxy.cfg}"
    )
    assert load_scenario(write(tmp_path, text)).policy.source is not None


def test_an_inline_policy_may_go_with_any_sut_kind(tmp_path: Path) -> None:
    text = VALID.replace("  source: {system: haproxy}", "  inline: {max_retries: 2}")
    assert load_scenario(write(tmp_path, text)).policy.inline is not None


def test_a_command_placeholder_error_names_its_line(tmp_path: Path) -> None:
    text = VALID.replace(
        "kind: haproxy\n  config: haproxy.cfg", 'kind: command\n  command: "p {listen} {{nope}}"'
    ).replace("  source: {system: haproxy}", "  inline: {max_retries: 2}")
    err = bad(tmp_path, text)
    assert (err.line, err.field) == (11, "sut.command")
    assert err.reason.startswith("unknown placeholder {{nope}}; allowed: {listen}")

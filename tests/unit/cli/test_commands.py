"""The CLI's commands that start no process, called in-process through ``main(argv)``:
``policy show`` on every shipped config, bad configs and systems, ``plan``, ``schema``,
``policy systems``, usage errors, and the one-line error format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from harness.cli import TAIL_LINES_SHOWN, main, one_line
from harness.policy.model import RetryPolicy

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "scenarios" / "configs"

# The adapter for a shipped config, by the start of its file name.
SYSTEMS = {
    "Caddyfile": "caddy",
    "haproxy": "haproxy",
    "nginx": "nginx",
    "traefik": "traefik",
    "urllib3": "urllib3",
}
# max_retries some shipped configs declare, read off the file itself (see its comments).
DECLARED_RETRIES = {
    "Caddyfile": 2,  # lb_retries 2
    "Caddyfile-try-duration": 8,  # lb_try_duration 2s / lb_try_interval 250ms
    "haproxy-l7.cfg": 2,  # retries 2
    "haproxy.cfg": 3,  # retries 3
    "nginx-single.conf": 2,  # proxy_next_upstream_tries 3
    "nginx.conf": 2,  # proxy_next_upstream_tries 3
    "traefik-dynamic.yml": 2,  # attempts: 3
    "traefik-dynamic-no-keepalive.yml": 2,  # attempts: 3
    "urllib3-client.yaml": 3,  # total: 3
    "urllib3-client-first-retry.yaml": 3,  # total: 3
}
SHIPPED = sorted(p.name for p in CONFIGS.iterdir() if p.is_file())


def _system(config: str) -> str:
    found = [system for prefix, system in SYSTEMS.items() if config.startswith(prefix)]
    assert found, f"no adapter known for the shipped config {config}"
    return found[0]


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables fold at the terminal width


def test_the_known_configs_are_shipped() -> None:
    assert set(DECLARED_RETRIES) <= set(SHIPPED)


@pytest.mark.parametrize("config", SHIPPED)
def test_policy_show_json_prints_the_canonical_policy(
    capsys: pytest.CaptureFixture[str], config: str
) -> None:
    system = _system(config)
    assert main(["policy", "show", str(CONFIGS / config), "--system", system, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    policy = RetryPolicy.model_validate(out["policy"])
    assert policy.system == system
    if config in DECLARED_RETRIES:
        assert policy.max_retries == DECLARED_RETRIES[config]
    assert out["notes"], "every shipped config's adapter explains something"
    assert all(n["kind"] and n["field"] and n["text"] for n in out["notes"])


@pytest.mark.parametrize("config", SHIPPED)
def test_policy_show_table_has_policy_delays_and_notes(
    capsys: pytest.CaptureFixture[str], config: str
) -> None:
    system = _system(config)
    assert main(["policy", "show", str(CONFIGS / config), "--system", system, "--json"]) == 0
    adapted = json.loads(capsys.readouterr().out)
    retries = adapted["policy"]["max_retries"]
    assert main(["policy", "show", str(CONFIGS / config), "--system", system]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = captured.out
    assert f"read as {system}" in out
    assert f'"max_retries": {retries}' in out
    assert "declared delay before each" in out
    delay_rows = [ln for ln in out.splitlines() if re.match(r"^\s*│\s*\d+\s*│", ln)]
    assert [int(r.split("│")[1]) for r in delay_rows] == list(range(1, min(retries, 8) + 1))
    assert "adapter notes" in out
    for note in adapted["notes"]:
        assert note["field"] in out


def test_policy_show_malformed_config_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "haproxy.cfg"
    bad.write_text(
        "defaults\n    mode http\n    retries three\nbackend b\n    server s1 127.0.0.1:1\n"
    )
    assert main(["policy", "show", str(bad), "--system", "haproxy"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"error: {bad}:3: retries: expected one integer >= 0"]


def test_policy_show_malformed_urllib3_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "client.yaml"
    bad.write_text("backoff_factor: 0.1\ntotal: many\n")
    assert main(["policy", "show", str(bad), "--system", "urllib3"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {bad}:2: total: ") and "'many'" in line


def test_policy_show_missing_file_and_unknown_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.cfg"
    assert main(["policy", "show", str(missing), "--system", "haproxy"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {missing}: ") and "No such file" in line
    assert main(["policy", "show", str(CONFIGS / "haproxy.cfg"), "--system", "hap"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: system: unknown system 'hap'; known: ")
    assert "haproxy" in line and "nginx" in line


def test_policy_systems_lists_the_adapters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "systems"]) == 0
    systems = capsys.readouterr().out.split()
    assert {"haproxy", "nginx", "caddy", "urllib3", "inline"} <= set(systems)
    assert systems == sorted(systems)


def test_plan_prints_the_requests_needed(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = REPO / "scenarios" / "haproxy.yaml"
    assert main(["plan", str(scenario)]) == 0
    out = capsys.readouterr().out
    found = re.search(r"needs (\d+) logical requests; the scenario sends (\d+)", out)
    assert found, out
    needs, sends = map(int, found.groups())
    assert sends == yaml.safe_load(scenario.read_text())["load"]["requests"]
    assert 0 < needs <= sends  # the shipped scenario is sized for its goals
    rows = {
        cells[0]: int(cells[3])
        for ln in out.splitlines()
        if (cells := [c.strip() for c in ln.strip("│ ").split("│")])
        and len(cells) == 5
        and cells[3].isdigit()
    }
    assert {"success_rate", "attempt_distribution", "fault_audit"} <= set(rows)
    assert needs >= max(rows.values())  # every sample count reached, not only on average


def test_plan_leaves_out_skipped_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "scenarios" / "haproxy.yaml").read_text()
    text = text.replace("configs/haproxy.cfg", str(CONFIGS / "haproxy.cfg"))
    text = text.replace("locustfile: steady.py", "locustfile: scenarios/steady.py")
    (tmp_path / "s.yaml").write_text(text.replace("checks:\n", "checks:\n  skip: [fault_audit]\n"))
    assert main(["plan", str(tmp_path / "s.yaml")]) == 0
    out = capsys.readouterr().out
    assert "success_rate" in out and "fault_audit" not in out


def test_plan_of_a_chaos_scenario_says_why_nothing_is_planned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """replica-loss plans no statistical check (chaos switches the steady-state ones off): a
    new user saw an empty table and 'needs 0 logical requests' with no reason."""
    assert main(["plan", str(REPO / "scenarios" / "replica-loss.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "steady-state statistical checks (success_rate, attempt_distribution," in out
    assert "no statistical check is planned (3 skipped): only invariants are judged" in out


def test_plan_of_a_bad_scenario_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("name: x\nsut: {kind: haproxy, config: nope.cfg}\n")
    assert main(["plan", str(bad)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {bad}:")


@pytest.mark.parametrize(
    ("argv", "required"),
    [
        (["schema"], {"name", "sut", "policy", "load", "checks"}),
        (["schema", "scenario"], {"name", "sut", "policy", "load", "checks"}),
        (["schema", "policy"], {"max_retries", "retry_on", "backoff"}),
        (["policy", "schema"], {"max_retries", "retry_on", "backoff"}),
    ],
)
def test_schema_is_valid_json(
    capsys: pytest.CaptureFixture[str], argv: list[str], required: set[str]
) -> None:
    assert main(argv) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema.get("type") == "object"
    assert required <= set(schema["properties"])


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["kind"], ["kind", "--help"], ["kind", "scenarios/x.yaml"]])
def test_kind_as_a_command_points_to_run_substrate_kind(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, repr(err)
    assert (
        "unknown command 'kind'; kind runs through: retry-harness run FILE --substrate kind" in err
    )
    assert "invalid choice" not in err


def test_run_of_a_missing_scenario_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / "none.yaml"), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {tmp_path / 'none.yaml'}: file not found\n"
    assert not (REPO / "reports" / "none").exists()


def test_one_line_keeps_the_first_line_and_the_last_log_lines() -> None:
    assert one_line("plain") == "plain"
    assert one_line("") == ""
    tail = [f"log {i}" for i in range(20)]
    text = "\n".join(["haproxy SUT exited; last lines of x.log:", "", *tail, "  "])
    assert one_line(text) == " | ".join(
        ["haproxy SUT exited; last lines of x.log:", *tail[-TAIL_LINES_SHOWN:]]
    )
    assert "\n" not in one_line(text)


def test_an_error_line_is_not_preceded_by_a_blank_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["run", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {missing}: ") and err.count("\n") == 1, repr(err)


@pytest.mark.parametrize("replicas", ["0", "-3", "two"])
def test_policy_show_wants_at_least_one_replica(
    replicas: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = REPO / "scenarios" / "configs" / "nginx.conf"
    with pytest.raises(SystemExit) as exited:
        main(["policy", "show", str(config), "--system", "nginx", "--replicas", replicas])
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--replicas: must be an integer >= 1" in line


@pytest.mark.parametrize("command", [["run", "x.yaml"], ["conformance"]])
def test_seed_help_and_the_scenario_field_state_one_range(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--seed``'s help, its refusal and the scenario's ``seed:`` field share one bound."""
    from harness.scenario import Scenario
    from harness.seeds import SEED_MAX

    with pytest.raises(SystemExit):
        main([*command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(0..{SEED_MAX})" in help_text
    [bound] = [m.le for m in Scenario.model_fields["seed"].metadata if hasattr(m, "le")]
    assert bound == SEED_MAX

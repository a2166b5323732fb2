"""Issue 8, kind 8, through the real CLI: bad input is refused before anything starts (exit 2,
one line naming the file, the field and what is allowed); ``run --help`` lists the exit codes;
``--version`` and ``--verbose`` exist; a closed stdout pipe does not change the exit code;
``conformance`` runs every valid file and lists the invalid ones in its table."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import (
    CLI,
    REPO,
    assert_nothing_left,
    error_line,
    run_cli,
    tiny_scenario,
    write_scenario,
)

pytestmark = pytest.mark.integration

EXIT_BAD_INPUT = 2
FAST_S = 10.0  # refused before anything starts: no SUT, no backend, no 20 s readiness wait


def _refused(tmp_path: Path, scenario: Path, *extra: str) -> str:
    """Run it; assert a fast exit 2 with one line, nothing written or left; the line."""
    t0 = time.monotonic()
    result = run_cli("run", scenario, "--report-dir", tmp_path / "report", "--quiet", *extra)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert time.monotonic() - t0 < FAST_S
    assert not (tmp_path / "report").exists()  # nothing was started, nothing written
    assert_nothing_left(str(tmp_path))
    return error_line(result)


def _with_config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "haproxy.cfg").write_text(text)
    return write_scenario(tmp_path, tiny_scenario("cfg"))


def _shipped_cfg() -> str:
    return (REPO / "scenarios" / "configs" / "haproxy.cfg").read_text()


def test_sut_config_without_listen_placeholder(tmp_path: Path) -> None:
    text = _shipped_cfg().replace("{{listen}}", "127.0.0.1:8999")
    assert "{{listen" not in text
    line = _refused(tmp_path, _with_config(tmp_path, text))
    assert line.startswith(f"error: {tmp_path / 'haproxy.cfg'}: sut.config: ")
    assert "no listen placeholder" in line and "allowed: {{listen}}" in line


def test_sut_config_without_upstream_placeholder(tmp_path: Path) -> None:
    lines = [ln for ln in _shipped_cfg().splitlines() if "{{upstream" not in ln]
    lines.append("    server fixed 127.0.0.1:9 check")
    line = _refused(tmp_path, _with_config(tmp_path, "\n".join(lines) + "\n"))
    assert line.startswith(f"error: {tmp_path / 'haproxy.cfg'}: sut.config: ")
    assert "no upstream placeholder" in line and "{{upstreams}}" in line


def _command_line(scenario: Path) -> int:
    text = scenario.read_text().splitlines()
    return next(i for i, ln in enumerate(text, 1) if ln.strip().startswith("command:"))


def test_command_without_placeholders(tmp_path: Path) -> None:
    data = tiny_scenario("cmd", sut={"kind": "command", "command": "python -m http.server 8999"})
    data["policy"] = {"inline": {"max_retries": 1}}
    scenario = write_scenario(tmp_path, data)
    line = _refused(tmp_path, scenario)
    assert line.startswith(f"error: {scenario}:{_command_line(scenario)}: sut.command: ")
    assert "allowed: {listen}" in line


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("{python} p.py {listen} {upstreams} {{nope}}", "unknown placeholder {{nope}}; allowed:"),
        ("{pyhton} p.py {listen} {upstreams}", "unknown placeholder {pyhton}; allowed:"),
        ("{python} p.py {listen} {{upstream_port}}", "only works in config files"),
        ("{python} p.py {listen} {upstreams} 'open", "cannot split the command like a shell"),
    ],
)
def test_command_placeholder_errors_name_the_line_before_anything_starts(
    tmp_path: Path, command: str, needle: str
) -> None:
    data = tiny_scenario("cmd", sut={"kind": "command", "command": command})
    data["policy"] = {"inline": {"max_retries": 1}}
    scenario = write_scenario(tmp_path, data)
    line = _refused(tmp_path, scenario)  # nothing written: no backend was started
    assert line.startswith(f"error: {scenario}:{_command_line(scenario)}: sut.command: "), line
    assert needle in line, line


@pytest.mark.parametrize(
    ("section", "value", "field", "needle"),
    [
        ("methods", {"GETT": 1.0}, "load.methods", "'GETT' is not an HTTP method"),
        ("requests", 1e30, "load.requests", "must be a whole number in 1..10000000 (got 1e+30)"),
        ("users", 10**9, "load.users", "must be a whole number in 1..10000 (got 1000000000)"),
    ],
    ids=["unknown-method", "requests-1e30", "users-1e9"],
)
def test_load_refused(tmp_path: Path, section: str, value: Any, field: str, needle: str) -> None:
    data = tiny_scenario("load")
    data["load"][section] = value
    scenario = write_scenario(tmp_path, data)
    line = _refused(tmp_path, scenario)
    assert line.startswith(f"error: {scenario}:") and f": {field}: " in line
    assert needle in line, line


def test_status_weights_must_sum_to_one(tmp_path: Path) -> None:
    data = tiny_scenario("weights")
    data["backends"]["profile"]["failure_status"] = {503: 0.5, 502: 0.3}
    scenario = write_scenario(tmp_path, data)
    line = _refused(tmp_path, scenario)
    assert line.startswith(f"error: {scenario}:")
    assert "backends.profile.failure_status" in line
    assert "sum to 0.8; they must sum to 1" in line


def test_policy_of_another_system_refused_first(tmp_path: Path) -> None:
    data = tiny_scenario("mismatch", policy={"source": {"system": "nginx"}})
    scenario = write_scenario(tmp_path, data)
    line = _refused(tmp_path, scenario)
    assert line.startswith(f"error: {scenario}:")
    assert "policy.source.system" in line and "allowed: 'haproxy'" in line, line


def test_negative_seed_refused_first_naming_the_option(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("seed"))
    line = _refused(tmp_path, scenario, "--seed", "-1")
    assert line == f"error: --seed: must be an integer in 0..{2**63 - 1} (got -1)"


@pytest.mark.parametrize("seed", ["abc", "1.5", "1e3", ""])
def test_usage_error_is_one_line_with_the_allowed_range(seed: str) -> None:
    for command in ("run", "conformance"):
        result = run_cli(command, "--seed", seed, "x.yaml")
        assert result.returncode == EXIT_BAD_INPUT
        assert error_line(result) == (
            f"error: retry-harness {command}: argument --seed: must be an integer in "
            f"0..{2**63 - 1} (got {seed!r}) (see retry-harness {command} --help)"
        )


def test_help_lists_exit_codes_and_version_exists() -> None:
    help_text = run_cli("run", "--help").stdout
    for code in ("0 ", "1 ", "2 ", "3 ", "130 ", "143 "):
        assert f"\n  {code}" in help_text, help_text
    summary = " ".join(help_text.split())
    assert "local substrate" not in summary  # run takes --substrate local, docker or kind
    assert "run one scenario (local processes, docker or kind: see --substrate)" in summary
    assert "--verbose" in help_text
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("retry-harness ")


def test_closed_stdout_keeps_the_exit_code_and_verbose_shows_more(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("pipe"))
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [*CLI, "run", str(scenario), "--report-dir", str(report), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # like `| head -1`: read one line, then go away
    proc.stdout.close()
    code = proc.wait(180)
    stderr = proc.stderr.read().decode()
    assert first.startswith(b"Verdict:"), first
    verdict = json.loads((report / "verdict.json").read_text())
    expected = {"pass": 0, "fail": 1, "inconclusive": 3}[verdict["outcome"]]
    assert code == expected, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
    plain = run_cli("verify", report / "run")
    verbose = run_cli("verify", report / "run", "--verbose")
    assert plain.returncode == verbose.returncode == expected
    assert len(verbose.stdout) > len(plain.stdout)
    assert_nothing_left(str(tmp_path))


def test_closed_pipe_of_stdout_and_stderr_keeps_the_exit_code(tmp_path: Path) -> None:
    """`retry-harness run x.yaml 2>&1 | head -1`: both streams in one pipe whose reader left
    after the first line. The report paths written to stderr afterwards met the closed pipe and
    rich's default answer (SystemExit(1)) turned a pass into exit 1, "violation"."""
    scenario = write_scenario(tmp_path, tiny_scenario("pipe-both"))
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [*CLI, "run", str(scenario), "--report-dir", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    code = proc.wait(180)
    verdict = json.loads((report / "verdict.json").read_text())
    assert code == {"pass": 0, "fail": 1, "inconclusive": 3}[verdict["outcome"]]
    assert_nothing_left(str(tmp_path))


def test_closed_pipe_keeps_exit_2_of_a_run_that_fails_to_start(tmp_path: Path) -> None:
    """`retry-harness run x.yaml 2>&1 | head -3` for a SUT that exits before it is ready: the
    progress lines reached the reader, which then left; the "run failed" line met the closed
    pipe and its uncaught BrokenPipeError turned exit 2 into 1, "violation"."""
    data = tiny_scenario(
        "pipe-fails-to-start",
        sut={
            "kind": "command",
            "command": "{python} -c 'import sys, time; time.sleep(1.5); sys.exit(3)' "
            "{listen} {upstream}",
            "ready_timeout_s": 15,
        },
        policy={"inline": {"max_retries": 2}},
    )
    scenario = write_scenario(tmp_path, data)
    proc = subprocess.Popen(
        [*CLI, "run", str(scenario), "--report-dir", str(tmp_path / "report")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    while not seen or "starting SUT" not in seen[-1]:  # read up to the last progress line
        line = proc.stdout.readline().decode()
        assert line, f"no 'starting SUT' line; got {seen}"
        seen.append(line)
    proc.stdout.close()  # the SUT sleeps 1.5 s before it exits: "run failed" comes after this
    assert proc.wait(120) == EXIT_BAD_INPUT
    assert_nothing_left(str(tmp_path))


def test_conformance_runs_valid_files_and_lists_invalid_ones(tmp_path: Path) -> None:
    good = write_scenario(tmp_path / "good", tiny_scenario("good-one"))
    bad_data = tiny_scenario("bad-one")
    bad_data["load"]["methods"] = {"GETT": 1.0}
    bad = write_scenario(tmp_path / "bad", bad_data)
    result = run_cli("conformance", bad, good, "--report-dir", tmp_path / "reports", timeout=240)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    table = " ".join(result.stdout.split())
    assert "good-one" in table and "scenario.yaml" in table and "invalid" in table
    assert (tmp_path / "reports" / "good-one" / "verdict.json").exists()  # it still ran
    assert any(
        line.startswith("invalid: ") and "GETT" in line for line in result.stderr.splitlines()
    )
    assert_nothing_left(str(tmp_path))

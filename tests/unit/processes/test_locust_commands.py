"""The one builder of Locust command lines (local and kind substrates, ``retry-harness ui``)."""

from __future__ import annotations

from pathlib import Path

from harness.processes.locust import ENV_CLIENT_RECORDS, ENV_LOAD, locust_commands, locust_env
from harness.scenario import LoadSpec


def _after(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_headless_run_with_workers_is_a_master_and_its_workers(tmp_path: Path) -> None:
    load = LoadSpec.model_validate({"users": 4, "requests": 100, "request_timeout_s": 2.5})
    master, *workers = locust_commands(
        load, "http://127.0.0.1:9", run_time_s=10.2, csv_prefix=tmp_path / "locust", workers=2
    )
    assert _after(master, "--run-time") == "11s" and "--headless" in master
    assert _after(master, "--csv") == str(tmp_path / "locust")
    assert _after(master, "--stop-timeout") == "3"
    assert _after(master, "--exit-code-on-error") == "0"
    assert _after(master, "--expect-workers") == "2" and len(workers) == 2
    port = _after(master, "--master-bind-port")
    assert all(_after(w, "--master-port") == port and "--worker" in w for w in workers)
    assert not any("--host" in w for w in workers)  # the master hands out the host


def test_web_ui_mode_has_no_run_time() -> None:
    load = LoadSpec.model_validate({"users": 1, "duration_s": 30})
    (web,) = locust_commands(load, "http://127.0.0.1:9", web_port=8089, loglevel="INFO")
    assert _after(web, "--web-port") == "8089" and "--headless" not in web
    assert "--run-time" not in web and _after(web, "--loglevel") == "INFO"


def test_env_names_the_contract_files(tmp_path: Path) -> None:
    env = locust_env(load=tmp_path / "l", records=tmp_path / "r", summary=tmp_path / "s")
    assert env[ENV_LOAD] == str(tmp_path / "l") and env[ENV_CLIENT_RECORDS] == str(tmp_path / "r")

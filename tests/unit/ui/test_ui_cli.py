"""``retry-harness ui`` refuses bad input in one line, exit 2, before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.cli import main

SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "haproxy.yaml"


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ui", str(tmp_path / "nope.yaml"), "--dir", str(tmp_path / "s")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_busy_port(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["ui", str(SCENARIO), "--port", str(port), "--dir", str(tmp_path / "s")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is not free" in err and "--port" in err
    assert not (tmp_path / "s").exists()


def test_workers_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ui", str(SCENARIO), "--workers", "99", "--dir", str(tmp_path / "s")]) == 2
    assert "--workers" in capsys.readouterr().err


def test_a_telemetry_section_is_said_to_be_unused_by_the_ui() -> None:
    from harness.scenario import load_scenario
    from harness.ui_session import session_notes

    without = Path(__file__).resolve().parents[3] / "scenarios" / "nginx.yaml"
    assert session_notes(load_scenario(without)) == []
    (note,) = session_notes(load_scenario(SCENARIO))  # haproxy.yaml has a telemetry: section
    assert "telemetry: section is not used by a UI session" in note

"""Helpers for the CLI end-to-end tests: small scenario files, the CLI as a subprocess, and a
scan of /proc for processes a run left behind.

A process belongs to a run when its command line, working directory or environment mentions the
test's tmp folder: the backends' command lines name their journal in the run folder, the SUT's
names its rendered config there (or, for a ``command`` SUT, runs in the scenario's folder) and
Locust runs in the run folder with the run's files in its environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.processes.child import wait_until
from harness.substrates.lifecycle import count_lines

REPO = Path(__file__).resolve().parents[3]
SHIPPED_CONFIGS = REPO / "scenarios" / "configs"
CLI = [sys.executable, "-m", "harness.cli"]


@dataclass(frozen=True)
class Proc:
    pid: int
    state: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.state}): {self.cmdline[:160]}"


def tiny_scenario(name: str, **sections: Any) -> dict[str, Any]:
    """A small fast scenario: HAProxy (retries 3 on 503) over one flaky replica, 100 GETs.

    Keyword arguments replace whole top-level sections.
    """
    data: dict[str, Any] = {
        "name": name,
        "seed": 5,
        "backends": {
            "replicas": 1,
            "profile": {"failure_rate": 0.3, "failure_status": {503: 1}},
        },
        "sut": {"kind": "haproxy", "config": "haproxy.cfg", "ready_timeout_s": 15},
        "policy": {"source": {"system": "haproxy"}},
        "load": {"users": 4, "spawn_rate": 4, "requests": 100, "request_timeout_s": 5},
        "checks": {
            "detect": {"extra_retries": None, "success_rate_drop": 0.1, "delay_shortfall": None},
            "skip": ["fault_audit"],
        },
    }
    data.update(sections)
    return data


def write_scenario(folder: Path, data: dict[str, Any], file: str = "scenario.yaml") -> Path:
    """Write ``data`` as YAML into ``folder`` next to a copy of the shipped haproxy.cfg."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "haproxy.cfg").exists():
        shutil.copyfile(SHIPPED_CONFIGS / "haproxy.cfg", folder / "haproxy.cfg")
    path = folder / file
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_cli(
    *args: str | Path, timeout: float = 120, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess, to completion."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line of error text a failed command printed (asserts it is exactly one)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    return lines[0]


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_mentioning(text: str) -> list[Proc]:
    """Live processes (not zombies, not this one) whose cmdline, cwd or environment has ``text``."""
    found: list[Proc] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        stat = _read(entry / "stat")
        if not stat:
            continue
        state = stat.rsplit(")", 1)[-1].split()[0]
        if state in ("Z", "X"):
            continue
        cmdline = _read(entry / "cmdline")
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        if text in cmdline or text in cwd or text in _read(entry / "environ"):
            found.append(Proc(int(entry.name), state, cmdline.strip()))
    return found


def assert_nothing_left(text: str, grace_s: float = 3.0) -> None:
    """Assert that no process mentioning ``text`` is alive (after a short grace for signals
    already sent to be delivered)."""
    deadline = time.monotonic() + grace_s
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_mentioning(text)
    assert not left, "processes left running:\n" + "\n".join(map(str, left))


def kill_leftovers(text: str) -> None:
    """Cleanup after a failed test: SIGKILL, by pid, every process of the run still alive."""
    for proc in processes_mentioning(text):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)


def wait_for_load(
    proc: subprocess.Popen[bytes], run_dir: Path, *, records: int, timeout: float = 60
) -> None:
    """Wait until the run's Locust has written ``records`` client records (the load runs)."""
    path = run_dir / "client-records.ndjson"
    loaded = wait_until(
        lambda: count_lines(path) >= records,
        timeout_s=timeout,
        interval_s=0.1,
        give_up=lambda: proc.poll() is not None,
    )
    assert loaded or proc.poll() is None, f"the CLI exited early with code {proc.returncode}"
    assert loaded, f"no load after {timeout} s"


def wait_for_child(
    cli: subprocess.Popen[bytes], program: bytes, cwd_under: Path, timeout: float = 60
) -> int:
    """Poll /proc as fast as it can for a process running ``program`` (a command-line
    fragment) in a folder below ``cwd_under``; its pid. Cheap enough per pass to catch a
    child within a millisecond or so of its exec."""
    deadline = time.monotonic() + timeout
    prefix = str(cwd_under)
    while time.monotonic() < deadline:
        assert cli.poll() is None, f"the CLI exited early with code {cli.returncode}"
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if program in (entry / "cmdline").read_bytes() and os.readlink(
                    entry / "cwd"
                ).startswith(prefix):
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no {program!r} process under {cwd_under} after {timeout} s")

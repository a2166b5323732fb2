"""Start a replica as a subprocess (``python -m fake_backends``) and always tear it down.

``start_backend`` is what the local substrate and the tests use. The replica runs in its own
process group (new session), so ``stop``/``kill``/``pause``/``resume`` reach the gunicorn master
and all its workers at once. Teardown always happens on leaving the ``with`` block: SIGCONT (in
case it was paused) and SIGTERM to the group, a bounded wait, then SIGKILL to the group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

from fake_backends.admin_client import AdminClient
from fake_backends.profile import FaultProfile
from harness.errors import RunFailed
from harness.signals import signals_deferred

# Fault variables a parent's environment must not leak into a replica started with a profile.
FAULT_ENV_VARS = (
    "FAULT_PROFILE",
    "FAILURE_RATE",
    "FAILURE_STATUS",
    "FAIL_FIRST_N",
    "FAIL_FIRST_N_STATUS",
    "RETRY_AFTER",
    "LATENCY_MS",
    "HANG_RATE",
    "HANG_MS",
    "RESET_RATE",
    "OUTAGE",
    "OUTAGE_STATUS",
    "SEED",
    "UPSTREAM_URL",
    "ROUTE_PROFILES",
    "REPLICA",
    "COUNTER_URL",
    "JOURNAL",
    "JOURNAL_MAX_RECORDS",
    "CHAOS_ADMIN_TOKEN",
    "REQUEST_ID_HEADER",
)


@dataclass
class BackendHandle:
    """A running replica."""

    process: subprocess.Popen[bytes]
    url: str
    admin_url: str
    admin: AdminClient
    replica: str
    journal_path: Path
    state_dir: Path
    log_path: Path
    _paused: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _signal(self, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the group, wait up to ``timeout`` s, then SIGKILL; the exit status."""
        if self._paused:
            self.resume()
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(5.0)
        self._signal(signal.SIGKILL)  # any worker left behind by a dead master
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole group (a crash, as far as clients can tell)."""
        self._signal(signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5.0)

    def pause(self) -> None:
        """SIGSTOP the group: connections are accepted by the kernel but never answered."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self._paused = False

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _wait_ready(handle: BackendHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            tail = handle.log_text().strip().splitlines()[-5:]
            raise RunFailed(
                f"backend {handle.replica} exited with status {handle.process.returncode} "
                f"before it was ready: {' | '.join(tail)}"
            )
        try:
            health = handle.admin.health()
            if health.get("status") == "ok":
                return
        except (requests.RequestException, RuntimeError) as err:
            last_error = str(err)
        time.sleep(0.05)
    raise RunFailed(
        f"backend {handle.replica} not ready on {handle.admin_url} after {timeout:.0f} s "
        f"({last_error})"
    )


@contextmanager
def start_backend(
    port: int,
    admin_port: int,
    *,
    workers: int = 2,
    threads: int = 16,
    replica: str = "r0",
    profile: FaultProfile | None = None,
    counter_url: str | None = None,
    journal_path: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 15.0,
    admin_token: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[BackendHandle]:
    """Run one replica for the duration of the ``with`` block; yields its handle."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"fake-backend-{replica}-"))
    state_dir = work_dir / "state"
    journal = journal_path or work_dir / "journal.ndjson"
    log_path = work_dir / "backend.log"
    env = {k: v for k, v in os.environ.items() if k not in FAULT_ENV_VARS}
    env["FAULT_PROFILE"] = (profile or FaultProfile()).model_dump_json()
    if admin_token:
        env["CHAOS_ADMIN_TOKEN"] = admin_token
    env.update(extra_env or {})
    cmd = [
        sys.executable,
        "-m",
        "fake_backends",
        "--host",
        host,
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--replica",
        replica,
        "--journal",
        str(journal),
        "--state-dir",
        str(state_dir),
    ]
    if counter_url:
        cmd += ["--counter", counter_url]
    handle: BackendHandle | None = None
    try:
        with signals_deferred(), open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            handle = BackendHandle(
                process=process,
                url=f"http://{host}:{port}",
                admin_url=f"http://{host}:{admin_port}",
                admin=AdminClient(f"http://{host}:{admin_port}", token=admin_token),
                replica=replica,
                journal_path=journal,
                state_dir=state_dir,
                log_path=log_path,
            )
        _wait_ready(handle, ready_timeout)
        yield handle
    finally:
        if handle is not None:
            handle.stop()
            handle.admin.close()
        shutil.rmtree(work_dir, ignore_errors=True)

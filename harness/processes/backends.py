"""The backend side of a local run as child processes: flaky replicas and the Redis counter.

``start_backend`` runs one replica (``python -m fake_backends``) for a ``with`` block; the
local substrate, the pytest plugin, the tests and the benchmarks use it. A replica runs in its
own process group, so ``stop``/``kill``/``pause``/``resume`` reach the gunicorn master and all
its workers at once (see :class:`harness.processes.child.Child`). ``start_redis`` runs the
``redis-server`` that replicas on several hosts (or in containers) share as attempt counter.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from fake_backends.admin_client import AdminClient
from fake_backends.profile import FaultProfile
from fake_backends.settings import ENV_VARS
from harness.errors import RunFailed
from harness.processes import timeouts
from harness.processes.child import Child, running
from harness.suts.network import tcp_connects


@dataclass
class BackendHandle:
    """A running replica: its process (:class:`Child`), URLs, admin client and files."""

    child: Child
    url: str
    admin_url: str
    admin: AdminClient
    replica: str
    journal_path: Path
    state_dir: Path
    log_path: Path

    @property
    def process(self) -> Child:
        """The replica's process (the ``Replica`` protocol's name for it)."""
        return self.child

    @property
    def pid(self) -> int:
        return self.child.pid

    def alive(self) -> bool:
        return self.child.alive()

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the group, wait up to ``timeout`` s (default ``TIMEOUTS.backend_stop_s``),
        then SIGKILL; the exit status."""
        grace = timeouts.TIMEOUTS.backend_stop_s if timeout is None else timeout
        return self.child.stop(grace)

    def kill(self) -> None:
        """SIGKILL the whole group (a crash, as far as clients can tell)."""
        self.child.kill()

    def pause(self) -> None:
        """SIGSTOP the group: connections are accepted by the kernel but never answered."""
        self.child.pause()

    def resume(self) -> None:
        self.child.resume()

    def log_text(self) -> str:
        return self.child.log_text()

    def healthy(self) -> bool:
        """Whether the admin health check answers ok now."""
        return _healthy(self.admin)


def _healthy(admin: AdminClient) -> bool:
    try:
        return bool(admin.health().get("status") == "ok")
    except (requests.RequestException, RuntimeError):
        return False


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
    ready_timeout: float | None = None,
    admin_token: str | None = None,
    host: str = "127.0.0.1",
    log_path: Path | None = None,
) -> Iterator[BackendHandle]:
    """Run one replica for the duration of the ``with`` block; yields its handle once its
    admin health check answers (bounded by ``ready_timeout``, default
    ``TIMEOUTS.backend_ready_s``). Raises ``RunFailed`` (with the log tail) otherwise.

    The replica's output goes to ``log_path`` (appended: a restarted replica continues it),
    which outlives the replica; None: ``backend.log`` in a temporary folder removed with it."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"fake-backend-{replica}-"))
    state_dir = work_dir / "state"
    journal = journal_path or work_dir / "journal.ndjson"
    log_path = log_path or work_dir / "backend.log"
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
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
    admin_url = f"http://{host}:{admin_port}"
    admin = AdminClient(admin_url, token=admin_token)

    bound = timeouts.TIMEOUTS.backend_ready_s if ready_timeout is None else ready_timeout
    try:
        with running(
            cmd,
            name=f"backend {replica}",
            log_path=log_path,
            env=env,
            ready=lambda: _healthy(admin),
            ready_timeout_s=bound,
            stop_grace_s=timeouts.TIMEOUTS.backend_stop_s,
        ) as child:
            yield BackendHandle(
                child=child,
                url=f"http://{host}:{port}",
                admin_url=admin_url,
                admin=admin,
                replica=replica,
                journal_path=journal,
                state_dir=state_dir,
                log_path=log_path,
            )
    finally:
        admin.close()
        shutil.rmtree(work_dir, ignore_errors=True)


@contextmanager
def start_redis(port: int, *, log_path: Path | None = None) -> Iterator[str]:
    """Run ``redis-server`` on 127.0.0.1:``port`` (no persistence) for the ``with`` block;
    yields its ``redis://`` URL once it accepts TCP (bounded by ``TIMEOUTS.counter_ready_s``).
    Raises ``RunFailed`` when it is not installed, exits or does not listen in time."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RunFailed("redis-server is not installed (apt-get install -y redis-server)")
    t = timeouts.TIMEOUTS
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--protected-mode", "yes"]
    with running(
        argv,
        name="redis-server",
        log_path=log_path,
        ready=lambda: tcp_connects("127.0.0.1", port, t.connect_s),
        ready_timeout_s=t.counter_ready_s,
    ):
        yield f"redis://127.0.0.1:{port}/0"

"""The docker substrate (``--substrate docker``): backends and the SUT as containers.

Layout of one run (every object labelled ``io.retry-harness.run=<id>`` so teardown finds it):

- a bridge network ``rh-<id>`` the harness creates; all container-to-container traffic (SUT to
  backends) stays on it;
- per backend replica, pod style: an *infra* container that only holds the network namespace,
  its address on the network and the ports published on 127.0.0.1, and the *app* container
  (``BACKEND_IMAGE``, gunicorn as user 10001) inside that namespace. Killing the app container
  (``docker kill``) therefore leaves the address in place and makes the SUT's connections
  refused, as a crashed process on a live host (or a crashed container in a live pod) does;
  ``docker pause`` freezes it (connections are accepted by the kernel and never answered);
- the SUT (HAProxy, nginx, Caddy in ``SUT_IMAGE``; the urllib3 client service in
  ``BACKEND_IMAGE``), its config rendered and checked by the same driver as on the local
  substrate, published on 127.0.0.1.

Locust runs on the host against the SUT's published port (``LocalSubstrate.run_load``: the same
chaos loop, timing probe and journal collection). The run folder is bind-mounted at its own path
in the SUT container (rendered configs keep their paths) and at ``/data`` in the backend
containers, so journals and the shared attempt counter (``file://``) are the same files as on the
local substrate. Teardown (success, failure, Ctrl-C; ``keep=True`` aside) removes the
run's containers, network and volumes by label.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from fake_backends.admin_client import AdminClient
from fake_backends.profile import FaultProfile
from fake_backends.settings import DEFAULT_REQUEST_ID_HEADER
from harness.errors import BadInput, RunFailed
from harness.processes import timeouts
from harness.processes.child import wait_until
from harness.scenario import Scenario
from harness.signals import signals_deferred
from harness.substrates.base import Artifacts, Substrate
from harness.substrates.images import (
    BACKEND_IMAGE,
    LABEL,
    SUT_IMAGE,
    docker_client,
    image_ref,
    require_images,
    stale_backend_image,
)
from harness.substrates.local import LocalSubstrate, Progress
from harness.suts.base import RunningSut, launch_plan
from harness.suts.spec import CaddySut, HaproxySut, NginxSut, Urllib3ClientSut
from harness.traffic import PROBE_HEADERS, readiness_id

RUN_LABEL = f"{LABEL}.run"
WORKDIR_LABEL = f"{LABEL}.workdir"  # the run folder, so a test (or a user) finds its objects
DATA_PORT = 8000
ADMIN_PORT = 9001
SUT_PORT = 8080
_STOP_TIMEOUT_S = 2
DOCKER_SUTS = ("haproxy", "nginx", "caddy", "urllib3_client")
_VENV_PYTHON = "/opt/venv/bin/python"
BACKEND_DATA = "/data"  # the run folder inside a backend container


@dataclass
class _Exit:
    """What ``LocalSubstrate`` reads of a dead replica: its exit status."""

    returncode: int | None = None


@dataclass
class ContainerReplica:
    """One backend replica: infra container (address, ports) + app container (the backend)."""

    replica: str
    infra: Any
    app: Any
    url: str
    admin_url: str
    upstream: str  # base URL on the run's network, for the SUT
    admin: AdminClient
    process: _Exit = field(default_factory=_Exit)
    _paused: bool = False

    def _status(self) -> str:
        try:
            self.app.reload()
        except Exception:  # removed or the daemon is gone: not alive
            return "gone"
        state = self.app.attrs.get("State", {})
        if state.get("Status") == "exited":
            self.process.returncode = int(state.get("ExitCode", -1))
        return str(state.get("Status", "gone"))

    def alive(self) -> bool:
        return self._status() in ("running", "paused", "restarting", "created")

    def kill(self) -> None:
        """``docker kill`` (SIGKILL) of the app container; its address stays (refused)."""
        with contextlib.suppress(Exception):
            self.app.kill()

    def pause(self) -> None:
        """``docker pause``: the cgroup is frozen, connections hang."""
        self.app.pause()
        self._paused = True

    def resume(self) -> None:
        self.app.unpause()
        self._paused = False

    def stop(self, timeout: float = 10.0) -> int | None:
        if self._paused:
            with contextlib.suppress(Exception):
                self.resume()
        with contextlib.suppress(Exception):
            self.app.stop(timeout=int(max(1, timeout)))
        self._status()
        return self.process.returncode

    def log_text(self) -> str:
        try:
            return bytes(self.app.logs(tail=50)).decode(errors="replace")
        except Exception as exc:  # say why, never an empty "(none)"
            return f"(log unavailable: {exc})"


def _published(container: Any, port: int) -> int:
    """The 127.0.0.1 host port docker chose for ``port``/tcp of ``container``."""
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    for binding in bindings:
        if binding.get("HostIp") in ("127.0.0.1", ""):
            return int(binding["HostPort"])
    raise RunFailed(f"container {container.name}: port {port} is not published on 127.0.0.1")


def check_scenario(sc: Scenario) -> None:
    """``BadInput`` when the scenario needs what the docker substrate does not offer."""
    if sc.sut.kind not in DOCKER_SUTS:
        raise BadInput(
            f"SUT kind '{sc.sut.kind}' does not run on the docker substrate; allowed: "
            + ", ".join(DOCKER_SUTS),
            file=sc.source_file,
            field="sut.kind",
        )
    if sc.backends.counter == "redis":
        raise BadInput(
            "counter 'redis' is not supported on the docker substrate; allowed: file, sqlite",
            file=sc.source_file,
            field="backends.counter",
        )


def check_docker(scenario_files: Sequence[Path] = ()) -> None:
    """``BadInput`` (with the command that fixes it) unless the scenarios can run on docker,
    docker answers and our images exist. Starts nothing."""
    from harness.scenario import load_scenario

    for file in scenario_files:
        check_scenario(load_scenario(file))
    require_images(docker_client(), [BACKEND_IMAGE, SUT_IMAGE])


class DockerSubstrate(LocalSubstrate):
    """Containers on a docker network of its own for one scenario run; a context manager."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        progress: Progress | None = None,
        log: Callable[[str], None] | None = None,
        keep: bool = False,
    ) -> None:
        super().__init__(scenario, workdir, progress=progress, log=log)
        self.keep = keep
        self.run_id = uuid.uuid4().hex[:10]
        self.network_name = f"rh-{self.run_id}"
        self._labels = {LABEL: "1", RUN_LABEL: self.run_id, WORKDIR_LABEL: str(self.workdir)}
        self._client: Any = None
        self._network: Any = None
        self._sut_container: Any = None
        self._infra: list[Any] = []
        self._replicas: list[ContainerReplica] = []
        self._restarts: dict[int, int] = {}
        self._workdir_mode: int | None = None
        self._down_done = False
        self._lock = threading.Lock()

    # -- checks before anything starts ---------------------------------------------------------

    def check(self) -> None:
        """Every reason this run cannot start (``BadInput``), before anything is started."""
        sc = self.scenario
        check_scenario(sc)
        self._client = docker_client()
        needed = [BACKEND_IMAGE]
        if isinstance(sc.sut, HaproxySut | NginxSut | CaddySut):
            needed.append(SUT_IMAGE)
        require_images(self._client, needed)
        stale = stale_backend_image(self._client)
        if stale:
            self._log(f"warning: {stale}")

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self) -> None:
        """Check, then create the network, the replicas and the SUT; return when all are ready."""
        sc = self.scenario
        self.check()
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The backends run as user 10001 and write journals and the counter into the run folder
        # (sticky and world-writable for the run, like /tmp; restored at teardown).
        self._workdir_mode = self.workdir.stat().st_mode & 0o7777
        self.workdir.chmod(0o1777)
        self.counter_url = self._start_counter()
        with signals_deferred():
            self._network = self._client.networks.create(
                self.network_name, driver="bridge", labels=self._labels, check_duplicate=True
            )
        self._log(f"docker network {self.network_name} created")
        self._start_container_replicas(sc.backends.replicas, sc.backends.profile)
        self._start_sut_container()

    def _start_counter(self) -> str:
        if self.scenario.backends.counter == "sqlite":
            return f"sqlite:///{self.workdir / 'attempt-counter.sqlite3'}"
        return f"file://{self.workdir / 'attempt-counter.bin'}"

    def _mounts(self) -> dict[str, dict[str, str]]:
        volumes = {str(self.workdir): {"bind": str(self.workdir), "mode": "rw"}}
        base = self.scenario.base_dir
        if base is not None:
            volumes.setdefault(str(base.resolve()), {"bind": str(base.resolve()), "mode": "ro"})
        return volumes

    def _run(self, image: str, name: str, **kwargs: Any) -> Any:
        """``docker run -d`` with the run's labels; registered for teardown by its label."""
        with signals_deferred():
            return self._client.containers.run(
                image,
                name=name,
                detach=True,
                labels={**self._labels, **kwargs.pop("labels", {})},
                **kwargs,
            )

    def _start_infra(self, index: int) -> Any:
        return self._run(
            image_ref(BACKEND_IMAGE),
            f"{self.network_name}-r{index}",
            entrypoint=["sleep", "infinity"],
            command=[],
            network=self.network_name,
            hostname=f"r{index}",
            ports={
                f"{DATA_PORT}/tcp": ("127.0.0.1", None),
                f"{ADMIN_PORT}/tcp": ("127.0.0.1", None),
            },
            healthcheck={"test": ["NONE"]},
            labels={f"{LABEL}.role": "infra"},
        )

    def _start_app(self, index: int, profile: FaultProfile) -> Any:
        generation = self._restarts.get(index, 0)
        sc = self.scenario
        command = [
            "--host",
            "0.0.0.0",
            "--port",
            str(DATA_PORT),
            "--admin-port",
            str(ADMIN_PORT),
            "--workers",
            str(sc.backends.workers),
            "--threads",
            str(sc.backends.threads),
            "--replica",
            f"r{index}",
            "--journal",
            f"{BACKEND_DATA}/journal-r{index}.raw.ndjson",
        ]
        if self.counter_url:
            command += ["--counter", self.counter_url.replace(str(self.workdir), BACKEND_DATA)]
        return self._run(
            image_ref(BACKEND_IMAGE),
            f"{self.network_name}-r{index}-app{generation}",
            command=command,
            environment={"FAULT_PROFILE": profile.model_dump_json()},
            network_mode=f"container:{self._infra[index].id}",
            # at a path of its own: user 10001 may not traverse the run folder's parents
            volumes={str(self.workdir): {"bind": BACKEND_DATA, "mode": "rw"}},
            labels={f"{LABEL}.role": "backend", f"{LABEL}.replica": f"r{index}"},
        )

    def _replica_handle(self, index: int, app: Any) -> ContainerReplica:
        infra = self._infra[index]
        data = _published(infra, DATA_PORT)
        admin = _published(infra, ADMIN_PORT)
        address = infra.attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"]
        handle = ContainerReplica(
            replica=f"r{index}",
            infra=infra,
            app=app,
            url=f"http://127.0.0.1:{data}",
            admin_url=f"http://127.0.0.1:{admin}",
            upstream=f"http://{address}:{DATA_PORT}",
            admin=AdminClient(f"http://127.0.0.1:{admin}"),
        )
        self._wait_ready(handle)
        return handle

    def _wait_ready(self, handle: ContainerReplica) -> None:
        bound = timeouts.TIMEOUTS.backend_container_ready_s
        last = ["no answer"]

        def exited() -> bool:
            if handle.alive():
                return False
            tail = " | ".join(handle.log_text().strip().splitlines()[-5:])
            raise RunFailed(
                f"backend container {handle.app.name} exited (status "
                f"{handle.process.returncode}) before it was ready: {tail}"
            )

        def healthy() -> bool:
            try:
                return bool(handle.admin.health().get("status") == "ok")
            except (requests.RequestException, RuntimeError) as exc:
                last[0] = str(exc)[:200]
                return False

        if not wait_until(healthy, timeout_s=bound, interval_s=0.1, give_up=exited):
            raise RunFailed(
                f"backend {handle.replica} not ready on {handle.admin_url} after "
                f"{bound:.0f} s ({last[0]})"
            )

    def _start_container_replicas(self, count: int, profile: FaultProfile) -> None:
        self._log(f"starting {count} backend container{'s' if count > 1 else ''}")
        self._infra = [self._start_infra(i) for i in range(count)]
        apps = [self._start_app(i, profile) for i in range(count)]
        try:
            with ThreadPoolExecutor(max_workers=count) as pool:
                handles = list(pool.map(self._replica_handle, range(count), apps))
        except RunFailed as exc:
            raise self._failed("backends", str(exc)) from None
        self._replicas = handles
        self.backends = list(handles)

    def _start_sut_container(self) -> None:
        sc = self.scenario
        spec = sc.sut
        upstreams = [h.upstream for h in self._replicas]
        workdir = self.workdir / "sut"
        workdir.mkdir(parents=True, exist_ok=True)
        self._log(f"starting SUT container ({spec.kind})")
        try:
            plan = launch_plan(
                spec,
                listen=("0.0.0.0", SUT_PORT),
                upstreams=upstreams,
                workdir=workdir,
                base_dir=sc.base_dir,
            )
        except BadInput as exc:
            raise self._in_scenario(exc) from None
        argv = list(plan.argv)
        if isinstance(spec, Urllib3ClientSut):
            image, argv[0] = image_ref(BACKEND_IMAGE), _VENV_PYTHON
        else:
            image, argv[0] = image_ref(SUT_IMAGE), Path(argv[0]).name
        env = {k: v for k, v in (plan.env or {}).items() if os.environ.get(k) != v}
        # the SUT's own metrics (HAProxy's exporter), published on 127.0.0.1 like its data port
        metrics = int(plan.metrics_hostport.rsplit(":", 1)[1]) if plan.metrics_hostport else None
        metrics_port = {f"{metrics}/tcp": ("127.0.0.1", None)} if metrics else {}
        container = self._run(
            image,
            f"{self.network_name}-sut",
            entrypoint=argv[:1],
            command=argv[1:],
            environment=env,
            working_dir=str(plan.cwd) if plan.cwd else None,
            network=self.network_name,
            ports={f"{SUT_PORT}/tcp": ("127.0.0.1", None), **metrics_port},
            volumes=self._mounts(),
            labels={f"{LABEL}.role": "sut"},
            healthcheck={"test": ["NONE"]},
        )
        self._sut_container = container
        log_path = workdir / f"{spec.kind}.container.log"
        url = f"http://127.0.0.1:{_published(container, SUT_PORT)}"
        self._wait_sut(container, url, plan.probe_path, spec.ready_timeout_s, log_path)
        self.sut = RunningSut(
            url=url,
            name=spec.kind,
            log_path=log_path,
            config_path=plan.config_path,
            metrics_hostport=(
                f"127.0.0.1:{_published(container, metrics)}" if metrics is not None else None
            ),
            metrics_upstreams=plan.metrics_upstreams,
            _stopper=lambda: self._save_logs(container, log_path),
        )
        self._log(f"SUT ready at {url} (container {container.name})")

    def _wait_sut(
        self, container: Any, url: str, path: str, timeout: float, log_path: Path
    ) -> None:
        def exited() -> bool:
            container.reload()
            if container.status in ("running", "created"):
                return False
            self._save_logs(container, log_path)
            tail = " | ".join(log_path.read_text(errors="replace").splitlines()[-5:])
            raise self._failed("sut", f"the SUT container exited at start: {tail}")

        def answers() -> bool:
            # a marked probe (own request id, probe header): one faultless attempt, split out
            # of the judged journals and counted (harness.traffic)
            headers = {**PROBE_HEADERS, DEFAULT_REQUEST_ID_HEADER: readiness_id()}
            try:
                requests.get(url + path, timeout=1, headers=headers)
            except requests.RequestException:
                return False
            return True  # any HTTP answer means it is serving

        if not wait_until(answers, timeout_s=timeout, interval_s=0.1, give_up=exited):
            raise self._failed("sut", f"the SUT container was not ready on {url} in {timeout:g} s")

    @staticmethod
    def _save_logs(container: Any, path: Path, *, append: bool = False) -> None:
        """The container's output into ``path`` (appended: a replica's generations in turn)."""
        with contextlib.suppress(Exception), path.open("ab" if append else "wb") as out:
            out.write(bytes(container.logs()))

    def run_load(self) -> Artifacts:
        """The local substrate's load; then the SUT container's log is written to the SUT's
        ``log_path`` (what the telemetry readers of a SUT's own log read after the load)."""
        artifacts = super().run_load()
        if self._sut_container is not None and self.sut is not None and self.sut.log_path:
            self._save_logs(self._sut_container, self.sut.log_path)
        return artifacts

    # -- chaos -------------------------------------------------------------------------------

    def restart_replica(self, index: int) -> None:
        """A new app container in the same infra (same address, ports and journal)."""
        self._replica(index)
        profile = self._profiles.get(index, self.scenario.backends.profile)
        old = self._replicas[index]
        self._restarts[index] = self._restarts.get(index, 0) + 1
        self._save_logs(old.app, self.workdir / f"backend-r{index}.log", append=True)
        with contextlib.suppress(Exception):
            old.app.remove(force=True)
        app = self._start_app(index, profile)
        self._refuse_after_teardown(lambda: app.remove(force=True), f"backend replica r{index}")
        self._replicas[index] = self._replica_handle(index, app)
        self.backends[index] = self._replicas[index]
        self._killed.discard(index)
        self._close_window(index, "kill")

    def _must_be_alive(self) -> None:
        super()._must_be_alive()
        container = self._sut_container
        if container is not None:
            with contextlib.suppress(Exception):
                container.reload()
            if container.status not in ("running", "created"):
                raise self._failed(
                    "sut", f"the SUT container died during the run ({container.status})"
                )

    # -- teardown ----------------------------------------------------------------------------

    def down(self) -> None:
        """Remove every container, network and volume of this run (idempotent); keep=True: none."""
        with self._lock:
            if self._down_done:
                return
            self._down_done = True
        self._end_chaos()  # a restart in progress is registered (or refused) before removal
        with signals_deferred():
            if self.sut is not None:
                self.sut.stop()  # saves the SUT's log
            for index, replica in enumerate(self._replicas):  # the run folder keeps their logs
                self._save_logs(replica.app, self.workdir / f"backend-r{index}.log", append=True)
            for handle in self.backends:
                with contextlib.suppress(Exception):
                    handle.admin.close()
            if self.keep:
                self._log(
                    f"--keep: containers and network {self.network_name} are left running; "
                    f"remove them with: docker rm -f $(docker ps -aq --filter label={RUN_LABEL}="
                    f"{self.run_id}) && docker network rm {self.network_name}"
                )
            elif self._client is not None:
                remove_run_objects(self._client, self.run_id)
            if self._workdir_mode is not None:
                with contextlib.suppress(OSError):
                    self.workdir.chmod(self._workdir_mode)
            self._stack.close()


def remove_run_objects(client: Any, run_id: str | None = None) -> list[str]:
    """Remove the containers, networks and volumes of one run (or of every run); their names."""
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    removed: list[str] = []
    containers = client.containers.list(all=True, filters={"label": selector})
    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        for name in pool.map(_remove_container, containers):
            removed.append(name)
    for network in client.networks.list(filters={"label": selector}):
        with contextlib.suppress(Exception):
            network.remove()
            removed.append(network.name)
    for volume in client.volumes.list(filters={"label": selector}):
        with contextlib.suppress(Exception):
            volume.remove(force=True)
            removed.append(volume.name)
    return removed


def _remove_container(container: Any) -> str:
    with contextlib.suppress(Exception):
        container.remove(force=True)
    return str(container.name)


_IS_A_SUBSTRATE: type[Substrate] = DockerSubstrate  # mypy checks it keeps the protocol

"""The kind substrate: backends and the SUT kit in a kind cluster, Locust on the host.

``KindSubstrate`` drives pytest-kind's ``KindCluster`` (pytest-kind-ng) with the absolute
``kind``/``kubectl`` paths of :mod:`harness.substrates.kind_tools`, so nothing is downloaded:

1. render the scenario and its kit (:mod:`harness.substrates.kind_render`) into
   ``<run folder>/manifests``;
2. create the cluster from ``kind-cluster.yaml`` (or reuse one of the same name: its kubeconfig is
   exported first), wait until the node is Ready, ``kind load docker-image`` the backend image;
3. run the kit's install steps (pinned Helm charts / manifests), ``kubectl apply -k`` the
   rendered folder, wait for every rollout and the kit's own ready steps, then until the SUT
   answers on its NodePort (kind ``extraPortMappings`` on 127.0.0.1; never
   ``kubectl port-forward``, which is a known bottleneck under load);
4. run Locust on the host against that address, with the scenario's chaos as scaling a replica's
   Deployment to 0 and force-deleting its pod (``kill``), scaling back (its undo) and ``PUT
   /faults`` on a replica's admin Service (``set_faults``); ``pause``/``resume`` have no
   Kubernetes equivalent and are refused before anything starts;
   With ``telemetry:`` the run's Prometheus is a pod too (harness/telemetry/in_cluster.py):
   its image is loaded with the backend's, and the telemetry session queries it on its NodePort;
5. collect every replica's journal through its admin Service (a NodePort on 127.0.0.1, token from
   the rendered Secret; never through the SUT), pulled during the run too, so a replica about
   to be killed is read first;
6. tear down, also on failure and Ctrl-C: Locust first, then either ``kind delete cluster`` (the
   run created the cluster and ``--keep-cluster`` was not given) or ``kubectl delete -k`` of the
   rendered folder (a reused or kept cluster keeps the kit's controllers, loses the run's
   objects).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from fake_backends.admin_client import AdminClient, AdminError
from fake_backends.profile import FaultProfile
from fake_backends.records import JournalStats
from harness.errors import BadInput, RunFailed
from harness.oracle.records import DownWindow
from harness.processes import timeouts
from harness.processes.child import wait_until
from harness.processes.locust import locust_commands, locust_env, locust_run_time
from harness.processes.tools import run_tool
from harness.scenario import Scenario, write_load_config
from harness.signals import signals_deferred
from harness.substrates.base import Artifacts
from harness.substrates.calibration import TimingProbe, wall_us
from harness.substrates.images import PROMETHEUS_IMAGE, backend_image_ref, image_ref
from harness.substrates.kind_kit import Kit
from harness.substrates.kind_render import MAX_KIND_REPLICAS, NAMESPACE, Rendered, render
from harness.substrates.kind_tools import Tools
from harness.substrates.lifecycle import SubstrateLifecycle
from harness.suts.network import probe_once
from harness.telemetry.in_cluster import in_cluster_prometheus
from harness.telemetry.session import InClusterPrometheus
from harness.traffic import split_journal

Progress = Callable[[str, int, int | None], None]
DEFAULT_CLUSTER_NAME = "retry-harness"
_STEP_TIMEOUT_S = 900.0


class Cluster(Protocol):
    """The part of pytest-kind's ``KindCluster`` the substrate uses."""

    name: str
    kubeconfig_path: Path

    def create(self, config_file: str | Path | None = None) -> None: ...

    def load_docker_image(self, docker_image: str) -> None: ...

    def kubectl(self, *args: str, **kwargs: Any) -> str: ...

    def delete(self) -> None: ...


ClusterFactory = Callable[..., Cluster]


def pytest_kind_cluster(
    name: str, *, kubeconfig: Path, kind_path: Path, kubectl_path: Path
) -> Cluster:
    """``pytest_kind.KindCluster`` with absolute, existing binaries (it never downloads then)."""
    from pytest_kind import KindCluster

    cluster: Cluster = KindCluster(
        name, kubeconfig=kubeconfig, kind_path=kind_path, kubectl_path=kubectl_path
    )
    return cluster


def unsupported_chaos(scenario: Scenario) -> None:
    """``BadInput`` for chaos the kind substrate cannot do (before anything starts)."""
    for i, op in enumerate(scenario.chaos):
        if op.action in ("pause", "resume"):
            raise BadInput(
                f"{op.action} has no Kubernetes equivalent; on --substrate kind use kill "
                "(scale to 0 and delete the pod; duration_s scales it back) or set_faults",
                file=scenario.source_file,
                field=f"chaos[{i}].action",
            )
    if scenario.load.workers:
        raise BadInput(
            "Locust workers are not supported on --substrate kind yet: its Locust runs as one "
            "process on the host (drop --workers / load.workers, or render the in-cluster "
            "master and workers with --render DIR and apply DIR/locust yourself)",
            file=scenario.source_file,
            field="load.workers",
        )
    if scenario.backends.replicas > MAX_KIND_REPLICAS:
        raise BadInput(
            f"at most {MAX_KIND_REPLICAS} replicas on --substrate kind (one admin NodePort each)",
            file=scenario.source_file,
            field="backends.replicas",
        )


class KindSubstrate(SubstrateLifecycle):
    """One scenario run in a kind cluster; use as a context manager (``down`` always runs)."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        kit: Kit,
        tools: Tools,
        cluster_name: str = DEFAULT_CLUSTER_NAME,
        keep_cluster: bool = False,
        token: str | None = None,
        progress: Progress | None = None,
        log: Callable[[str], None] | None = None,
        cluster_factory: ClusterFactory = pytest_kind_cluster,
    ) -> None:
        unsupported_chaos(scenario)
        self.scenario = scenario
        self.workdir = workdir.resolve()
        self.kit = kit
        self.tools = tools
        self.cluster_name = cluster_name
        self.keep_cluster = keep_cluster
        self.token = token or secrets.token_hex(16)
        self._progress = progress or (lambda phase, done, total: None)
        self._log = log or (lambda text: None)
        self._factory = cluster_factory
        self.cluster: Cluster | None = None
        self.rendered: Rendered | None = None
        self.created_cluster = False
        self.applied = False
        self.teardown: list[str] = []
        """What ``down`` did, in order (for the report and the tests)."""
        self.prometheus: InClusterPrometheus | None = None
        """The run's Prometheus pod (scenarios with ``telemetry:``), read by the telemetry
        session (harness/telemetry/session.py) through its NodePort."""
        self._stack = contextlib.ExitStack()
        self._chaos_log: list[str] = []
        self._down: list[DownWindow] = []
        self._killed: set[int] = set()
        self._profiles: dict[int, FaultProfile] = {}
        self._cursors: dict[int, str | None] = {}
        self._journal_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self) -> None:
        """Render, create or reuse the cluster, load the image, install, apply, wait."""
        sc = self.scenario
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rendered = render(
            sc,
            self.kit,
            self.workdir / "manifests",
            token=self.token,
            kubectl=str(self.tools.kubectl),
        )
        kubeconfig = self.workdir / "kubeconfig"
        with contextlib.chdir(self.workdir):  # KindCluster makes ./.pytest-kind/<name>/
            self.cluster = self._factory(
                self.cluster_name,
                kubeconfig=kubeconfig,
                kind_path=self.tools.kind,
                kubectl_path=self.tools.kubectl,
            )
        existing = self.cluster_name in self._kind("get", "clusters").split()
        if existing:
            self._log(f"reusing kind cluster {self.cluster_name}")
            self._kind(
                "export", "kubeconfig", "--name", self.cluster_name, "--kubeconfig", str(kubeconfig)
            )
        else:
            self._log(f"creating kind cluster {self.cluster_name} (about a minute)")
            self.created_cluster = True  # before create: a Ctrl-C inside it still deletes it
        self._step("kind create cluster", self.cluster.create, self.rendered.cluster_config)
        self.kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s")
        images = [backend_image_ref()]
        if self.rendered.prometheus is not None:
            images.append(image_ref(PROMETHEUS_IMAGE))
        for image in images:
            self._log(f"loading {image} into the cluster")
            self._step(
                f"kind load docker-image {image} (build it first: nox -s image)",
                self.cluster.load_docker_image,
                image,
            )
        self.applied = True  # from here on, down() removes the run's objects
        for argv in self.rendered.commands:
            self._log(
                "$ " + " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv))
            )
            self.run_step(argv)
        self._wait_for_sut()
        if self.rendered.prometheus is not None:
            self.prometheus = in_cluster_prometheus(self.scenario, self.kit)

    def down(self) -> None:
        """Stop Locust, then delete the cluster (created here, not kept) or the run's objects.

        Runs with signals deferred (a second Ctrl-C does not cut the cleanup short); the
        cluster cleanup is reached even when stopping what the stack holds fails. A cleanup
        that fails is logged with the command that finishes it and kept in ``teardown``.
        """
        self._end_chaos()
        with signals_deferred():
            try:
                self._stack.close()
            finally:
                self._delete_cluster_objects()

    def _delete_cluster_objects(self) -> None:
        """``kind delete cluster`` (created here, not kept) or ``kubectl delete -k`` (once)."""
        if self.cluster is None:
            return
        cluster, self.cluster = self.cluster, None
        if self.created_cluster and not self.keep_cluster:
            what = "kind delete cluster"
            fix = f"kind delete cluster --name {self.cluster_name}"
            action: Callable[[], object] = cluster.delete
        elif self.applied and self.rendered is not None:
            what = "kubectl delete -k"
            fix = f"kubectl delete -k {self.rendered.root} (KUBECONFIG={cluster.kubeconfig_path})"
            root = str(self.rendered.root)

            def action() -> object:
                return cluster.kubectl(
                    "delete",
                    "-k",
                    root,
                    "--ignore-not-found",
                    "--wait=true",
                    "--timeout=120s",
                    stderr=subprocess.PIPE,
                    timeout=_STEP_TIMEOUT_S,
                )
        else:
            return
        try:
            action()
            self.teardown.append(what)
        except Exception as exc:
            self.teardown.append(f"{what} FAILED: {exc}")
            self._log(f"cleanup: {what} failed ({exc}); finish it with: {fix}")

    # -- commands ----------------------------------------------------------------------------

    def _step(self, what: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except subprocess.CalledProcessError as exc:
            raise self._failed("kind", f"{what} failed (exit status {exc.returncode})") from None

    def _env(self) -> dict[str, str]:
        assert self.cluster is not None
        return {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig_path)}

    def _kind(self, *args: str) -> str:
        return self._run([str(self.tools.kind), *args])

    def kubectl(self, *args: str) -> str:
        """kubectl against the cluster (``KindCluster.kubectl``: it sets ``KUBECONFIG``)."""
        assert self.cluster is not None
        try:
            return self.cluster.kubectl(*args, stderr=subprocess.PIPE, timeout=_STEP_TIMEOUT_S)
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or "").strip().splitlines()[-3:]
            raise self._failed(
                "kind",
                f"kubectl {' '.join(args)} failed (exit status {exc.returncode}): "
                + " | ".join(tail),
            ) from None

    def run_step(self, argv: Sequence[str]) -> str:
        """One rendered command: kubectl through the cluster, anything else with KUBECONFIG."""
        if argv and Path(argv[0]) == self.tools.kubectl:
            return self.kubectl(*argv[1:])
        program = argv[0]
        path = self.tools.others.get(program)
        return self._run([str(path) if path else program, *argv[1:]])

    def _run(self, argv: Sequence[str]) -> str:
        env = self._env() if self.cluster is not None else dict(os.environ)
        try:
            done = run_tool(argv, timeout_s=_STEP_TIMEOUT_S, env=env, what=" ".join(argv)[:200])
        except RunFailed as exc:
            raise self._failed("kind", str(exc)) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise self._failed(
                "kind",
                f"{Path(argv[0]).name} {' '.join(argv[1:])} failed (exit status "
                f"{done.returncode}): " + " | ".join(tail),
            )
        return done.stdout

    def _wait_for_sut(self) -> None:
        assert self.rendered is not None
        url = self.rendered.entry_url
        port = urlsplit(url).port
        assert port is not None
        # a marked probe (own request id, probe header): one faultless attempt, split out
        answered: list[int] = []

        def answers() -> bool:
            status = probe_once("127.0.0.1", port, "/", timeouts.TIMEOUTS.probe_s)
            if status is not None:
                answered.append(status)
            return status is not None

        if wait_until(answers, timeout_s=self.scenario.sut.ready_timeout_s, interval_s=1.0):
            self._log(f"SUT ready at {url} (HTTP {answered[-1]})")
            return
        reused = (
            ""
            if self.created_cluster
            else "; a reused cluster keeps the port mappings it was created with (delete it, "
            "or pass another --cluster-name)"
        )
        raise self._failed(
            "kind",
            f"the SUT did not answer on {url} within {self.scenario.sut.ready_timeout_s:g} s "
            f"(no HTTP answer); kind maps NodePort {self.kit.spec.entry.node_port} there{reused}",
        )

    # -- chaos -------------------------------------------------------------------------------

    def admin(self, index: int) -> AdminClient:
        assert self.rendered is not None
        return AdminClient(self.rendered.admin_urls[index], token=self.token)

    def kill_replica(self, index: int) -> None:
        """Pull the replica's journal, scale its Deployment to 0, force-delete its pod.

        The down window opens before the last pull: an attempt served between that pull and
        the pod's end reaches no saved journal, and the oracle judges its trace as overlapping
        a down window.
        """
        self._down.append(DownWindow(replica=f"r{index}", kind="kill", start_us=wall_us()))
        with contextlib.suppress(requests.RequestException, AdminError):
            self.pull_journal(index)
        self._killed.add(index)
        self.kubectl("scale", "-n", NAMESPACE, f"deployment/backend-r{index}", "--replicas=0")
        self.kubectl(
            "delete",
            "pod",
            "-n",
            NAMESPACE,
            "-l",
            f"retry-harness/replica=r{index}",
            "--grace-period=0",
            "--force",
            "--wait=false",
        )

    def restart_replica(self, index: int) -> None:
        """Scale back to 1 and wait for the rollout; the new pod starts a fresh journal."""
        self.kubectl("scale", "-n", NAMESPACE, f"deployment/backend-r{index}", "--replicas=1")
        self.kubectl(
            "rollout",
            "status",
            "-n",
            NAMESPACE,
            f"deployment/backend-r{index}",
            "--timeout=120s",
        )
        profile = self._profiles.get(index)
        if profile is not None:
            self.admin(index).put_faults(profile)
        self._cursors[index] = None
        self._killed.discard(index)
        for i in range(len(self._down) - 1, -1, -1):
            w = self._down[i]
            if w.replica == f"r{index}" and w.end_us is None:
                self._down[i] = w.model_copy(update={"end_us": wall_us()})
                break

    def pause_replica(self, index: int) -> None:
        raise BadInput("pause has no Kubernetes equivalent", field="chaos")

    def resume_replica(self, index: int) -> None:
        raise BadInput("resume has no Kubernetes equivalent", field="chaos")

    def _put_faults(self, index: int, profile: FaultProfile) -> None:
        self.admin(index).put_faults(profile)

    def _journal_dropped(self, index: int) -> int:
        return self._journal_stats(index).dropped

    def _journal_stats(self, index: int) -> JournalStats:
        client = self.admin(index)
        try:
            return client.stats()
        finally:
            client.close()

    def _before_partial(self) -> None:
        """An interrupted run: pull what the replicas that are up journaled since the last
        pull (the cluster is gone after teardown), without waiting for answers in flight."""
        for index in range(self.scenario.backends.replicas):
            if index not in self._killed:
                with contextlib.suppress(requests.RequestException, AdminError):
                    self.pull_journal(index)

    # -- journals ----------------------------------------------------------------------------

    def pull_journal(self, index: int, *, settle_s: float = 0.0) -> int:
        """Append the replica's new journal lines to ``journal-r<i>.raw.ndjson``; ``settle_s``:
        first let the replica finish writing the records of attempts it already answered (the
        last pull, after the load; see :meth:`AdminClient.journal`). Returns the attempts the
        replica still had without a record when the pull began (after the settle wait): on the
        last pull, attempts whose records this run's journal will never contain."""
        with self._journal_lock:
            client = self.admin(index)
            raw = self.workdir / f"journal-r{index}.raw.ndjson"
            unsettled: int | None = None
            try:
                with raw.open("a", encoding="utf-8") as out:
                    settle = settle_s
                    while True:
                        records, cursor, pending = client.journal_page(
                            self._cursors.get(index), settle_s=settle
                        )
                        settle = 0.0
                        unsettled = pending if unsettled is None else unsettled
                        if not records:
                            break
                        self._cursors[index] = cursor
                        for rec in records:
                            out.write(_ndjson(rec))
            finally:
                client.close()
            return unsettled or 0

    def _collect_journals(self) -> tuple[list[Path], int, list[str]]:
        out: list[Path] = []
        dropped = 0
        losses: list[str] = []
        for index in range(self.scenario.backends.replicas):
            if index not in self._killed:
                try:
                    unsettled = self.pull_journal(
                        index, settle_s=timeouts.TIMEOUTS.journal_settle_s
                    )
                    stats = self._journal_stats(index)
                    dropped += stats.dropped + unsettled
                    if (note := stats.loss_note()) is not None:
                        losses.append(note)
                    if unsettled:  # still being served (a hang): never in this run's journal
                        self._log(
                            f"replica r{index}: {unsettled} attempt(s) still without a journal "
                            f"record {timeouts.TIMEOUTS.journal_settle_s:g} s after the load; "
                            "counted as dropped (the verdict cannot pass)"
                        )
                except (requests.RequestException, AdminError) as exc:
                    raise self._failed(
                        "kind", f"replica r{index} did not report its journal: {exc}"
                    ) from exc
            raw = self.workdir / f"journal-r{index}.raw.ndjson"
            raw.touch()
            clean = self.workdir / f"journal-r{index}.ndjson"
            split_journal(
                raw,
                clean,
                self.workdir / f"calibration-r{index}.ndjson",
                self.workdir / f"harness-traffic-r{index}.ndjson",
            )
            out.append(clean)
        return out, dropped, losses

    # -- the load ----------------------------------------------------------------------------

    def run_load(self) -> Artifacts:
        """Locust on the host through the SUT's NodePort, chaos, journals pulled each second."""
        assert self.rendered is not None
        sc = self.scenario
        records = self.workdir / "client-records.ndjson"
        load_json = write_load_config(sc, self.workdir / "load.json")
        records.unlink(missing_ok=True)
        time_cap = sc.load.time_cap_s
        [cmd] = locust_commands(
            sc.load,
            self.rendered.entry_url,
            run_time_s=locust_run_time(time_cap, sc.load),
            csv_prefix=self.workdir / "locust",
        )
        env = locust_env(
            load=load_json, records=records, summary=self.workdir / "locust-summary.json"
        )
        probe = TimingProbe.for_load(
            self.rendered.probe_url,
            seed=sc.seed,
            log_path=self.workdir / "timing-probe.log",
            load_s=locust_run_time(time_cap, sc.load),
        )
        self._log(f"running Locust on the host against {self.rendered.entry_url}")
        locust = self._run_locust(
            [cmd], env=env, records=records, background=[probe.run, self._pull_loop]
        )
        time.sleep(1.0)  # late retries land in the journals first
        journals, dropped, losses = self._collect_journals()
        tol = probe.epsilon(self.workdir, journals, [(w.start_us, w.end_us) for w in self._down])
        return Artifacts(
            journal_paths=journals,
            client_records_path=records,
            dropped_attempts=dropped,
            journal_notes=losses,
            epsilon_s=tol.epsilon_s,
            epsilon_evidence=tol.evidence + " (host → kind NodePort → pod)",
            lateness_slack_s=tol.lateness_slack_s,
            epsilon_parts=tol.parts,
            locust_exit_code=locust.returncode,
            chaos_log=list(self._chaos_log),
            chaos_not_applied=list(self._chaos_not_applied),
            down_windows=list(self._down),
        )

    def _pull_loop(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            for index in range(self.scenario.backends.replicas):
                if index not in self._killed:
                    with contextlib.suppress(requests.RequestException, AdminError):
                        self.pull_journal(index)


def _ndjson(rec: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(rec).decode() + "\n"

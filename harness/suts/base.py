"""Starting a SUT from its ``sut:`` spec: the ``RunningSut`` handle, ``start_sut`` and
``missing_binary``. Each kind has its own driver module; this one dispatches and owns the
guarantees every kind shares (busy-port check, bounded readiness wait, teardown on exit,
exception or Ctrl-C).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.suts import caddy, command, haproxy, nginx, traefik, url, urllib3_client
from harness.suts.config_files import install_hint
from harness.suts.go_built import build_hint, find_go_program
from harness.suts.network import ensure_port_free
from harness.suts.process import LaunchPlan, running_process
from harness.suts.spec import (
    CaddySut,
    CommandSut,
    HaproxySut,
    NginxSut,
    SutSpec,
    TraefikSut,
    Urllib3ClientSut,
    UrlSut,
)


@dataclass
class RunningSut:
    """A started (or, for ``url``, found) SUT. ``url`` is the base URL the load goes to."""

    url: str
    name: str
    pid: int | None = None
    log_path: Path | None = None
    config_path: Path | None = None  # the rendered config it runs, when it has one
    metrics_hostport: str | None = None  # its own Prometheus metrics (telemetry), if served
    metrics_upstreams: Mapping[str, str] | None = None  # upstream key -> replica (telemetry)
    _stopper: Callable[[], object] | None = field(default=None, repr=False, compare=False)
    _stopped: bool = field(default=False, repr=False, compare=False)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stop the SUT (SIGTERM to its process group, bounded wait, SIGKILL). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._stopper is not None:
            self._stopper()


def missing_binary(spec: SutSpec, base_dir: Path | None = None) -> str | None:
    """The install hint if the program this SUT needs is not installed, else None.

    Lets a caller report a scenario as skipped instead of failed.
    """
    if isinstance(spec, HaproxySut | NginxSut | CaddySut):
        return None if shutil.which(spec.binary) else install_hint(spec.kind, spec.binary)
    if isinstance(spec, TraefikSut):
        return None if find_go_program(spec.binary) else build_hint(spec.kind, spec.binary)
    if isinstance(spec, CommandSut):
        return command.program_missing(spec, base_dir)
    return None


_Prepare = Callable[..., LaunchPlan]
_DRIVERS: dict[type, _Prepare] = {
    HaproxySut: haproxy.prepare,
    NginxSut: nginx.prepare,
    CaddySut: caddy.prepare,
    TraefikSut: traefik.prepare,
    Urllib3ClientSut: urllib3_client.prepare,
    CommandSut: command.prepare,
}


def launch_plan(
    spec: SutSpec,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """The command line and config files that run ``spec`` (written under ``workdir``),
    without starting it: for a substrate that runs the SUT elsewhere (a container).

    ``UrlSut`` has no plan (KeyError). BadInput on a config the driver refuses.
    """
    prepare = _DRIVERS[type(spec)]
    return prepare(spec, listen=listen, upstreams=upstreams, workdir=workdir, base_dir=base_dir)


@contextlib.contextmanager
def _start(
    spec: SutSpec,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> Iterator[RunningSut]:
    if isinstance(spec, UrlSut):
        yield RunningSut(url=url.wait_for(spec), name=spec.kind)
        return
    ensure_port_free(listen, field="sut.listen")
    workdir.mkdir(parents=True, exist_ok=True)
    plan = launch_plan(spec, listen=listen, upstreams=upstreams, workdir=workdir, base_dir=base_dir)
    log_path = workdir / f"{spec.kind}.log"
    with running_process(
        plan,
        name=f"{spec.kind} SUT",
        listen=listen,
        log_path=log_path,
        ready_timeout_s=spec.ready_timeout_s,
    ) as (child, base):
        handle = RunningSut(
            url=base,
            name=spec.kind,
            pid=child.pid,
            log_path=log_path,
            config_path=plan.config_path,
            metrics_hostport=plan.metrics_hostport,
            metrics_upstreams=plan.metrics_upstreams,
            _stopper=child.stop,
        )
        try:
            yield handle
        finally:
            handle.stop()


def start_sut(
    spec: SutSpec,
    *,
    listen: tuple[str, int],
    upstreams: list[str],
    workdir: Path,
    base_dir: Path | None = None,
) -> contextlib.AbstractContextManager[RunningSut]:
    """Start the SUT described by ``spec`` on ``listen`` in front of ``upstreams``.

    Use as ``with start_sut(...) as sut:``; the process is ready when the block starts and gone
    when it ends, whatever way it ends. ``base_dir`` resolves relative config paths (usually the
    scenario file's folder). Raises ``BadInput`` for problems the user can fix (missing binary,
    busy port, a config the SUT rejects, a non-loopback URL) and ``RunFailed`` when the SUT
    exits or is not ready within ``spec.ready_timeout_s`` (with the last lines of its log).
    """
    return _start(spec, listen=listen, upstreams=upstreams, workdir=workdir, base_dir=base_dir)

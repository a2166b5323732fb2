"""Serving a replica with gunicorn: one master, W ``gthread`` workers, two listeners.

Gunicorn binds the data port and the admin port; every worker accepts on both and the data
plane tells them apart by the accepted socket's local port. Threads (default 16 per worker)
let hangs and injected latency wait without blocking a worker. With ``kernel_stamps`` (default)
the worker is ``gthread`` plus the kernel's receive stamp of each request's first byte
(:class:`fake_backends.kernel_stamps.StampedThreadWorker`); off, plain ``gthread`` and app
stamps. Hooks: ``post_fork`` gives the
data plane the worker object (a hang ends early when the worker stops, so it is still
journaled); ``child_exit`` tells prometheus-client a worker is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from fake_backends import dataplane


@dataclass(frozen=True)
class ServeOptions:
    """How gunicorn runs one replica."""

    host: str
    port: int
    admin_port: int
    workers: int = 2
    threads: int = 16
    graceful_timeout: int = 5
    keepalive: int = 5
    proc_name: str = "fake-backend"
    loglevel: str = "warning"
    kernel_stamps: bool = True


def _post_fork(server: Any, worker: Any) -> None:
    dataplane.CURRENT_WORKER = worker


def _child_exit(server: Any, worker: Any) -> None:
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], factory: Callable[[], Any]) -> None:
        self._options = options
        self._factory = factory
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory()


def gunicorn_options(options: ServeOptions) -> dict[str, Any]:
    """The gunicorn settings of a replica (also used by the benchmark's bare app)."""
    return {
        "bind": [f"{options.host}:{options.port}", f"{options.host}:{options.admin_port}"],
        "workers": options.workers,
        "worker_class": "fake_backends.kernel_stamps.StampedThreadWorker"
        if options.kernel_stamps
        else "gthread",
        "threads": options.threads,
        "keepalive": options.keepalive,
        "timeout": 30,
        "graceful_timeout": options.graceful_timeout,
        "backlog": 2048,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": options.loglevel,
        "proc_name": options.proc_name,
        "preload_app": False,
        "control_socket_disable": True,
        "post_fork": _post_fork,
        "child_exit": _child_exit,
    }


def serve(options: ServeOptions, factory: Callable[[], Any]) -> None:
    """Run gunicorn in this process until it is stopped (SIGTERM/SIGINT)."""
    _Gunicorn(gunicorn_options(options), factory).run()

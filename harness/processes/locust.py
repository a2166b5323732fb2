"""Locust as a child process: its command lines and the environment contract with the
locustfiles (``scenarios/locust_support``), in one place.

The harness never imports Locust (it monkey-patches the standard library with gevent); it starts
``python -m locust`` with :func:`locust_commands` and :func:`locust_env` and talks to the
locustfile only through the files these variables name. ``scenarios.locust_support.settings``
imports the names from here. Each command is started with :func:`harness.processes.child.spawn`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fake_backends.ports import free_port
from harness.scenario import LoadSpec

ENV_LOAD = "RETRY_HARNESS_LOAD"
"""Path of the load file (``harness.scenario.write_load_config``)."""
ENV_CLIENT_RECORDS = "RETRY_HARNESS_CLIENT_RECORDS"
"""Path of the client records (NDJSON, one ``ClientRecord`` per logical request)."""
ENV_SUMMARY = "RETRY_HARNESS_SUMMARY"
"""Path of the JSON summary a Locust process writes when it quits."""
ENV_UI_SESSION = "RETRY_HARNESS_UI_SESSION"
"""Folder of a ``retry-harness ui`` session (the web UI's extra tab reads it)."""


def locust_env(
    *, load: Path, records: Path, summary: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment plus the contract variables (absolute paths)."""
    return {
        **os.environ,
        ENV_LOAD: str(load),
        ENV_CLIENT_RECORDS: str(records),
        ENV_SUMMARY: str(summary),
        **(extra or {}),
    }


def locust_run_time(time_cap: float, load: LoadSpec) -> float:
    """Locust's own ``--run-time``: later than the locustfile's own drain at the time cap (no
    new request; in-flight ones finish, bounded by the request timeout; distributed: each
    worker ships its last client records), so that it never cuts the drain short. The
    locustfile ends the test itself after the drain; this is only the safety bound, the same
    with one process or many (with one process Locust spawns its run-time quit greenlet before
    the locustfile's test_start, so a bound equal to the cap raced the drain; Locust's
    ``--stop-timeout`` still let the users finish the request in hand).
    """
    return time_cap + load.request_timeout_s + 5.0


def locust_commands(
    load: LoadSpec,
    host: str,
    *,
    run_time_s: float | None = None,
    csv_prefix: Path | None = None,
    web_port: int | None = None,
    workers: int = 0,
    workers_wait_s: float = 60.0,
    loglevel: str = "WARNING",
) -> list[list[str]]:
    """The command lines: the master (or only) process first, then one per worker.

    Headless with ``run_time_s`` (Locust's ``--run-time``, whole seconds rounded up, and
    ``--csv`` when ``csv_prefix`` is given); otherwise the web UI on 127.0.0.1:``web_port``.
    With ``workers`` the first process is a master on a free loopback port that waits up to
    ``workers_wait_s`` for them. Failed requests never change the exit code
    (``--exit-code-on-error 0``): the harness judges them.
    """
    head = [sys.executable, "-m", "locust", "-f", load.locustfile]
    main = [
        *head,
        "--host",
        host,
        "-u",
        str(load.users),
        "-r",
        str(load.spawn_rate),
        "--stop-timeout",
        str(int(load.request_timeout_s) + 1),
        "--exit-code-on-error",
        "0",
        "--loglevel",
        loglevel,
    ]
    if run_time_s is not None:
        main += ["--headless", "--run-time", f"{max(1, int(run_time_s + 0.999))}s"]
        main += ["--only-summary"]
        if csv_prefix is not None:
            main += ["--csv", str(csv_prefix)]
    elif web_port is not None:
        main += ["--web-host", "127.0.0.1", "--web-port", str(web_port)]
    if not workers:
        return [main]
    master_port = free_port()
    main += ["--master", "--master-bind-host", "127.0.0.1"]
    main += ["--master-bind-port", str(master_port), "--expect-workers", str(workers)]
    main += ["--expect-workers-max-wait", str(int(workers_wait_s))]
    worker = [*head, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    worker += ["--loglevel", loglevel]
    return [main, *([worker] * workers)]

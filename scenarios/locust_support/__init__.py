"""The Locust side of retry-harness: what every shipped locustfile is built from.

Each locustfile in ``scenarios/`` is a thin subclass of :class:`RetryHarnessUser` (plus, for the
retry storm, a :class:`SpikeShapeBase`); the differences between scenarios are data. Every file
also works on its own: ``locust -f scenarios/steady.py --host http://127.0.0.1:PORT``.
``harness`` never imports this package (nor Locust); it talks to it through files only.

Modules:

- :mod:`.settings`: the inputs (environment variables, the load file, the ``--rh-*`` options).
- :mod:`.state`: the process-wide run state and the client record writer (one
  :class:`~harness.oracle.records.ClientRecord` NDJSON line per logical request).
- :mod:`.events`: Locust event listeners: start, request budget, time cap, summary, exit code.
- :mod:`.user`: :class:`RetryHarnessUser`, the non-retrying user.
- :mod:`.shape`: :class:`SpikeShapeBase`, the retry-storm load shape.

Inputs (all optional, so plain ``locust -f`` works):

- ``RETRY_HARNESS_LOAD``: path to ``{"version": 1, "seed": int, "load": {<LoadSpec>}}``
  (written by ``harness.scenario.write_load_config``). Absent: the locustfile's defaults, a
  time-derived seed and a ``DEFAULT_TIME_CAP_S`` cap.
- ``RETRY_HARNESS_CLIENT_RECORDS``: NDJSON file, one ``ClientRecord`` line per logical request,
  appended and line-buffered. In a distributed run (``--processes``, ``--master``/``--worker``)
  the workers ship their records to the master with Locust's ``send_message`` and the master
  writes this one file (the workers need no shared folder; see :mod:`.events`).
- ``RETRY_HARNESS_SUMMARY``: JSON summary written at quit (see ``RunState.summary``); workers
  write ``<stem>.worker-<pid><suffix>``, the master the totals over its workers.
- Custom arguments (also in the web UI's start form), defaulting to the values above:
  ``--rh-requests`` (0: no budget), ``--rh-methods`` ("GET:0.8,POST:0.2"), ``--rh-paths``
  ("/a,/b"), ``--rh-idempotency-keys`` (fraction), ``--rh-seed``, ``--rh-request-timeout``,
  ``--rh-body-bytes``, ``--rh-max-duration`` (hard time cap, seconds).

Request ids are ``f"{seed:x}-{worker}-{n}"`` (worker: 0 in a local run, the worker index in a
distributed one; n counts the process's logical requests), and each request's method, path and
idempotency key are drawn from ``random.Random(f"{seed}:{worker}:{n}")``, so a run is
reproducible. Exit code: 0 unless the harness itself broke (3): failed requests are expected.
"""

from __future__ import annotations

# locust must be imported before anything that imports ssl/urllib3/requests: importing it
# monkey-patches the standard library with gevent.
import locust  # noqa: F401

# isort: split
import os

from harness.processes.locust import ENV_CLIENT_RECORDS, ENV_LOAD, ENV_SUMMARY, ENV_UI_SESSION
from harness.scenario import SpikeShape
from scenarios.locust_support import events as _events  # noqa: F401  (registers the listeners)
from scenarios.locust_support.settings import (
    HARNESS_BROKEN_EXIT_CODE,
    IDEMPOTENCY_HEADER,
    REQUEST_ID_HEADER,
    RunConfig,
    format_mix,
    parse_mix,
)
from scenarios.locust_support.shape import SpikeShapeBase
from scenarios.locust_support.state import set_defaults
from scenarios.locust_support.user import RetryHarnessUser

if os.environ.get(ENV_UI_SESSION):  # set by `retry-harness ui` only
    from scenarios.locust_support import web_ui as _web_ui  # noqa: F401

__all__ = [
    "ENV_CLIENT_RECORDS",
    "ENV_LOAD",
    "ENV_SUMMARY",
    "HARNESS_BROKEN_EXIT_CODE",
    "IDEMPOTENCY_HEADER",
    "REQUEST_ID_HEADER",
    "RetryHarnessUser",
    "RunConfig",
    "SpikeShape",
    "SpikeShapeBase",
    "format_mix",
    "parse_mix",
    "set_defaults",
]

"""Shared machinery of the shipped locustfiles: the non-retrying user, exact client records.

Each locustfile in ``scenarios/`` is a thin subclass of :class:`RetryHarnessUser` (plus, for the
retry storm, a :class:`SpikeShape`); the differences between scenarios are data. Every file also
works on its own: ``locust -f scenarios/steady.py --host http://127.0.0.1:PORT``.

Client: ``HttpUser`` (requests/urllib3), not ``FastHttpUser``. geventhttpclient's ``HTTPClient``
re-sends an idempotent request by itself when a pooled connection is closed or reset
(``attempts_left = pool size + 1``), whatever ``max_retries`` says: a hidden client retry with
the same ``X-Request-ID`` would merge into the SUT's trace. requests' adapter is pinned to
``Retry(0, read=False)`` (its default) and every logical request has an overall deadline of
``request_timeout_s`` (a ``gevent.Timeout`` around it, plus requests' per-socket timeouts).

Inputs (all optional, so plain ``locust -f`` works):

- ``RETRY_HARNESS_LOAD``: path to ``{"version": 1, "seed": int, "load": {<LoadSpec>}}``
  (written by ``harness.scenario.write_load_config``). Absent: the locustfile's defaults, a
  time-derived seed and a ``DEFAULT_TIME_CAP_S`` cap.
- ``RETRY_HARNESS_CLIENT_RECORDS``: NDJSON file, one ``ClientRecord`` line per logical request,
  appended and line-buffered. A Locust worker process (``--processes``/``--worker``) writes
  ``<stem>.worker-<pid><suffix>`` next to it instead; the master writes none.
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
# monkey-patches the standard library with gevent (see docs: locust-kind-nox.md A6).
import locust
from locust import HttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

# isort: split
import itertools
import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import gevent
from pydantic import ValidationError
from urllib3.util.retry import Retry

from harness.scenario import (
    DEFAULT_TIME_CAP_S,
    IDEMPOTENT_METHODS,
    LOAD_CONFIG_VERSION,
    LoadSpec,
    SpikeShape,
)

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

ENV_LOAD = "RETRY_HARNESS_LOAD"
ENV_CLIENT_RECORDS = "RETRY_HARNESS_CLIENT_RECORDS"
ENV_SUMMARY = "RETRY_HARNESS_SUMMARY"
REQUEST_ID_HEADER = "X-Request-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"
HARNESS_BROKEN_EXIT_CODE = 3
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BUDGET_DONE_MESSAGE = "retry_harness_budget_done"
REPORT_KEY = "retry_harness"

log = logging.getLogger("retry_harness.locust")


@dataclass(frozen=True)
class RunConfig:
    """The effective load settings of one test run in this process."""

    seed: int
    load: LoadSpec
    from_file: bool

    @property
    def time_cap_s(self) -> float:
        return self.load.time_cap_s


def parse_mix(text: str) -> dict[str, float]:
    """``"GET:0.8,POST:0.2"`` (or ``"GET"``, weight 1) -> ``{"GET": 0.8, "POST": 0.2}``."""
    mix: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.partition(":")
        try:
            mix[name.strip().upper()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"bad weight in method mix item '{item}'") from None
    return mix


def format_mix(mix: dict[str, float]) -> str:
    return ",".join(f"{m}:{w:g}" for m, w in mix.items())


_locustfile_defaults: dict[str, Any] = {}


def set_defaults(**load_fields: Any) -> None:
    """Load fields a locustfile uses when ``RETRY_HARNESS_LOAD`` is absent (plain ``locust -f``)."""
    _locustfile_defaults.update(load_fields)
    fields = {"duration_s": DEFAULT_TIME_CAP_S, **_locustfile_defaults}
    if not STATE.config.from_file:
        STATE.config = replace(STATE.config, load=LoadSpec.model_validate(fields))


def _config_from_env() -> RunConfig:
    path = os.environ.get(ENV_LOAD)
    if not path:
        fields = {"duration_s": DEFAULT_TIME_CAP_S, **_locustfile_defaults}
        load = LoadSpec.model_validate(fields)
        return RunConfig(seed=time.time_ns() // 1000, load=load, from_file=False)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("version", LOAD_CONFIG_VERSION) != 1:
            raise ValueError(f"expected a JSON object with version {LOAD_CONFIG_VERSION}")
        seed = raw.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
        load = LoadSpec.model_validate(raw.get("load", {}))
    except (OSError, ValueError, ValidationError) as exc:
        raise SystemExit(f"{ENV_LOAD}={path}: {exc}") from None
    return RunConfig(seed=seed, load=load, from_file=True)


def _config_with_options(base: RunConfig, opts: Any) -> RunConfig:
    """``base`` with the ``--rh-*`` options (from the command line or the web UI) applied."""
    if opts is None or not hasattr(opts, "rh_seed"):
        return base
    requests = int(opts.rh_requests)
    cap = float(opts.rh_max_duration)
    fields = base.load.model_dump()
    fields.update(
        requests=requests if requests > 0 else None,
        duration_s=cap if cap > 0 else (None if requests > 0 else DEFAULT_TIME_CAP_S),
        methods=parse_mix(str(opts.rh_methods)),
        paths=[p.strip() for p in str(opts.rh_paths).split(",") if p.strip()],
        idempotency_keys=float(opts.rh_idempotency_keys),
        request_timeout_s=float(opts.rh_request_timeout),
        body_bytes=int(opts.rh_body_bytes),
    )
    return replace(base, seed=int(opts.rh_seed), load=LoadSpec.model_validate(fields))


@dataclass
class RunState:
    """Process-wide state of the harness inside one Locust process (greenlets share it)."""

    config: RunConfig
    worker: int = 0
    role: str = "local"
    ids: itertools.count[int] = field(default_factory=itertools.count)
    budget: int | None = None
    issued_this_test: int = 0
    inflight: int = 0
    done_sent: bool = False
    draining: bool = False
    requests_sent: int = 0
    records_written: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    harness_errors: list[str] = field(default_factory=list)
    records_path: Path | None = None
    records: Any = None
    cap_greenlet: Any = None
    workers_seen: set[str] = field(default_factory=set)
    worker_reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def harness_error(self, message: str) -> None:
        log.error("retry-harness: %s", message)
        if len(self.harness_errors) < 20:
            self.harness_errors.append(message)

    def summary(self) -> dict[str, Any]:
        """Keys: role, requests_sent, records_written, budget, budget_reached, statuses, errors,
        harness_errors (and processes, on a master: the sum over its workers)."""
        return {
            "role": self.role,
            "requests_sent": self.requests_sent,
            "records_written": self.records_written,
            "budget": self.budget,
            "budget_reached": self.budget is not None and self.issued_this_test >= self.budget,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "harness_errors": list(self.harness_errors),
        }

    def write_record(self, record: dict[str, Any]) -> None:
        if self.records is None:
            return
        try:
            self.records.write(json.dumps(record, separators=(",", ":")) + "\n")
        except (OSError, ValueError) as exc:
            self.harness_error(f"cannot write a client record to {self.records_path}: {exc}")
        else:
            self.records_written += 1


STATE = RunState(config=_config_from_env())


def _per_process(path: Path) -> Path:
    return path.with_name(f"{path.stem}.worker-{os.getpid()}{path.suffix}")


def _end_test(environment: Environment, why: str) -> None:
    """Stop the run: quit in a headless run, stop (keep the UI) otherwise."""
    runner = environment.runner
    if runner is None:
        return
    log.info("retry-harness: %s; ending the test", why)
    opts = environment.parsed_options
    if opts is None or getattr(opts, "headless", False) or getattr(opts, "autoquit", -1) >= 0:
        runner.quit()
    else:
        runner.stop()


def _drain_then_end(environment: Environment) -> None:
    """At the time cap: send no new requests, let in-flight ones finish (each is bounded by
    ``request_timeout_s``), then end the test. Only Locust's own ``-t`` cuts requests short."""
    st = STATE
    st.draining = True
    give_up = time.monotonic() + st.config.load.request_timeout_s + 1.0
    while st.inflight > 0 and time.monotonic() < give_up:
        gevent.sleep(0.01)
    _end_test(environment, "time cap reached")


def _maybe_budget_done(environment: Environment) -> None:
    st = STATE
    if st.budget is None or st.done_sent:
        return
    if st.issued_this_test >= st.budget and st.inflight == 0:
        st.done_sent = True
        if environment.runner is not None:
            environment.runner.send_message(BUDGET_DONE_MESSAGE, {"worker": st.worker})


def _on_budget_done(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    STATE.workers_seen.add(str(msg.node_id))
    expected = runner.worker_count if isinstance(runner, MasterRunner) else 1
    if len(STATE.workers_seen) >= max(expected, 1):
        gevent.spawn(_end_test, environment, "request budget spent")


# --------------------------------------------------------------------------- Locust events


def _add_arguments(parser: Any, **_: Any) -> None:
    load = STATE.config.load
    parser.add_argument(
        "--rh-requests",
        type=int,
        default=load.requests or 0,
        help="retry-harness: logical requests in total, then stop (0: no budget)",
    )
    parser.add_argument(
        "--rh-methods",
        type=str,
        default=format_mix(load.methods),
        help="retry-harness: method mix, e.g. GET:0.8,POST:0.2",
    )
    parser.add_argument(
        "--rh-paths",
        type=str,
        default=",".join(load.paths),
        help="retry-harness: comma-separated paths, drawn uniformly",
    )
    parser.add_argument(
        "--rh-idempotency-keys",
        type=float,
        default=float(load.idempotency_keys),
        help="retry-harness: fraction of POST/PATCH requests with an Idempotency-Key",
    )
    parser.add_argument(
        "--rh-seed", type=int, default=STATE.config.seed, help="retry-harness: run seed"
    )
    parser.add_argument(
        "--rh-request-timeout",
        type=float,
        default=float(load.request_timeout_s),
        help="retry-harness: client timeout per logical request (s)",
    )
    parser.add_argument(
        "--rh-body-bytes",
        type=int,
        default=load.body_bytes,
        help="retry-harness: body size of POST/PUT/PATCH requests",
    )
    parser.add_argument(
        "--rh-max-duration",
        type=float,
        default=float(load.duration_s or 0.0),
        help="retry-harness: hard time cap of the run in seconds (0: the default cap)",
    )


def _on_init(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, MasterRunner):
        STATE.role = "master"
    elif isinstance(runner, WorkerRunner):
        STATE.role = "worker"
    if not isinstance(runner, WorkerRunner):
        runner.register_message(BUDGET_DONE_MESSAGE, _on_budget_done)


def _on_test_start(environment: Environment, **_: Any) -> None:
    st = STATE
    runner = environment.runner
    try:
        st.config = _config_with_options(st.config, environment.parsed_options)
    except (ValueError, ValidationError) as exc:
        st.harness_error(f"bad --rh-* option: {exc}")
        gevent.spawn(_end_test, environment, "bad options")
        return
    load = st.config.load
    st.worker = max(runner.worker_index, 0) if isinstance(runner, WorkerRunner) else 0
    st.issued_this_test = 0
    st.done_sent = False
    st.draining = False
    st.workers_seen.clear()
    st.budget = load.requests
    if isinstance(runner, WorkerRunner) and load.requests is not None:
        opts = environment.parsed_options
        n = max(int(getattr(opts, "expect_workers", 1) or 1), 1)
        st.budget = load.requests // n + (1 if st.worker < load.requests % n else 0)
    log.info(
        "retry-harness: seed=%d budget=%s cap=%.0fs mix=%s paths=%s",
        st.config.seed,
        st.budget,
        st.config.time_cap_s,
        format_mix(load.methods),
        ",".join(load.paths),
    )
    if not isinstance(runner, MasterRunner):
        _open_records()
        if st.budget == 0:
            _maybe_budget_done(environment)
    if not isinstance(runner, WorkerRunner):
        if st.cap_greenlet is not None:
            st.cap_greenlet.kill(block=False)
        st.cap_greenlet = gevent.spawn_later(st.config.time_cap_s, _drain_then_end, environment)


def _open_records() -> None:
    st = STATE
    target = os.environ.get(ENV_CLIENT_RECORDS)
    if not target or st.records is not None:
        return
    path = Path(target)
    if st.role == "worker":
        path = _per_process(path)
    try:
        st.records = path.open("a", encoding="utf-8", buffering=1)
    except OSError as exc:
        st.harness_error(f"cannot open the client records file {path}: {exc}")
    st.records_path = path


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if STATE.cap_greenlet is not None:
        STATE.cap_greenlet.kill(block=False)
        STATE.cap_greenlet = None
    if STATE.records is not None:
        STATE.records.flush()


def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[REPORT_KEY] = STATE.summary()


def _collect(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if REPORT_KEY in data:
        STATE.worker_reports[client_id] = data[REPORT_KEY]


def _master_summary() -> dict[str, Any]:
    out = STATE.summary()
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for rep in STATE.worker_reports.values():
        out["requests_sent"] += rep.get("requests_sent", 0)
        out["records_written"] += rep.get("records_written", 0)
        statuses.update(rep.get("statuses", {}))
        errors.update(rep.get("errors", {}))
        out["harness_errors"].extend(rep.get("harness_errors", []))
    out.update(statuses=dict(statuses), errors=dict(errors), processes=len(STATE.worker_reports))
    out["budget"] = STATE.config.load.requests
    out["budget_reached"] = out["budget"] is not None and out["requests_sent"] >= out["budget"]
    return out


def _on_quitting(environment: Environment, **_: Any) -> None:
    st = STATE
    if st.records is not None:
        st.records.close()
        st.records = None
    if st.records_path is not None and st.records_written != st.requests_sent:
        st.harness_error(
            f"{st.requests_sent - st.records_written} logical requests have no client record"
        )
    summary = _master_summary() if st.role == "master" else st.summary()
    target = os.environ.get(ENV_SUMMARY)
    if target:
        path = _per_process(Path(target)) if st.role == "worker" else Path(target)
        try:
            path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", "utf-8")
        except OSError as exc:
            st.harness_error(f"cannot write the summary {path}: {exc}")
            summary["harness_errors"].append(str(exc))
    runner = environment.runner
    broken = bool(summary["harness_errors"]) or bool(runner is not None and runner.exceptions)
    broken = broken or bool(locust.log.unhandled_greenlet_exception)
    environment.process_exit_code = HARNESS_BROKEN_EXIT_CODE if broken else 0


_LISTENERS: dict[str, Any] = {
    "init_command_line_parser": _add_arguments,
    "init": _on_init,
    "test_start": _on_test_start,
    "test_stop": _on_test_stop,
    "report_to_master": _report,
    "worker_report": _collect,
    "quitting": _on_quitting,
}
for _event, _listener in _LISTENERS.items():
    _hook: Any = getattr(events, _event)
    _hook.add_listener(_listener)


# --------------------------------------------------------------------------- the user


class _Deadline(Exception):
    """The overall client deadline of one logical request passed."""


class RetryHarnessUser(HttpUser):
    """Sends logical requests with unique ids and writes one exact client record for each.

    Never retries by itself; waits for nothing between requests (closed loop, ``users`` deep).
    """

    abstract = True
    wait_time = constant(0)
    idle_s: ClassVar[float] = 0.05

    def on_start(self) -> None:
        for adapter in self.client.adapters.values():
            adapter.max_retries = Retry(0, read=False)  # type: ignore[attr-defined]

    @task
    def logical_request(self) -> None:
        st = STATE
        if st.draining or (st.budget is not None and st.issued_this_test >= st.budget):
            gevent.sleep(self.idle_s)  # budget spent or time up: idle until the test ends
            return
        st.issued_this_test += 1
        st.requests_sent += 1
        st.inflight += 1
        try:
            self._send(next(st.ids))
        finally:
            st.inflight -= 1
            _maybe_budget_done(self.environment)

    def _send(self, n: int) -> None:
        st = STATE
        load = st.config.load
        seed, worker = st.config.seed, st.worker
        rng = random.Random(f"{seed}:{worker}:{n}")
        method = rng.choices(list(load.methods), weights=list(load.methods.values()))[0]
        path = rng.choice(load.paths)
        with_key = rng.random() < load.idempotency_keys
        request_id = f"{seed:x}-{worker}-{n}"
        headers = {REQUEST_ID_HEADER: request_id}
        key = None
        if with_key and method not in IDEMPOTENT_METHODS:
            key = f"ik-{request_id}"
            headers[IDEMPOTENCY_HEADER] = key
        body = b"x" * load.body_bytes if load.body_bytes and method in BODY_METHODS else None
        timeout = load.request_timeout_s
        status: int | None = None
        error: str | None = None
        start_us = time.time_ns() // 1000
        try:
            with gevent.Timeout(timeout, _Deadline):
                response = self.client.request(
                    method,
                    path,
                    headers=headers,
                    data=body,
                    name=path,
                    allow_redirects=False,
                    timeout=(timeout, timeout),
                )
            status = response.status_code or None
            if status is None:
                error = type(response.error).__name__ if response.error else "UnknownError"
        except _Deadline as exc:
            error = "Timeout"
            self._fire_failure(method, path, start_us, exc)
        except BaseException as exc:  # GreenletExit when the test stops mid-request
            error = type(exc).__name__
            raise
        finally:
            end_us = time.time_ns() // 1000
            if status is not None:
                st.statuses[str(status)] += 1
            else:
                st.errors[error or "UnknownError"] += 1
            st.write_record(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "error": error,
                    "start_us": start_us,
                    "end_us": end_us,
                    "idempotency_key": key,
                }
            )

    def _fire_failure(self, method: str, path: str, start_us: int, exc: BaseException) -> None:
        self.environment.events.request.fire(
            request_type=method,
            name=path,
            response_time=(time.time_ns() // 1000 - start_us) / 1000.0,
            response_length=0,
            response=None,
            context={},
            exception=exc,
            start_time=start_us / 1e6,
            url=path,
        )


# --------------------------------------------------------------------------- the spike shape


class SpikeShapeBase(LoadTestShape):
    """Base users at the base spawn rate, a spike to ``shape.users`` from ``shape.at_s`` for
    ``shape.duration_s``, then back to the base; ends at the run's hard time cap.

    Base users: ``load.users`` from ``RETRY_HARNESS_LOAD``, else Locust's ``-u``. The spike
    comes from ``load.shape`` (or the locustfile's ``set_defaults(shape=...)``).
    """

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        config = STATE.config
        load = config.load
        run_time = float(self.get_run_time())  # type: ignore[no-untyped-call]
        if run_time >= config.time_cap_s:
            return None
        users, rate = load.users, load.spawn_rate
        opts = self.runner.environment.parsed_options if self.runner is not None else None
        if not config.from_file and opts is not None:
            users = int(getattr(opts, "num_users", None) or users)
            rate = float(getattr(opts, "spawn_rate", None) or rate)
        spike = load.shape
        if spike is not None and spike.at_s <= run_time < spike.at_s + spike.duration_s:
            return spike.users, spike.spawn_rate or float(spike.users)
        return users, rate

"""Locust event listeners: how a test starts, spends its request budget, hits its time cap,
reports and exits. Registered on import (the package imports this module).

Distributed runs (Locust's ``--master``/``--worker`` or ``--processes``), all through Locust's
own messages (``send_message``/``register_message``):

- every worker ships its client records to the master in ``retry_harness_records`` batches
  (every ``SHIP_INTERVAL_S``); the master writes them, as they are, to the one records file;
- each worker spends its share of the request budget, ships what is left in its outbox, then
  tells the master it is done (``retry_harness_budget_done`` with the number of records it
  sent); at the time cap the master asks every worker to drain (``retry_harness_drain``: no new
  requests, in-flight ones finish) and each answers with the same done message. The master ends
  the test when every worker is done (or after a bounded wait), so no record is in flight when
  it quits; it then checks, worker by worker, that the records it received are the records
  the worker sent (a difference is a harness error, exit code 3);
- the master writes the summary over its workers (sent with Locust's worker reports).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import locust
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.errors import BadInput
from harness.processes.locust import ENV_CLIENT_RECORDS, ENV_SUMMARY
from scenarios.locust_support.settings import (
    HARNESS_BROKEN_EXIT_CODE,
    add_arguments,
    config_with_options,
    format_mix,
)
from scenarios.locust_support.state import STATE, RunState, log, per_process

BUDGET_DONE_MESSAGE = "retry_harness_budget_done"
RECORDS_MESSAGE = "retry_harness_records"
DRAIN_MESSAGE = "retry_harness_drain"
REPORT_KEY = "retry_harness"
SHIP_INTERVAL_S = 0.25


def _end_test(environment: Environment, why: str) -> None:
    """Stop the run (once): quit in a headless run, stop (keep the UI) otherwise."""
    runner = environment.runner
    if runner is None or STATE.ending:
        return
    STATE.ending = True
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
    runner = environment.runner
    if isinstance(runner, MasterRunner):  # the workers drain and ship their last records
        runner.send_message(DRAIN_MESSAGE, None)
        give_up += 2.0
        while not st.ending and not _all_done(runner) and time.monotonic() < give_up:
            gevent.sleep(0.05)
        if not _all_done(runner):
            st.harness_error(
                f"only {len(st.workers_seen)} of {runner.worker_count} workers drained in time"
            )
    while st.inflight > 0 and time.monotonic() < give_up:
        gevent.sleep(0.01)
    _end_test(environment, "time cap reached")


def _all_done(runner: Any) -> bool:
    expected = runner.worker_count if isinstance(runner, MasterRunner) else 1
    return len(STATE.workers_seen) >= max(expected, 1)


def ship_records(environment: Environment) -> None:
    """A worker: send the records in its outbox to the master (one ``send_message``)."""
    st = STATE
    runner = environment.runner
    if not st.outbox or not isinstance(runner, WorkerRunner):
        return
    batch, st.outbox = st.outbox, []
    runner.send_message(RECORDS_MESSAGE, {"worker": st.worker, "lines": batch})


def _ship_loop(environment: Environment) -> None:
    while True:
        gevent.sleep(SHIP_INTERVAL_S)
        ship_records(environment)


def _send_done(environment: Environment) -> None:
    """Ship what is left, then say done with the number of records this process sent."""
    st = STATE
    st.done_sent = True
    ship_records(environment)
    if environment.runner is not None:
        environment.runner.send_message(
            BUDGET_DONE_MESSAGE, {"worker": st.worker, "records": st.records_written}
        )


def _on_drain(environment: Environment, msg: Any, **_: Any) -> None:
    """A worker at the master's time cap: no new requests; done once in-flight ones end."""
    st = STATE
    st.draining = True
    if st.done_sent:
        return

    def drain() -> None:
        give_up = time.monotonic() + st.config.load.request_timeout_s + 1.0
        while st.inflight > 0 and time.monotonic() < give_up:
            gevent.sleep(0.01)
        if not st.done_sent:
            _send_done(environment)

    gevent.spawn(drain)


def _on_records(environment: Environment, msg: Any, **_: Any) -> None:
    """The master: write a worker's batch of client records."""
    worker = int(msg.data["worker"])
    written = STATE.write_lines(list(msg.data["lines"]))
    STATE.received[worker] = STATE.received.get(worker, 0) + written


def maybe_budget_done(environment: Environment) -> None:
    """Tell the master (or this process's own runner) once this process's budget is spent."""
    st = STATE
    if st.budget is None or st.done_sent:
        return
    if st.issued_this_test >= st.budget and st.inflight == 0:
        _send_done(environment)


def _on_budget_done(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    STATE.workers_seen.add(str(msg.node_id))
    data = msg.data or {}
    if isinstance(runner, MasterRunner) and "records" in data:
        STATE.declared[int(data["worker"])] = int(data["records"])
    if _all_done(runner) and not STATE.draining:
        gevent.spawn(_end_test, environment, "request budget spent")


def _add_arguments(parser: Any, **_: Any) -> None:
    add_arguments(parser, STATE.config)


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
    if isinstance(runner, MasterRunner):
        runner.register_message(RECORDS_MESSAGE, _on_records)
    if isinstance(runner, WorkerRunner):
        runner.register_message(DRAIN_MESSAGE, _on_drain)
        gevent.spawn(_ship_loop, environment)


def _on_test_start(environment: Environment, **_: Any) -> None:
    st = STATE
    runner = environment.runner
    try:
        st.config = config_with_options(st.config, environment.parsed_options)
    except BadInput as exc:
        st.harness_error(f"bad option {exc}")
        gevent.spawn(_end_test, environment, "bad options")
        return
    load = st.config.load
    st.worker = max(runner.worker_index, 0) if isinstance(runner, WorkerRunner) else 0
    st.issued_this_test = 0
    st.done_sent = False
    st.draining = False
    st.ending = False
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
    st.open_records(os.environ.get(ENV_CLIENT_RECORDS))  # a worker's go to the master
    if not isinstance(runner, MasterRunner) and st.budget == 0:
        maybe_budget_done(environment)
    if not isinstance(runner, WorkerRunner):
        if st.cap_greenlet is not None:
            st.cap_greenlet.kill(block=False)
        st.cap_greenlet = gevent.spawn_later(st.config.time_cap_s, _drain_then_end, environment)


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) and not STATE.done_sent:
        _send_done(environment)  # stopped by the master (web UI, -t): what is left, and counts
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
    for rep in STATE.worker_reports.values():  # records_written: what the master wrote
        out["requests_sent"] += rep.get("requests_sent", 0)
        statuses.update(rep.get("statuses", {}))
        errors.update(rep.get("errors", {}))
        out["harness_errors"].extend(rep.get("harness_errors", []))
    out.update(statuses=dict(statuses), errors=dict(errors), processes=len(STATE.worker_reports))
    out["budget"] = STATE.config.load.requests
    out["budget_reached"] = out["budget"] is not None and out["requests_sent"] >= out["budget"]
    return out


def _check_shipped(st: RunState) -> None:
    """The master: every worker's records arrived (what it said it sent is what was written)."""
    for worker in sorted(set(st.declared) | set(st.received)):
        sent, got = st.declared.get(worker), st.received.get(worker, 0)
        if sent is None:
            st.harness_error(f"worker {worker} never said how many client records it sent")
        elif sent != got:
            st.harness_error(f"worker {worker} sent {sent} client records, {got} arrived")


def _on_quitting(environment: Environment, **_: Any) -> None:
    st = STATE
    if st.records is not None:
        st.records.close()
        st.records = None
    if st.role == "master":
        _check_shipped(st)
    elif st.records_written != st.requests_sent:
        st.harness_error(
            f"{st.requests_sent - st.records_written} logical requests have no client record"
        )
    if st.outbox:
        st.harness_error(f"{len(st.outbox)} client records were never shipped to the master")
    summary = _master_summary() if st.role == "master" else st.summary()
    target = os.environ.get(ENV_SUMMARY)
    if target:
        path = per_process(Path(target)) if st.role == "worker" else Path(target)
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

"""Process-wide state of one Locust process (its greenlets share it) and the client records.

Each logical request ends in exactly one :class:`~harness.oracle.records.ClientRecord`, written
as one NDJSON line: the same model the oracle reads, so the two sides cannot drift. In a
distributed run (``--master``/``--worker``, ``--processes``) a worker keeps its lines in an outbox
that ``events`` ships to the master with Locust's ``send_message``; the master writes them.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from harness.oracle.records import ClientRecord
from scenarios.locust_support.settings import RunConfig, config_from_env, default_load

log = logging.getLogger("retry_harness.locust")


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
    ending: bool = False
    requests_sent: int = 0
    records_written: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    harness_errors: list[str] = field(default_factory=list)
    records_path: Path | None = None
    records: IO[str] | None = None
    cap_greenlet: Any = None
    workers_seen: set[str] = field(default_factory=set)
    worker_reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    # distributed runs: a worker's records waiting to be shipped to the master, and on the
    # master the records each worker said it sent and those that arrived (by worker index)
    outbox: list[str] = field(default_factory=list)
    declared: dict[int, int] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)

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

    def open_records(self, target: str | None) -> None:
        """Open the client records file, once (not on a worker: its records go to the master)."""
        if not target or self.records is not None or self.role == "worker":
            return
        path = Path(target)
        try:
            self.records = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            self.harness_error(f"cannot open the client records file {path}: {exc}")
        self.records_path = path

    def write_record(self, record: ClientRecord) -> None:
        if self.role == "worker":  # shipped to the master (events.ship_records)
            self.outbox.append(record.model_dump_json())
            self.records_written += 1
            return
        if self.records is None:
            return
        try:
            self.records.write(record.model_dump_json() + "\n")
        except (OSError, ValueError) as exc:
            self.harness_error(f"cannot write a client record to {self.records_path}: {exc}")
        else:
            self.records_written += 1

    def write_lines(self, lines: list[str]) -> int:
        """The master: write records shipped by a worker as they are; how many were written."""
        if self.records is None:
            return 0
        try:
            self.records.write("".join(line + "\n" for line in lines))
        except (OSError, ValueError) as exc:
            self.harness_error(f"cannot write client records to {self.records_path}: {exc}")
            return 0
        self.records_written += len(lines)
        return len(lines)


def per_process(path: Path) -> Path:
    """``<stem>.worker-<pid><suffix>`` next to ``path``: one file per Locust worker process."""
    return path.with_name(f"{path.stem}.worker-{os.getpid()}{path.suffix}")


_locustfile_defaults: dict[str, Any] = {}

STATE = RunState(config=config_from_env(_locustfile_defaults))


def set_defaults(**load_fields: Any) -> None:
    """Load fields a locustfile uses when ``RETRY_HARNESS_LOAD`` is absent (plain ``locust -f``)."""
    _locustfile_defaults.update(load_fields)
    if not STATE.config.from_file:
        STATE.config = replace(STATE.config, load=default_load(_locustfile_defaults))

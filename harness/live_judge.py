"""The live verdict of a web-UI session: profile epochs, one run folder per epoch, the oracle.

A UI session (``retry-harness ui``) lets the user change the backends' fault profile while the
load runs. The oracle judges a run against one profile, so the session is cut into **epochs**:
an epoch starts when a profile took effect on every replica (or when Locust's statistics were
reset, or a new test started) and ends just before the next change was sent. A logical request
is judged in the epoch that holds it whole (client start and end inside the epoch); a request
that straddles a change ran partly under each profile and is **not judged** (counted in the
share shown). Each epoch is written as a run folder that ``retry-harness verify`` accepts and
judged with :func:`harness.run.verify_run_dir`, so the live verdict is by construction the one
``verify`` gives on the downloaded folder. A reset (a new test, Locust's statistics reset) ends
the current epoch and starts the shown share afresh; the earlier tests' epochs stay judged and
downloadable (``current: false`` in ``live.json``). A pass in which a replica's journal could not
be fetched re-judges nothing: its epochs would lack that replica's attempts, so the verdicts of
the last complete pass are kept and the error is shown.

Inputs, all in the session folder:

- ``control.ndjson`` (appended by the Locust web UI extension,
  ``scenarios/locust_support/web_ui.py``): ``{"kind": "reset", "t_us"}`` and
  ``{"kind": "faults", "before_us", "after_us", "profile", "errors"}`` lines;
- the client records Locust writes (``client-records*.ndjson``);
- the attempt journals, pulled from every replica's admin API (``GET /journal`` with a cursor);
- calibration pairs (:class:`~harness.substrates.calibration.TimingProbe`) for ε; an epoch's
  folder gets only those inside its own load (``JournalPuller.calibration_within``).

Output: ``live.json`` (what the Retries tab shows) and ``epochs/epoch-<k>/run/`` plus
``verdict.json`` per epoch. Requests that ended less than ``settle_s`` ago are *pending*: a
journal page may still lack their last attempt; they are judged in a later pass.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

from fake_backends.admin_client import AdminClient, AdminError
from fake_backends.profile import FaultProfile
from harness.adapters.base import AdaptedPolicy
from harness.oracle.verdict import Verdict
from harness.policy.expectations import delay_window
from harness.report.json_report import write_json
from harness.run import manifest_for, save_inputs, verify_run_dir
from harness.scenario import Scenario
from harness.substrates.calibration import load_span, run_tolerances
from harness.traffic import kind_of

CONTROL_FILE = "control.ndjson"
LIVE_FILE = "live.json"
SESSION_FILE = "session.json"
RECORDS_GLOB = "client-records*.ndjson"
SETTLE_S = 2.0


@dataclass
class Epoch:
    """A span of wall-clock time with one fault profile on every replica."""

    index: int
    start_us: int
    profile: FaultProfile
    cause: str
    end_us: int | None = None
    errors: list[str] = field(default_factory=list)
    test: int = 0
    """How many resets came before it (the epochs of the current test have the highest)."""

    def holds(self, start_us: int, end_us: int) -> bool:
        return start_us >= self.start_us and (self.end_us is None or end_us <= self.end_us)


def epochs_from_control(
    lines: Sequence[dict[str, Any]], session_start_us: int, base: FaultProfile
) -> tuple[list[Epoch], int]:
    """Every epoch of the session, and the time of the last reset (the current test's start).

    A ``faults`` event ends the current epoch at ``before_us`` (the first admin call was sent)
    and opens one at ``after_us`` (every replica answered). A ``reset`` ends the current epoch
    and opens one with the profile then in force, in a new test (``Epoch.test``); the earlier
    epochs are kept.
    """
    profile = base
    epochs = [Epoch(0, session_start_us, profile, "session start")]
    cut = session_start_us
    test = 0
    for event in lines:
        kind = event.get("kind")
        current = epochs[-1]
        if kind == "reset":
            cut = int(event["t_us"])
            test += 1
            if current.end_us is None:
                current.end_us = cut
            epochs.append(
                Epoch(current.index + 1, cut, profile, str(event.get("why", "reset")), test=test)
            )
        elif kind == "faults":
            current.end_us = int(event["before_us"])
            profile = FaultProfile.model_validate(event["profile"])
            errors = [str(e) for e in event.get("errors", [])]
            epochs.append(
                Epoch(
                    current.index + 1,
                    int(event["after_us"]),
                    profile,
                    "faults set",
                    None,
                    errors,
                    test=test,
                )
            )
    return epochs, cut


def read_control(path: Path) -> list[dict[str, Any]]:
    """The whole lines of the control log (a line being written is left for the next pass)."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_bytes().splitlines(keepends=True):
        if line.endswith(b"\n") and line.strip():
            out.append(orjson.loads(line))
    return out


class JournalPuller:
    """Pulls every replica's journal through its admin API, page by page with a cursor."""

    def __init__(self, admins: Sequence[AdminClient]) -> None:
        self.admins = list(admins)
        self.cursors: list[str | None] = [None] * len(self.admins)
        # Each calibration line with its (arrival_us, end_us): an epoch takes the lines of its load.
        self.calibration: list[list[tuple[int, int, bytes]]] = [[] for _ in self.admins]
        self.harness: list[list[bytes]] = [[] for _ in self.admins]
        self.per_replica: list[dict[str, list[bytes]]] = [defaultdict(list) for _ in self.admins]
        self.errors: list[str] = []

    def pull(self) -> None:
        self.errors = []
        for i, admin in enumerate(self.admins):
            try:
                while True:
                    records, cursor = admin.journal(self.cursors[i])
                    self.cursors[i] = cursor
                    if not records:
                        break
                    for rec in records:
                        line = orjson.dumps(rec) + b"\n"
                        rid = rec.get("request_id")
                        kind = kind_of(rid)
                        if kind == "calibration":
                            when = (int(rec["arrival_us"]), int(rec["end_us"]))
                            self.calibration[i].append((*when, line))
                        elif kind == "harness":
                            self.harness[i].append(line)
                        else:
                            self.per_replica[i][str(rid)].append(line)
            except (requests.RequestException, AdminError) as exc:
                self.errors.append(f"replica r{i}: journal not fetched: {exc}")

    def calibration_within(self, replica: int, span: tuple[int, int] | None) -> bytes:
        """Replica ``replica``'s calibration lines that overlap ``span`` (µs, ``load_span`` of
        an epoch's client records): every line of a pair ``zero_delay_gaps`` keeps for that
        span (its first attempt ends inside it, its second arrives inside it), so ε is the same
        as from the whole session's lines; without a span, none."""
        if span is None:
            return b""
        lo, hi = span
        return b"".join(
            line for arrival, end, line in self.calibration[replica] if arrival <= hi and end >= lo
        )

    def dropped(self) -> int:
        total = 0
        for admin in self.admins:
            try:
                total += admin.stats().dropped
            except (requests.RequestException, AdminError):
                continue
        return total


class RecordReader:
    """Reads the client records Locust appends (whole lines only), across every records file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offsets: dict[Path, int] = {}
        self.records: list[dict[str, Any]] = []
        self.lines: list[bytes] = []

    def read(self) -> None:
        for path in sorted(self.folder.glob(RECORDS_GLOB)):
            with path.open("rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            self.offsets[path] = self.offsets.get(path, 0) + end
            for line in data[:end].splitlines(keepends=True):
                if line.strip():
                    self.records.append(orjson.loads(line))
                    self.lines.append(line)


@dataclass
class EpochResult:
    epoch: Epoch
    judged: int
    verdict: Verdict | None
    run_dir: Path


class LiveJudge:
    """Judges a UI session again and again until stopped; see the module docstring."""

    def __init__(
        self,
        scenario: Scenario,
        adapted: AdaptedPolicy,
        folder: Path,
        admins: Sequence[AdminClient],
        *,
        session_start_us: int,
        settle_s: float = SETTLE_S,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.adapted = adapted
        self.folder = folder
        self.session_start_us = session_start_us
        self.settle_s = settle_s
        self.puller = JournalPuller(admins)
        self.reader = RecordReader(folder)
        self._log = log or (lambda text: None)
        self._written: dict[int, tuple[int, int]] = {}  # epoch -> (requests, attempts) written
        self.passes = 0
        self.last_pass_s = 0.0

    def run(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        """Judge until ``stop`` is set, then once more with nothing left pending."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.judge_once()
            except Exception as exc:  # shown in the tab, never a dead judge thread
                self._write_live({"error": f"live judge failed: {type(exc).__name__}: {exc}"})
                self._log(f"live judge failed: {exc}")
            self.last_pass_s = time.monotonic() - started
            stop.wait(max(interval_s, self.last_pass_s))  # judging takes at most half the time

    def judge_once(self, settle_s: float | None = None) -> dict[str, Any]:
        """One pass: pull, cut into epochs, write and verify changed epochs, write live.json."""
        settle = self.settle_s if settle_s is None else settle_s
        t0 = time.monotonic()
        self.reader.read()  # records first: every attempt of a recorded request is journaled
        self.puller.pull()
        t1 = time.monotonic()
        now_us = time.time_ns() // 1000
        control = read_control(self.folder / CONTROL_FILE)
        epochs, cut = epochs_from_control(
            control, self.session_start_us, self.scenario.backends.profile
        )
        horizon = now_us - int(settle * 1e6)
        members: dict[int, list[int]] = defaultdict(list)
        straddling = pending = before = 0
        current_test = epochs[-1].test
        for i, rec in enumerate(self.reader.records):
            start, end = int(rec["start_us"]), int(rec["end_us"])
            earlier = start < cut  # an earlier test's: judged in its epoch, not in the share
            if earlier:
                before += 1
            elif end > horizon:
                pending += 1
                continue
            home = next((e for e in epochs if e.holds(start, end)), None)
            if home is None:
                straddling += 0 if earlier else 1
            else:
                members[home.index].append(i)
        results = [self._epoch(e, members.get(e.index, [])) for e in epochs]
        self._forget(epochs)
        current = [e for e in epochs if e.test == current_test]
        seen = sum(len(members[e.index]) for e in current) + straddling + pending
        live = self._live(results, seen, straddling, pending, before, now_us)
        live["pass"] = {
            "fetch_s": round(t1 - t0, 3),
            "judge_s": round(time.monotonic() - t1, 3),
            "number": self.passes + 1,
        }
        self._write_live(live)
        self.passes += 1
        return live

    def _forget(self, epochs: list[Epoch]) -> None:
        """Drop the folders of epochs a reset has dropped."""
        keep = {e.index for e in epochs}
        for index in list(self._written):
            if index not in keep:
                del self._written[index]
                shutil.rmtree(self._epoch_dir(index), ignore_errors=True)

    def _epoch_dir(self, index: int) -> Path:
        return self.folder / "epochs" / f"epoch-{index}"

    def _epoch(self, epoch: Epoch, rows: list[int]) -> EpochResult:
        from harness.report.json_report import read_json

        folder = self._epoch_dir(epoch.index)
        if not rows:
            return EpochResult(epoch, 0, None, folder / "run")
        ids = [str(self.reader.records[i]["request_id"]) for i in rows]
        attempts = sum(len(p.get(rid, ())) for p in self.puller.per_replica for rid in ids)
        written = self._written.get(epoch.index)
        if self.puller.errors:  # a replica's attempts are missing this pass: judge nothing new
            if written is not None and folder.is_dir():
                verdict = read_json(folder / "verdict.json")
                return EpochResult(epoch, written[0], verdict, folder / "run")
            return EpochResult(epoch, 0, None, folder / "run")
        if written == (len(rows), attempts) and folder.is_dir():
            return EpochResult(epoch, len(rows), read_json(folder / "verdict.json"), folder / "run")
        # Built aside, then swapped in: a download never sees a run folder without its verdict.
        new = folder.with_name(f".{folder.name}.new")
        shutil.rmtree(new, ignore_errors=True)
        self._write_run(epoch, rows, ids, new / "run")
        verdict = verify_run_dir(new / "run")
        write_json(verdict, new / "verdict.json")
        old = folder.with_name(f".{folder.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            os.replace(folder, old)
        os.replace(new, folder)
        shutil.rmtree(old, ignore_errors=True)
        self._written[epoch.index] = (len(rows), attempts)
        return EpochResult(epoch, len(rows), verdict, folder / "run")

    def _write_run(self, epoch: Epoch, rows: list[int], ids: list[str], tmp: Path) -> None:
        """Write the epoch's run folder (the same layout ``retry-harness run`` writes)."""
        tmp.mkdir(parents=True)
        records = tmp / "client-records.ndjson"
        records.write_bytes(b"".join(self.reader.lines[i] for i in rows))
        span = load_span(records)  # the epoch's load: only its calibration pairs make its ε
        journals: list[str] = []
        for r, per in enumerate(self.puller.per_replica):
            name = f"journal-r{r}.ndjson"
            (tmp / name).write_bytes(b"".join(line for rid in ids for line in per.get(rid, ())))
            calibration = self.puller.calibration_within(r, span)
            (tmp / f"calibration-r{r}.ndjson").write_bytes(calibration)
            (tmp / f"harness-traffic-r{r}.ndjson").write_bytes(b"".join(self.puller.harness[r]))
            journals.append(name)
        paths = [tmp / j for j in journals]
        tol = run_tolerances(tmp, paths, records)
        sc = self.scenario
        notes = [
            f"UI session epoch {epoch.index} ({epoch.cause}): profile in force from "
            f"{_clock(epoch.start_us)} to {_clock(epoch.end_us) if epoch.end_us else 'now'} "
            "on every replica; only requests that started and ended inside it are judged here",
            *[f"epoch {epoch.index}: profile not applied everywhere: {e}" for e in epoch.errors],
        ]
        skip = list(sc.checks.skip)
        if epoch.errors:  # replicas ran different profiles: the steady-state checks cannot hold
            skip += [
                c for c in ("success_rate", "attempt_distribution", "fault_audit") if c not in skip
            ]
        manifest = manifest_for(
            sc,
            tol,
            tmp,
            paths,
            records,
            scenario=f"{sc.name} (UI epoch {epoch.index})",
            skip_checks=skip,
            dropped_attempts=self.puller.dropped(),
            replicas=len(self.puller.admins),
            notes=notes,
        )
        save_inputs(tmp, manifest, self.adapted, epoch.profile)

    def _live(
        self,
        results: list[EpochResult],
        seen: int,
        straddling: int,
        pending: int,
        before: int,
        now_us: int,
    ) -> dict[str, Any]:
        policy = self.adapted.policy
        windows = []
        for k in range(1, min(policy.max_retries, 8) + 1):
            w = delay_window(policy, k)
            windows.append({"retry": k, "lo_s": w.lo_s, "nominal_s": w.nominal_s, "hi_s": w.hi_s})
        current_test = results[-1].epoch.test if results else 0
        judged = sum(r.judged for r in results if r.epoch.test == current_test)
        return {
            "updated_us": now_us,
            "scenario": self.scenario.name,
            "policy": {
                "system": self.adapted.system,
                "source_file": self.adapted.source_file,
                "policy": json.loads(policy.model_dump_json()),
                "notes": [n.model_dump(mode="json") for n in self.adapted.notes],
                "windows": windows,
            },
            "share": {
                "requests": seen,
                "judged": judged,
                "straddling": straddling,
                "pending": pending,
                "before_reset": before,
                "settle_s": self.settle_s,
            },
            "journal_errors": list(self.puller.errors),
            "epochs": [
                {
                    "index": r.epoch.index,
                    "cause": r.epoch.cause,
                    "start_us": r.epoch.start_us,
                    "end_us": r.epoch.end_us,
                    "profile": json.loads(r.epoch.profile.model_dump_json()),
                    "errors": r.epoch.errors,
                    "judged": r.judged,
                    "test": r.epoch.test,
                    "current": r.epoch.test == current_test,
                    "verdict": json.loads(r.verdict.model_dump_json()) if r.verdict else None,
                }
                for r in results
            ],
        }

    def _write_live(self, live: dict[str, Any]) -> None:
        tmp = self.folder / (LIVE_FILE + ".tmp")
        tmp.write_bytes(orjson.dumps(live, option=orjson.OPT_SERIALIZE_NUMPY))
        os.replace(tmp, self.folder / LIVE_FILE)


def _clock(t_us: int | None) -> str:
    if t_us is None:
        return "now"
    return time.strftime("%H:%M:%S", time.gmtime(t_us / 1e6)) + f".{(t_us // 1000) % 1000:03d}Z"

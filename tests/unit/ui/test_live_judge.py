"""The live judge keeps earlier tests' epochs, and judges nothing new in a pass that lacks a
replica's journal.

A session's records and journals are simulated (the oracle's SUT simulator, one replica) and
served by a fake admin API; a reset (a new test) comes half-way. The earlier test's epoch must
stay judged with its folder on disk (its downloads used to 404 after a new test), and a pass in
which the journal could not be fetched must leave every epoch folder as it was (its requests
would otherwise look answered without any attempt) while it shows the error.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from fake_backends.admin_client import AdminError
from fake_backends.profile import FaultProfile
from fake_backends.records import JournalStats
from harness.live_judge import CONTROL_FILE, LiveJudge
from harness.oracle.synth import Traffic, client_lines, journal_lines, simulate
from harness.run import declared_policy
from harness.scenario import load_scenario
from harness.substrates.calibration import run_tolerances
from harness.traffic import CALIBRATION_PREFIX

SCENARIO = """\
name: live
backends: {replicas: 1, profile: {failure_rate: 0.3, failure_status: {503: 1}}}
sut: {kind: command, command: "true {listen} {upstreams}"}
policy:
  inline: {max_retries: 3, retry_on: {statuses: [503]}}
load: {requests: 100}
checks: {skip: [fault_audit, success_rate, attempt_distribution, jitter_distribution]}
"""


class FakeAdmin:
    """A replica's admin API: its journal in one page, or an error when told to fail."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.sent = 0
        self.fail = False

    def journal(self, since: str | None = None, limit_bytes: int | None = None) -> Any:
        if self.fail:
            raise AdminError(503, "busy")
        page, self.sent = self.records[self.sent :], len(self.records)
        return page, str(self.sent)

    def stats(self) -> JournalStats:
        return JournalStats(replica="r0", recorded=len(self.records), dropped=0, cap=10**6)


def test_earlier_epochs_stay_and_a_pass_without_a_journal_judges_nothing(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    scenario = load_scenario(tmp_path / "s.yaml")
    adapted = declared_policy(scenario)
    start = time.time() - 120
    traffic = Traffic(n_requests=600, rate_per_s=100.0, start_s=start)
    run = simulate(adapted.policy, FaultProfile(failure_rate=0.3), traffic, seed=3, n_replicas=1)
    clients = [orjson.loads(line) for line in client_lines(run)]
    attempts = [orjson.loads(line) for line in journal_lines(run)]
    reset_us = int((start + 3.0) * 1e6)  # half-way through the 6 s of requests
    first = [c for c in clients if c["end_us"] < reset_us]
    second = [c for c in clients if c["start_us"] >= reset_us]
    admin = FakeAdmin()
    folder = tmp_path / "session"
    folder.mkdir()
    records = folder / "client-records.ndjson"

    def add(batch: list[dict[str, Any]]) -> None:
        ids = {c["request_id"] for c in batch}
        admin.records += [a for a in attempts if a["request_id"] in ids]
        with records.open("ab") as f:
            f.write(b"".join(orjson.dumps(c) + b"\n" for c in batch))

    judge = LiveJudge(
        scenario,
        adapted,
        folder,
        [admin],  # type: ignore[list-item]
        session_start_us=int(start * 1e6) - 1,
    )
    add(first)
    judge.judge_once()
    (folder / CONTROL_FILE).write_text(
        orjson.dumps({"kind": "reset", "t_us": reset_us, "why": "new test"}).decode() + "\n"
    )
    add(second)
    live = judge.judge_once()
    earlier, current = live["epochs"]
    assert (earlier["test"], earlier["current"], current["current"]) == (0, False, True)
    assert earlier["judged"] == len(first) and current["judged"] == len(second)
    assert earlier["verdict"]["outcome"] == current["verdict"]["outcome"] == "pass"
    for e in (earlier, current):  # both downloadable
        assert (folder / "epochs" / f"epoch-{e['index']}" / "verdict.json").is_file()
    assert live["share"]["judged"] == len(second)  # the shown share is the current test's

    stamp = (folder / "epochs" / f"epoch-{current['index']}" / "verdict.json").stat().st_mtime_ns
    admin.fail = True
    late = [dict(c, request_id=f"late-{i}") for i, c in enumerate(second[:20])]
    with records.open("ab") as f:  # records whose attempts this pass cannot fetch
        f.write(b"".join(orjson.dumps(c) + b"\n" for c in late))
    live = judge.judge_once()
    assert live["journal_errors"] and "journal not fetched" in live["journal_errors"][0]
    assert [e["verdict"]["outcome"] for e in live["epochs"]] == ["pass", "pass"]
    folder_now = folder / "epochs" / f"epoch-{current['index']}" / "verdict.json"
    assert folder_now.stat().st_mtime_ns == stamp  # nothing rewritten or re-judged


def _pairs(start_s: float, stop_s: float, every_s: float) -> list[dict[str, Any]]:
    """Calibration pairs (ids ``harness-calib-…``) from ``start_s`` to ``stop_s``: attempt 0
    answered in 0.3 ms, attempt 1 arriving 0.5-1.4 ms after it (a gap per pair)."""
    out: list[dict[str, Any]] = []
    t_us, k = int(start_s * 1e6), 0
    while t_us < stop_s * 1e6:
        gap = 500 + (k * 37) % 900
        for attempt, arrival in ((0, t_us), (1, t_us + 300 + gap)):
            out.append(
                {
                    "v": 1,
                    "request_id": f"{CALIBRATION_PREFIX}7-{k}",
                    "method": "GET",
                    "path": "/",
                    "replica": "replica-0",
                    "worker": 1,
                    "attempt": attempt,
                    "arrival_us": arrival,
                    "end_us": arrival + 300,
                    "status": 200,
                    "fault": "none",
                    "retry_after": None,
                    "client_gone": False,
                    "idempotency_key": None,
                }
            )
        t_us += int(every_s * 1e6)
        k += 1
    return out


def test_an_epoch_folder_holds_only_the_calibration_pairs_of_its_load(tmp_path: Path) -> None:
    """Every epoch folder used to get the whole session's calibration lines (up to 72,000 after
    an hour), rewritten on every re-judge; only the pairs inside the epoch's load count for ε
    (``zero_delay_gaps`` keeps those), so only they are written, and ε is unchanged."""
    (tmp_path / "s.yaml").write_text(SCENARIO)
    scenario = load_scenario(tmp_path / "s.yaml")
    adapted = declared_policy(scenario)
    start = time.time() - 120
    traffic = Traffic(n_requests=600, rate_per_s=100.0, start_s=start)
    run = simulate(adapted.policy, FaultProfile(failure_rate=0.3), traffic, seed=5, n_replicas=1)
    clients = [orjson.loads(line) for line in client_lines(run)]
    reset_us = int((start + 3.0) * 1e6)
    first = [c for c in clients if c["end_us"] < reset_us]
    second = [c for c in clients if c["start_us"] >= reset_us]
    admin = FakeAdmin()
    pairs = _pairs(start - 20.0, start + 30.0, 0.05)  # before, during and after the load
    admin.records = [orjson.loads(line) for line in journal_lines(run)] + pairs
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "client-records.ndjson").write_bytes(
        b"".join(orjson.dumps(c) + b"\n" for c in first + second)
    )
    (folder / CONTROL_FILE).write_text(
        orjson.dumps({"kind": "reset", "t_us": reset_us, "why": "new test"}).decode() + "\n"
    )
    judge = LiveJudge(
        scenario,
        adapted,
        folder,
        [admin],  # type: ignore[list-item]
        session_start_us=int(start * 1e6) - 1,
    )
    live = judge.judge_once()
    assert [e["judged"] for e in live["epochs"]] == [len(first), len(second)]
    everything = b"".join(orjson.dumps(p) + b"\n" for p in pairs)
    for epoch, batch in zip(live["epochs"], (first, second), strict=True):
        run_dir = folder / "epochs" / f"epoch-{epoch['index']}" / "run"
        lo = min(c["start_us"] for c in batch)
        hi = max(c["end_us"] for c in batch)
        kept = [orjson.loads(line) for line in (run_dir / "calibration-r0.ndjson").open("rb")]
        assert 0 < len(kept) < len(pairs) // 3
        assert all(r["arrival_us"] <= hi and r["end_us"] >= lo for r in kept)
        ids = {r["request_id"] for r in kept}
        inside = {p["request_id"] for p in pairs if p["attempt"] == 0 and lo <= p["end_us"]} & {
            p["request_id"] for p in pairs if p["attempt"] == 1 and p["arrival_us"] <= hi
        }
        assert inside and inside <= ids
        whole = tmp_path / f"whole-{epoch['index']}"
        shutil.copytree(run_dir, whole)
        (whole / "calibration-r0.ndjson").write_bytes(everything)
        records = run_dir / "client-records.ndjson"
        journals = [run_dir / "journal-r0.ndjson"]
        assert run_tolerances(run_dir, journals, records) == run_tolerances(
            whole, [whole / "journal-r0.ndjson"], whole / "client-records.ndjson"
        )

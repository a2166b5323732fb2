"""The harness-traffic summary counts what the harness sent and warns when the SUT retried a
readiness probe or a probe overlapped the load (neither can happen with marked probes; the
summary is the check that it did not)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.traffic import READINESS_PREFIX, summarize


def _write(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _attempt(rid: str, attempt: int, end_us: int, fault: str = "none") -> dict[str, object]:
    return {"request_id": rid, "attempt": attempt, "end_us": end_us, "fault": fault}


def test_one_probe_before_the_load_is_counted_without_warning(tmp_path: Path) -> None:
    _write(tmp_path / "harness-traffic-r0.ndjson", [_attempt(f"{READINESS_PREFIX}1-0", 0, 100)])
    _write(tmp_path / "calibration-r0.ndjson", [_attempt("harness-calib-1-0", 0, 200)] * 2)
    _write(tmp_path / "client-records.ndjson", [{"request_id": "a", "start_us": 1_000_100}])
    summary = summarize(tmp_path, tmp_path / "client-records.ndjson")
    assert (summary.readiness_requests, summary.readiness_attempts) == (1, 1)
    assert summary.calibration_attempts == 2 and not summary.readiness_overlaps_load
    notes = summary.notes()
    assert notes[0].startswith("harness traffic: 1 readiness probe(s)")
    assert "ended 1.000 s before the load began" in notes[0]
    assert not any("WARNING" in n for n in notes)


def test_a_retried_probe_and_one_overlapping_the_load_are_warned_about(tmp_path: Path) -> None:
    rid = f"{READINESS_PREFIX}1-0"
    _write(
        tmp_path / "harness-traffic-r0.ndjson",
        [_attempt(rid, 0, 100, fault="status"), _attempt(rid, 1, 5_000)],
    )
    _write(tmp_path / "client-records.ndjson", [{"request_id": "a", "start_us": 2_000}])
    summary = summarize(tmp_path, tmp_path / "client-records.ndjson")
    assert summary.readiness_overlaps_load
    notes = " ".join(summary.notes())
    assert "WARNING: the last ended 0.003 s after the load began" in notes
    assert "WARNING: the SUT retried readiness probes (1 retries, 1 failed attempts)" in notes

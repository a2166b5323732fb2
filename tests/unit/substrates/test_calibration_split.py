"""The harness's own traffic (calibration and readiness probes) is split out of a raw journal by
its parsed request id.

The split once matched the bytes ``"request_id":"calib-`` and so depended on the journal's
compact JSON: a journal written with spaces left every probe in the run's journal, where the
oracle counted the harness's own traffic as client requests.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.traffic import CALIBRATION_PREFIX, READINESS_PREFIX, split_journal


def _line(request_id: str | None, *, compact: bool) -> str:
    record = {"request_id": request_id, "method": "GET", "path": "/", "attempt": 0}
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(record, separators=separators) + "\n"


def test_probes_are_split_whatever_the_json_spacing(tmp_path: Path) -> None:
    raw, clean, calib = tmp_path / "raw", tmp_path / "clean", tmp_path / "calib"
    own = tmp_path / "harness"
    probe = f"{CALIBRATION_PREFIX}ab-1"
    lines = [
        _line(probe, compact=True),
        _line(probe, compact=False),
        _line("run-1", compact=False),
        _line(None, compact=True),
        _line(f"x-{CALIBRATION_PREFIX}", compact=True),  # the prefix, but not at the start
        "not json\n",
        _line(f"{READINESS_PREFIX}1-0", compact=False),
    ]
    torn = _line("torn-on-a-full-disk", compact=True)[:20] + "\n"  # counted by the backend
    raw.write_text(
        "".join(lines[:3])
        + torn
        + "".join(lines[3:])
        + _line("cut-at-a-kill", compact=True).rstrip("\n")
    )
    split_journal(raw, clean, calib, own)
    assert calib.read_text().splitlines() == [lines[0].strip(), lines[1].strip()]
    assert clean.read_text().splitlines() == [x.strip() for x in lines[2:-1]]
    assert own.read_text().splitlines() == [lines[-1].strip()]

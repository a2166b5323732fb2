"""Client records that ended after the interruption are the harness's doing, not the SUT's.

A tester's double Ctrl-C sent to the process group (0.3 s apart) cut the teardown short: the
harness had stopped nginx, Locust still ran, and its ConnectionErrors were appended to
client-records.ndjson after ``save_interrupted`` had cut the file at the interruption. verify
then said "SUT answered 744 of 1173 itself (error: 744)" and judged 37 %. The run folder
keeps the interruption instant (``RunManifest.interrupted_at_us``) and verify leaves such
records out, saying why.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from harness.oracle.verdict import Outcome
from harness.run import RunManifest, verify_run_dir
from tests.unit.cli.test_interrupted_chaos import INTERRUPT_US, _interrupt


def _late_errors(n: int) -> bytes:
    """``n`` ConnectionErrors Locust got against the stopped SUT, after the interruption."""
    return b"".join(
        orjson.dumps(
            {
                "request_id": f"late-{i}",
                "method": "GET",
                "path": "/",
                "status": None,
                "error": "ConnectionError",
                "start_us": INTERRUPT_US + 300_000 + i * 1_000,
                "end_us": INTERRUPT_US + 300_500 + i * 1_000,
                "idempotency_key": None,
            }
        )
        + b"\n"
        for i in range(n)
    )


def test_records_appended_after_the_interruption_are_left_out_as_harness_caused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _interrupt(tmp_path, monkeypatch, dropped={0: 0, 1: 0, 2: 0})
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_bytes())
    assert manifest.interrupted_at_us == INTERRUPT_US
    before = verify_run_dir(run_dir)
    assert before.sut_answered == 0
    records = run_dir / "client-records.ndjson"
    with records.open("ab") as f:  # Locust, still running, appends after the cut
        f.write(_late_errors(40))
    verdict = verify_run_dir(run_dir)
    assert verdict.sut_answered == 0, verdict.sut_answered_statuses
    assert verdict.client_records == before.client_records
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any(
        n.startswith("40 client records ended after the interruption ({'ConnectionError': 40})")
        and "the harness's doing, not the SUT's" in n
        for n in verdict.notes
    ), verdict.notes
    # an older folder without the instant: nothing to cut at, the records stay (as before)
    (run_dir / "run.json").write_text(
        manifest.model_copy(update={"interrupted_at_us": None}).model_dump_json()
    )
    assert verify_run_dir(run_dir).sut_answered == 40

"""Loading journals and client records into columns, and grouping them into traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from harness.errors import BadInput
from harness.oracle.journal import NO_STATUS, fault_code, load_attempts, load_client_records
from harness.oracle.records import AttemptRecord, FaultKind
from harness.oracle.traces import build_traces
from tests.unit.oracle.simulator import SETUPS, client_lines, journal_lines, simulate


def line(**kw: object) -> bytes:
    base: dict[str, object] = {
        "v": 1,
        "request_id": "a",
        "method": "GET",
        "path": "/x",
        "replica": "r0",
        "worker": 1,
        "attempt": 0,
        "arrival_us": 1_000_000,
        "end_us": 1_010_000,
        "status": 503,
        "fault": "status",
    }
    base.update(kw)
    return orjson.dumps(base)


def test_ndjson_round_trip_matches_the_simulated_arrays(tmp_path: Path) -> None:
    s = SETUPS["urllib3"]
    run = simulate(s.policy, s.profile, s.traffic, seed=5)
    journal = tmp_path / "journal.ndjson"
    journal.write_bytes(b"\n".join(journal_lines(run)) + b"\n")
    clients = tmp_path / "clients.ndjson"
    clients.write_bytes(b"\n".join(client_lines(run)))
    loaded = load_attempts([journal])
    assert len(loaded) == len(run.attempts)
    # every line is a valid AttemptRecord
    first = journal.read_bytes().splitlines()[0]
    AttemptRecord.model_validate_json(first)
    a = build_traces(loaded).attempts
    b = build_traces(run.attempts).attempts
    assert [a.request_ids[r] for r in a.rid] == [b.request_ids[r] for r in b.rid]
    for col in ("status", "fault", "arrival_us", "end_us", "attempt", "idem"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert np.allclose(a.retry_after_s, b.retry_after_s, equal_nan=True)
    c = load_client_records([clients])
    assert c.request_ids == run.clients.request_ids
    assert np.array_equal(c.status, run.clients.status)


def test_traces_are_ordered_by_arrival_and_indexed() -> None:
    lines = [
        line(request_id="b", attempt=1, arrival_us=30, end_us=31),
        line(request_id="a", arrival_us=10, end_us=11),
        line(request_id="b", attempt=0, arrival_us=20, end_us=21),
        line(request_id=None, arrival_us=5, end_us=6),
    ]
    t = build_traces(load_attempts(lines))
    assert t.attempts.no_request_id == 1
    assert t.n_traces == 2
    # traces follow the order in which request ids first appear; attempts follow arrival
    assert [t.request_id(i) for i in range(2)] == ["b", "a"]
    assert t.length.tolist() == [2, 1]
    assert t.pos.tolist() == [0, 1, 0]
    assert t.attempts.arrival_us.tolist() == [20, 30, 10]
    assert t.timeline(0).startswith("b: #0 GET /x @+0.000s")


def test_retry_after_seconds_and_http_date_are_parsed() -> None:
    lines = [
        line(request_id="s", retry_after="2"),
        line(
            request_id="d",
            end_us=1_700_000_000_000_000,
            retry_after="Tue, 14 Nov 2023 22:13:23 GMT",
        ),
        line(request_id="n", status=None, fault="reset"),
    ]
    a = load_attempts(lines)
    ra = dict(zip([a.request_ids[r] for r in a.rid], a.retry_after_s, strict=True))
    assert ra["s"] == 2.0
    assert ra["d"] == pytest.approx(3.0)
    assert np.isnan(ra["n"])
    assert a.status[a.request_ids.index("n")] == NO_STATUS
    assert a.fault[a.request_ids.index("n")] == fault_code(FaultKind.RESET)


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "j.ndjson"
    p.write_bytes(line() + b"\n\n{not json\n")
    with pytest.raises(BadInput) as err:
        load_attempts([p])
    assert f"{p}:3" in str(err.value)


def test_missing_field_and_unknown_fault_are_named() -> None:
    bad = orjson.loads(line())
    del bad["arrival_us"]
    with pytest.raises(BadInput, match="arrival_us"):
        load_attempts([line(), orjson.dumps(bad)])
    with pytest.raises(BadInput, match=r"fault.*unknown fault kind"):
        load_attempts([line(fault="gremlins")])


def test_duplicate_client_request_id_is_rejected() -> None:
    rec = orjson.dumps(
        {"request_id": "a", "method": "GET", "path": "/", "status": 200, "start_us": 1, "end_us": 2}
    )
    with pytest.raises(BadInput, match="duplicate request id"):
        load_client_records([rec, rec])

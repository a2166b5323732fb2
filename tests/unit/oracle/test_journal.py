"""Loading journals and client records into columns, and grouping them into traces."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.oracle.journal import (
    _ATTEMPT_SCHEMA,
    _CLIENT_SCHEMA,
    FAULT_KINDS,
    NO_STATUS,
    Source,
    _attempts_via_arrow,
    _attempts_via_rows,
    _clients_via_arrow,
    _clients_via_rows,
    fault_code,
    load_attempts,
    load_client_records,
)
from harness.oracle.records import AttemptRecord, ClientRecord, FaultKind
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


# --- The Arrow reader and the row reader give the same tables --------------------------------

ODD_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(
        ['"', "\\", 'x"status', '"request_id":null', "ß", "é😀", "{", "}\n{", "\r", ""]
    ),
)
HTTP_DATES = st.integers(0, 4_000_000_000).map(
    lambda t: format_datetime(datetime.fromtimestamp(t, UTC), usegmt=True)
)
RETRY_AFTER = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["", " 2 ", "1.5", "007", "1e3", "-1", "inf", "1_0", "soon", "0.25"]),
    HTTP_DATES,
    ODD_TEXT,
)
EXTRA_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    ODD_TEXT,
    st.just({"status": None, "request_id": None}),
    st.just([1, {"status": None}]),
)
ATTEMPT_KEYS = set(AttemptRecord.model_fields)
ABSENT = object()


def optional(values: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A value, an explicit null, or no key at all."""
    return st.one_of(st.just(ABSENT), st.none(), values)


@st.composite
def attempt_records(draw: st.DrawFn) -> dict[str, object]:
    record: dict[str, object] = {
        "v": 1,
        "request_id": draw(st.one_of(st.none(), st.sampled_from(["a", "b", "B"]), ODD_TEXT)),
        "method": draw(st.sampled_from(["GET", "get", "Post", "POST", "ß", "delete"])),
        "path": draw(st.one_of(st.sampled_from(["/x", "/y"]), ODD_TEXT)),
        "replica": draw(st.sampled_from(["r0", "r1", "ρ"])),
        "worker": 1,
        "attempt": draw(st.integers(0, 2**31 - 1)),
        "arrival_us": draw(st.integers(-(2**63), 2**63 - 1)),
        "end_us": draw(st.integers(0, 2**62)),
        "status": draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
        "fault": str(draw(st.sampled_from(FAULT_KINDS))),
        "retry_after": draw(optional(RETRY_AFTER)),
        "client_gone": draw(optional(st.booleans())),
        "idempotency_key": draw(optional(ODD_TEXT)),
    }
    extra = draw(st.dictionaries(ODD_TEXT.filter(lambda k: k not in ATTEMPT_KEYS), EXTRA_VALUES))
    record.update(extra)
    order = draw(st.permutations(list(record)))
    return {k: record[k] for k in order if record[k] is not ABSENT}


@st.composite
def client_records(draw: st.DrawFn) -> list[dict[str, object]]:
    ids = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "B"]), ODD_TEXT), unique=True))
    out = []
    for rid in ids:
        record: dict[str, object] = {
            "request_id": rid,
            "method": draw(st.sampled_from(["GET", "get", "Post", "ß"])),
            "path": draw(optional(ODD_TEXT)),
            "status": draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
            "error": draw(optional(ODD_TEXT)),
            "start_us": draw(st.integers(-(2**63), 2**63 - 1)),
            "end_us": draw(st.integers(-(2**63), 2**63 - 1)),
            "idempotency_key": draw(optional(ODD_TEXT)),
        }
        out.append({k: v for k, v in record.items() if v is not ABSENT})
    return out


def sources(
    directory: Path, records: list[dict[str, object]], cuts: list[int], kinds: list[int]
) -> list[Source]:
    """The records split into files (with or without a final newline) and in-memory lines."""
    lines = [orjson.dumps(r) for r in records]
    bounds = [0, *sorted({min(c, len(lines)) for c in cuts}), len(lines)]
    out: list[Source] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        part, kind = lines[lo:hi], kinds[i % len(kinds)]
        if kind == 0:
            out.extend(part)
        elif kind == 1:
            out.extend(ln.decode() for ln in part)
        else:
            path = directory / f"part-{i}.ndjson"
            path.write_bytes(b"\n".join(part) + (b"\n" if kind == 2 else b""))
            out.append(path)
    return out


def assert_same(a: object, b: object) -> None:
    assert type(a) is type(b)
    for f in fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        else:
            assert x == y, f.name


def needs_rows(items: list[Source]) -> bool:
    """True where the Arrow reader must hand over: a file or run of lines holds both a
    ``"request_id":null`` (that it would rewrite) and a real NUL character."""
    buffers: list[bytes] = []
    run: list[bytes] = []
    for item in [*items, None]:
        if isinstance(item, (str, bytes)):
            run.append(item if isinstance(item, bytes) else item.encode())
            continue
        buffers.append(b"\n".join(run))
        run = []
        if isinstance(item, Path):
            buffers.append(item.read_bytes())
    return any(b'"request_id":null' in b and b"\\u0000" in b for b in buffers)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(attempt_records(), max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=3),
    kinds=st.lists(st.integers(0, 3), min_size=1, max_size=4),
)
def test_arrow_and_row_readers_give_the_same_attempts(
    records: list[dict[str, object]], cuts: list[int], kinds: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        items = sources(Path(tmp), records, cuts, kinds)
        fast = _attempts_via_arrow(list(items))
        slow = _attempts_via_rows(list(items))
        if fast is None:  # only where a rewritten null could meet a real NUL
            assert needs_rows(items)
        else:
            assert_same(fast, slow)
        assert_same(load_attempts(iter(items)), slow)  # a one-shot iterable is read once


@settings(max_examples=100, deadline=None)
@given(
    records=client_records(),
    cuts=st.lists(st.integers(0, 12), max_size=3),
    kinds=st.lists(st.integers(0, 3), min_size=1, max_size=4),
)
def test_arrow_and_row_readers_give_the_same_client_records(
    records: list[dict[str, object]], cuts: list[int], kinds: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        items = sources(Path(tmp), records, cuts, kinds)
        fast = _clients_via_arrow(list(items))
        assert fast is not None
        slow = _clients_via_rows(list(items))
        assert_same(fast, slow)
        assert_same(load_client_records(items), slow)


def test_the_simulated_journal_takes_the_arrow_path(tmp_path: Path) -> None:
    s = SETUPS["envoy"]
    run = simulate(s.policy, s.profile, s.traffic, seed=3)
    journal = tmp_path / "journal.ndjson"
    journal.write_bytes(b"\n".join(journal_lines(run)) + b"\n")
    clients = tmp_path / "clients.ndjson"
    clients.write_bytes(b"\n".join(client_lines(run)) + b"\n")
    fast = _attempts_via_arrow([journal])
    assert fast is not None and len(fast) == len(run.attempts)
    assert (fast.status == NO_STATUS).any()  # explicit null statuses were read
    assert_same(fast, _attempts_via_rows([journal]))
    fast_clients = _clients_via_arrow([clients])
    assert fast_clients is not None
    assert_same(fast_clients, _clients_via_rows([clients]))


def test_schemas_name_record_fields() -> None:
    assert set(_ATTEMPT_SCHEMA.names) <= set(AttemptRecord.model_fields)
    assert set(_CLIENT_SCHEMA.names) <= set(ClientRecord.model_fields)


# Inputs that are not in the plain form: the row reader reads them (same table, slower).
NOT_PLAIN = {
    "spaces after colons": lambda r: json.dumps(r).encode(),
    "crlf": lambda r: orjson.dumps(r) + b"\r",
    "leading space": lambda r: b" " + orjson.dumps(r),
    "missing v": lambda r: orjson.dumps({k: v for k, v in r.items() if k != "v"}),
    "null with a space": lambda r: orjson.dumps(r).replace(b'"status":null', b'"status": null'),
    "lax types the row reader accepts": lambda r: orjson.dumps({**r, "status": "503"}),
}


@pytest.mark.parametrize("form", NOT_PLAIN)
def test_inputs_not_in_plain_form_go_to_the_row_reader(form: str, tmp_path: Path) -> None:
    rows = [orjson.loads(line(request_id=f"r{i}", status=None)) for i in range(3)]
    rows.append(orjson.loads(line(request_id=None)))
    path = tmp_path / "j.ndjson"
    path.write_bytes(b"\n".join([*map(orjson.dumps, rows[:2]), NOT_PLAIN[form](rows[2])]))
    items: list[Source] = [path, orjson.dumps(rows[3])]
    assert _attempts_via_arrow(items) is None
    assert_same(load_attempts(items), _attempts_via_rows(items))
    assert len(load_attempts(items)) == 3


def drop(key: str) -> Callable[[bytes], bytes]:
    return lambda good: orjson.dumps({k: v for k, v in orjson.loads(good).items() if k != key})


def with_(**kw: object) -> Callable[[bytes], bytes]:
    return lambda good: orjson.dumps({**orjson.loads(good), **kw})


# Malformed second line -> (the Arrow reader must refuse it, the row reader names line 2 and:)
MALFORMED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not json": (lambda g: b"{not json", "not a JSON object"),
    "not an object": (lambda g: b"[1, 2]", "each line must be a JSON object"),
    "two objects on a line": (lambda g: g + g, "not a JSON object"),
    "object over two lines": (lambda g: g[:20] + b"\n" + g[20:], "not a JSON object"),
    "invalid UTF-8 in an ignored key": (
        lambda g: g[:-1] + b',"x":"\xff"}',
        "not a JSON object",
    ),
    "lone carriage return": (lambda g: g.replace(b",", b",\r", 1), "not a JSON object"),
    "missing request_id": (drop("request_id"), "request_id: required field is missing"),
    "missing status": (drop("status"), "status: required field is missing"),
    "missing arrival_us": (drop("arrival_us"), "arrival_us: required field is missing"),
    "null arrival_us": (with_(arrival_us=None), "arrival_us: must not be null"),
    "null method": (with_(method=None), "method: must not be null"),
    "method not a string": (with_(method=5), "method: has the wrong type"),
    "unknown fault": (with_(fault="gremlins"), "fault: unknown fault kind"),
    "version 2": (with_(v=2), "v: journal format version must be 1"),
    "null version": (with_(v=None), "v: journal format version must be 1"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_journal_lines_are_named_by_file_line_and_field(
    case: str, tmp_path: Path
) -> None:
    mutate, expected = MALFORMED[case]
    good = line()
    path = tmp_path / "j.ndjson"
    path.write_bytes(b"\n".join([good, mutate(good), good]) + b"\n")
    assert _attempts_via_arrow([path]) is None
    with pytest.raises(BadInput) as err:
        load_attempts([path])
    assert str(err.value).startswith(f"{path}:2: ")
    assert expected in str(err.value)


def test_untraced_attempts_need_no_other_field() -> None:
    lines = [line(), orjson.dumps({"request_id": None, "v": 7, "status": "x"}), line()]
    fast = _attempts_via_arrow(list(lines))
    assert fast is None  # Arrow rejects the string status; the row reader skips the line
    table = load_attempts(lines)
    assert len(table) == 2 and table.no_request_id == 1


def client_line(**kw: object) -> bytes:
    base: dict[str, object] = {
        "request_id": "a",
        "method": "GET",
        "path": "/",
        "status": 200,
        "start_us": 1,
        "end_us": 2,
    }
    base.update(kw)
    return orjson.dumps(base)


MALFORMED_CLIENTS: dict[str, tuple[list[bytes], str]] = {
    "duplicate id": (
        [client_line(request_id="a"), client_line(request_id="a")],
        "request_id: duplicate request id 'a' (first at <lines>:1)",
    ),
    "null id": ([client_line(request_id="b"), client_line(request_id=None)], "request_id:"),
    "missing status": (
        [client_line(request_id="b"), drop("status")(client_line())],
        "status: required field is missing",
    ),
    "null start_us": (
        [client_line(request_id="b"), client_line(start_us=None)],
        "start_us: must not be null",
    ),
    "not json": ([client_line(request_id="b"), b"{"], "not a JSON object"),
}


@pytest.mark.parametrize("case", MALFORMED_CLIENTS)
def test_malformed_client_records_are_named(case: str) -> None:
    lines, expected = MALFORMED_CLIENTS[case]
    assert _clients_via_arrow(list(lines)) is None
    with pytest.raises(BadInput) as err:
        load_client_records(lines)
    assert str(err.value).startswith("<lines>:2: ")
    assert expected in str(err.value)


def test_unreadable_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read journal"):
        load_attempts([tmp_path / "missing.ndjson"])


def test_a_real_nul_request_id_next_to_a_null_one_goes_to_the_row_reader() -> None:
    lines = [line(request_id="\x00"), line(request_id=None), line(request_id="a")]
    assert _attempts_via_arrow(list(lines)) is None
    table = load_attempts(lines)
    assert table.request_ids == ("\x00", "a") and table.no_request_id == 1
    # without the real NUL, the Arrow reader tells the null from the id
    fast = _attempts_via_arrow(lines[1:])
    assert fast is not None and fast.request_ids == ("a",) and fast.no_request_id == 1


def test_an_in_memory_line_is_one_record_whatever_it_holds() -> None:
    good = line()
    spread = good[:20] + b"\n" + good[20:]  # one JSON object over two lines: one record
    assert _attempts_via_arrow([good, spread]) is None
    assert len(load_attempts([good, spread])) == 2
    two = good + b"\n" + good  # two objects in one item: not one JSON value
    assert _attempts_via_arrow([good, two]) is None
    with pytest.raises(BadInput, match=r"^<lines>:2: not a JSON object"):
        load_attempts([good, two])

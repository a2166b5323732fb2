"""Loading journals and client records into numpy columns (the oracle's only input tables).

``load_attempts`` reads the backends' NDJSON journal (one :class:`AttemptRecord` per line) and
keeps only numpy columns, so a million attempts fit in a few hundred MB. Strings (request ids,
methods, paths, replicas) are factorised into integer codes with their unique values kept once.
Attempts without a request id cannot be traced: they are counted in
``AttemptTable.no_request_id``, their arrival stamps (where journaled) kept in
``AttemptTable.untraced_arrival_us``, and left out of the table.

``load_client_records`` does the same for the load generator's :class:`ClientRecord` lines.

Two readers give the same tables. The fast one parses with Apache Arrow's C++ NDJSON reader
(an explicit schema, then dictionary encoding); it takes an input only when cheap byte checks
show the plain form both readers read alike (one compact object per line, valid UTF-8, explicit
nulls spelled ``"key":null``), and hands everything else, malformed input included, to the
row reader (orjson line by line), which accepts exactly what it always did and names the file,
line and field of the first bad record. Errors are the slow path.
"""

from __future__ import annotations

import codecs
import gc
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from email.utils import parsedate_to_datetime
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from fake_backends.records import JOURNAL_FORMAT_VERSION, FaultKind
from harness.errors import BadInput

FAULT_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)
FAULT_CODE: dict[str, int] = {str(k): i for i, k in enumerate(FAULT_KINDS)}
NO_STATUS = -1
_CHUNK = 65536

Source = str | os.PathLike[str] | bytes
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def fault_code(kind: FaultKind | str) -> int:
    """The integer code of a fault kind in ``AttemptTable.fault``."""
    return FAULT_CODE[str(kind)]


@dataclass(frozen=True)
class AttemptTable:
    """All traced attempts as parallel numpy columns (one row per attempt)."""

    rid: I32  # code into request_ids
    method: I32  # code into methods
    path: I32  # code into paths
    status: I32  # HTTP status, -1 for none (reset, hang)
    fault: I32  # code into FAULT_KINDS
    arrival_us: I64
    end_us: I64
    replica: I32  # code into replicas
    retry_after_s: F64  # parsed Retry-After relative to end_us, NaN when absent
    idem: B  # the attempt carried an idempotency key
    attempt: I32  # the backend's 0-based attempt counter (as journaled)
    client_gone: B
    request_ids: tuple[str, ...]
    methods: tuple[str, ...]
    paths: tuple[str, ...]
    replicas: tuple[str, ...]
    no_request_id: int = 0
    # arrival stamps of the attempts without a request id (not rows of the table)
    untraced_arrival_us: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.rid.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.int64]) -> AttemptTable:
        """A table with the rows at ``index`` (same code books, same untraced attempts)."""
        cols: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            row_column = isinstance(value, np.ndarray) and f.name != "untraced_arrival_us"
            cols[f.name] = value[index] if row_column else value
        return AttemptTable(**cols)


@dataclass(frozen=True)
class ClientTable:
    """Client records (one row per logical request) as numpy columns."""

    request_ids: tuple[str, ...]  # row i is request_ids[i]; duplicates are rejected
    method: I32  # code into methods
    methods: tuple[str, ...]
    status: I32  # -1 when the client saw no status
    error: tuple[str | None, ...]
    start_us: I64
    end_us: I64
    idem: B

    def __len__(self) -> int:
        return len(self.request_ids)


class _Codebook:
    """Factorises strings into dense integer codes in order of first appearance."""

    def __init__(self, normalise: Callable[[str], str] | None = None) -> None:
        self.codes: dict[str, int] = {}  # normalised value -> code
        self.raw: dict[str, int] = {}  # value as written -> code
        self.normalise = normalise

    def encode(self, values: Sequence[str]) -> npt.NDArray[np.int32]:
        codes, raw = self.codes, self.raw
        for v in dict.fromkeys(values):
            if v not in raw:
                if not isinstance(v, str):
                    raise TypeError(f"expected a string, got {type(v).__name__}")
                key = self.normalise(v) if self.normalise else v
                raw[v] = codes.setdefault(key, len(codes))
        return np.array(list(map(raw.__getitem__, values)), np.int32)

    def values(self) -> tuple[str, ...]:
        return tuple(self.codes)


def _is_path(item: object) -> bool:
    if isinstance(item, os.PathLike):
        return True
    return isinstance(item, str) and not item.lstrip().startswith("{")


def _chunks(sources: Iterable[Source] | Source) -> Iterator[tuple[str, int, list[bytes]]]:
    """Yields (file name, first line number, raw lines) chunks from paths or in-memory lines."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        sources = [sources]
    pending: list[bytes] = []
    pending_start = 1
    memory_line = 0
    for item in sources:
        if _is_path(item):
            if pending:
                yield ("<lines>", pending_start, pending)
                pending = []
            path = Path(item)  # type: ignore[arg-type]
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise BadInput(f"cannot read journal: {exc.strerror}", file=path) from exc
            lines = data.splitlines()
            for start in range(0, len(lines), _CHUNK):
                yield (str(path), start + 1, lines[start : start + _CHUNK])
            continue
        raw = item if isinstance(item, bytes) else str(item).encode()
        memory_line += 1
        if not pending:
            pending_start = memory_line
        pending.append(raw)
        if len(pending) >= _CHUNK:
            yield ("<lines>", pending_start, pending)
            pending = []
    if pending:
        yield ("<lines>", pending_start, pending)


def _numbered(first: int, lines: list[bytes]) -> list[tuple[int, bytes]]:
    return [(first + i, ln) for i, ln in enumerate(lines) if ln.strip()]


def _parse(name: str, first: int, lines: list[bytes]) -> list[Any]:
    """Parses non-blank lines (one JSON value each), naming the line of the first bad one."""
    kept = [ln for ln in lines if ln] if b"" in lines else lines
    try:
        objs: list[Any] = orjson.loads(b"[" + b",".join(kept) + b"]")
        if len(objs) == len(kept) and (not objs or isinstance(objs[0], dict)):
            return objs
    except orjson.JSONDecodeError:
        pass
    objs = []
    for number, ln in _numbered(first, lines):
        try:
            objs.append(orjson.loads(ln))
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"not a JSON object: {exc}", file=name, line=number) from exc
    return objs


def _rows(first: int, lines: list[bytes], objs: list[Any]) -> list[tuple[int, Any]]:
    """(line number, parsed value) pairs, for error reports (slow path)."""
    return [(n, o) for (n, _), o in zip(_numbered(first, lines), objs, strict=False)]


def _bad_field(
    name: str,
    rows: list[tuple[int, dict[str, Any]]],
    required: dict[str, type | tuple[type, ...]],
    nullable: set[str] | None = None,
    untraced_ok: bool = False,
) -> BadInput:
    """Finds the first row that breaks ``required`` and describes it (slow path).

    ``nullable`` names the keys that may be null (``None``: all of them). With ``untraced_ok``
    a row whose request id is null needs no other field (the loader leaves it out).
    """
    for number, obj in rows:
        if not isinstance(obj, dict):
            return BadInput("each line must be a JSON object", file=name, line=number)
        if untraced_ok and "request_id" in obj and obj["request_id"] is None:
            continue
        for key, kind in required.items():
            if key not in obj:
                return BadInput("required field is missing", file=name, line=number, field=key)
            value = obj[key]
            if value is None and nullable is not None and key not in nullable:
                return BadInput("must not be null", file=name, line=number, field=key)
            if value is not None and not isinstance(value, kind):
                return BadInput(
                    f"has the wrong type (got {type(value).__name__})",
                    file=name,
                    line=number,
                    field=key,
                )
    return BadInput("unreadable record", file=name)


_ATTEMPT_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "request_id": str,
    "method": str,
    "path": str,
    "replica": str,
    "attempt": int,
    "arrival_us": int,
    "end_us": int,
    "status": int,
    "fault": str,
}


class _RetryAfterParser:
    """Parses Retry-After values (delta seconds or HTTP date), caching per distinct string."""

    def __init__(self) -> None:
        # value -> (seconds, is_absolute_epoch)
        self.cache: dict[str, tuple[float, bool]] = {}

    def parse(self, value: str) -> tuple[float, bool]:
        hit = self.cache.get(value)
        if hit is not None:
            return hit
        text = value.strip()
        result: tuple[float, bool]
        try:
            result = (float(text), False)
        except ValueError:
            try:
                result = (parsedate_to_datetime(text).timestamp(), True)
            except (TypeError, ValueError, IndexError):
                result = (math.nan, False)
        self.cache[value] = result
        return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic GC: parsing creates millions of short-lived dicts and no cycles, and
    the collector's repeated scans of them cost about a third of the load time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_attempts(sources: Iterable[Source] | Source) -> AttemptTable:
    """Loads journal NDJSON (file paths, or an iterable of lines) into an :class:`AttemptTable`.

    Raises :class:`BadInput` naming the file, line and field of the first malformed record.
    """
    items = _items(sources)
    with _gc_paused():
        table = _attempts_via_arrow(items)
        return table if table is not None else _attempts_via_rows(items)


def _items(sources: Iterable[Source] | Source) -> list[Source]:
    """The sources as a list (an iterable of lines may be read once only; both readers need it)."""
    if isinstance(sources, (str, bytes, os.PathLike)):
        return [sources]
    return list(sources)


def _attempts_via_rows(sources: Iterable[Source] | Source) -> AttemptTable:
    """The row reader: orjson line by line (accepts any input it always accepted)."""
    rid_book, method_book = _Codebook(), _Codebook(str.upper)
    path_book, replica_book = _Codebook(), _Codebook()
    ra_parser = _RetryAfterParser()
    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            *("rid", "method", "path", "status", "fault", "arrival", "end"),
            *("replica", "ra", "ra_abs", "idem", "attempt", "gone"),
        )
    }
    no_rid = 0
    untraced: list[int] = []
    for name, first, lines in _chunks(sources):
        objs = all_objs = _parse(name, first, lines)
        try:
            rids = list(map(itemgetter("request_id"), objs))
            if None in rids:
                n_all = len(objs)
                untraced += [
                    o["arrival_us"]
                    for o, r in zip(objs, rids, strict=True)
                    if r is None and type(o.get("arrival_us")) is int
                ]
                objs = [o for o, r in zip(objs, rids, strict=True) if r is not None]
                rids = [r for r in rids if r is not None]
                no_rid += n_all - len(objs)
            n = len(objs)
            versions = set(map(methodcaller("get", "v", JOURNAL_FORMAT_VERSION), objs))
            if versions - {JOURNAL_FORMAT_VERSION}:
                bad = next(
                    num
                    for num, o in _rows(first, lines, all_objs)
                    if o.get("v", JOURNAL_FORMAT_VERSION) != JOURNAL_FORMAT_VERSION
                )
                raise BadInput(
                    f"journal format version must be {JOURNAL_FORMAT_VERSION}",
                    file=name,
                    line=bad,
                    field="v",
                )
            cols["rid"].append(rid_book.encode(rids))
            fields_ = (
                list(
                    zip(
                        *map(
                            itemgetter(
                                "method",
                                "path",
                                "replica",
                                "status",
                                "arrival_us",
                                "end_us",
                                "attempt",
                            ),
                            objs,
                        ),
                        strict=True,
                    )
                )
                or [()] * 7
            )
            methods, paths, replicas, statuses, arrivals, ends, indices = fields_
            cols["method"].append(method_book.encode(methods))
            cols["path"].append(path_book.encode(paths))
            cols["replica"].append(replica_book.encode(replicas))
            status = np.array(statuses, np.float64)
            cols["status"].append(np.nan_to_num(status, nan=NO_STATUS).astype(np.int32))
            try:
                fault = np.fromiter(
                    map(FAULT_CODE.__getitem__, map(itemgetter("fault"), objs)), np.int32, count=n
                )
            except KeyError:
                number = next(
                    num
                    for num, o in _rows(first, lines, all_objs)
                    if o.get("fault") not in FAULT_CODE
                )
                raise BadInput(
                    f"unknown fault kind (allowed: {', '.join(FAULT_CODE)})",
                    file=name,
                    line=number,
                    field="fault",
                ) from None
            cols["fault"].append(fault)
            cols["arrival"].append(np.array(arrivals, np.int64))
            cols["end"].append(np.array(ends, np.int64))
            cols["attempt"].append(np.array(indices, np.int32))
            for key, col in (("idempotency_key", "idem"), ("client_gone", "gone")):
                vals = np.array(list(map(methodcaller("get", key), objs)), dtype=object)
                cols[col].append(vals.astype(bool))
            ra_vals = np.array(list(map(methodcaller("get", "retry_after"), objs)), dtype=object)
            ra = np.full(n, np.nan)
            ra_abs = np.zeros(n, bool)
            present = np.flatnonzero(ra_vals.astype(bool))  # None and "" carry no value
            for i in present:
                ra[i], ra_abs[i] = ra_parser.parse(str(ra_vals[i]))
            cols["ra"].append(ra)
            cols["ra_abs"].append(ra_abs)
        except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
            rows = _rows(first, lines, all_objs)
            nullable = {"request_id", "status"}
            raise _bad_field(name, rows, _ATTEMPT_REQUIRED, nullable, untraced_ok=True) from exc

    def cat(key: str, dtype: Any) -> Any:
        parts = cols[key]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    end_us = cat("end", np.int64)
    ra = cat("ra", np.float64)
    ra_abs = cat("ra_abs", bool)
    if ra_abs.any():  # an HTTP date: seconds from the end of the answer that carried it
        ra[ra_abs] = ra[ra_abs] - end_us[ra_abs] / 1e6
    return AttemptTable(
        rid=cat("rid", np.int32),
        method=cat("method", np.int32),
        path=cat("path", np.int32),
        status=cat("status", np.int32),
        fault=cat("fault", np.int32),
        arrival_us=cat("arrival", np.int64),
        end_us=end_us,
        replica=cat("replica", np.int32),
        retry_after_s=ra,
        idem=cat("idem", bool),
        attempt=cat("attempt", np.int32),
        client_gone=cat("gone", bool),
        request_ids=rid_book.values(),
        methods=method_book.values(),
        paths=path_book.values(),
        replicas=replica_book.values(),
        no_request_id=no_rid,
        untraced_arrival_us=np.array(untraced, np.int64),
    )


_CLIENT_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "request_id": str,
    "method": str,
    "path": str,
    "status": int,
    "start_us": int,
    "end_us": int,
}


def load_client_records(sources: Iterable[Source] | Source) -> ClientTable:
    """Loads client-record NDJSON (paths or lines) into a :class:`ClientTable`.

    Raises :class:`BadInput` naming the file, line and field of the first malformed record.
    """
    items = _items(sources)
    with _gc_paused():
        table = _clients_via_arrow(items)
        return table if table is not None else _clients_via_rows(items)


def _clients_via_rows(sources: Iterable[Source] | Source) -> ClientTable:
    """The row reader for client records (orjson line by line)."""
    method_book = _Codebook()
    rids: list[str] = []
    errors: list[str | None] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("method", "status", "start", "end", "idem")}
    seen: dict[str, tuple[str, int]] = {}
    for name, first, lines in _chunks(sources):
        objs = _parse(name, first, lines)
        rows = _rows(first, lines, objs)
        try:
            chunk_rids = [o["request_id"] for o in objs]
            cols["method"].append(method_book.encode([o["method"].upper() for o in objs]))
            cols["status"].append(
                np.array(
                    [NO_STATUS if o["status"] is None else o["status"] for o in objs], np.int32
                )
            )
            cols["start"].append(np.array([o["start_us"] for o in objs], np.int64))
            cols["end"].append(np.array([o["end_us"] for o in objs], np.int64))
            cols["idem"].append(np.array([bool(o.get("idempotency_key")) for o in objs], bool))
            errors.extend(o.get("error") for o in objs)
        except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
            raise _bad_field(name, rows, _CLIENT_REQUIRED, nullable={"status"}) from exc
        for (number, _), rid in zip(rows, chunk_rids, strict=True):
            if not isinstance(rid, str):
                raise BadInput("must be a string", file=name, line=number, field="request_id")
            if rid in seen:
                where = seen[rid]
                raise BadInput(
                    f"duplicate request id {rid!r} (first at {where[0]}:{where[1]})",
                    file=name,
                    line=number,
                    field="request_id",
                )
            seen[rid] = (name, number)
        rids.extend(chunk_rids)

    def cat(key: str, dtype: Any) -> Any:
        parts = cols[key]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    return ClientTable(
        request_ids=tuple(rids),
        method=cat("method", np.int32),
        methods=method_book.values(),
        status=cat("status", np.int32),
        error=tuple(errors),
        start_us=cat("start", np.int64),
        end_us=cat("end", np.int64),
        idem=cat("idem", bool),
    )


# --- The Arrow reader ------------------------------------------------------------------------


class _NotPlain(Exception):
    """The Arrow reader cannot vouch for this input: the row reader decides (and names errors)."""


# An explicit ``"request_id":null`` is rewritten to a NUL id so that Arrow tells it from a
# missing key (only where no real NUL occurs). An explicit null status becomes NO_STATUS (-1),
# with the same length so that the bytes are replaced in place.
_NULL_RID = "\x00"
_RID_NULL = (b'"request_id":null', b'"request_id":"\\u0000"')
_STATUS_NULL = (b'"status":null', b'"status":-1  ')

# Only the keys the oracle reads (others are ignored, as the row reader ignores them).
_ATTEMPT_SCHEMA = pa.schema(
    [
        ("v", pa.int64()),
        ("request_id", pa.string()),
        ("method", pa.string()),
        ("path", pa.string()),
        ("replica", pa.string()),
        ("attempt", pa.int32()),
        ("arrival_us", pa.int64()),
        ("end_us", pa.int64()),
        ("status", pa.int32()),
        ("fault", pa.string()),
        ("retry_after", pa.string()),
        ("client_gone", pa.bool_()),
        ("idempotency_key", pa.string()),
    ]
)
_ATTEMPT_NOT_NULL = ("method", "path", "replica", "attempt", "arrival_us", "end_us", "status")
_CLIENT_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("method", pa.string()),
        ("status", pa.int32()),
        ("error", pa.string()),
        ("start_us", pa.int64()),
        ("end_us", pa.int64()),
        ("idempotency_key", pa.string()),
    ]
)
_CLIENT_NOT_NULL = ("request_id", "method", "status", "start_us", "end_us")
_P = TypeVar("_P")
_PLAIN_SECONDS = r"^[0-9]{1,15}(\.[0-9]{1,15})?$"  # parsed alike by Arrow's cast and float()


def _buffers(items: Sequence[Source]) -> Iterator[tuple[bytes, int | None]]:
    """(NDJSON bytes, number of lines it must hold or None) per file and per run of lines.

    Empty and blank buffers are left out (the row reader skips blank lines).
    """
    group: list[bytes] = []
    for item in items:
        if not _is_path(item):
            group.append(item if isinstance(item, bytes) else str(item).encode())
            continue
        if group:
            yield from _non_blank(b"\n".join(group), len(group))
            group = []
        try:
            data = Path(item).read_bytes()  # type: ignore[arg-type]
        except OSError as exc:
            raise _NotPlain from exc
        yield from _non_blank(data, None)
    if group:
        yield from _non_blank(b"\n".join(group), len(group))


def _non_blank(data: bytes, lines: int | None) -> Iterator[tuple[bytes, int | None]]:
    if data and not data.isspace():  # isspace stops at the first other byte
        yield data, lines


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = 1 << 20
    try:
        for start in range(0, len(data), step):
            decoder.decode(data[start : start + step], final=start + step >= len(data))
    except UnicodeDecodeError:
        return False
    return True


def _plain(data: bytes, lines: int | None) -> tuple[bytes, int]:
    """``data`` with explicit null statuses rewritten for Arrow, and its number of lines.

    Raises :class:`_NotPlain` unless every line starts with ``{`` and ends with ``}`` (so a
    line that Arrow reads as one row is one object, as the row reader needs), there is no
    ``\\r`` (the row reader splits lines there too) and the bytes are UTF-8 (Arrow does not
    check the keys it skips). The caller checks that Arrow found one row per line.
    """
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    if end <= 0 or data[0] != ord("{") or data[end - 1] != ord("}") or b"\r" in data:
        raise _NotPlain
    newlines = data.count(b"\n", 0, end)
    if data.count(b"}\n{", 0, end) != newlines or (lines is not None and newlines + 1 != lines):
        raise _NotPlain
    if not _is_utf8(data):
        raise _NotPlain
    # A null status and a missing one are both null to Arrow; the row reader rejects only the
    # latter. The pattern can only be a key followed by null (inside a string the quote before
    # ':' would be escaped): an explicit top-level null, or one in a key Arrow ignores.
    return data.replace(*_STATUS_NULL), newlines + 1


def _read(data: bytes, rows: int, schema: Any) -> Any:
    """The Arrow table of plain NDJSON, which must hold ``rows`` rows (one per line)."""
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pa_json.read_json(pa.BufferReader(data), parse_options=options)
    except pa.ArrowException as exc:
        raise _NotPlain from exc
    if table.num_rows != rows:  # a line held two objects
        raise _NotPlain
    return table


def _numpy(column: Any, dtype: Any) -> Any:
    """A writable numpy array of a column without nulls."""
    out = np.asarray(column.to_numpy(zero_copy_only=False), dtype)
    return out if out.flags.writeable else out.copy()


def _encode(column: Any) -> tuple[I32, list[str]]:
    """Dictionary codes (order of first appearance) and the values."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    return _numpy(encoded.indices, np.int32), encoded.dictionary.to_pylist()


def _encode_upper(column: Any) -> tuple[I32, tuple[str, ...]]:
    """Like the row reader's ``_Codebook(str.upper)``: codes of the upper-cased values."""
    codes, values = _encode(column)
    book: dict[str, int] = {}
    remap = np.array([book.setdefault(v.upper(), len(book)) for v in values], np.int32)
    return remap[codes], tuple(book)


def _flag(column: Any) -> B:
    """True where a string is present and not empty (the row reader's ``bool(value)``)."""
    flags: B = _numpy(pc.fill_null(pc.greater(pc.binary_length(column), 0), False), bool)
    return flags


def _retry_after(column: Any, end_us: I64) -> F64:
    """Seconds of Retry-After relative to ``end_us``: each distinct value parsed once."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = encoded.dictionary
    n = len(values)
    seconds = np.full(n, np.nan)
    absolute = np.zeros(n, bool)
    plain = _numpy(pc.match_substring_regex(values, _PLAIN_SECONDS), bool)
    if plain.any():
        seconds[plain] = _numpy(pc.cast(values.filter(pa.array(plain)), pa.float64()), np.float64)
    parser = _RetryAfterParser()
    others = np.flatnonzero(~plain)
    for i, text in zip(others, values.filter(pa.array(~plain)).to_pylist(), strict=True):
        if text:  # "" carries no value, as in the row reader
            seconds[i], absolute[i] = parser.parse(text)
    codes = _numpy(pc.fill_null(encoded.indices, -1), np.int64)
    present = codes >= 0
    ra = np.full(len(codes), np.nan)
    ra[present] = seconds[codes[present]]
    ra_abs = np.zeros(len(codes), bool)
    ra_abs[present] = absolute[codes[present]]
    if ra_abs.any():  # an HTTP date: seconds from the end of the answer that carried it
        ra[ra_abs] = ra[ra_abs] - end_us[ra_abs] / 1e6
    return ra


def _attempts_via_arrow(items: Sequence[Source]) -> AttemptTable | None:
    """The Arrow reader; None when the input must go to the row reader."""
    try:
        return _arrow_attempts(items)
    except (_NotPlain, pa.ArrowException):  # e.g. a string column over 2 GiB: rows reader
        return None


def _prepared(items: Sequence[Source], prepare: Callable[[bytes, int | None], _P]) -> Iterator[_P]:
    """``prepare(data, lines)`` per buffer, one buffer ahead in a worker thread: the byte checks
    of the next file run while Arrow parses this one (Arrow releases the GIL)."""
    buffers = _buffers(items)

    def step() -> _P | None:
        item = next(buffers, None)
        return None if item is None else prepare(*item)

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(step)
        while (result := future.result()) is not None:
            future = pool.submit(step)
            yield result


def _prepare_journal(data: bytes, lines: int | None) -> tuple[bytes, int, bool]:
    """Plain journal bytes, their rows, and whether explicit null request ids were rewritten."""
    text, rows = _plain(data, lines)
    del data
    rewritten = _RID_NULL[0] in text
    if rewritten:
        if b"\\u0000" in text:  # the rewritten null must not be a real request id
            raise _NotPlain
        text = text.replace(*_RID_NULL)
    return text, rows, rewritten


def _arrow_attempts(items: Sequence[Source]) -> AttemptTable:
    tables = []
    no_rid = 0
    untraced: list[I64] = []
    for text, rows, rewritten in _prepared(items, _prepare_journal):
        table = _read(text, rows, _ATTEMPT_SCHEMA)
        del text
        if table.column("request_id").null_count:  # a missing request_id
            raise _NotPlain
        if rewritten:
            traced = pc.not_equal(table.column("request_id"), _NULL_RID)
            no_rid += table.num_rows - pc.sum(traced).as_py()
            arrivals = table.filter(pc.invert(traced)).column("arrival_us").drop_null()
            untraced.append(_numpy(arrivals, np.int64))
            table = table.filter(traced)
        tables.append(table)
    table = pa.concat_tables(tables) if tables else _ATTEMPT_SCHEMA.empty_table()
    for name in _ATTEMPT_NOT_NULL:
        if table.column(name).null_count:
            raise _NotPlain
    version = table.column("v")  # a missing v is version 1; a null v is an error
    if version.null_count or pc.any(pc.not_equal(version, JOURNAL_FORMAT_VERSION)).as_py():
        raise _NotPlain
    fault_codes, fault_names = _encode(table.column("fault"))
    if not set(fault_names) <= FAULT_CODE.keys():
        raise _NotPlain
    fault_remap = np.array([FAULT_CODE[k] for k in fault_names], np.int32)
    rid, request_ids = _encode(table.column("request_id"))
    method, methods = _encode_upper(table.column("method"))
    path, paths = _encode(table.column("path"))
    replica, replicas = _encode(table.column("replica"))
    end_us = _numpy(table.column("end_us"), np.int64)
    return AttemptTable(
        rid=rid,
        method=method,
        path=path,
        status=_numpy(table.column("status"), np.int32),
        fault=fault_remap[fault_codes],
        arrival_us=_numpy(table.column("arrival_us"), np.int64),
        end_us=end_us,
        replica=replica,
        retry_after_s=_retry_after(table.column("retry_after"), end_us),
        idem=_flag(table.column("idempotency_key")),
        attempt=_numpy(table.column("attempt"), np.int32),
        client_gone=_numpy(pc.fill_null(table.column("client_gone"), False), bool),
        request_ids=tuple(request_ids),
        methods=methods,
        paths=tuple(paths),
        replicas=tuple(replicas),
        no_request_id=no_rid,
        untraced_arrival_us=np.concatenate(untraced) if untraced else np.zeros(0, np.int64),
    )


def _clients_via_arrow(items: Sequence[Source]) -> ClientTable | None:
    """The Arrow reader for client records; None when the row reader must decide."""
    try:
        return _arrow_clients(items)
    except (_NotPlain, pa.ArrowException):  # e.g. a string column over 2 GiB: rows reader
        return None


def _arrow_clients(items: Sequence[Source]) -> ClientTable:
    tables = [_read(text, rows, _CLIENT_SCHEMA) for text, rows in _prepared(items, _plain)]
    table = pa.concat_tables(tables) if tables else _CLIENT_SCHEMA.empty_table()
    for name in _CLIENT_NOT_NULL:
        if table.column(name).null_count:
            raise _NotPlain
    _, request_ids = _encode(table.column("request_id"))
    if len(request_ids) != table.num_rows:  # a duplicate: the row reader names both lines
        raise _NotPlain
    method, methods = _encode_upper(table.column("method"))
    return ClientTable(
        request_ids=tuple(request_ids),
        method=method,
        methods=methods,
        status=_numpy(table.column("status"), np.int32),
        error=tuple(table.column("error").to_pylist()),
        start_us=_numpy(table.column("start_us"), np.int64),
        end_us=_numpy(table.column("end_us"), np.int64),
        idem=_flag(table.column("idempotency_key")),
    )

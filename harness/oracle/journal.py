"""Loading journals and client records into numpy columns (the oracle's only input tables).

``load_attempts`` reads the backends' NDJSON journal (one :class:`AttemptRecord` per line) in
chunks with orjson and keeps only numpy columns, so a million attempts fit in a few hundred MB.
Strings (request ids, methods, paths, replicas) are factorised into integer codes with their
unique values kept once. Attempts without a request id cannot be traced: they are counted in
``AttemptTable.no_request_id`` and left out of the table.

``load_client_records`` does the same for the load generator's :class:`ClientRecord` lines.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from email.utils import parsedate_to_datetime
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

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

    def __len__(self) -> int:
        return int(self.rid.shape[0])

    def take(self, index: npt.NDArray[np.intp] | npt.NDArray[np.int64]) -> AttemptTable:
        """A table with the rows at ``index`` (same code books)."""
        cols: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            cols[f.name] = value[index] if isinstance(value, np.ndarray) else value
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
    name: str, rows: list[tuple[int, dict[str, Any]]], required: dict[str, type | tuple[type, ...]]
) -> BadInput:
    """Finds the first row that breaks ``required`` and describes it (slow path)."""
    for number, obj in rows:
        if not isinstance(obj, dict):
            return BadInput("each line must be a JSON object", file=name, line=number)
        for key, kind in required.items():
            if key not in obj:
                return BadInput("required field is missing", file=name, line=number, field=key)
            value = obj[key]
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
    with _gc_paused():
        return _load_attempts(sources)


def _load_attempts(sources: Iterable[Source] | Source) -> AttemptTable:
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
    for name, first, lines in _chunks(sources):
        objs = all_objs = _parse(name, first, lines)
        try:
            rids = list(map(itemgetter("request_id"), objs))
            if None in rids:
                n_all = len(objs)
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
            raise _bad_field(name, _rows(first, lines, all_objs), _ATTEMPT_REQUIRED) from exc

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
    """Loads client-record NDJSON (paths or lines) into a :class:`ClientTable`."""
    with _gc_paused():
        return _load_client_records(sources)


def _load_client_records(sources: Iterable[Source] | Source) -> ClientTable:
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
            cols["method"].extend(method_book.encode([o["method"].upper() for o in objs]))
            cols["status"].extend(NO_STATUS if o["status"] is None else o["status"] for o in objs)
            cols["start"].extend(o["start_us"] for o in objs)
            cols["end"].extend(o["end_us"] for o in objs)
            cols["idem"].extend(bool(o.get("idempotency_key")) for o in objs)
            errors.extend(o.get("error") for o in objs)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _bad_field(name, rows, _CLIENT_REQUIRED) from exc
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
    return ClientTable(
        request_ids=tuple(rids),
        method=np.array(cols["method"], np.int32),
        methods=method_book.values(),
        status=np.array(cols["status"], np.int32),
        error=tuple(errors),
        start_us=np.array(cols["start"], np.int64),
        end_us=np.array(cols["end"], np.int64),
        idem=np.array(cols["idem"], bool),
    )

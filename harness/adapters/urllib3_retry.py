"""urllib3 ``Retry`` adapter: a description of ``Retry(...)`` kwargs -> the canonical policy.

Input is either a YAML/JSON mapping of ``urllib3.util.Retry`` keyword arguments plus an optional
``timeout`` (seconds, a duration string, or ``{connect, read, total}`` like ``urllib3.Timeout``),
or a small Python file holding exactly one ``Retry(...)`` call with literal arguments (an optional
literal ``timeout=`` keyword on any call, e.g. ``PoolManager(retries=Retry(3), timeout=2.0)``).

Semantics (urllib3/urllib3 ``src/urllib3/util/retry.py`` and ``src/urllib3/connectionpool.py``
``HTTPConnectionPool.urlopen``, 2.x, read at 2.7.0 and checked against the installed 2.8.0;
https://urllib3.readthedocs.io/en/stable/reference/urllib3.util.html#urllib3.util.Retry):

* ``Retry()`` defaults: total=10, connect/read/status/other=None, allowed_methods =
  {HEAD, GET, PUT, DELETE, OPTIONS, TRACE}, status_forcelist=None, backoff_factor=0,
  backoff_max=120, backoff_jitter=0, respect_retry_after_header=True, retry_after_max=21600,
  raise_on_status=True. (``Retry.DEFAULT``, used when no Retry is given at all, is ``Retry(3)``:
  an omitted ``total`` here means ``Retry``'s own default 10.)
* Backoff before retry k: 0 for k = 1, else ``min(backoff_max, f * 2**(k-1) + U[0, jitter))``.
* Connect errors are retried for any method; read errors (timeouts, resets) and statuses only for
  ``allowed_methods``. A status is retried when in ``status_forcelist``, or when it is 413/429/503,
  carries Retry-After, ``total`` is truthy and ``respect_retry_after_header`` is set.
* Retry-After (clamped to ``retry_after_max``) replaces the backoff on any retried answer.
* Once ``total`` reaches 0, a 413/429/503 with Retry-After that is not in ``status_forcelist`` is
  no longer retried (``is_retry`` needs a truthy ``total``): ``urlopen`` returns that last answer
  instead of raising ``MaxRetryError``, whatever ``raise_on_status`` says.

Absent, empty and set are told apart as urllib3 does: ``allowed_methods`` absent is the default
set, ``None`` every method, ``[]`` every method too (urllib3 2.x warns that 3.0 will retry no
method); ``status_forcelist`` absent, ``None`` and ``[]`` all retry no status; ``total`` absent is
10, ``None`` leaves only the per-kind counters, ``0``/``False`` means no retry. Keyword arguments
urllib3 2.x does not take are refused with the one meant (``method_whitelist`` was renamed
``allowed_methods`` in 1.26 and removed in 2.0).

Folding the counters: the canonical policy has one retry limit, so ``max_retries`` is the
smallest limit that applies to an enabled trigger: ``min(total, connect, read, status)`` over
the counters that are set (``other`` and ``redirect`` do not concern the harness's faults). A
counter of 0 or ``False`` disables its trigger instead. When the counters differ, a note says
which kinds of failure urllib3 would retry more often than the policy states.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from harness.adapters._common import (
    LineMap,
    Value,
    bad_input_from_validation,
    fail,
    load_yaml_mapping,
    note_default,
    note_quirk,
    read_text,
)
from harness.adapters.base import AdaptedPolicy, AdapterContext, AdapterNote
from harness.policy.model import (
    Backoff,
    JitterModel,
    MethodRule,
    RetryAfterRule,
    RetryOn,
    RetryPolicy,
)

T = TypeVar("T")

SYSTEM = "urllib3"
_URLLIB3_SRC = "https://github.com/urllib3/urllib3/blob/2.8.0/src/urllib3/"
SOURCE = f"{_URLLIB3_SRC}util/retry.py"
SOURCE_URLOPEN = f"{_URLLIB3_SRC}connectionpool.py (HTTPConnectionPool.urlopen)"
RENAMED: dict[str, str] = {
    "method_whitelist": "allowed_methods was its name from urllib3 1.26; method_whitelist was "
    "removed in 2.0 (Retry() raises TypeError)",
    "DEFAULT_METHOD_WHITELIST": "allowed_methods (the class attribute "
    "DEFAULT_METHOD_WHITELIST is now DEFAULT_ALLOWED_METHODS; pass allowed_methods=...)",
    "BACKOFF_MAX": "backoff_max (a keyword argument since urllib3 2.0)",
}
"""Legacy names users paste from old guides -> what to write instead."""

DEFAULT_TOTAL = 10
DEFAULT_ALLOWED_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE"})
DEFAULT_BACKOFF_MAX = 120.0
DEFAULT_RETRY_AFTER_MAX = 21600.0
RETRY_AFTER_STATUS_CODES = frozenset({413, 429, 503})

# Positional order of Retry.__init__ in urllib3 2.x.
POSITIONAL = (
    "total",
    "connect",
    "read",
    "redirect",
    "status",
    "other",
    "allowed_methods",
    "status_forcelist",
    "backoff_factor",
    "backoff_max",
    "raise_on_redirect",
    "raise_on_status",
    "history",
    "respect_retry_after_header",
    "remove_headers_on_redirect",
    "backoff_jitter",
    "retry_after_max",
)
RETRY_KWARGS = frozenset(POSITIONAL) - {"history"}
ALLOWED_KEYS = RETRY_KWARGS | {"timeout"}
TIMEOUT_KEYS = ("total", "connect", "read")


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read a Retry description (YAML/JSON, or a ``.py`` file with one ``Retry(...)`` call)."""
    del context  # a client library: no upstream topology involved
    path = Path(path)
    if path.suffix == ".py":
        data, lines = parse_python_retry(path)
    else:
        data, lines = load_yaml_mapping(path)
    return adapt(data, file=path, lines=lines)


def adapt(data: Mapping[str, Any], *, file: Path, lines: LineMap | None = None) -> AdaptedPolicy:
    """The canonical policy of ``Retry(**data)`` (plus ``timeout``), with notes."""
    r = Value.document(data, file, lines)
    _refuse_unknown(r)
    notes: list[AdapterNote] = []

    def default(key: str, value: object, text: str | None = None) -> None:
        if not r.has(key):
            notes.append(note_default(key, value, text, source=SOURCE))

    total = _counter(r, "total", DEFAULT_TOTAL)
    default(
        "total",
        DEFAULT_TOTAL,
        "Retry() defaults to total=10; Retry.DEFAULT (used when no Retry is passed) is Retry(3)",
    )
    counters = {key: _counter(r, key, None) for key in ("connect", "read", "status", "other")}
    _counter(r, "redirect", None)
    factor = _read(r, "backoff_factor", 0.0, _non_negative)
    default("backoff_factor", 0, "no backoff: every retry is immediate")
    backoff_max = _read(r, "backoff_max", DEFAULT_BACKOFF_MAX, Value.as_duration)
    default("backoff_max", DEFAULT_BACKOFF_MAX)
    jitter = _read(r, "backoff_jitter", 0.0, _non_negative)
    default("backoff_jitter", 0.0)
    methods = _allowed_methods(r)
    default("allowed_methods", sorted(DEFAULT_ALLOWED_METHODS), "POST and PATCH are not retried")
    forcelist: frozenset[int] = _read(r, "status_forcelist", frozenset(), Value.as_statuses)
    default("status_forcelist", None, "no status is retried unless it carries Retry-After")
    respect_ra = _read(r, "respect_retry_after_header", True, Value.as_bool)
    default("respect_retry_after_header", True)
    ra_max = _read(r, "retry_after_max", DEFAULT_RETRY_AFTER_MAX, Value.as_duration)
    default("retry_after_max", DEFAULT_RETRY_AFTER_MAX)
    raise_on_status = _read(r, "raise_on_status", True, Value.as_bool)
    default("raise_on_status", True)
    _read(r, "raise_on_redirect", True, Value.as_bool)
    per_try = _timeout(r)

    read_on = counters["read"] is not False and counters["read"] != 0
    connect_on = counters["connect"] is not False and counters["connect"] != 0
    status_on = counters["status"] is not False and counters["status"] != 0
    limits = {"total": 0 if total is False else total}
    for key, enabled in (("connect", connect_on), ("read", read_on), ("status", status_on)):
        value = counters[key]
        if enabled and isinstance(value, int) and not isinstance(value, bool):
            limits[key] = value
    set_limits = {k: v for k, v in limits.items() if v is not None}
    if not set_limits:
        fail(
            "total and every per-kind counter are None: urllib3 would retry forever; "
            "the harness needs a finite limit",
            file=file,
            field="total",
            line=r.child("total", None).line,
        )
    max_retries = min(set_limits.values())
    makes_retryable = bool(total) and respect_ra

    retry_after_statuses = forcelist | RETRY_AFTER_STATUS_CODES
    try:
        policy = RetryPolicy(
            system=SYSTEM,
            max_retries=max_retries,
            retry_on=RetryOn(
                statuses=forcelist if status_on else frozenset(),
                connect_failure=connect_on,
                reset=read_on,
                per_try_timeout=read_on and per_try is not None,
            ),
            methods=MethodRule(retryable=methods, connect_failure_any_method=True),
            backoff=Backoff(
                base_s=factor,
                multiplier=2.0,
                cap_s=backoff_max,
                jitter=JitterModel.ADDITIVE if jitter > 0 else JitterModel.NONE,
                jitter_s=jitter,
                first_retry_waits=False,
            ),
            per_try_timeout_s=per_try,
            retry_after=RetryAfterRule(
                honoured=respect_ra,
                statuses=retry_after_statuses,
                max_s=ra_max,
                replaces_backoff=True,
                makes_retryable=makes_retryable and status_on,
            ),
        )
    except ValidationError as err:  # pragma: no cover - the reader validated every field
        raise bad_input_from_validation(err, file=file) from None

    notes.extend(_allowed_methods_notes(r, methods))
    notes.extend(_quirks(set_limits, max_retries, total, methods, raise_on_status, respect_ra))
    return AdaptedPolicy(system=SYSTEM, source_file=str(file), policy=policy, notes=notes)


def _refuse_unknown(r: Value) -> None:
    """BadInput for a keyword urllib3 2.x does not take, naming the one most likely meant."""
    for key in r.mapping():
        if key in ALLOWED_KEYS:
            continue
        name = str(key)
        if name in RENAMED:
            meant = RENAMED[name].split(" ", 1)[0]
            raise r.child(name, r.data[name]).error(
                f"not a urllib3 2.x Retry argument: use {meant} ({RENAMED[name]})"
            )
        close = difflib.get_close_matches(name, sorted(ALLOWED_KEYS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise r.child(name, r.data[name]).error(
            f"not a urllib3 2.x Retry argument ({hint}allowed: {', '.join(sorted(ALLOWED_KEYS))})"
        )


def _quirks(
    limits: Mapping[str, int],
    max_retries: int,
    total: int | bool | None,
    methods: frozenset[str] | None,
    raise_on_status: bool,
    respect_ra: bool,
) -> list[AdapterNote]:
    notes = [
        note_quirk(
            "backoff_factor",
            "the first retry does not wait: delays are 0, 2f, 4f, 8f ... (capped at backoff_max, "
            "the cap applied after adding backoff_jitter)",
            source=SOURCE,
        ),
        note_quirk(
            "connect",
            "connect errors (request never sent) are retried for any method, POST included",
            source=SOURCE,
        ),
    ]
    if methods == DEFAULT_ALLOWED_METHODS:
        notes.append(
            note_quirk(
                "allowed_methods",
                "POST and PATCH are excluded by default: their read errors and statuses are "
                "not retried",
                source=SOURCE,
            )
        )
    if respect_ra:
        notes.append(
            note_quirk(
                "respect_retry_after_header",
                "Retry-After replaces the backoff (not max of both) on any retried answer, "
                "clamped to retry_after_max; a value of 0 falls back to the backoff"
                + (
                    "; 413/429/503 carrying Retry-After are retried even when not in "
                    "status_forcelist"
                    if total
                    else "; total is not a positive integer, so Retry-After alone does not "
                    "make 413/429/503 retryable"
                ),
                source=SOURCE,
            )
        )
    if raise_on_status:
        notes.append(
            note_quirk(
                "raise_on_status",
                "when retries run out on a status in status_forcelist the client gets "
                "MaxRetryError, not the last answer",
                source=SOURCE_URLOPEN,
            )
        )
    if respect_ra and total:
        notes.append(
            note_quirk(
                "respect_retry_after_header",
                "once total reaches 0, a 413/429/503 with Retry-After that is not in "
                "status_forcelist is no longer retried and urlopen RETURNS it (no "
                "MaxRetryError, whatever raise_on_status says): is_retry needs a truthy total",
                source=f"{SOURCE} (Retry.is_retry); {SOURCE_URLOPEN}",
            )
        )
    looser = sorted(k for k, v in limits.items() if v > max_retries)
    if looser and len(limits) > 1:
        text = ", ".join(f"{k}={v}" for k, v in sorted(limits.items()))
        notes.append(
            note_quirk(
                "total",
                f"per-kind counters folded into one limit: max_retries = min({text}) = "
                f"{max_retries}; a request failing only in ways counted by "
                f"{', '.join(looser)} may be retried more often by urllib3",
                source=SOURCE,
            )
        )
    return notes


def _counter(r: Value, key: str, default: int | None) -> int | bool | None:
    """A Retry counter: a non-negative int, False (disabled) or None (no limit of its own)."""
    if key not in r.data:
        return default
    value = r.data[key]
    if value is None:
        return None
    if value is False:
        return False
    if value is True or not isinstance(value, int) or value < 0:
        raise r.child(key, value).error(f"must be an integer >= 0, false or null (got {value!r})")
    return value


def _allowed_methods(r: Value) -> frozenset[str] | None:
    """allowed_methods as upper-case names; None, False or empty means every method."""
    if "allowed_methods" not in r.data:
        return DEFAULT_ALLOWED_METHODS
    value = r.data["allowed_methods"]
    if value is None or value is False:
        return None
    if not isinstance(value, list | tuple | set | frozenset):
        raise r.child("allowed_methods", value).error(
            f"must be a list of HTTP methods or null (got {value!r})"
        )
    if not value:  # urllib3 2.x: an empty collection retries every method (with a warning)
        return None
    out = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise r.child("allowed_methods", value).error(
                f"must contain method names (got {item!r})"
            )
        if item == item.upper():  # urllib3 compares method.upper() with the names as written
            out.add(item)
    return frozenset(out)


def _allowed_methods_notes(r: Value, methods: frozenset[str] | None) -> list[AdapterNote]:
    """What an empty or lower-case ``allowed_methods`` really does."""
    value = r.data.get("allowed_methods")
    if not isinstance(value, list | tuple | set | frozenset):
        return []
    if not value:
        return [
            note_quirk(
                "allowed_methods",
                "empty: urllib3 2.x retries EVERY method (POST too), like None, and warns that "
                "3.0 will retry none; write null for every method",
                source=f"{SOURCE} (Retry._is_method_retryable)",
            )
        ]
    ignored = sorted(str(m) for m in value if isinstance(m, str) and m != m.upper())
    if ignored:
        kept = ", ".join(sorted(methods or ())) or "none"
        return [
            note_quirk(
                "allowed_methods",
                f"{', '.join(ignored)} match no request: urllib3 compares method.upper() with "
                f"the names as written, so only upper-case names count (retried: {kept})",
                source=f"{SOURCE} (Retry._is_method_retryable)",
            )
        ]
    return []


def _timeout(r: Value) -> float | None:
    """Per-attempt timeout in seconds: a number/duration, or Timeout-like {total, connect, read}.

    With a mapping the attempt is abandoned after ``total`` if set, else after ``read`` (a hang
    happens after the connection is made); ``connect`` alone bounds no hang.
    """
    value = r.get("timeout")
    if value is None:
        return None
    if isinstance(value.data, dict):
        value.check_fields(frozenset(TIMEOUT_KEYS))
        parts = {k: _read(value, k, None, _positive_duration) for k in TIMEOUT_KEYS}
        chosen = parts["total"] if parts["total"] is not None else parts["read"]
        return float(chosen) if chosen is not None else None
    return _positive_duration(value)


def _read(r: Value, key: str, default: T, read: Callable[[Value], T]) -> T:
    """``read`` of the field ``key``, or ``default`` when it is absent or null."""
    value = r.get(key)
    return default if value is None else read(value)


def _non_negative(value: Value) -> float:
    return value.as_float(minimum=0)


def _positive_duration(value: Value) -> float:
    return value.as_duration(allow_zero=False)


# --- Python source: one literal Retry(...) call -------------------------------------------


def _is_named(func: ast.expr, name: str) -> bool:
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def _literal(node: ast.expr, *, file: Path, field: str) -> Any:
    """A literal value; ``frozenset({...})`` / ``set([...])`` / ``tuple(...)`` are accepted."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("frozenset", "set", "tuple", "list")
        and len(node.args) <= 1
        and not node.keywords
    ):
        return list(_literal(node.args[0], file=file, field=field)) if node.args else []
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        fail(
            f"must be a literal (number, string, list, set, True/False/None), "
            f"got `{ast.unparse(node)}`",
            file=file,
            field=field,
            line=node.lineno,
        )
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr)
    return value


def parse_python_retry(path: Path) -> tuple[dict[str, Any], LineMap]:
    """The kwargs of the single ``Retry(...)`` call in a Python file, with their lines."""
    text = read_text(path)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as err:
        fail(f"invalid Python: {err.msg}", file=path, line=err.lineno)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_named(n.func, "Retry")]
    if len(calls) != 1:
        where = ", ".join(f"line {c.lineno}" for c in calls)
        fail(
            f"expected exactly one Retry(...) call, found {len(calls)}"
            + (f" ({where})" if where else ""),
            file=path,
            line=calls[1].lineno if len(calls) > 1 else None,
        )
    call = calls[0]
    data: dict[str, Any] = {}
    lines: dict[tuple[str | int, ...], int] = {(): call.lineno}
    if len(call.args) > len(POSITIONAL):
        fail("too many positional arguments to Retry", file=path, line=call.lineno)
    for name, arg in zip(POSITIONAL, call.args, strict=False):
        data[name] = _literal(arg, file=path, field=name)
        lines[(name,)] = arg.lineno
    for kw in call.keywords:
        if kw.arg is None:
            fail("**kwargs cannot be read; write the arguments out", file=path, line=kw.lineno)
        if kw.arg in data:
            fail("given twice", file=path, field=kw.arg, line=kw.lineno)
        data[kw.arg] = _literal(kw.value, file=path, field=kw.arg)
        lines[(kw.arg,)] = kw.value.lineno
    if "history" in data:
        fail("history is internal state; leave it out", file=path, field="history", line=None)
    timeout = _python_timeout(tree, path)
    if timeout is not None:
        value, line = timeout
        data["timeout"] = value
        lines[("timeout",)] = line
    return data, LineMap(lines)


def _python_timeout(tree: ast.AST, path: Path) -> tuple[Any, int] | None:
    """A literal ``timeout=`` keyword on some call (a number or ``Timeout(...)``), if any."""
    found: list[tuple[Any, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _is_named(node.func, "Retry"):
            continue
        for kw in node.keywords:
            if kw.arg != "timeout":
                continue
            v = kw.value
            if isinstance(v, ast.Call) and _is_named(v.func, "Timeout"):
                if v.args:
                    fail("pass Timeout(...) arguments by name", file=path, line=v.lineno)
                parts = {
                    k.arg: _literal(k.value, file=path, field=f"timeout.{k.arg}")
                    for k in v.keywords
                    if k.arg is not None
                }
                found.append((parts, v.lineno))
            else:
                found.append((_literal(v, file=path, field="timeout"), v.lineno))
    if len(found) > 1:
        fail("more than one timeout= keyword; keep one", file=path, line=found[1][1])
    return found[0] if found else None

"""KubeRay APIServer adapter: HTTP_CLIENT_* env vars in Helm values or manifests -> policy.

Reads a Helm values file or Kubernetes manifests (multi-document YAML) and collects the
``HTTP_CLIENT_*`` variables from every ``env`` it finds: container ``env:`` lists of
``{name, value}`` (Deployment, StatefulSet, Pod ...) or Helm-style ``env:`` mappings
``{NAME: value}`` at any depth (``apiserver.env``, ``env`` ...). The same variable set twice with
different values is an error naming both lines.

Facts (retry-semantics.md §1; ray-project/kuberay@feeaf72f ``apiserversdk/util/config.go``,
``apiserversdk/util/http.go``, ``apiserversdk/proxy.go``, ``apiserversdk/docs/retry-behavior.md``):

* Defaults: max retry 3, backoff factor 2, initial backoff 500 ms, max backoff 10 s, overall
  timeout 30 s. Delay before retry k: ``min(init * int(factor**(k-1)), max)`` (the exponent is
  truncated to an integer before multiplying: factor 1.5 gives 0.5, 0.5, 1.0, 1.5 s). No jitter.
* Retried statuses: 408, 429, 500, 502, 503, 504, for every method (the body is replayed).
  Transport errors (connect refused, reset, timeout) are returned at once; Retry-After is ignored.
* One overall deadline spans all attempts; a backoff that would overrun it is not slept: the
  proxy gives up at once, and the client then sees 502 Bad Gateway.
* **These env vars are not read by KubeRay's code** (as of v1.5.0 the retry configuration is
  hard-coded): the policy states what the file declares, and a note says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.adapters._common import (
    KeyPath,
    bad_input_from_validation,
    dotted,
    fail,
    load_yaml_documents,
    note_default,
    note_quirk,
    parse_duration,
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

SYSTEM = "kuberay"
SOURCE = "ray-project/kuberay@feeaf72f apiserversdk/{util/config.go,util/http.go,proxy.go}"
DOC_SOURCE = "ray-project/kuberay apiserversdk/docs/retry-behavior.md; retry-semantics.md §1.1"

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
PREFIX = "HTTP_CLIENT_"
MAX_RETRY = "HTTP_CLIENT_MAX_RETRY"
BACKOFF_FACTOR = "HTTP_CLIENT_BACKOFF_FACTOR"
INIT_BACKOFF_MS = "HTTP_CLIENT_INIT_BACKOFF_MS"
MAX_BACKOFF_MS = "HTTP_CLIENT_MAX_BACKOFF_MS"
OVERALL_TIMEOUT_MS = "HTTP_CLIENT_OVERALL_TIMEOUT_MS"
KNOWN_VARS = (MAX_RETRY, BACKOFF_FACTOR, INIT_BACKOFF_MS, MAX_BACKOFF_MS, OVERALL_TIMEOUT_MS)

DEFAULT_MAX_RETRY = 3
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_INIT_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 10.0
DEFAULT_OVERALL_TIMEOUT_S = 30.0


class _EnvValue:
    """One variable's value and where it was found."""

    def __init__(self, value: Any, where: KeyPath, line: int | None) -> None:
        self.value = value
        self.where = where
        self.line = line


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read HTTP_CLIENT_* env vars from Helm values or manifests in ``path``."""
    del context  # retries go to the same URL: topology does not matter
    path = Path(path)
    found = collect_env(path)
    return adapt(found, file=path)


def _env_entries(value: Any, path: KeyPath) -> Iterator[tuple[str, Any, KeyPath]]:
    """(name, value, key path of the value) of one ``env`` node (list or mapping)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                if "value" in item:
                    yield item["name"], item["value"], (*path, i, "value")
                elif "valueFrom" in item:
                    yield item["name"], _VALUE_FROM, (*path, i, "valueFrom")
                else:
                    yield item["name"], None, (*path, i)
    elif isinstance(value, dict):
        for name, v in value.items():
            if isinstance(name, str) and not isinstance(v, dict | list):
                yield name, v, (*path, name)
            elif isinstance(name, str) and isinstance(v, dict) and "valueFrom" in v:
                yield name, _VALUE_FROM, (*path, name)


_VALUE_FROM = object()


def _walk(node: Any, path: KeyPath) -> Iterator[tuple[str, Any, KeyPath]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env":
                yield from _env_entries(value, (*path, key))
            else:
                yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, (*path, i))


def collect_env(path: Path) -> dict[str, _EnvValue]:
    """Every HTTP_CLIENT_* variable in the file; conflicting duplicates raise BadInput."""
    docs = load_yaml_documents(path)
    found: dict[str, _EnvValue] = {}
    for doc_index, (doc, lines) in enumerate(docs):
        for name, value, where in _walk(doc, ()):
            if not name.startswith(PREFIX):
                continue
            field = _field_name(doc_index, len(docs), where)
            line = lines.line(*where)
            if value is _VALUE_FROM:
                fail(
                    f"{name} comes from valueFrom (a Secret/ConfigMap); write the value inline "
                    "so the harness can read it",
                    file=path,
                    field=field,
                    line=line,
                )
            if value is None:
                fail(f"{name} has no value", file=path, field=field, line=line)
            previous = found.get(name)
            if previous is not None and str(previous.value) != str(value):
                fail(
                    f"{name} is set twice with different values ({previous.value!r} at line "
                    f"{previous.line}, {value!r} here)",
                    file=path,
                    field=field,
                    line=line,
                )
            if previous is None:
                found[name] = _EnvValue(value, where, line)
    return found


def _field_name(doc_index: int, n_docs: int, where: KeyPath) -> str:
    name = dotted(where)
    return f"document[{doc_index}].{name}" if n_docs > 1 else name


def _number(
    found: dict[str, _EnvValue], name: str, *, file: Path, integer: bool
) -> float | int | None:
    entry = found.get(name)
    if entry is None:
        return None
    raw = entry.value
    text = str(raw).strip() if not isinstance(raw, bool) else ""
    try:
        number: float | int = int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        fail(f"must be {kind} (got {raw!r})", file=file, field=name, line=entry.line)
    if not math.isfinite(number):
        fail(f"must be finite (got {raw!r})", file=file, field=name, line=entry.line)
    return number


def _millis(
    found: dict[str, _EnvValue], name: str, *, file: Path, allow_zero: bool = True
) -> float | None:
    """Milliseconds as a plain number ("500") or a Go duration ("500ms", "10s") -> seconds."""
    entry = found.get(name)
    if entry is None:
        return None
    raw = entry.value
    return parse_duration(
        raw if isinstance(raw, int | float | bool) else str(raw),
        file=file,
        field=name,
        line=entry.line,
        unit_s=1e-3,
        allow_zero=allow_zero,
    )


def adapt(found: dict[str, _EnvValue], *, file: Path) -> AdaptedPolicy:
    """The canonical policy for the collected variables, defaults filled and noted."""
    notes: list[AdapterNote] = []
    for name in sorted(set(found) - set(KNOWN_VARS)):
        notes.append(note_quirk(name, "not a KubeRay retry variable; ignored", source=DOC_SOURCE))

    max_retry = _number(found, MAX_RETRY, file=file, integer=True)
    if max_retry is not None and max_retry < 0:
        fail(
            f"must be >= 0 (got {max_retry})",
            file=file,
            field=MAX_RETRY,
            line=found[MAX_RETRY].line,
        )
    factor = _number(found, BACKOFF_FACTOR, file=file, integer=False)
    if factor is not None and factor < 1:
        fail(
            f"must be >= 1 (got {factor}); a factor below 1 would shrink the backoff",
            file=file,
            field=BACKOFF_FACTOR,
            line=found[BACKOFF_FACTOR].line,
        )
    init = _millis(found, INIT_BACKOFF_MS, file=file)
    cap = _millis(found, MAX_BACKOFF_MS, file=file)
    overall = _millis(found, OVERALL_TIMEOUT_MS, file=file, allow_zero=False)
    defaults: list[tuple[str, object, object]] = [
        (MAX_RETRY, max_retry, DEFAULT_MAX_RETRY),
        (BACKOFF_FACTOR, factor, DEFAULT_BACKOFF_FACTOR),
        (INIT_BACKOFF_MS, init, "500ms"),
        (MAX_BACKOFF_MS, cap, "10s"),
        (OVERALL_TIMEOUT_MS, overall, "30s"),
    ]
    for name, value, default in defaults:
        if value is None:
            notes.append(note_default(name, default, source=SOURCE))
    max_retry_v = int(max_retry) if max_retry is not None else DEFAULT_MAX_RETRY
    factor_v = float(factor) if factor is not None else DEFAULT_BACKOFF_FACTOR
    init_v = init if init is not None else DEFAULT_INIT_BACKOFF_S
    cap_v = cap if cap is not None else DEFAULT_MAX_BACKOFF_S
    overall_v = overall if overall is not None else DEFAULT_OVERALL_TIMEOUT_S
    if cap_v < init_v:
        fail(
            f"max backoff {cap_v:g}s is below the initial backoff {init_v:g}s",
            file=file,
            field=MAX_BACKOFF_MS if cap is not None else INIT_BACKOFF_MS,
            line=(found.get(MAX_BACKOFF_MS) or found.get(INIT_BACKOFF_MS) or _NOWHERE).line,
        )
    try:
        policy = RetryPolicy(
            system=SYSTEM,
            max_retries=max_retry_v,
            retry_on=RetryOn(statuses=RETRYABLE_STATUSES),
            methods=MethodRule(retryable=None),
            backoff=Backoff(
                base_s=init_v,
                multiplier=factor_v,
                cap_s=cap_v,
                jitter=JitterModel.NONE,
                integer_exponent=True,
            ),
            deadline_s=overall_v,
            deadline_precheck=True,
            retry_after=RetryAfterRule(honoured=False),
        )
    except ValidationError as err:  # pragma: no cover - values were checked above
        raise bad_input_from_validation(err, file=file) from None
    notes.extend(_quirks(found, factor_v, init_v))
    return AdaptedPolicy(system=SYSTEM, source_file=str(file), policy=policy, notes=notes)


_NOWHERE = _EnvValue(None, (), None)


def _quirks(found: dict[str, _EnvValue], factor: float, init: float) -> list[AdapterNote]:
    declared = [n for n in KNOWN_VARS if n in found]
    hard_coded = (
        "KubeRay does not read these env vars: as of v1.5.0 the retry configuration is "
        "hard-coded (3 retries, factor 2, 500ms, 10s, 30s). They appear only in a draft doc "
        "(PR #4144) that was withdrawn"
    )
    if declared:
        hard_coded += (
            f"; the declared {', '.join(declared)} will have no effect, so expect the harness to "
            "measure the hard-coded behaviour"
        )
    notes = [
        note_quirk("HTTP_CLIENT_*", hard_coded, source=DOC_SOURCE),
        note_quirk(
            "retry_on",
            "only 408, 429, 500, 502, 503, 504 are retried, for every method (POST included; the "
            "body is replayed); transport errors (connect refused, reset, timeout) are not retried",
            source=SOURCE,
        ),
        note_quirk(
            BACKOFF_FACTOR,
            "no jitter; Retry-After is ignored; no per-try timeout",
            source=SOURCE,
        ),
        note_quirk(
            OVERALL_TIMEOUT_MS,
            "one deadline covers all attempts; when the next backoff would overrun it the proxy "
            "gives up at once without sleeping, and the client sees 502 Bad Gateway instead of "
            "the upstream status",
            source=SOURCE,
        ),
    ]
    if factor != int(factor):
        schedule = ", ".join(f"{init * int(factor ** (k - 1)):g}s" for k in range(1, 5))
        notes.append(
            note_quirk(
                BACKOFF_FACTOR,
                f"factor {factor:g} is truncated: int(factor**(k-1)) multiplies the initial "
                f"backoff, giving {schedule} for retries 1-4",
                source=SOURCE,
            )
        )
    return notes


__all__ = ["SYSTEM", "adapt", "collect_env", "load"]

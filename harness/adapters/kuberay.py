"""KubeRay APIServer adapter: the V2 proxy's hard-coded retry policy, and what a file declares.

KubeRay's APIServer (V2, ``apiserversdk``) retries the requests it proxies with a retry
configuration that is hard-coded: ``newRetryRoundTripper`` always uses the constants of
``apiserversdk/util/config.go``, and its retry guide says "As of v1.5.0, the retry configuration
is hard-coded and cannot be customized". So the declared policy is always that one:

* 3 retries, delay before retry k ``min(500 ms * int(2**(k-1)), 10 s)`` (0.5, 1, 2 s), no
  jitter; one 30 s deadline over all attempts, and a backoff that would overrun it is not slept:
  the proxy gives up at once and the client sees 502 Bad Gateway;
* retried statuses 408, 429, 500, 502, 503, 504, for every method (the body is replayed);
  transport errors (connect refused, reset, timeout) are returned at once; Retry-After is
  ignored.

The file read is a Helm values file or Kubernetes manifests. ``HTTP_CLIENT_*`` variables in any
``env`` (container ``env:`` lists of ``{name, value}`` or Helm-style ``env:`` mappings at any
depth) are named only in a draft of that guide (commit 30234a2b, removed again by 14638bde)
and were never read by any KubeRay code: the
Kubernetes API accepts them, KubeRay ignores them. They are reported, with their values, in a
note saying they have no effect, and the policy stays the hard-coded one (a file with no such
variable gives the same policy). Their values are not checked: nothing reads them.

Sources (ray-project/kuberay@feeaf72f): ``apiserversdk/util/config.go`` (constants),
``apiserversdk/util/http.go`` (GetRetryBackoff, IsRetryableHTTPStatusCodes,
CheckContextDeadline), ``apiserversdk/proxy.go`` (newRetryRoundTripper, RoundTrip),
``apiserversdk/docs/retry-behavior.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.adapters._common import (
    KeyPath,
    dotted,
    load_yaml_documents,
    note,
    note_quirk,
)
from harness.adapters._gateway_common import github
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

_REPO = "ray-project/kuberay"
_SHA = "feeaf72facab4881ba2b179248bb67315634e229"
HTTP_SOURCE = github(_REPO, _SHA, "apiserversdk/util/http.go", "GetRetryBackoff")
PROXY_SOURCE = github(_REPO, _SHA, "apiserversdk/proxy.go", "retryRoundTripper")
DOC_SOURCE = github(_REPO, _SHA, "apiserversdk/docs/retry-behavior.md")

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
PREFIX = "HTTP_CLIENT_"
MAX_RETRY = "HTTP_CLIENT_MAX_RETRY"
BACKOFF_FACTOR = "HTTP_CLIENT_BACKOFF_FACTOR"
INIT_BACKOFF_MS = "HTTP_CLIENT_INIT_BACKOFF_MS"
MAX_BACKOFF_MS = "HTTP_CLIENT_MAX_BACKOFF_MS"
OVERALL_TIMEOUT_MS = "HTTP_CLIENT_OVERALL_TIMEOUT_MS"
KNOWN_VARS = (MAX_RETRY, BACKOFF_FACTOR, INIT_BACKOFF_MS, MAX_BACKOFF_MS, OVERALL_TIMEOUT_MS)

# apiserversdk/util/config.go: the values newRetryRoundTripper always uses
DEFAULT_MAX_RETRY = 3
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_INIT_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 10.0
DEFAULT_OVERALL_TIMEOUT_S = 30.0

_VALUE_FROM = "<valueFrom>"


class EnvValue:
    """One ``HTTP_CLIENT_*`` variable as written in the file, and where."""

    def __init__(self, name: str, value: Any, field: str, line: int | None) -> None:
        self.name = name
        self.value = value
        self.field = field
        self.line = line


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """The hard-coded policy, with notes on any ``HTTP_CLIENT_*`` variable ``path`` sets."""
    del context  # retries go to the same URL: topology does not matter
    path = Path(path)
    return adapt(collect_env(path), file=path)


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


def collect_env(path: Path) -> list[EnvValue]:
    """Every ``HTTP_CLIENT_*`` variable in the file, in order (BadInput on malformed YAML)."""
    docs = load_yaml_documents(path)
    found: list[EnvValue] = []
    for doc_index, (doc, lines) in enumerate(docs):
        for name, value, where in _walk(doc, ()):
            if name.startswith(PREFIX):
                field = dotted(where)
                if len(docs) > 1:
                    field = f"document[{doc_index}].{field}"
                found.append(EnvValue(name, value, field, lines.line(*where)))
    return found


def hard_coded_policy() -> RetryPolicy:
    """The V2 proxy's retry policy (newRetryRoundTripper with the config.go constants)."""
    return RetryPolicy(
        system=SYSTEM,
        max_retries=DEFAULT_MAX_RETRY,
        retry_on=RetryOn(statuses=RETRYABLE_STATUSES),
        methods=MethodRule(retryable=None),
        backoff=Backoff(
            base_s=DEFAULT_INIT_BACKOFF_S,
            multiplier=DEFAULT_BACKOFF_FACTOR,
            cap_s=DEFAULT_MAX_BACKOFF_S,
            jitter=JitterModel.NONE,
            integer_exponent=True,
        ),
        deadline_s=DEFAULT_OVERALL_TIMEOUT_S,
        deadline_cuts_attempts=True,
        deadline_precheck=True,
        retry_after=RetryAfterRule(honoured=False),
    )


def adapt(found: list[EnvValue], *, file: Path) -> AdaptedPolicy:
    """The hard-coded policy, the notes saying so, and one note per variable without effect."""
    notes: list[AdapterNote] = [
        note(
            kind="default",
            field="retry configuration",
            text="KubeRay's APIServer hard-codes its retry configuration: 3 retries, backoff "
            "factor 2, initial backoff 500 ms, max backoff 10 s, overall timeout 30 s "
            "(newRetryRoundTripper always uses the config.go constants; its retry guide: "
            '"As of v1.5.0, the retry configuration is hard-coded and cannot be customized")',
            source=PROXY_SOURCE,
        )
    ]
    for entry in found:
        shown = entry.value if entry.value is not _VALUE_FROM else "a valueFrom reference"
        where = f" (line {entry.line})" if entry.line is not None else ""
        known = entry.name in KNOWN_VARS
        why = (
            "it is named only in a draft of KubeRay's retry guide (added by commit 30234a2b, "
            "removed by 14638bde) and no KubeRay code reads it"
            if known
            else "not a KubeRay variable"
        )
        notes.append(
            note_quirk(
                entry.field,
                f"{entry.name}={shown!r}{where} has no effect: {why}; the APIServer keeps its "
                "hard-coded retry configuration, which is the declared policy",
                source=DOC_SOURCE,
            )
        )
    notes.extend(
        [
            note_quirk(
                "retry_on",
                "only 408, 429, 500, 502, 503, 504 are retried, for every method (POST "
                "included; the body is replayed); transport errors (connect refused, reset, "
                "timeout) are not retried",
                source=HTTP_SOURCE,
            ),
            note_quirk(
                "backoff",
                "delay before retry k is min(500ms * int(2^(k-1)), 10s): 0.5, 1, 2 s; no "
                "jitter; Retry-After is ignored; no per-try timeout",
                source=HTTP_SOURCE,
            ),
            note_quirk(
                "deadline",
                "one 30 s deadline covers all attempts; when the next backoff would overrun it "
                "the proxy gives up at once without sleeping, and the client sees 502 Bad "
                "Gateway instead of the upstream status",
                source=PROXY_SOURCE,
            ),
        ]
    )
    return AdaptedPolicy(
        system=SYSTEM, source_file=str(file), policy=hard_coded_policy(), notes=notes
    )


__all__ = ["SYSTEM", "adapt", "collect_env", "hard_coded_policy", "load"]

"""Adapter: a Caddy 2.6 config (a ``Caddyfile`` template or Caddy's JSON) -> :class:`RetryPolicy`.

Owns the reading of Caddy configs through Caddy's own parser and the mapping of the
``reverse_proxy`` handler's load-balancing retry settings:

- a Caddyfile is turned into Caddy's JSON by ``caddy adapt --adapter caddyfile`` (so snippets,
  ``import`` of files and globs relative to the importing file, and every directive are read by
  Caddy itself); ``{{placeholders}}`` of the harness are rendered first (the rendered copy sits
  in a temporary folder whose entries link to the Caddyfile's folder, so relative imports still
  resolve). A value of the adapted JSON that is refused names its Caddyfile line only when
  that line is certain (:mod:`harness.adapters.caddyfile_lines`). Without the ``caddy`` binary
  a Caddyfile is refused with the install command; a JSON config (``.json``, or text starting
  with ``{`` that parses as JSON) is read without it.
- the first ``reverse_proxy`` handler (in server, route and subroute order) is read:
  ``load_balancing.retries`` (``lb_retries``) -> ``max_retries``; ``try_duration``
  (``lb_try_duration``) -> ``deadline_s`` (measured from the handler start, attempts included);
  ``try_interval`` (``lb_try_interval``) -> a fixed delay (multiplier 1, no jitter, also before
  retry 1), whose default is 250ms **only if** try_duration > 0, otherwise 0;
  ``retry_match`` (``lb_retry_match``) -> the methods retried after a connection was made
  (default: GET only); dial errors are retried for any method; a completed round trip ends the
  loop, so **no status code is ever retried**.

Not judged (``RetryPolicy.not_judged``), aspect METHODS: a ``retry_match`` matcher set that
tests anything but the method (path, header, expression ...); and a ``retry_match`` admitting
POST/PUT/PATCH: Caddy 2.6.2 retries such a request after a reset only when it has no body (a
finding of this harness, ``tests/integration/suts/test_proxy_notes_live.py``). Aspects
MAX_RETRIES and UPSTREAM (and BACKOFF when retries wait): passive health checks
(``fail_duration``, ``max_fails``, ``unhealthy_*``), which skip failed upstreams at run time,
and without ``fail_duration`` make Caddy 2.6 answer every request 503 itself; active health
checks (``health_uri``/``health_port``), which skip an upstream whose last probe failed.
Aspects MAX_RETRIES, UPSTREAM and BACKOFF: a static upstream with a literal address instead of
a harness placeholder (not a harness backend: Caddy's attempts to it reach no journal; see
:func:`_foreign_upstreams`).

Sources: caddyserver/caddy tag v2.6.4 ``modules/caddyhttp/reverseproxy/reverseproxy.go``
(LoadBalancing, tryAgain, Provision) and ``modules/caddyhttp/reverseproxy/caddyfile.go``;
https://caddyserver.com/docs/caddyfile/directives/reverse_proxy (load balancing subdirectives),
https://caddyserver.com/docs/json/apps/http/servers/routes/handle/reverse_proxy/ and
https://caddyserver.com/docs/caddyfile/directives/import.

Two findings of this harness against Caddy 2.6.2 are added as quirk notes (the declared policy
stays what the config and the docs say): with upstream keep-alive on (the default), Go's HTTP
transport replays an idempotent request on a reset reused connection by itself, on the same
upstream and outside ``lb_retries``/``lb_try_interval`` (``scenarios/caddy-keepalive-hidden-
retries.yaml``; ``keepalive off`` removes it); and ``lb_try_duration`` is checked before the
``lb_try_interval`` sleep, so the last attempt may start up to one interval after the try
duration (``scenarios/deadline.yaml``).

The smallest ``request_body`` ``max_size`` every request meets before that reverse_proxy is the
SUT's body limit (``AdaptedPolicy.body_limit``, see :func:`_body_limit`): a scenario whose load
sends a larger body is refused before anything starts (``harness.run.declared_policy``).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.adapters._common import note
from harness.adapters.base import (
    FOREIGN_SERVER_ASPECTS,
    AdaptedPolicy,
    AdapterContext,
    AdapterNote,
    BodyLimit,
)
from harness.adapters.caddyfile_lines import line_of
from harness.durations import DurationError, caddy_seconds
from harness.errors import BadInput, RunFailed
from harness.policy.model import (
    Aspect,
    Backoff,
    JitterModel,
    MethodRule,
    RetryOn,
    RetryPolicy,
    Unmodelled,
)
from harness.processes.tools import run_tool
from harness.suts.templating import join_lines, names_upstreams, placeholder_names, render_lines

SYSTEM: str = "caddy"

DEFAULT_TRY_INTERVAL_S = 0.25
"""``lb_try_interval`` when ``lb_try_duration`` > 0 and no interval is set (Provision)."""

ADAPT_TIMEOUT_S = 30.0
INSTALL_HINT = "apt-get install -y caddy"

_CADDY_SRC = (
    "https://github.com/caddyserver/caddy/blob/v2.6.4/modules/caddyhttp/reverseproxy/"
    "reverseproxy.go"
)
_SOURCE = f"{_CADDY_SRC} (tryAgain)"
_DOC = "https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#load-balancing"
_JSON_DOC = "https://caddyserver.com/docs/json/apps/http/servers/routes/handle/reverse_proxy/"
_FINDING = "finding of retry-harness against Caddy 2.6.2"
_GO_TRANSPORT = (
    "https://github.com/golang/go/blob/go1.19.8/src/net/http/transport.go "
    "(persistConn.shouldRetryRequest)"
)

LB_FIELDS = frozenset(
    {"selection_policy", "retries", "try_duration", "try_interval", "retry_match"}
)
"""``load_balancing`` fields of Caddy 2.6 (Caddy refuses others: strict JSON decoding)."""
HANDLER_FIELDS = frozenset(
    {
        "handler",
        "transport",
        "circuit_breaker",
        "load_balancing",
        "health_checks",
        "upstreams",
        "dynamic_upstreams",
        "flush_interval",
        "trusted_proxies",
        "headers",
        "request_buffers",
        "response_buffers",
        "stream_timeout",
        "stream_close_delay",
        "rewrite",
        "handle_response",
        "verbose_logs",
        "buffer_requests",
        "buffer_responses",
        "max_buffer_size",
    }
)
"""``reverse_proxy`` handler fields of Caddy 2.6."""
SUBDIRECTIVES = (
    "to",
    "lb_policy",
    "lb_retries",
    "lb_try_duration",
    "lb_try_interval",
    "lb_retry_match",
    "health_uri",
    "health_port",
    "health_interval",
    "health_timeout",
    "health_status",
    "health_body",
    "health_headers",
    "fail_duration",
    "max_fails",
    "unhealthy_status",
    "unhealthy_latency",
    "unhealthy_request_count",
    "flush_interval",
    "request_buffers",
    "response_buffers",
    "buffer_requests",
    "buffer_responses",
    "max_buffer_size",
    "stream_timeout",
    "stream_close_delay",
    "trusted_proxies",
    "header_up",
    "header_down",
    "method",
    "rewrite",
    "transport",
    "handle_response",
    "replace_status",
    "dynamic",
)
"""``reverse_proxy`` Caddyfile subdirectives of Caddy 2.6 (for suggestions)."""

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose requests usually carry a body."""
_JSON_START = re.compile(r"^\s*\{\s*\"")


@dataclass(frozen=True)
class _Found:
    handler: dict[str, Any]
    where: str  # JSON path of the handler, e.g. apps.http.servers.srv0.routes[0].handle[0]


# -- reading the config ------------------------------------------------------------------------


def _looks_like_json(path: Path, text: str) -> bool:
    return path.suffix == ".json" or bool(_JSON_START.match(text))


STAND_IN_FIRST_PORT = 10001
"""The stand-in port of the first upstream (the next ones follow) while a Caddyfile is adapted."""


def _stand_ins(context: AdapterContext) -> list[str]:
    """The stand-in ``host:port`` of each upstream the harness's placeholders render to here."""
    return [f"127.0.0.1:{STAND_IN_FIRST_PORT + i}" for i in range(context.upstream_servers or 1)]


def _render_placeholders(text: str, path: Path, context: AdapterContext) -> str:
    """Harness ``{{placeholders}}`` rendered with stand-in addresses (one per upstream)."""
    upstreams = [f"http://{hostport}" for hostport in _stand_ins(context)]
    return join_lines(
        render_lines(text, listen=("127.0.0.1", 10000), upstreams=upstreams, source=path)
    )


def _adapt(path: Path, text: str, context: AdapterContext) -> dict[str, Any]:
    """Caddy's JSON for a Caddyfile, by ``caddy adapt`` (BadInput without the binary)."""
    binary = shutil.which("caddy")
    if binary is None:
        raise BadInput(
            "reading a Caddyfile needs Caddy's own parser: the 'caddy' binary is not on PATH; "
            f"install it with `{INSTALL_HINT}`, or give the config as Caddy JSON "
            "(`caddy adapt --config Caddyfile` prints it)",
            file=path,
            field="caddy",
        )
    with tempfile.TemporaryDirectory(prefix="rh-caddy-adapt-") as tmp:
        # absolute: caddy's messages then name file:line as absolute paths, mapped back below
        target = path.resolve()
        if placeholder_names(text):
            target = Path(tmp) / path.name
            target.write_text(_render_placeholders(text, path, context), encoding="utf-8")
            for entry in path.parent.resolve().iterdir():  # relative imports still resolve
                if entry.name != path.name:
                    os.symlink(entry, Path(tmp) / entry.name)
        try:
            done = run_tool(
                [binary, "adapt", "--config", str(target), "--adapter", "caddyfile"],
                timeout_s=ADAPT_TIMEOUT_S,
                cwd=path.parent,
                what="'caddy adapt'",
            )
        except RunFailed as exc:  # a Caddyfile that makes it hang is the Caddyfile's fault
            raise BadInput(str(exc), file=path) from None
        if done.returncode != 0:
            raise _adapt_error(done.stderr or done.stdout, path, target)
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise BadInput(f"'caddy adapt' printed no JSON ({err})", file=path) from None
    if not isinstance(data, dict):
        raise BadInput("'caddy adapt' printed no JSON object", file=path)
    return data


def _adapt_error(output: str, path: Path, rendered: Path) -> BadInput:
    """Caddy's own message, pointing at the user's file and line, with a suggestion if any.

    ``rendered`` is the absolute path caddy adapt read (the Caddyfile, or its rendered copy in
    a folder whose entries link to the Caddyfile's folder)."""
    message = output.strip().splitlines()[-1] if output.strip() else "caddy adapt failed"
    message = message.removeprefix("Error: ")
    line = None
    file: str | Path = path
    where = re.search(r"(/[^\s:]+):(\d+)\b", message)
    if where is not None:
        line = int(where.group(2))
        named = Path(where.group(1))
        # the user's name of it: the Caddyfile as given, an imported file beside it likewise
        inside = rendered.parent
        beside = named.is_relative_to(inside)
        file = path.parent / named.relative_to(inside) if beside else named
        message = message.replace(where.group(0), "").strip(" -:")
    message = message.replace(str(rendered), str(path))
    if "Error during parsing:" in message:
        message = message.rsplit("Error during parsing:", 1)[1].strip()
    field = _first_word(Path(file), line)
    unknown = re.search(r"unrecognized (?:subdirective|directive):? '?([A-Za-z_]+)'?", message)
    if unknown is not None:
        field = unknown.group(1)
        close = difflib.get_close_matches(
            field, [d for d in SUBDIRECTIVES if d != field], n=1, cutoff=0.75
        )
        if close:
            message += f"; did you mean {close[0]!r}?"
    return BadInput(f"Caddy refuses the config: {message}", file=file, line=line, field=field)


def _first_word(file: Path, line: int | None) -> str | None:
    """The directive (first word) on ``line`` of ``file``, for the error's field."""
    if line is None:
        return None
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not 1 <= line <= len(lines):
        return None
    words = lines[line - 1].split()
    return words[0] if words and words[0] not in {"{", "}"} else None


def _load_json(path: Path, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"malformed JSON: {err.msg}", file=path, line=err.lineno) from None
    if not isinstance(data, dict):
        raise BadInput("a Caddy JSON config must be an object", file=path)
    return data


def _handlers(node: Any, where: str) -> Iterator[_Found]:
    """Every ``reverse_proxy`` handler under ``node``, in document order."""
    if isinstance(node, dict):
        if node.get("handler") == "reverse_proxy":
            yield _Found(node, where)
        for key, value in node.items():
            yield from _handlers(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _handlers(item, f"{where}[{i}]")


def _duration(value: Any, *, file: Path, field: str) -> float:
    """A Caddy duration in JSON (:func:`harness.durations.caddy_seconds`)."""
    try:
        return caddy_seconds(value)
    except DurationError as exc:
        raise BadInput(str(exc), file=file, field=field) from None


def _refuse_unknown(
    data: dict[str, Any], allowed: frozenset[str], *, file: Path, prefix: str
) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BadInput(
                f"unknown field ({hint}allowed: {', '.join(sorted(allowed))}); Caddy refuses it",
                file=file,
                field=f"{prefix}.{key}",
            )


# -- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RetryMatch:
    methods: frozenset[str] | None
    unmodelled: tuple[str, ...]


def _retry_match(value: Any, *, file: Path, field: str) -> _RetryMatch:
    """``retry_match``: matcher sets ORed, matchers of a set ANDed; only ``method`` is decided."""
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise BadInput("must be a list of matcher sets", file=file, field=field)
    methods: set[str] = set()
    unmodelled: list[str] = []
    if not value:  # Caddy's reading of an empty list (GET-only or every method) is not settled
        return _RetryMatch(None, ("[] (an empty list of matcher sets)",))
    for matcher_set in value:
        if not matcher_set:  # an empty set matches every request
            return _RetryMatch(None, ())
        if set(matcher_set) == {"method"} and isinstance(matcher_set["method"], list):
            methods |= {str(m).upper() for m in matcher_set["method"]}
        else:
            unmodelled.append(json.dumps(matcher_set, sort_keys=True))
    return _RetryMatch(frozenset(methods), tuple(unmodelled))


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read ``path`` (a Caddyfile template or Caddy JSON) into the policy of its reverse_proxy."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read the Caddy config: {err}", file=path) from err
    caddyfile = not _looks_like_json(path, text)
    if caddyfile:
        data, how = _adapt(path, text, context), "the Caddyfile as adapted by `caddy adapt`"
    else:
        data, how = _load_json(path, text), "Caddy JSON"
    found = list(_handlers(data, ""))
    if not found:
        raise BadInput(
            f"no reverse_proxy handler in {how} (check the site blocks, snippets and imports)",
            file=path,
            field="reverse_proxy",
        )
    rp = found[0]
    why = f"policy read from {how}: the reverse_proxy at {rp.where}"
    if len(found) > 1:
        why += f", the first of {len(found)} (the others are not read)"
    upstreams_known = not names_upstreams(text) or context.upstream_servers is not None
    rendered = frozenset(_stand_ins(context)) if caddyfile and placeholder_names(text) else None
    try:
        adapted = _policy(
            rp,
            path,
            why,
            upstreams_known=upstreams_known,
            caddyfile=caddyfile,
            rendered=rendered,
        )
    except BadInput as err:
        if caddyfile:
            raise _on_its_line(err, path, rp.handler) from None
        raise
    return adapted.model_copy(update={"body_limit": _body_limit(data, rp.where, path)})


_DOC_BODY = (
    "https://caddyserver.com/docs/caddyfile/directives/request_body (max_size); Caddy 2.6.2 "
    "answers 502 to a larger body, at times after passing a truncated attempt to the backend "
    "(tests/integration/suts/test_caddy_notes_live.py)"
)
_PATH_STEP = re.compile(r"\.?([A-Za-z_0-9]+)|\[(\d+)\]")


def _body_limit(data: dict[str, Any], where: str, path: Path) -> BodyLimit | None:
    """The smallest ``request_body`` ``max_size`` every request meets before the chosen
    reverse_proxy (``where``, its JSON path): a ``request_body`` handler earlier in the same
    ``handle`` list, or in an earlier route of a ``routes`` list on the way there that has no
    ``match`` (it applies to every request). One behind a matcher, or inside a nested subroute
    of an earlier route, is not read (it may not apply): no limit from it."""
    steps: list[str | int] = [
        int(m.group(2)) if m.group(2) is not None else m.group(1)
        for m in _PATH_STEP.finditer(where)
    ]
    node: Any = data
    sizes: list[tuple[int, str]] = []
    trail = ""

    def take(handlers: Any, at: str) -> None:
        for j, h in enumerate(handlers if isinstance(handlers, list) else []):
            size = h.get("max_size") if isinstance(h, dict) else None
            if h.get("handler") == "request_body" and isinstance(size, int) and size > 0:
                sizes.append((size, f"{at}[{j}]"))

    for i, step in enumerate(steps):
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        if step == "routes" and isinstance(nxt, int):
            for k, route in enumerate(node[step][:nxt]):
                if isinstance(route, dict) and not route.get("match"):
                    take(route.get("handle"), f"{trail}.routes[{k}].handle")
        if step == "handle" and isinstance(nxt, int):
            take(node[step][:nxt], f"{trail}.handle")
        node = node[step]
        trail += f"[{step}]" if isinstance(step, int) else f".{step}"
    if not sizes:
        return None
    size, at = min(sizes)
    return BodyLimit(
        max_bytes=size,
        status=502,
        effect="Caddy stops reading the body at the limit and answers 502 itself; a backend "
        "gets at most one truncated attempt",
        source=f"{path}: request_body max_size {size} bytes (at {at.lstrip('.')})",
        doc=_DOC_BODY,
    )


_REFUSED_VALUES = {
    "lb_retries": ("lb_retries", "load_balancing", "retries"),
    "lb_try_duration": ("lb_try_duration", "load_balancing", "try_duration"),
    "lb_try_interval": ("lb_try_interval", "load_balancing", "try_interval"),
    "transport http.response_header_timeout": (
        "response_header_timeout",
        "transport",
        "response_header_timeout",
    ),
}
"""A refusal's field -> the Caddyfile subdirective and where caddy adapt put its value."""


def _on_its_line(err: BadInput, caddyfile: Path, handler: dict[str, Any]) -> BadInput:
    """A refusal of a value of the adapted JSON, pointed at the Caddyfile line it was written
    on when that line is certain (:func:`harness.adapters.caddyfile_lines.line_of`); the value
    as written there (``-1s``) instead of caddy adapt's nanoseconds."""
    directive, block, key = _REFUSED_VALUES.get(err.field or "", (None, "", ""))
    section = handler.get(block)
    if directive is None or err.line is not None or not isinstance(section, dict):
        return err
    written = line_of(caddyfile, directive, section.get(key))
    if written is None:
        return err
    reason = re.sub(r"\(got [^()]*\)$", f"(got {written.token})", err.reason)
    return BadInput(reason, file=written.file, line=written.line, field=err.field)


_SRC_PASSIVE = (
    "https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#passive-health-checks; "
    f"{_CADDY_SRC} (Provision: max_fails 1 only when fail_duration > 0; proxyLoopIteration: no "
    "available upstream uses up a retry and its lb_try_interval, then 503 'no upstreams "
    "available'); caddyserver/caddy v2.6.4 modules/caddyhttp/reverseproxy/hosts.go "
    "(Upstream.Healthy: fails < max_fails; Upstream.Full: unhealthy_request_count) and "
    "healthchecks.go (countFailure: a no-op without fail_duration); "
    f"{_FINDING} (tests/integration/suts/test_caddy_notes_live.py)"
)
_PASSIVE_FIELDS = (
    "fail_duration",
    "max_fails",
    "unhealthy_status",
    "unhealthy_latency",
    "unhealthy_request_count",
)


def _passive_health_check(
    h: dict[str, Any], path: Path, where: str, *, caddyfile: bool, backoff: bool
) -> Unmodelled | None:
    """An :class:`Unmodelled` for the reverse_proxy's passive health checks (``health_checks.
    passive``, any field), or None without them.

    They decide at run time which upstreams a request may use: an upstream with ``max_fails``
    (default 1) failures within ``fail_duration`` (a failed round trip, an ``unhealthy_status``
    or an answer slower than ``unhealthy_latency``) or ``unhealthy_request_count`` requests in
    flight is skipped; with none available a loop iteration makes no attempt but uses up a
    retry and its ``lb_try_interval`` (so the delay between two attempts grows: ``backoff``
    adds BACKOFF), and the client gets Caddy's own 503. One upstream is no exception. Without
    ``fail_duration`` Caddy 2.6 leaves max_fails at 0 and counts every upstream unhealthy
    (0 failures < 0 is false): every request is Caddy's 503, with no attempt."""
    block = h.get("health_checks")
    passive = block.get("passive") if isinstance(block, dict) else None
    if not isinstance(passive, dict):
        return None
    written = []
    for key in _PASSIVE_FIELDS:
        value = passive.get(key)
        if value is None:
            continue
        if key in ("fail_duration", "unhealthy_latency"):
            shown = f"{_duration(value, file=path, field=key):g}s"
        elif isinstance(value, list):
            shown = " ".join(f"{v}xx" if isinstance(v, int) and v < 10 else str(v) for v in value)
        else:
            shown = str(value)
        written.append(f"{key} {shown}")
    fail_s = (
        _duration(passive["fail_duration"], file=path, field="fail_duration")
        if passive.get("fail_duration") is not None
        else 0.0
    )
    if fail_s > 0:
        reason = (
            f"passive health checks: an upstream with max_fails ({passive.get('max_fails') or 1}"
            f") failures within fail_duration ({fail_s:g}s) is skipped"
        )
    else:
        reason = (
            "passive health checks without fail_duration: Caddy 2.6 leaves max_fails at 0 and "
            "then counts EVERY upstream unhealthy (0 failures < 0 is false), so each request is "
            "answered 503 'no upstreams available' by Caddy itself, with no attempt"
        )
    reason += (
        "; an upstream with unhealthy_request_count requests in flight is skipped too"
        if passive.get("unhealthy_request_count")
        else ""
    )
    reason += (
        "; when no upstream is available a retry is used up (after its lb_try_interval) "
        "without an attempt, and Caddy answers 503 itself; which requests meet a skipped "
        "upstream depends on the timing of earlier failures, not on the config (one upstream "
        "is no exception)"
    )
    location = f"{path}: {where}.health_checks.passive"
    if caddyfile:
        for key in ("fail_duration", "unhealthy_request_count"):
            line = line_of(path, key, passive.get(key))
            if line is not None:
                location = f"{line.file}:{line.line}"
                break
    aspects = {Aspect.MAX_RETRIES, Aspect.UPSTREAM} | ({Aspect.BACKOFF} if backoff else set())
    return Unmodelled(
        aspects=frozenset(aspects),
        native=" ".join(written) if written else "health_checks.passive {}",
        reason=reason,
        location=location,
    )


_SRC_ACTIVE = (
    "https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#active-health-checks; "
    f"{_CADDY_SRC} (Provision: the active checker starts when a uri, path or port is set); "
    "caddyserver/caddy v2.6.4 modules/caddyhttp/reverseproxy/healthchecks.go "
    f"(doActiveHealthCheck marks an upstream unhealthy); {_FINDING} "
    "(tests/integration/suts/test_caddy_notes_live.py)"
)


_DOC_UPSTREAMS = (
    "https://caddyserver.com/docs/caddyfile/directives/reverse_proxy#upstreams (every "
    "upstream is a candidate of the load-balancing selection policy, and a retry selects again)"
)
_FOREIGN_REASON = (
    "the upstream was not written with a harness placeholder ({{upstream_hostport}}, "
    "{{upstream}}), so it is not one of the harness's backends: Caddy's attempts to it are "
    "attempts no journal records. They use up lb_retries, they sit unseen between the "
    "journaled attempts, and Caddy's answer for them (502 after a dial error) reaches the "
    "client as the last answer"
)


def _foreign_upstreams(
    upstreams: Any, path: Path, where: str, rendered: frozenset[str] | None
) -> list[Unmodelled]:
    """One :class:`Unmodelled` (max_retries, upstream, backoff) per static upstream whose
    ``dial`` is not a harness backend: in a rendered Caddyfile, an address other than the
    stand-ins the placeholders became (``rendered``); otherwise (Caddy JSON, or a Caddyfile
    without placeholders), a ``dial`` naming no upstream placeholder. Caddy's selection
    policies pick among all upstreams, so each one can get a first try or a retry. Named by
    its line when exactly one line of the file holds the address, else by its JSON path."""
    if not isinstance(upstreams, list):
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Unmodelled] = []
    for i, upstream in enumerate(upstreams):
        dial = upstream.get("dial") if isinstance(upstream, dict) else None
        if not isinstance(dial, str):
            continue
        if (dial in rendered) if rendered is not None else names_upstreams(dial):
            continue
        location = f"{path}: {where}.upstreams[{i}]"
        written = re.compile(rf"(?<![\w.]){re.escape(dial)}(?!\w)")
        holding = [n for n, ln in enumerate(lines, 1) if written.search(ln)]
        if len(holding) == 1:
            location = f"{path}:{holding[0]}"
        out.append(
            Unmodelled(
                aspects=FOREIGN_SERVER_ASPECTS,
                native=f"upstream {dial}",
                reason=_FOREIGN_REASON,
                location=location,
            )
        )
    return out


def _active_health_check(
    h: dict[str, Any], path: Path, where: str, *, caddyfile: bool, backoff: bool
) -> Unmodelled | None:
    """An :class:`Unmodelled` for the reverse_proxy's active health checks (``health_checks.
    active`` with a ``uri``, ``path`` or ``port``: ``health_uri``/``health_port``), or None.

    Caddy probes every upstream each ``interval`` (default 30s) and skips one whose last probe
    failed until a probe passes: which requests meet a skipped upstream depends on the probes'
    timing and answers, not on the config (the same aspects as passive checks)."""
    block = h.get("health_checks")
    active = block.get("active") if isinstance(block, dict) else None
    if not isinstance(active, dict) or not any(active.get(k) for k in ("uri", "path", "port")):
        return None
    probe = active.get("uri") or active.get("path") or "/"
    written = [f"health_uri {probe}"]
    if active.get("port"):
        written.append(f"health_port {active['port']}")
    interval_s = (
        _duration(active["interval"], file=path, field="health_interval")
        if active.get("interval") is not None
        else 30.0
    )
    written.append(f"health_interval {interval_s:g}s")
    location = f"{path}: {where}.health_checks.active"
    if caddyfile:
        line = line_of(path, "health_interval", active.get("interval"))
        if line is not None:
            location = f"{line.file}:{line.line}"
    reason = (
        f"active health checks: Caddy probes each upstream at {probe} every {interval_s:g}s "
        "and skips one whose last probe failed (no answer in health_timeout, a status other "
        "than health_status, a body not matching health_body) until a probe passes; when no "
        "upstream is available a retry is used up (after its lb_try_interval) without an "
        "attempt, and Caddy answers 503 itself; which requests meet a skipped upstream "
        "depends on the probes' timing and answers, not on the config (the probes reach the "
        "backends as attempts without a request id)"
    )
    aspects = {Aspect.MAX_RETRIES, Aspect.UPSTREAM} | ({Aspect.BACKOFF} if backoff else set())
    return Unmodelled(
        aspects=frozenset(aspects), native=" ".join(written), reason=reason, location=location
    )


def _policy(
    rp: _Found,
    path: Path,
    why: str,
    *,
    upstreams_known: bool,
    caddyfile: bool = False,
    rendered: frozenset[str] | None = None,
) -> AdaptedPolicy:
    h = rp.handler
    _refuse_unknown(h, HANDLER_FIELDS, file=path, prefix=rp.where)
    lb = h.get("load_balancing") or {}
    if not isinstance(lb, dict):
        raise BadInput("must be an object", file=path, field=f"{rp.where}.load_balancing")
    _refuse_unknown(lb, LB_FIELDS, file=path, prefix=f"{rp.where}.load_balancing")
    notes = [_note("default", "reverse_proxy", why)]

    retries_value = lb.get("retries", 0)
    if isinstance(retries_value, bool) or not isinstance(retries_value, int):
        raise BadInput(
            f"must be an integer >= 0 (got {retries_value!r})", file=path, field="lb_retries"
        )
    if retries_value < 0:
        raise BadInput(
            f"{retries_value}: Caddy accepts it and then retries without limit (tryAgain stops "
            "at lb_retries only when it is > 0) unless lb_try_duration ends it; give a "
            "finite lb_retries >= 0",
            file=path,
            field="lb_retries",
        )
    retries = retries_value
    duration_s = (
        _duration(lb["try_duration"], file=path, field="lb_try_duration")
        if lb.get("try_duration") is not None
        else 0.0
    )
    interval_set = lb.get("try_interval") is not None
    interval_s = (
        _duration(lb["try_interval"], file=path, field="lb_try_interval") if interval_set else 0.0
    )
    if interval_set and retries == 0 and duration_s == 0:
        notes.append(
            _note(
                "quirk",
                "lb_try_interval",
                "set, but neither lb_retries nor lb_try_duration is: Caddy makes no retry, "
                "so the interval has no effect",
                source=_DOC,
            )
        )
    if duration_s > 0 and interval_s == 0:
        interval_s = DEFAULT_TRY_INTERVAL_S
        notes.append(
            _note(
                "default",
                "lb_try_interval",
                ("0, which Caddy treats as unset" if interval_set else "not set")
                + ", and lb_try_duration > 0: Caddy waits its default 250ms between tries "
                "(Provision: a zero interval would spin for the whole try duration)",
            )
        )
    elif interval_s == 0 and retries > 0:
        notes.append(
            _note(
                "quirk",
                "lb_try_interval",
                "not set and no lb_try_duration: the interval is 0, not the documented "
                "250ms (that default applies only with lb_try_duration), so retries are "
                "back to back",
            )
        )

    if retries > 0:
        max_retries = retries
    elif duration_s > 0:
        max_retries = max(1, math.ceil(duration_s / interval_s - 1e-9))
        notes.append(
            _note(
                "default",
                "lb_retries",
                f"not set: retries are limited only by lb_try_duration; at most "
                f"ceil({duration_s:g}s / {interval_s:g}s) = {max_retries} when attempts fail "
                "at once (fewer when they take time)",
            )
        )
    else:
        max_retries = 0
        notes.append(
            _note(
                "default",
                "lb_retries",
                "neither lb_retries nor lb_try_duration is set: Caddy does not retry",
            )
        )

    not_judged: list[Unmodelled] = []
    if "retry_match" not in lb or lb["retry_match"] is None:
        methods = MethodRule(retryable=frozenset({"GET"}), connect_failure_any_method=True)
        notes.append(
            _note(
                "default",
                "lb_retry_match",
                "not set: errors after the connection was made are retried only for GET; "
                "dial errors for every method",
            )
        )
    else:
        match = _retry_match(lb["retry_match"], file=path, field="lb_retry_match")
        methods = MethodRule(retryable=match.methods, connect_failure_any_method=True)
        for entry in match.unmodelled:
            reason = (
                "the matcher set tests more than the method, so whether a request is retried "
                "after a connection was made depends on the request itself"
            )
            not_judged.append(
                Unmodelled(
                    aspects=frozenset({Aspect.METHODS}),
                    native=f"lb_retry_match {entry}",
                    reason=reason,
                    location=f"{path}: {rp.where}.load_balancing.retry_match",
                )
            )
            notes.append(
                _note("quirk", "lb_retry_match", f"not judged (methods): {entry}: {reason}")
            )
        notes.append(
            _note(
                "quirk",
                "lb_retry_match",
                "replaces the GET-only rule: only matching requests are retried after a "
                "connection was made (GET too only if it matches)",
            )
        )
        body_methods = sorted(
            _BODY_METHODS if match.methods is None else _BODY_METHODS & match.methods
        )
        if body_methods and max_retries > 0:
            reason = (
                f"Caddy 2.6 retries a matching {'/'.join(body_methods)} after a reset only "
                "when it has no body: one with a body is not retried (with or without "
                "request_buffers), one with Content-Length 0 is; whether requests carry a body "
                "is up to the client"
            )
            not_judged.append(
                Unmodelled(
                    aspects=frozenset({Aspect.METHODS}),
                    native=f"lb_retry_match admitting {', '.join(body_methods)}",
                    reason=reason,
                    location=f"{path}: {rp.where}.load_balancing.retry_match",
                )
            )
            notes.append(
                note(
                    kind="quirk",
                    field="lb_retry_match",
                    text=f"not judged (methods): {reason}",
                    source=f"{_CADDY_SRC} (reverseProxy, tryAgain); {_FINDING} "
                    "(tests/integration/suts/test_proxy_notes_live.py)",
                )
            )
        if max_retries == 0:
            notes.append(
                _note(
                    "quirk",
                    "lb_retry_match",
                    "set, but Caddy makes no retry (no lb_retries or lb_try_duration): no effect",
                )
            )

    transport = h.get("transport") or {}
    if not isinstance(transport, dict):
        raise BadInput("must be an object", file=path, field=f"{rp.where}.transport")
    header_timeout = transport.get("response_header_timeout")
    keep_alive = transport.get("keep_alive") or {}
    keepalive_on = not (isinstance(keep_alive, dict) and keep_alive.get("enabled") is False)
    if transport.get("protocol", "http") == "http" and keepalive_on:
        notes.append(
            note(
                kind="quirk",
                field="transport http.keepalive",
                text="upstream keep-alive is on (the default): when a REUSED connection is reset "
                "before any response byte, Go's HTTP transport under Caddy replays an idempotent "
                "request (GET, HEAD, OPTIONS, TRACE, or one with an Idempotency-Key header) by "
                "itself, ~2 ms later, on the same upstream, outside lb_retries and without "
                "lb_try_interval: hidden retries beyond the declared count. 'keepalive off' in "
                "the http transport removes them",
                source=f"{_GO_TRANSPORT}; {_FINDING} (scenarios/caddy-keepalive-hidden-"
                "retries.yaml, tests/integration/suts/test_caddy_notes_live.py)",
            )
        )
    per_try_s = (
        _duration(header_timeout, file=path, field="transport http.response_header_timeout")
        if header_timeout is not None
        else 0.0
    )
    if header_timeout is None:
        notes.append(
            _note(
                "default",
                "transport http.response_header_timeout",
                "not set: an attempt has no response timeout",
            )
        )
    notes.append(
        _note(
            "quirk",
            "reverse_proxy",
            "status codes are never retried: any completed round trip (even a 502/503) ends the "
            "retry loop; only proxy errors (dial errors, resets, timeouts) are retried",
        )
    )
    if duration_s > 0:
        notes.append(
            _note(
                "quirk",
                "lb_try_duration",
                "measured from the start of the handler (attempt time included); checked after "
                "an attempt fails, it never cuts an attempt short",
            )
        )
    if duration_s > 0 and interval_s > 0:
        notes.append(
            note(
                kind="quirk",
                field="lb_try_duration",
                text=f"checked BEFORE Caddy sleeps lb_try_interval, so the last attempt can "
                f"start up to one interval after the try duration: attempts may start until "
                f"{duration_s:g}s + {interval_s:g}s = {duration_s + interval_s:g}s, not "
                f"{duration_s:g}s (the declared deadline is the documented {duration_s:g}s)",
                source=f"{_CADDY_SRC} (LoadBalancing.tryAgain); {_FINDING} "
                "(scenarios/deadline.yaml, tests/integration/suts/test_caddy_notes_live.py)",
            )
        )
    upstreams = h.get("upstreams")
    if upstreams_known and isinstance(upstreams, list) and len(upstreams) == 1 and max_retries > 0:
        notes.append(_note("quirk", "to", "one upstream: every retry goes to the same server"))
    for u in _foreign_upstreams(upstreams, path, rp.where, rendered):
        not_judged.append(u)
        notes.append(
            _note(
                "quirk",
                "to",
                f"not judged (max_retries, upstream, backoff; so client agreement too): "
                f"{u.native} at {u.location}: {u.reason}",
                source=_DOC_UPSTREAMS,
            )
        )
    waits = max_retries > 0 and interval_s > 0
    for check, field_name, source in (
        (
            _passive_health_check(h, path, rp.where, caddyfile=caddyfile, backoff=waits),
            "fail_duration",
            _SRC_PASSIVE,
        ),
        (
            _active_health_check(h, path, rp.where, caddyfile=caddyfile, backoff=waits),
            "health_uri",
            _SRC_ACTIVE,
        ),
    ):
        if check is None:
            continue
        not_judged.append(check)
        judged = ", ".join(sorted(a.value for a in check.aspects))
        notes.append(
            note(
                kind="quirk",
                field=field_name,
                text=f"not judged ({judged}): {check.native} at {check.location}: {check.reason}",
                source=source,
            )
        )

    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=RetryOn(
            statuses=frozenset(),
            connect_failure=True,
            reset=True,
            per_try_timeout=per_try_s > 0,
        ),
        methods=methods,
        backoff=Backoff(base_s=interval_s, multiplier=1.0, jitter=JitterModel.NONE),
        per_try_timeout_s=per_try_s or None,
        deadline_s=duration_s or None,
        not_judged=tuple(not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=str(path), policy=policy, notes=notes)


def _note(kind: str, field_name: str, text: str, *, source: str | None = None) -> AdapterNote:
    return note(kind, field_name, text, source=source or _SOURCE)

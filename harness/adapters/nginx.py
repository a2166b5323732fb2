"""Adapter: an nginx 1.22 ``nginx.conf`` (template) -> the canonical :class:`RetryPolicy`.

Owns the reading of the config through crossplane (with ``include`` expanded and
``{{placeholder}}`` words kept), the choice of the proxied location, the
http -> server -> location inheritance of ``proxy_*`` directives and their mapping:

- ``proxy_next_upstream`` (default ``error timeout``): ``error`` -> connect failure + reset,
  ``timeout`` -> per-try timeout, ``http_5xx/403/404/429`` -> statuses, ``non_idempotent``
  lifts the POST/LOCK/PATCH rule, ``off`` turns retries off;
- ``proxy_next_upstream_tries`` (default 0 = unlimited) counts *all* tries incl. the first,
  so ``max_retries = tries - 1``; unlimited is bounded by the number of upstream servers;
- ``proxy_next_upstream_timeout`` (default 0 = none) -> ``deadline_s``;
- ``proxy_read_timeout`` (default 60s) -> ``per_try_timeout_s``.

Sources: nginx/nginx release-1.22.1 ``src/http/ngx_http_upstream.c``
(ngx_http_upstream_next), ``src/http/ngx_http_upstream_round_robin.c`` (one try per peer; a
single-server upstream gets ``tries = 0``);
https://nginx.org/en/docs/http/ngx_http_proxy_module.html (``proxy_next_upstream*``,
``proxy_read_timeout``) and https://nginx.org/en/docs/http/ngx_http_upstream_module.html
(``server ... max_fails fail_timeout``).

The file and every file it ``include``s (relative to its folder, globs allowed) are parsed by
crossplane (the nginx config parser kept by NGINX Inc.), placeholders and all: an upstream
``server`` line with a per-replica placeholder stands for ``context.upstream_servers`` servers;
``proxy_pass {{upstream}}`` is one.

Not judged (``RetryPolicy.not_judged``): with ``keepalive`` in the upstream block (and
``error`` in ``proxy_next_upstream``), the retry count and the upstream of each retry (an error
on a reused connection does not use up a try); a ``proxy_pass`` URL holding a variable; ``if``
blocks on the way to the proxied location that set ``proxy_*`` retry directives; the methods
retried with ``proxy_request_buffering off`` (a body read whole with the headers is retried, one
still streaming is not); with nginx's passive health check on (a ``server`` line without
``max_fails=0`` in an upstream of more than one server), the retry count and the upstream of
each retry (a server marked down is skipped, and with none left nginx answers 502 itself);
with a ``server`` line that names no harness placeholder (a literal address: not one of the
harness's backends, so no journal sees nginx's tries to it), the retry count, the upstream of
each retry and the backoff (client agreement follows the retry count), unless it is a
``backup`` that ``proxy_next_upstream_tries`` never lets a request reach.

``client_max_body_size`` of the proxied location (default 1m) is the SUT's body limit
(``AdaptedPolicy.body_limit``): nginx answers 413 itself to a larger body, so a scenario whose
load sends one is refused before anything starts (``harness.run.declared_policy``).
"""

from __future__ import annotations

import difflib
import errno
import io
import itertools
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane  # type: ignore[import-untyped]
from crossplane import analyzer as crossplane_analyzer
from crossplane import lexer as crossplane_lexer
from crossplane import parser as crossplane_parser
from crossplane.errors import NgxParserBaseException  # type: ignore[import-untyped]

from harness.adapters._common import note
from harness.adapters.base import (
    FOREIGN_SERVER_ASPECTS,
    AdaptedPolicy,
    AdapterContext,
    AdapterNote,
    BodyLimit,
)
from harness.durations import DurationError, nginx_seconds
from harness.errors import BadInput
from harness.policy.model import Aspect, Backoff, MethodRule, RetryOn, RetryPolicy, Unmodelled
from harness.suts.templating import PLACEHOLDER, is_per_replica, names_upstreams

SYSTEM: str = "nginx"

DEFAULT_NEXT_UPSTREAM: tuple[str, ...] = ("error", "timeout")
DEFAULT_READ_TIMEOUT_S = 60.0
DEFAULT_CLIENT_MAX_BODY_SIZE = 1024 * 1024
"""``client_max_body_size`` when no level sets it: 1m (ngx_http_core_module docs)."""
DEFAULT_CONNECT_TIMEOUT_S = 60.0
UNLIMITED_TRIES_BOUND = 100
"""``max_retries`` for ``proxy_next_upstream_tries 0`` when the number of servers is unknown."""

NON_IDEMPOTENT_METHODS = frozenset({"POST", "LOCK", "PATCH"})
"""Not passed to the next server once the request was sent (ngx_http_upstream.c)."""

RETRYABLE_METHODS = frozenset(
    {
        "GET",
        "HEAD",
        "PUT",
        "DELETE",
        "OPTIONS",
        "TRACE",
        "CONNECT",
        "PROPFIND",
        "PROPPATCH",
        "MKCOL",
        "COPY",
        "MOVE",
        "UNLOCK",
    }
)
"""The methods nginx knows other than POST/LOCK/PATCH: retried without ``non_idempotent``."""

STATUS_VALUES: dict[str, int] = {f"http_{s}": s for s in (500, 502, 503, 504, 403, 404, 429)}
"""The ``proxy_next_upstream`` values that name a status code."""
_NEXT_UPSTREAM_WORDS = frozenset(
    {"error", "timeout", "invalid_header", "non_idempotent", "off", *STATUS_VALUES}
)
_SOURCE = "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream"
_DOC_BODY_SIZE = (
    "https://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size: a larger "
    "Content-Length is answered 413 by nginx; 0 disables the check"
)
_BODY_EFFECT = "nginx answers 413 itself and no such request reaches a backend"
_SIZE = re.compile(r"(\d+)([kKmMgG]?)")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_NGINX_SRC = "https://github.com/nginx/nginx/blob/release-1.22.1/src/http/"
_SRC_NEXT = (
    f"{_NGINX_SRC}ngx_http_upstream.c (ngx_http_upstream_next); "
    "https://nginx.org/en/docs/http/ngx_http_upstream_module.html#keepalive"
)
_SRC_RR = (
    f"{_NGINX_SRC}ngx_http_upstream_round_robin.c (ngx_http_upstream_free_round_robin_peer: "
    "tries = 0 for a single peer)"
)
_IF_ASPECTS: dict[str, tuple[Aspect, ...]] = {
    "proxy_pass": (Aspect.MAX_RETRIES, Aspect.UPSTREAM),
    "proxy_next_upstream": (Aspect.STATUSES, Aspect.RESETS, Aspect.METHODS, Aspect.MAX_RETRIES),
    "proxy_next_upstream_tries": (Aspect.MAX_RETRIES,),
    "proxy_next_upstream_timeout": (Aspect.DEADLINE,),
    "proxy_read_timeout": (Aspect.PER_TRY_TIMEOUT,),
    "proxy_connect_timeout": (Aspect.PER_TRY_TIMEOUT,),
}
"""What an ``if`` block setting each directive makes unjudgeable."""


@dataclass
class _Node:
    """One directive: ``name args;`` or ``name args { children }``, with its file and line."""

    name: str
    args: tuple[str, ...]
    line: int
    children: list[_Node] | None = None
    file: str = ""

    def where(self, main: str) -> str:
        """``line N`` in the main file, ``FILE:N`` in an included one."""
        return f"line {self.line}" if self.file in ("", main) else f"{self.file}:{self.line}"


_LEX_SWAP = threading.Lock()
_SENTINEL = re.compile(r"__rh_placeholder_([A-Za-z0-9_]+)__")


def _lex_templates(filename: str) -> Iterator[tuple[str, int, bool]]:
    """crossplane's lexer over a file whose ``{{placeholders}}`` are hidden in plain words."""
    text = Path(filename).read_text(encoding="utf-8", errors="replace")
    hidden = PLACEHOLDER.sub(lambda m: f"__rh_placeholder_{m.group(1)}__", text)
    tokens = crossplane_lexer._lex_file_object(io.StringIO(hidden))
    yield from crossplane_lexer._balance_braces(tokens, filename)


def _restore(word: str) -> str:
    return _SENTINEL.sub(lambda m: "{{" + m.group(1) + "}}", word)


def _parse(path: Path, file: str) -> list[_Node]:
    """The config and every file it includes (relative to its folder, globs allowed), as nginx
    reads them, parsed by crossplane (https://github.com/nginxinc/crossplane, 0.5.8).

    ``include`` directives are replaced by the directives of the files they name, in order.
    BadInput with file and line for a syntax error or an include that names a missing file.
    """
    if not path.is_file():
        raise BadInput("file not found" if not path.exists() else "is not a file", file=file)
    with _LEX_SWAP:  # crossplane reads every file through its module-level ``lex``
        original = crossplane_parser.lex
        crossplane_parser.lex = _lex_templates
        try:
            payload = crossplane.parse(
                str(path), catch_errors=True, check_ctx=False, check_args=True
            )
        except (OSError, UnicodeError) as err:
            raise BadInput(f"cannot read the nginx config: {err}", file=file) from None
        finally:
            crossplane_parser.lex = original
    if payload["errors"]:
        first = payload["errors"][0]
        reason = str(first["error"])
        unreadable = _OS_ERROR.match(reason)
        if unreadable is not None:  # crossplane's str(OSError) of an include it could not open
            raise BadInput(
                _include_problem(unreadable, str(path), first["file"], first.get("line")),
                file=first["file"],
                line=first.get("line"),
                field="include",
            )
        reason = re.sub(r"\s+in \S+:\d+$", "", reason)
        if not reason.strip():  # crossplane 0.5.8 runs out of tokens mid-statement silently
            reason = (
                "the nginx config parser (crossplane) ran out of text mid-statement: a last "
                "directive without its ';', or not an nginx config at all"
            )
        named = re.search(r'directive "([a-z0-9_]+)"|"([a-z0-9_]+)" directive', reason)
        raise BadInput(
            _restore(reason),
            file=first["file"],
            line=first.get("line"),
            field=next((g for g in named.groups() if g), None) if named else None,
        )
    files = payload["config"]

    def convert(stmts: list[dict[str, Any]], fname: str, seen: tuple[int, ...]) -> list[_Node]:
        out: list[_Node] = []
        for stmt in stmts:
            if stmt["directive"] == "include" and "includes" in stmt:
                for index in stmt["includes"]:
                    if index in seen:
                        raise BadInput(
                            "includes itself (an include loop)",
                            file=fname,
                            line=stmt["line"],
                            field="include",
                        )
                    inc = files[index]
                    out.extend(convert(inc["parsed"], inc["file"], (*seen, index)))
                continue
            block = stmt.get("block")
            out.append(
                _Node(
                    _restore(stmt["directive"]),
                    tuple(_restore(a) for a in stmt["args"]),
                    stmt["line"],
                    None if block is None else convert(block, fname, seen),
                    fname,
                )
            )
        return out

    root = convert(files[0]["parsed"], files[0]["file"], (0,))
    _refuse_misspelt(root)
    return root


_OS_ERROR = re.compile(r"^\[Errno (?P<errno>\d+)\] (?P<text>[^:]+): '(?P<path>.*)'$")
"""crossplane's error for an ``include`` it could not open: ``[Errno 2] No such file or
directory: 'conf.d/x.conf'`` (the path joined to the main config's folder, as nginx does)."""


def _include_problem(error: re.Match[str], main: str, including: str, line: int | None) -> str:
    """One line for an included file that cannot be read: the path as written in the
    ``include`` at ``including``:``line`` (crossplane's error has it joined to ``main``'s folder,
    as nginx does with its prefix) and, for a relative path, the folder it was looked for in."""
    tried, folder = error["path"], os.path.dirname(main)
    written = _restore(tried)
    try:
        tokens = list(_lex_templates(including))
    except (OSError, NgxParserBaseException):
        tokens = []
    for (word, at, _), (arg, _, _) in itertools.pairwise(tokens):
        if word == "include" and at == line and os.path.join(folder, arg) == tried:
            written = _restore(arg)  # crossplane: os.path.join(config_dir, pattern)
            break
    if int(error["errno"]) != errno.ENOENT:
        return f"cannot read '{written}': {error['text'].lower()}"
    if os.path.isabs(written):
        return f"'{written}' does not exist"
    where = os.path.abspath(folder or os.curdir)
    return (
        f"'{written}' does not exist "
        f"(a relative include is looked for in {where}, the main config's folder)"
    )


_RETRY_DIRECTIVES = (
    "proxy_next_upstream",
    "proxy_next_upstream_tries",
    "proxy_next_upstream_timeout",
    "proxy_read_timeout",
    "proxy_connect_timeout",
    "proxy_request_buffering",
    "keepalive",
)


def _refuse_misspelt(nodes: list[_Node]) -> None:
    """BadInput for a directive nginx does not know that is a near miss of a retry directive
    (nginx refuses unknown directives: 'unknown directive'); the known set is crossplane's."""
    for n in nodes:
        if n.name not in crossplane_analyzer.DIRECTIVES:
            close = difflib.get_close_matches(n.name, _RETRY_DIRECTIVES, n=1, cutoff=0.8)
            if close:
                raise BadInput(
                    f"unknown directive {n.name!r}; did you mean {close[0]!r}? "
                    "(nginx refuses it too)",
                    file=n.file,
                    line=n.line,
                    field=n.name,
                )
        if n.children:
            _refuse_misspelt(n.children)


def _walk(nodes: list[_Node], chain: tuple[_Node, ...] = ()) -> list[tuple[_Node, ...]]:
    """Every block node with its ancestors, in file order: (outermost, ..., node)."""
    out: list[tuple[_Node, ...]] = []
    for n in nodes:
        if n.children is not None:
            out.append((*chain, n))
            out.extend(_walk(n.children, (*chain, n)))
    return out


def _direct(block: list[_Node], name: str) -> _Node | None:
    found = None
    for n in block:
        if n.name == name and n.children is None:
            found = n
    return found


def _duration_s(node: _Node, file: str) -> float:
    """nginx time (:func:`harness.durations.nginx_seconds`): ``500ms``, ``30s``, ``1m30s``."""
    if len(node.args) != 1:
        raise BadInput("expected one time value", file=file, line=node.line, field=node.name)
    try:
        return nginx_seconds(node.args[0])
    except DurationError as exc:
        raise BadInput(str(exc), file=file, line=node.line, field=node.name) from None


@dataclass(frozen=True)
class _Upstream:
    servers: int | None  # None = depends on an unknown replica count
    described: str
    health_checked: tuple[_Node, ...] = ()  # ``server`` lines without ``max_fails=0``
    keepalive: _Node | None = None  # the upstream block's ``keepalive`` directive
    foreign: tuple[_Node, ...] = ()  # ``server`` lines not rendered from an upstream placeholder
    primaries: int | None = None  # servers without ``backup`` (None: depends on the replicas)


_MAX_FAILS = re.compile(r"^max_fails=(\d+)$")


def _body_limit(node: _Node | None, file: str) -> BodyLimit | None:
    """nginx's own request body limit for the proxied location: the innermost
    ``client_max_body_size`` (a size, ``k``/``m``/``g`` suffixes: ngx_parse_offset) or the
    default 1m; None when it is 0 (no limit). nginx answers 413 to a request whose
    Content-Length is larger, before any upstream is tried (ngx_http_core_module.c,
    ngx_http_core_find_config_phase)."""
    if node is None:
        return BodyLimit(
            max_bytes=DEFAULT_CLIENT_MAX_BODY_SIZE,
            status=413,
            effect=_BODY_EFFECT,
            source="client_max_body_size is not set: nginx's default 1m",
            doc=_DOC_BODY_SIZE,
        )
    match = _SIZE.fullmatch(node.args[0]) if len(node.args) == 1 else None
    if match is None:
        raise BadInput(
            f"expected one size such as 1m, 512k or 0 (got {' '.join(node.args)!r})",
            file=node.file or file,
            line=node.line,
            field="client_max_body_size",
        )
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if size == 0:
        return None
    return BodyLimit(
        max_bytes=size,
        status=413,
        effect=_BODY_EFFECT,
        source=f"{node.file or file}:{node.line}: client_max_body_size {node.args[0]}",
        doc=_DOC_BODY_SIZE,
    )


def _max_fails(server: _Node) -> int | None:
    """The ``max_fails=N`` of a ``server`` line; None when not written (nginx's default 1)."""
    found = [m for a in server.args if (m := _MAX_FAILS.match(a)) is not None]
    return int(found[-1].group(1)) if found else None


def _upstream_of(
    proxy_pass: _Node, root: list[_Node], context: AdapterContext, file: str
) -> _Upstream:
    if not proxy_pass.args:
        raise BadInput("expects a URL", file=file, line=proxy_pass.line, field="proxy_pass")
    url = proxy_pass.args[0]
    host = re.sub(r"^[a-z]+://", "", url).split("/", 1)[0]
    blocks = [c for *_, c in _walk(root) if c.name == "upstream" and c.args == (host,)]
    if not blocks:
        return _Upstream(
            1, f"proxy_pass {url}: a single server (unless its name resolves to several addresses)"
        )
    block = blocks[-1]
    assert block.children is not None
    total: int | None = 0
    primaries: int | None = 0
    checked: list[_Node] = []
    foreign: list[_Node] = []
    for srv in (n for n in block.children if n.name == "server"):
        if "down" in srv.args:
            continue
        if _max_fails(srv) != 0:
            checked.append(srv)
        if not any(names_upstreams(a) for a in srv.args):
            foreign.append(srv)
        per_replica = any(is_per_replica(a) for a in srv.args)
        n = context.upstream_servers if per_replica else 1
        total = None if total is None or n is None else total + n
        if "backup" not in srv.args:
            primaries = None if primaries is None or n is None else primaries + n
    if total == 0:
        raise BadInput(
            "has no usable server lines", file=file, line=block.line, field=f"upstream {host}"
        )
    shown = "an unknown number of" if total is None else str(total)
    return _Upstream(
        total,
        f"upstream {host} ({shown} servers)",
        health_checked=tuple(checked),
        keepalive=_direct(block.children, "keepalive"),
        foreign=tuple(foreign),
        primaries=primaries,
    )


def _choose_location(root: list[_Node], file: str) -> tuple[tuple[_Node, ...], _Node, str]:
    """The proxied location (its ancestor chain), its proxy_pass, and why it was chosen."""
    candidates: list[tuple[tuple[_Node, ...], _Node]] = []
    for chain in _walk(root):
        block = chain[-1]
        assert block.children is not None
        pp = _direct(block.children, "proxy_pass")
        if pp is not None and block.name in {"location", "if", "limit_except"}:
            candidates.append((chain, pp))
    if not candidates:
        raise BadInput("no location with a proxy_pass", file=file, field="proxy_pass")

    def server_of(chain: tuple[_Node, ...]) -> tuple[str, int]:
        servers = [(n.file, n.line) for n in chain if n.name == "server"]
        return servers[-1] if servers else ("", 0)

    first_server = server_of(candidates[0][0])
    in_server = [c for c in candidates if server_of(c[0]) == first_server]
    slash = [c for c in in_server if c[0][-1].name == "location" and c[0][-1].args == ("/",)]
    chosen = slash[0] if slash else in_server[0]
    loc = chosen[0][-1]
    why = f"{loc.name} {' '.join(loc.args)} ({loc.where(file)})".replace("  ", " ")
    why += ": 'location /' of the first proxying server" if slash else ": the first proxy_pass"
    if len(candidates) > 1:
        why += f" ({len(candidates)} locations proxy; the others are not read)"
    return chosen[0], chosen[1], why


def _inherited(chain: tuple[_Node, ...], root: list[_Node], name: str) -> _Node | None:
    """The innermost ``name`` directive on the chain location -> ... -> http -> main."""
    for block in reversed(chain):
        assert block.children is not None
        found = _direct(block.children, name)
        if found is not None:
            return found
    return _direct(root, name)


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read ``path`` (an nginx.conf template) into the declared policy of its proxied location."""
    file = str(path)
    root = _parse(path, file)
    chain, proxy_pass, why = _choose_location(root, file)
    notes = [_note("default", "location", f"policy read from {why}")]

    def get(name: str) -> _Node | None:
        return _inherited(chain, root, name)

    nu = get("proxy_next_upstream")
    if nu is None:
        words: tuple[str, ...] = DEFAULT_NEXT_UPSTREAM
        notes.append(_note("default", "proxy_next_upstream", "not set: default 'error timeout'"))
    else:
        words = nu.args
        bad = [w for w in words if w not in _NEXT_UPSTREAM_WORDS]
        if not words or bad:
            allowed = " ".join(sorted(_NEXT_UPSTREAM_WORDS))
            raise BadInput(
                f"unknown value {bad[0]!r} (allowed: {allowed})" if bad else "expects a value",
                file=file,
                line=nu.line,
                field="proxy_next_upstream",
            )
    off = "off" in words
    if off and len(words) > 1:
        notes.append(_note("quirk", "proxy_next_upstream", "'off' wins over the other values"))

    tries_node = get("proxy_next_upstream_tries")
    tries = 0
    if tries_node is not None:
        if len(tries_node.args) != 1 or not tries_node.args[0].isdigit():
            raise BadInput(
                "expected one integer >= 0 (0 = unlimited)",
                file=file,
                line=tries_node.line,
                field="proxy_next_upstream_tries",
            )
        tries = int(tries_node.args[0])
    upstream = _upstream_of(proxy_pass, root, context, file)
    if tries == 0:
        if upstream.servers is not None:
            max_retries = upstream.servers - 1
            bound = f"{upstream.described}: at most {max_retries} retries"
        else:
            max_retries = UNLIMITED_TRIES_BOUND
            bound = f"server count unknown: bounded at {UNLIMITED_TRIES_BOUND} retries"
        notes.append(
            _note(
                "default",
                "proxy_next_upstream_tries",
                f"{'not set' if tries_node is None else '0'}: unlimited tries, but nginx tries "
                f"each server at most once per request; {bound}",
            )
        )
    else:
        max_retries = tries - 1
    if off:
        max_retries = 0

    read = get("proxy_read_timeout")
    read_s = _duration_s(read, file) if read is not None else DEFAULT_READ_TIMEOUT_S
    if read is None:
        notes.append(_note("default", "proxy_read_timeout", "not set: default 60s"))
    connect = get("proxy_connect_timeout")
    connect_s = _duration_s(connect, file) if connect is not None else DEFAULT_CONNECT_TIMEOUT_S
    deadline = get("proxy_next_upstream_timeout")
    deadline_s = _duration_s(deadline, file) if deadline is not None else 0.0
    if deadline is None:
        notes.append(
            _note("default", "proxy_next_upstream_timeout", "not set: default 0 (no deadline)")
        )

    active = () if off else words
    retry_on = RetryOn(
        statuses=frozenset(STATUS_VALUES[w] for w in active if w in STATUS_VALUES),
        connect_failure="error" in active,
        reset="error" in active,
        per_try_timeout="timeout" in active,
    )
    if "timeout" in active:
        notes.append(
            _note(
                "quirk",
                "proxy_read_timeout",
                f"the per-try timeout is proxy_read_timeout = {read_s:g}s between two reads of "
                f"the response (connecting is bounded by proxy_connect_timeout = {connect_s:g}s)",
            )
        )
    if "error" not in active and "timeout" in active:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream",
                "without 'error' a refused connection is not retried; only a connect timeout is",
            )
        )
    if "invalid_header" in active:
        notes.append(
            _note("quirk", "proxy_next_upstream", "invalid_header has no canonical counterpart")
        )
    if "non_idempotent" in active:
        methods = MethodRule()
    else:
        methods = MethodRule(retryable=RETRYABLE_METHODS, connect_failure_any_method=True)
        if active:
            notes.append(
                _note(
                    "default",
                    "proxy_next_upstream",
                    "no non_idempotent: POST, LOCK and PATCH are not passed to the next server "
                    "once the request was sent (connect failures still are)",
                )
            )

    not_judged: list[Unmodelled] = []
    keepalive = upstream.keepalive
    single_keepalive = keepalive is not None and "error" in active and upstream.servers == 1
    if single_keepalive:
        # One peer: ngx_http_upstream_free_round_robin_peer sets tries = 0 after any failure,
        # and only an error on a cached connection gives a try back (tries++). So statuses,
        # timeouts and failed connects end the request; a reset on a reused connection is
        # retried, on the same server.
        retry_on = RetryOn(reset=True)
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream",
                f"{upstream.described} with keepalive: only an error (reset, no answer) on a "
                "REUSED keep-alive connection is retried, on the same server; a status "
                f"({' '.join(w for w in active if w in STATUS_VALUES) or 'none listed'}), a "
                "timeout or a failed connect ends the request after one attempt (a single "
                "peer gets tries = 0 after any failure; only an error on a cached connection "
                "gives a try back)",
                source=f"{_SRC_RR}; {_SRC_NEXT}",
            )
        )
    if keepalive is not None and "error" in active:
        reason = (
            "a failure (error) on a reused, cached keep-alive connection does not use up a try "
            "(ngx_http_upstream_next: u->peer.tries++ when u->peer.cached), so a request may "
            "get more retries than proxy_next_upstream_tries allows and a single-server "
            "upstream does retry, to the same server; how many depends on which connections "
            "were reused, not on the config"
        )
        not_judged.append(
            Unmodelled(
                aspects=frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM}),
                native=f"keepalive {' '.join(keepalive.args)} in {upstream.described}",
                reason=reason,
                location=f"{keepalive.file or file}:{keepalive.line}",
            )
        )
        notes.append(
            _note(
                "quirk",
                "keepalive",
                f"{keepalive.where(file)}: not judged (max_retries, upstream): {reason}",
                source=_SRC_NEXT,
            )
        )
    if upstream.servers == 1 and max_retries > 0 and keepalive is None:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx never retries a single-server upstream without "
                f"keepalive (tries = 0 for peers->single), so the declared {max_retries} "
                "retries never happen",
                source=_SRC_RR,
            )
        )
    elif (
        upstream.servers is not None and max_retries > upstream.servers - 1 and not single_keepalive
    ):
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx tries each server at most once per request, so at "
                f"most {upstream.servers - 1} of the declared {max_retries} retries can happen"
                + (" (apart from errors on reused keep-alive connections)" if keepalive else ""),
                source=_SRC_RR,
            )
        )
    elif upstream.servers is None:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx tries each server at most once per request, so "
                "at most (servers - 1) retries can happen",
                source=_SRC_RR,
            )
        )
    if any("$" in a for a in proxy_pass.args):
        not_judged.append(
            Unmodelled(
                aspects=frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM}),
                native=f"proxy_pass {' '.join(proxy_pass.args)}",
                reason="the URL holds a variable: the servers, and so how many tries nginx can "
                "make, are resolved at run time",
                location=f"{proxy_pass.file or file}:{proxy_pass.line}",
            )
        )
    ifs = [b for b in chain if b.name == "if"] + [
        c for b in chain for c in b.children or [] if c.name == "if" and c not in chain
    ]
    for block in ifs:
        names = sorted({n.name for n in block.children or [] if n.name in _IF_ASPECTS})
        if chain[-1] is block or names:
            aspects = (
                frozenset(a for n in names for a in _IF_ASPECTS[n])
                if chain[-1] is not block
                else frozenset(Aspect)
            )
            not_judged.append(
                Unmodelled(
                    aspects=aspects,
                    native=f"if ({' '.join(block.args)}) {{ {' '.join(names) or 'proxy_pass'} }}",
                    reason="an 'if' block applies only to requests its condition matches at run "
                    "time; the harness does not evaluate nginx conditions",
                    location=f"{block.file or file}:{block.line}",
                )
            )
    for u in not_judged[1 if keepalive is not None and "error" in active else 0 :]:
        notes.append(
            _note(
                "quirk", u.native.split()[0], f"not judged: {u.native} at {u.location}: {u.reason}"
            )
        )
    passive = _passive_health_check(upstream, file)
    if passive:
        not_judged.extend(passive)
        notes.append(
            _note(
                "quirk",
                "max_fails",
                f"not judged (max_retries, upstream): {passive[0].native} at "
                f"{passive[0].location}"
                + (f" and {len(passive) - 1} more server line(s)" if len(passive) > 1 else "")
                + f": {passive[0].reason}",
                source=_SRC_PASSIVE,
            )
        )
    foreign, unreached = _foreign_servers(upstream, 1 if off else tries, file)
    not_judged.extend(foreign)
    notes.extend(unreached)
    if foreign:
        notes.append(
            _note(
                "quirk",
                "server",
                f"not judged (max_retries, upstream, backoff; so client agreement too): "
                f"{foreign[0].native} at {foreign[0].location}"
                + (f" and {len(foreign) - 1} more server line(s)" if len(foreign) > 1 else "")
                + f": {foreign[0].reason}",
                source=_SRC_FOREIGN,
            )
        )
    buffering = get("proxy_request_buffering")
    if buffering is not None and buffering.args == ("off",) and active:
        reason = (
            "off: a request whose body was still being streamed when it was sent is never "
            "passed to another server, but a body nginx had read whole with the headers is "
            "buffered after all and is retried; which one a request is depends on the client "
            "and the network, not on the config"
        )
        not_judged.append(
            Unmodelled(
                aspects=frozenset({Aspect.METHODS}),
                native="proxy_request_buffering off",
                reason=reason,
                location=f"{buffering.file or file}:{buffering.line}",
            )
        )
        notes.append(
            _note(
                "quirk",
                "proxy_request_buffering",
                f"not judged (methods): {reason}",
                source=f"{_NGINX_SRC}ngx_http_request_body.c (a body pre-read whole clears "
                f"request_body_no_buffering); {_NGINX_SRC}ngx_http_upstream.c "
                "(ngx_http_upstream_next)",
            )
        )

    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=retry_on,
        methods=methods,
        backoff=Backoff(base_s=0.0, multiplier=1.0),
        per_try_timeout_s=read_s or None,
        deadline_s=deadline_s or None,
        different_upstream=not single_keepalive,
        upstream_once=not single_keepalive,  # "each server at most once per request"
        not_judged=tuple(not_judged),
    )
    return AdaptedPolicy(
        system=SYSTEM,
        source_file=file,
        policy=policy,
        notes=notes,
        body_limit=_body_limit(get("client_max_body_size"), file),
    )


_SRC_PASSIVE = (
    "https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server (max_fails, "
    "fail_timeout; 'If there is only a single server in a group, max_fails, fail_timeout and "
    f"slow_start parameters are ignored'); {_NGINX_SRC}ngx_http_upstream_round_robin.c "
    "(ngx_http_upstream_get_peer skips a peer with fails >= max_fails within fail_timeout; "
    "peers->single takes no such check; ngx_http_upstream_free_round_robin_peer counts a "
    f"failure); {_NGINX_SRC}ngx_http_upstream.c (ngx_http_upstream_next: http_403/http_404 "
    "are no failure; ngx_http_upstream_test_next: a status passed to the client on the last "
    "try is none)"
)
_PASSIVE_REASON = (
    "nginx's passive health check: a server that had max_fails failed attempts (an error, a "
    "timeout, or a status proxy_next_upstream names that nginx passed on; not http_403/404) "
    "within fail_timeout is skipped for fail_timeout, so a later request gets fewer tries, "
    "other servers, or nginx's own 502 ('no live upstreams') after fewer attempts or none; "
    "which requests meet a server marked down depends on the timing of earlier failures, not "
    "on the config. max_fails=0 on every server turns it off; a group with one server is "
    "never marked down"
)


def _passive_health_check(upstream: _Upstream, file: str) -> list[Unmodelled]:
    """One :class:`Unmodelled` per ``server`` line of a multi-server upstream (or one whose
    size depends on the replica count) that lacks ``max_fails=0``: nginx's passive health
    check (``max_fails`` default 1, ``fail_timeout`` default 10s) decides at run time how many
    tries, and to which servers, a request gets. Empty for a single server (nginx never marks
    its only server down: ``peers->single``) and when every server sets ``max_fails=0``."""
    if upstream.servers == 1:
        return []
    out = []
    for srv in upstream.health_checked:
        written = _max_fails(srv)
        default = " (max_fails=1 fail_timeout=10s by default)" if written is None else ""
        out.append(
            Unmodelled(
                aspects=frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM}),
                native=f"server {' '.join(srv.args)}{default} in {upstream.described}",
                reason=_PASSIVE_REASON,
                location=f"{srv.file or file}:{srv.line}",
            )
        )
    return out


_SRC_FOREIGN = (
    "https://nginx.org/en/docs/http/ngx_http_upstream_module.html#server ('backup: marks the "
    "server as a backup server. It will be passed requests when the primary servers are "
    f"unavailable'); {_NGINX_SRC}ngx_http_upstream_round_robin.c "
    "(ngx_http_upstream_init_round_robin_peer: tries = primary + backup servers; "
    "ngx_http_upstream_get_round_robin_peer turns to the backup servers, peers->next, only "
    "when no primary is left untried for the request)"
)
_FOREIGN_REASON = (
    "the line names no harness placeholder ({{upstream_hostport}}, {{upstream_host}}, "
    "{{upstream_port}}, {{upstreams}}, {{upstream}}), so it is not one of the harness's "
    "backends: nginx's tries to it are attempts no journal records. They use up "
    "proxy_next_upstream_tries, they sit unseen between the journaled attempts, and nginx's "
    "answer for them (502 for a refused connection) reaches the client as the last answer"
)


def _foreign_servers(
    upstream: _Upstream, tries: int, file: str
) -> tuple[list[Unmodelled], list[AdapterNote]]:
    """The ``server`` lines of the upstream that are not harness backends: one
    :class:`Unmodelled` (max_retries, upstream, backoff) for each that a request can reach,
    a note for a ``backup`` line that no request reaches. nginx passes a request to the backup
    servers only once every primary server has had its try, so a backup is never reached when
    ``tries`` (``proxy_next_upstream_tries``; 0 = unlimited, retries off = 1) is at most the
    number of primary servers; this holds with max_fails=0 (a server marked down by the
    passive health check is its own not-judged entry)."""
    out: list[Unmodelled] = []
    unreached: list[AdapterNote] = []
    for srv in upstream.foreign:
        text = f"server {' '.join(srv.args)}"
        where = f"{srv.file or file}:{srv.line}"
        primaries = upstream.primaries
        if (
            "backup" in srv.args
            and primaries is not None
            and 0 < tries <= primaries
            and not upstream.health_checked
        ):
            unreached.append(
                _note(
                    "quirk",
                    "server",
                    f"{text} at {where} is not a harness backend, but as a backup it is never "
                    f"reached: proxy_next_upstream_tries {tries} ends every request within the "
                    f"{primaries} primary server(s)",
                    source=_SRC_FOREIGN,
                )
            )
            continue
        out.append(
            Unmodelled(
                aspects=FOREIGN_SERVER_ASPECTS,
                native=f"{text} in {upstream.described}",
                reason=_FOREIGN_REASON,
                location=where,
            )
        )
    return out, unreached


def _note(kind: str, field_name: str, text: str, *, source: str | None = None) -> AdapterNote:
    return note(kind, field_name, text, source=source or _SOURCE)

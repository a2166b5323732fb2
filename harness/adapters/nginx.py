"""Adapter: an nginx 1.22 ``nginx.conf`` (template) -> the canonical :class:`RetryPolicy`.

Owns the nginx tokenizer (``name args;`` directives, ``{}`` blocks, quotes, ``#`` comments,
``${var}`` and ``{{placeholder}}`` inside words), the choice of the proxied location, the
http -> server -> location inheritance of ``proxy_*`` directives and their mapping:

- ``proxy_next_upstream`` (default ``error timeout``): ``error`` -> connect failure + reset,
  ``timeout`` -> per-try timeout, ``http_5xx/403/404/429`` -> statuses, ``non_idempotent``
  lifts the POST/LOCK/PATCH rule, ``off`` turns retries off;
- ``proxy_next_upstream_tries`` (default 0 = unlimited) counts *all* tries incl. the first,
  so ``max_retries = tries - 1``; unlimited is bounded by the number of upstream servers;
- ``proxy_next_upstream_timeout`` (default 0 = none) -> ``deadline_s``;
- ``proxy_read_timeout`` (default 60s) -> ``per_try_timeout_s``.

Sources (``retry-semantics.md`` §9): nginx/nginx@3f6f7824 ``src/http/ngx_http_upstream.c``
(ngx_http_upstream_next), ``src/http/ngx_http_upstream_round_robin.c`` (one try per peer; a
single-server upstream gets ``tries = 0``);
https://nginx.org/en/docs/http/ngx_http_proxy_module.html (``proxy_next_upstream*``,
``proxy_read_timeout``) and https://nginx.org/en/docs/http/ngx_http_upstream_module.html
(``server ... max_fails fail_timeout``).

The file is read lexically, placeholders and all: an upstream ``server`` line with a per-replica
placeholder stands for ``context.upstream_servers`` servers; ``proxy_pass {{upstream}}`` is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.adapters.base import AdaptedPolicy, AdapterContext, AdapterNote
from harness.errors import BadInput
from harness.policy.model import Backoff, MethodRule, RetryOn, RetryPolicy

SYSTEM: str = "nginx"

DEFAULT_NEXT_UPSTREAM: tuple[str, ...] = ("error", "timeout")
DEFAULT_READ_TIMEOUT_S = 60.0
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
_SOURCE = "nginx.org ngx_http_proxy_module; retry-semantics.md §9"
_PER_REPLICA = re.compile(r"\{\{\s*upstream_(hostport|host|port|index)\s*\}\}")


@dataclass
class _Node:
    """One directive: ``name args;`` or ``name args { children }``."""

    name: str
    args: tuple[str, ...]
    line: int
    children: list[_Node] | None = None


class _Lexer:
    """Splits nginx config text into words, ``;``, ``{`` and ``}`` with their line numbers."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.pos = 0
        self.line = 1

    def tokens(self) -> list[tuple[str, int, bool]]:
        """(token, line, is_word); quoted strings are words even if they look like ``;``."""
        out: list[tuple[str, int, bool]] = []
        t = self.text
        while self.pos < len(t):
            ch = t[self.pos]
            if ch == "\n":
                self.line += 1
                self.pos += 1
            elif ch.isspace():
                self.pos += 1
            elif ch == "#":
                while self.pos < len(t) and t[self.pos] != "\n":
                    self.pos += 1
            elif ch in ";{}" and not t.startswith("{{", self.pos):
                out.append((ch, self.line, False))
                self.pos += 1
            else:
                line = self.line
                out.append((self._word(), line, True))
        return out

    def _word(self) -> str:
        t = self.text
        buf: list[str] = []
        if t[self.pos] in "\"'":
            quote = t[self.pos]
            start_line = self.line
            self.pos += 1
            while self.pos < len(t) and t[self.pos] != quote:
                if t[self.pos] == "\\" and self.pos + 1 < len(t):
                    self.pos += 1
                if t[self.pos] == "\n":
                    self.line += 1
                buf.append(t[self.pos])
                self.pos += 1
            if self.pos >= len(t):
                raise BadInput(f"unterminated {quote} quote", file=self.file, line=start_line)
            self.pos += 1
            return "".join(buf)
        while self.pos < len(t):
            ch = t[self.pos]
            if t.startswith("{{", self.pos):
                end = t.find("}}", self.pos)
                if end < 0:
                    raise BadInput("unterminated {{placeholder}}", file=self.file, line=self.line)
                buf.append(t[self.pos : end + 2])
                self.pos = end + 2
            elif t.startswith("${", self.pos):
                end = t.find("}", self.pos)
                if end < 0:
                    raise BadInput("unterminated ${variable}", file=self.file, line=self.line)
                buf.append(t[self.pos : end + 1])
                self.pos = end + 1
            elif ch.isspace() or ch in ";{}":
                break
            else:
                if ch == "\\" and self.pos + 1 < len(t):
                    self.pos += 1
                buf.append(t[self.pos])
                self.pos += 1
        return "".join(buf)


def _parse(text: str, file: str) -> list[_Node]:
    tokens = _Lexer(text, file).tokens()
    root: list[_Node] = []
    stack: list[tuple[list[_Node], _Node | None]] = [(root, None)]
    words: list[tuple[str, int]] = []
    for tok, line, is_word in tokens:
        if is_word:
            words.append((tok, line))
            continue
        if tok == "}":
            if words:
                raise BadInput(
                    "missing ';' before '}'", file=file, line=words[0][1], field=words[0][0]
                )
            if len(stack) == 1:
                raise BadInput("unexpected '}'", file=file, line=line)
            stack.pop()
            continue
        if not words:
            raise BadInput(f"unexpected {tok!r}", file=file, line=line)
        node = _Node(words[0][0], tuple(w for w, _ in words[1:]), words[0][1])
        stack[-1][0].append(node)
        words = []
        if tok == "{":
            node.children = []
            stack.append((node.children, node))
    if words:
        raise BadInput("missing ';' at end of file", file=file, line=words[0][1], field=words[0][0])
    if len(stack) > 1:
        opened = stack[-1][1]
        assert opened is not None
        raise BadInput("unclosed '{'", file=file, line=opened.line, field=opened.name)
    return root


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
    """nginx time: ``500ms``, ``30s``, ``1m30s``, ``2``(s); units ms s m h d w M y."""
    if len(node.args) != 1:
        raise BadInput("expected one time value", file=file, line=node.line, field=node.name)
    value = node.args[0]
    scale = {
        "ms": 1e-3,
        "s": 1.0,
        "m": 60.0,
        "h": 3600.0,
        "d": 86400.0,
        "w": 604800.0,
        "M": 2592000.0,
        "y": 31536000.0,
    }
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|M|y)?\s*", value)
    if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|M|y)?\s*)+", value) or not parts:
        raise BadInput(
            f"expected a time like 500ms, 30s, 1m30s (got {value!r})",
            file=file,
            line=node.line,
            field=node.name,
        )
    return sum(int(n) * scale[u or "s"] for n, u in parts)


@dataclass(frozen=True)
class _Upstream:
    servers: int | None  # None = depends on an unknown replica count
    described: str
    zero_max_fails: bool


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
            1,
            f"proxy_pass {url}: a single server (unless its name resolves to several addresses)",
            zero_max_fails=False,
        )
    block = blocks[-1]
    assert block.children is not None
    total: int | None = 0
    all_zero = True
    for srv in (n for n in block.children if n.name == "server"):
        if "down" in srv.args:
            continue
        all_zero = all_zero and "max_fails=0" in srv.args
        per_replica = any(_PER_REPLICA.search(a) for a in srv.args)
        n = context.upstream_servers if per_replica else 1
        total = None if total is None or n is None else total + n
    if total == 0:
        raise BadInput(
            "has no usable server lines", file=file, line=block.line, field=f"upstream {host}"
        )
    shown = "an unknown number of" if total is None else str(total)
    return _Upstream(total, f"upstream {host} ({shown} servers)", zero_max_fails=all_zero)


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

    def server_of(chain: tuple[_Node, ...]) -> int:
        servers = [n.line for n in chain if n.name == "server"]
        return servers[-1] if servers else 0

    first_server = server_of(candidates[0][0])
    in_server = [c for c in candidates if server_of(c[0]) == first_server]
    slash = [c for c in in_server if c[0][-1].name == "location" and c[0][-1].args == ("/",)]
    chosen = slash[0] if slash else in_server[0]
    loc = chosen[0][-1]
    why = f"{loc.name} {' '.join(loc.args)} (line {loc.line})".replace("  ", " ")
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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read the nginx config: {err}", file=file) from err
    root = _parse(text, file)
    chain, proxy_pass, why = _choose_location(root, file)
    notes = [_note("default", "location", f"policy read from {why}")]
    for chain_all in _walk(root):
        for n in chain_all[-1].children or []:
            if n.name == "include":
                notes.append(
                    _note("quirk", "include", f"line {n.line}: included files are not read")
                )
    for n in root:
        if n.name == "include":
            notes.append(_note("quirk", "include", f"line {n.line}: included files are not read"))

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

    if upstream.servers == 1 and max_retries > 0:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx never retries a single-server upstream "
                f"(tries = 0 for peers->single), so the declared {max_retries} retries "
                "never happen",
            )
        )
    elif upstream.servers is not None and max_retries > upstream.servers - 1:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx tries each server at most once per request, so at "
                f"most {upstream.servers - 1} of the declared {max_retries} retries can happen",
            )
        )
    elif upstream.servers is None:
        notes.append(
            _note(
                "quirk",
                "proxy_next_upstream_tries",
                f"{upstream.described}: nginx tries each server at most once per request, so "
                "at most (servers - 1) retries can happen",
            )
        )
    if not upstream.zero_max_fails and upstream.servers != 1:
        notes.append(
            _note(
                "quirk",
                "max_fails",
                "servers without max_fails=0 are marked down for fail_timeout (default 10s) "
                "after max_fails (default 1) failures: later requests skip them",
            )
        )
    buffering = get("proxy_request_buffering")
    if buffering is not None and buffering.args == ("off",):
        notes.append(
            _note(
                "quirk",
                "proxy_request_buffering",
                "off: a request whose body was already sent is never passed to another server",
            )
        )
    if any("$" in a for a in proxy_pass.args):
        notes.append(
            _note("quirk", "proxy_pass", "the URL holds a variable: servers resolved at run time")
        )

    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=max_retries,
        retry_on=retry_on,
        methods=methods,
        backoff=Backoff(base_s=0.0, multiplier=1.0),
        per_try_timeout_s=read_s or None,
        deadline_s=deadline_s or None,
        different_upstream=True,
    )
    return AdaptedPolicy(system=SYSTEM, source_file=file, policy=policy, notes=notes)


def _note(kind: str, field_name: str, text: str) -> AdapterNote:
    return AdapterNote(kind=kind, field=field_name, text=text, source=_SOURCE)

"""Adapter: a Caddy 2.6 ``Caddyfile`` (template) -> the canonical :class:`RetryPolicy`.

Owns the Caddyfile tokenizer (whitespace-separated tokens, ``"..."`` and backtick quotes, ``#``
comments, a ``{`` ending a line opens a block, a lone ``}`` closes it; ``{placeholders}`` and
``{{template placeholders}}`` are ordinary tokens), the choice of the ``reverse_proxy`` block and
the mapping of its load-balancing retry subdirectives:

- ``lb_retries N`` -> N + 1 tries (``max_retries = N``);
- ``lb_try_duration`` -> ``deadline_s`` (measured from the handler start, attempts included);
- ``lb_try_interval`` -> a fixed delay (multiplier 1, no jitter, also before retry 1); its
  default is 250ms **only if** ``lb_try_duration`` > 0, otherwise 0 (back-to-back retries);
- dial errors are retried for any method; other errors only for GET unless ``lb_retry_match``;
  a completed round trip ends the loop, so **no status code is ever retried**.

Sources (``retry-semantics.md`` §11): caddyserver/caddy tag v2.6.4
``modules/caddyhttp/reverseproxy/reverseproxy.go`` (LoadBalancing, tryAgain, Provision),
``modules/caddyhttp/reverseproxy/caddyfile.go``;
https://caddyserver.com/docs/caddyfile/directives/reverse_proxy (load balancing subdirectives) and https://caddyserver.com/docs/conventions#durations.

The file is read lexically, placeholders and all: a ``to {{upstream_hostport}}`` line stands for
``context.upstream_servers`` upstreams.

Two findings of this harness against Caddy 2.6.2 are added as quirk notes (the declared policy
stays what the file and the docs say): with upstream keep-alive on (the default), Go's HTTP
transport replays an idempotent request on a reset reused connection by itself, on the same
upstream and outside ``lb_retries``/``lb_try_interval`` (``scenarios/caddy-keepalive-hidden-
retries.yaml``; ``keepalive off`` removes it); and ``lb_try_duration`` is checked before the
``lb_try_interval`` sleep, so the last attempt may start up to one interval after the try
duration (``scenarios/deadline.yaml``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters._common import parse_duration
from harness.adapters.base import AdaptedPolicy, AdapterContext, AdapterNote
from harness.errors import BadInput
from harness.policy.model import Backoff, JitterModel, MethodRule, RetryOn, RetryPolicy

SYSTEM: str = "caddy"

DEFAULT_TRY_INTERVAL_S = 0.25
"""``lb_try_interval`` when ``lb_try_duration`` > 0 and no interval is set (Provision)."""

UNBOUNDED_RETRIES = 100
"""``max_retries`` when only ``lb_try_duration`` limits retries and the interval is 0."""

_SOURCE = "caddyserver/caddy v2.6.4 reverseproxy.go (tryAgain); retry-semantics.md §11"
_FINDING = "finding of retry-harness against Caddy 2.6.2"
_PER_REPLICA = re.compile(r"\{\{\s*upstream_(hostport|host|port|index)\s*\}\}")
_DAYS = re.compile(r"(\d+(?:\.\d+)?)d")


@dataclass
class _Node:
    """One Caddyfile line: its tokens, line number and, if it opens a block, the block's lines."""

    name: str
    args: tuple[str, ...]
    line: int
    children: list[_Node] | None = None
    parent: _Node | None = field(default=None, repr=False)


def _tokenize_line(text: str, lineno: int, file: str) -> list[tuple[str, bool]]:
    """Tokens of one line as (token, was_quoted)."""
    tokens: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "#":
            break
        elif ch in '"`':
            end = i + 1
            buf: list[str] = []
            while end < len(text) and text[end] != ch:
                if ch == '"' and text[end] == "\\" and end + 1 < len(text):
                    end += 1
                buf.append(text[end])
                end += 1
            if end >= len(text):
                raise BadInput(f"unterminated {ch} quote", file=file, line=lineno)
            tokens.append(("".join(buf), True))
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace():
                end += 1
            tokens.append((text[i:end], False))
            i = end
    return tokens


def _parse(text: str, file: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[list[_Node], _Node | None]] = [(root, None)]
    for lineno, raw in enumerate(text.splitlines(), start=1):
        tokens = _tokenize_line(raw, lineno, file)
        if not tokens:
            continue
        if tokens == [("}", False)]:
            if len(stack) == 1:
                raise BadInput("unexpected '}'", file=file, line=lineno)
            stack.pop()
            continue
        opens = tokens[-1] == ("{", False)
        body = tokens[:-1] if opens else tokens
        for tok, quoted in body:
            if not quoted and tok in {"{", "}"}:
                raise BadInput(
                    f"'{tok}' must end a line ('{{') or stand alone ('}}')",
                    file=file,
                    line=lineno,
                    field=body[0][0],
                )
        parent = stack[-1][1]
        node = _Node(
            name=body[0][0] if body else "",
            args=tuple(t for t, _ in body[1:]),
            line=lineno,
            parent=parent,
        )
        stack[-1][0].append(node)
        if opens:
            node.children = []
            stack.append((node.children, node))
    if len(stack) > 1:
        opened = stack[-1][1]
        assert opened is not None
        raise BadInput("unclosed '{'", file=file, line=opened.line, field=opened.name or "{")
    return root


def _find(nodes: list[_Node], name: str) -> list[_Node]:
    out: list[_Node] = []
    for n in nodes:
        if n.name == name:
            out.append(n)
        # the global options block has an empty name; snippets are "(name)"
        if n.children is not None and n.name and not n.name.startswith("("):
            out.extend(_find(n.children, name))
    return out


def _duration_s(node: _Node, file: str) -> float:
    """Caddy duration: Go syntax ("250ms", "1.5s", "1m30s") plus Caddy's days ("1d")."""
    if len(node.args) != 1:
        raise BadInput("expected one duration", file=file, line=node.line, field=node.name)
    if node.args[0] == "0":  # Go accepts a bare zero
        return 0.0
    go_syntax = _DAYS.sub(lambda m: f"{float(m.group(1)) * 24:g}h", node.args[0])
    return parse_duration(go_syntax, file=file, field=node.name, line=node.line, unit_s=None)


def _last(block: list[_Node], name: str) -> _Node | None:
    found = None
    for n in block:
        if n.name == name:
            found = n
    return found


def _count_upstreams(rp: _Node, context: AdapterContext) -> int | None:
    tokens = list(rp.args)
    if tokens and (tokens[0] == "*" or tokens[0].startswith(("/", "@"))):
        tokens = tokens[1:]
    lines = [tokens]
    lines += [list(n.args) for n in rp.children or [] if n.name == "to"]
    total: int | None = 0
    for words in lines:
        for w in words:
            n = context.upstream_servers if _PER_REPLICA.search(w) else 1
            total = None if total is None or n is None else total + n
    return total


@dataclass(frozen=True)
class _RetryMatch:
    methods: frozenset[str] | None
    unmodelled: tuple[str, ...]


def _retry_match(node: _Node, file: str) -> _RetryMatch:
    """``lb_retry_match`` matchers: the methods of ``method`` matchers; others are unmodelled."""
    entries = [(node.args, node.line)] if node.args else []
    entries += [((c.name, *c.args), c.line) for c in node.children or []]
    if not entries:
        raise BadInput("expects a request matcher", file=file, line=node.line, field=node.name)
    methods: set[str] = set()
    unmodelled: list[str] = []
    for words, line in entries:
        if words[0] == "method" and len(words) > 1:
            methods |= {m.upper() for m in words[1:]}
        else:
            unmodelled.append(f"line {line}: {' '.join(words)}")
    return _RetryMatch(frozenset(methods) if methods else None, tuple(unmodelled))


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read ``path`` (a Caddyfile template) into the declared policy of its reverse_proxy."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read the Caddyfile: {err}", file=file) from err
    root = _parse(text, file)
    proxies = _find(root, "reverse_proxy")
    if not proxies:
        raise BadInput("no reverse_proxy directive", file=file, field="reverse_proxy")
    rp = proxies[0]
    why = f"policy read from the reverse_proxy at line {rp.line}"
    if len(proxies) > 1:
        why += f": the first of {len(proxies)} (the others are not read)"
    notes = [_note("default", "reverse_proxy", why)]
    for imp in _find(root, "import"):
        notes.append(_note("quirk", "import", f"line {imp.line}: imported files are not read"))
    block = rp.children or []

    retries_node = _last(block, "lb_retries")
    retries = 0
    if retries_node is not None:
        if len(retries_node.args) != 1 or not retries_node.args[0].isdigit():
            raise BadInput(
                "expected one integer >= 0", file=file, line=retries_node.line, field="lb_retries"
            )
        retries = int(retries_node.args[0])
    duration_node = _last(block, "lb_try_duration")
    duration_s = _duration_s(duration_node, file) if duration_node is not None else 0.0
    interval_node = _last(block, "lb_try_interval")
    if interval_node is not None:
        interval_s = _duration_s(interval_node, file)
    elif duration_s > 0:
        interval_s = DEFAULT_TRY_INTERVAL_S
        notes.append(
            _note(
                "default",
                "lb_try_interval",
                "not set and lb_try_duration > 0: default 250ms between tries",
            )
        )
    else:
        interval_s = 0.0
        if retries > 0:
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
    elif duration_s > 0 and interval_s > 0:
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
    elif duration_s > 0:
        max_retries = UNBOUNDED_RETRIES
        notes.append(
            _note(
                "quirk",
                "lb_try_interval",
                f"0 with lb_try_duration and no lb_retries: retries spin without pause until "
                f"the duration ends; bounded here at {UNBOUNDED_RETRIES}",
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

    match_node = _last(block, "lb_retry_match")
    if match_node is None:
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
        match = _retry_match(match_node, file)
        methods = MethodRule(retryable=match.methods, connect_failure_any_method=True)
        for entry in match.unmodelled:
            notes.append(_note("quirk", "lb_retry_match", f"matcher not modelled: {entry}"))
        notes.append(
            _note(
                "quirk",
                "lb_retry_match",
                "replaces the GET-only rule: only matching requests are retried after a "
                "connection was made (GET too only if it matches)",
            )
        )

    transport = next((n for n in block if n.name == "transport" and n.args[:1] == ("http",)), None)
    header_timeout = None
    keepalive = None
    if transport is not None:
        header_timeout = _last(transport.children or [], "response_header_timeout")
        keepalive = _last(transport.children or [], "keepalive")
    if keepalive is None or keepalive.args[:1] != ("off",):
        notes.append(
            AdapterNote(
                kind="quirk",
                field="transport http.keepalive",
                text="upstream keep-alive is on (the default): when a REUSED connection is reset "
                "before any response byte, Go's HTTP transport under Caddy replays an idempotent "
                "request (GET, HEAD, OPTIONS, TRACE, or one with an Idempotency-Key header) by "
                "itself, ~2 ms later, on the same upstream, outside lb_retries and without "
                "lb_try_interval: hidden retries beyond the declared count. 'keepalive off' in "
                "the http transport removes them",
                source=f"{_FINDING} (scenarios/caddy-keepalive-hidden-retries.yaml); Go "
                "net/http persistConn.shouldRetryRequest",
            )
        )
    per_try_s = _duration_s(header_timeout, file) if header_timeout is not None else 0.0
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
            AdapterNote(
                kind="quirk",
                field="lb_try_duration",
                text=f"checked BEFORE Caddy sleeps lb_try_interval, so the last attempt can "
                f"start up to one interval after the try duration: attempts may start until "
                f"{duration_s:g}s + {interval_s:g}s = {duration_s + interval_s:g}s, not "
                f"{duration_s:g}s (the declared deadline is the documented {duration_s:g}s)",
                source=f"{_FINDING} (scenarios/deadline.yaml); reverseproxy.go "
                "LoadBalancing.tryAgain",
            )
        )
    upstreams = _count_upstreams(rp, context)
    if upstreams == 1 and max_retries > 0:
        notes.append(_note("quirk", "to", "one upstream: every retry goes to the same server"))
    for name in ("fail_duration", "max_fails", "unhealthy_status"):
        if _last(block, name) is not None:
            notes.append(
                _note(
                    "quirk",
                    name,
                    "passive health checks can mark an upstream down; with none left the "
                    "request fails with no retry to a backend",
                )
            )
            break

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
    )
    return AdaptedPolicy(system=SYSTEM, source_file=file, policy=policy, notes=notes)


def _note(kind: str, field_name: str, text: str) -> AdapterNote:
    return AdapterNote(kind=kind, field=field_name, text=text, source=_SOURCE)

"""Adapter: an HAProxy 2.6 ``haproxy.cfg`` (template) -> the canonical :class:`RetryPolicy`.

Owns the HAProxy tokenizer (sections + keyword lines, quotes, comments), the ``defaults``
inheritance into the chosen backend, and the mapping of ``retries`` / ``retry-on`` /
``timeout server`` / ``timeout connect`` / ``option redispatch`` /
``http-request disable-l7-retry`` to the policy.

Sources (see ``retry-semantics.md`` §10, HAProxy 2.6):

- haproxy/haproxy tag v2.6.0 ``doc/configuration.txt``: ``retries`` (default 3, one counter for
  connection and layer-7 retries), ``retry-on`` (default ``conn-failure``; the keyword list and
  the expansion of ``all-retryable-errors``), ``option redispatch [<interval>]`` (default
  interval -1: only the last retry goes to another server), ``http-request disable-l7-retry``;
  https://docs.haproxy.org/2.6/configuration.html#4.2-retry-on
- ``src/backend.c`` (back_handle_st_cer): after a connection error the retry to the *same*
  server waits ``min(timeout connect, 1s)``; ``src/http_ana.c`` (do_l7_retry): layer-7 retries
  are immediate.
- 2.6.0 off-by-one (only ``retries - 1`` retries), fixed by bc6b23813 (connection retries) and
  41ade746c (layer-7 retries), both backported to the 2.6 branch.

The file is read lexically, placeholders (``{{listen}}``, ``{{upstream_hostport}}`` ...) and all.
A ``server`` line with a per-replica placeholder stands for ``context.upstream_servers`` servers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters.base import AdaptedPolicy, AdapterContext, AdapterNote
from harness.errors import BadInput
from harness.policy.model import Backoff, MethodRule, RetryOn, RetryPolicy

SYSTEM: str = "haproxy"

DEFAULT_RETRIES = 3
"""``retries`` when no section sets it (configuration.txt, ``retries``)."""

DEFAULT_RETRY_ON: tuple[str, ...] = ("conn-failure",)
"""``retry-on`` when no section sets it (configuration.txt, ``retry-on``)."""

CONN_RETRY_DELAY_CAP_S = 1.0
"""A connection retry to the same server waits min(timeout connect, 1 s) (backend.c)."""

RETRY_ON_STATUSES: frozenset[int] = frozenset({401, 403, 404, 408, 425, 500, 501, 502, 503, 504})
"""The status codes ``retry-on`` accepts in 2.6."""

ALL_RETRYABLE_ERRORS: tuple[str, ...] = (
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
    "0rtt-rejected",
    "500",
    "502",
    "503",
    "504",
)
"""What ``all-retryable-errors`` turns on (configuration.txt 2.6, ``retry-on``)."""

_RETRY_ON_WORDS = frozenset(
    {"none", "conn-failure", "empty-response", "junk-response", "response-timeout", "0rtt-rejected"}
)
_L7_WORDS = frozenset(ALL_RETRYABLE_ERRORS) - {"conn-failure"} | {str(s) for s in RETRY_ON_STATUSES}
_PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
_OTHER_SECTIONS = frozenset(
    {
        "global",
        "userlist",
        "peers",
        "resolvers",
        "mailers",
        "program",
        "http-errors",
        "ring",
        "cache",
        "fcgi-app",
    }
)
_METHOD_ACL = re.compile(r"^METH_([A-Z]+)$")
_ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"})
_SOURCE = "HAProxy 2.6 configuration.txt; retry-semantics.md §10"


@dataclass(frozen=True)
class _Line:
    words: tuple[str, ...]
    line: int


@dataclass
class _Section:
    kind: str
    name: str
    line: int
    parent: str | None = None  # ``from <defaults>``
    lines: list[_Line] = field(default_factory=list)

    def last(self, *keyword: str) -> _Line | None:
        """The last line starting with ``keyword`` (later lines override earlier ones)."""
        n = len(keyword)
        found = None
        for ln in self.lines:
            if ln.words[:n] == keyword:
                found = ln
        return found

    def all(self, *keyword: str) -> list[_Line]:
        n = len(keyword)
        return [ln for ln in self.lines if ln.words[:n] == keyword]


def _split_words(text: str, file: str, lineno: int) -> tuple[str, ...]:
    """Split one config line into words: quotes, backslash escapes, ``#`` comments."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\" and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            else:
                cur.append(ch)
        elif ch == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            in_word = True
            i += 1
        elif ch in "\"'":
            quote = ch
            in_word = True
        elif ch == "#":
            break
        elif ch.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
        i += 1
    if quote is not None:
        raise BadInput(f"unterminated {quote} quote", file=file, line=lineno)
    if in_word:
        words.append("".join(cur))
    return tuple(words)


def _parse_sections(text: str, file: str) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        words = _split_words(raw, file, lineno)
        if not words:
            continue
        head = words[0]
        if head in _PROXY_SECTIONS or head in _OTHER_SECTIONS:
            name = words[1] if len(words) > 1 and words[1] != "from" else ""
            if head in {"frontend", "backend", "listen"} and not name:
                raise BadInput(f"a {head} section needs a name", file=file, line=lineno, field=head)
            parent = None
            if "from" in words:
                at = words.index("from")
                if at + 1 >= len(words):
                    raise BadInput(
                        "'from' needs a defaults name", file=file, line=lineno, field=head
                    )
                parent = words[at + 1]
            current = _Section(kind=head, name=name, line=lineno, parent=parent)
            sections.append(current)
        elif current is None:
            raise BadInput(
                "keyword outside any section (expected global, defaults, frontend, backend or "
                "listen first)",
                file=file,
                line=lineno,
                field=head,
            )
        else:
            current.lines.append(_Line(words, lineno))
    return sections


def _duration_s(value: str, file: str, line: int, field: str) -> float:
    """HAProxy time: a number with an optional unit us/ms/s/m/h/d; no unit means ms."""
    m = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", value)
    if not m:
        raise BadInput(
            f"expected a time like 500, 500ms, 2s, 1m (got {value!r})",
            file=file,
            line=line,
            field=field,
        )
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    return int(m.group(1)) * scale[m.group(2) or "ms"]


@dataclass
class _Effective:
    """The settings that matter, after ``defaults`` inheritance; each with its line or None."""

    mode: str = "tcp"
    retries: int | None = None
    retries_line: int | None = None
    retry_on: tuple[str, ...] | None = None
    retry_on_line: int | None = None
    timeout_server_s: float | None = None
    timeout_connect_s: float | None = None
    redispatch: int | None = None  # the interval; None = off


def _apply(sec: _Section, eff: _Effective, file: str) -> None:
    for ln in sec.lines:
        w = ln.words
        if w[0] == "mode" and len(w) > 1:
            eff.mode = w[1]
        elif w[0] == "retries":
            if len(w) != 2 or not w[1].isdigit():
                raise BadInput(
                    "expected one integer >= 0", file=file, line=ln.line, field="retries"
                )
            eff.retries, eff.retries_line = int(w[1]), ln.line
        elif w[0] == "retry-on":
            eff.retry_on, eff.retry_on_line = _check_retry_on(w[1:], file, ln.line), ln.line
        elif w[0] == "timeout" and len(w) >= 2 and w[1] in {"server", "connect"}:
            if len(w) != 3:
                raise BadInput(
                    "expected one time value", file=file, line=ln.line, field=f"timeout {w[1]}"
                )
            value = _duration_s(w[2], file, ln.line, f"timeout {w[1]}")
            if w[1] == "server":
                eff.timeout_server_s = value or None
            else:
                eff.timeout_connect_s = value or None
        elif w[:2] == ("option", "redispatch"):
            interval = -1
            if len(w) > 2:
                if not re.fullmatch(r"-?\d+", w[2]):
                    raise BadInput(
                        f"expected an integer interval (got {w[2]!r})",
                        file=file,
                        line=ln.line,
                        field="option redispatch",
                    )
                interval = int(w[2])
            eff.redispatch = interval if interval != 0 else None
        elif w[:3] == ("no", "option", "redispatch"):
            eff.redispatch = None


def _check_retry_on(words: tuple[str, ...], file: str, line: int) -> tuple[str, ...]:
    if not words:
        raise BadInput("expects at least one keyword", file=file, line=line, field="retry-on")
    out: list[str] = []
    for w in words:
        if w == "all-retryable-errors":
            out.extend(ALL_RETRYABLE_ERRORS)
        elif w in _RETRY_ON_WORDS or (w.isdigit() and int(w) in RETRY_ON_STATUSES):
            out.append(w)
        else:
            allowed = " ".join(
                sorted(_RETRY_ON_WORDS)
                + [str(s) for s in sorted(RETRY_ON_STATUSES)]
                + ["all-retryable-errors"]
            )
            raise BadInput(
                f"unknown keyword {w!r} (allowed: {allowed})",
                file=file,
                line=line,
                field="retry-on",
            )
    if "none" in out and len(set(out)) > 1:
        raise BadInput("'none' cannot be combined", file=file, line=line, field="retry-on")
    return tuple(dict.fromkeys(out))


def _defaults_for(
    proxy: _Section, sections: list[_Section], file: str, seen: frozenset[str] = frozenset()
) -> list[_Section]:
    """The chain of defaults sections ``proxy`` inherits from, outermost first."""
    if proxy.parent is not None:
        named = [s for s in sections if s.kind == "defaults" and s.name == proxy.parent]
        if not named or proxy.parent in seen:
            raise BadInput(
                f"no defaults section named {proxy.parent!r}",
                file=file,
                line=proxy.line,
                field=proxy.kind,
            )
        base = named[-1]
        return [*_defaults_for(base, sections, file, seen | {proxy.parent}), base]
    if proxy.kind == "defaults":
        return []
    before = [s for s in sections if s.kind == "defaults" and s.line < proxy.line]
    return before[-1:]


def _choose_backend(sections: list[_Section], file: str) -> tuple[_Section, _Section | None, str]:
    """The backend whose policy is read, the frontend in front of it, and why it was chosen."""
    backends = [s for s in sections if s.kind in {"backend", "listen"} and s.all("server")]
    frontends = [s for s in sections if s.kind == "frontend"]
    if not backends:
        raise BadInput("no backend or listen section with server lines", file=file, field="backend")
    if frontends:
        fe = frontends[0]
        default = fe.last("default_backend")
        if default is not None and len(default.words) == 2:
            named = [s for s in sections if s.kind in {"backend", "listen"}]
            match = [s for s in named if s.name == default.words[1]]
            if not match:
                raise BadInput(
                    f"names an unknown backend {default.words[1]!r}",
                    file=file,
                    line=default.line,
                    field="default_backend",
                )
            why = f"backend {match[0].name!r}: the default_backend of frontend {fe.name!r}"
            if len(frontends) > 1:
                why += " (the first of several frontends)"
            return match[0], fe, why
    if len(backends) == 1:
        return (
            backends[0],
            (frontends[0] if frontends else None),
            (f"{backends[0].kind} {backends[0].name!r}: the only section with server lines"),
        )
    listens = [s for s in backends if s.kind == "listen"]
    if listens:
        return listens[0], None, f"listen {listens[0].name!r}: the first listen section"
    raise BadInput(
        "several backends and no frontend default_backend to choose by",
        file=file,
        field="default_backend",
    )


def _disable_l7(
    sections: tuple[_Section, ...], file: str
) -> tuple[bool, frozenset[str] | None, list[str]]:
    """``http-request disable-l7-retry`` rules: (unconditional?, methods excluded, unmodelled)."""
    unconditional = False
    excluded: set[str] = set()
    unmodelled: list[str] = []
    for sec in sections:
        for ln in sec.all("http-request", "disable-l7-retry"):
            cond = ln.words[2:]
            if not cond:
                unconditional = True
                continue
            methods = _methods_of_condition(cond)
            if methods is None:
                unmodelled.append(f"line {ln.line}: {' '.join(ln.words)}")
            else:
                excluded |= methods
    return unconditional, (frozenset(excluded) if excluded else None), unmodelled


def _methods_of_condition(cond: tuple[str, ...]) -> set[str] | None:
    """``if METH_POST [|| METH_PUT ...]`` -> {"POST", ...}; anything else -> None."""
    if len(cond) < 2 or cond[0] != "if":
        return None
    methods: set[str] = set()
    for i, word in enumerate(cond[1:]):
        if i % 2 == 1:
            if word not in {"||", "or"}:
                return None
            continue
        m = _METHOD_ACL.match(word)
        if not m:
            return None
        methods.add(m.group(1))
    return methods


def _server_count(backend: _Section, context: AdapterContext) -> int | None:
    total = 0
    for ln in backend.all("server"):
        if any("{{upstream_" in w for w in ln.words):
            if context.upstream_servers is None:
                return None
            total += context.upstream_servers
        else:
            total += 1
    return total


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read ``path`` (an haproxy.cfg template) into the declared policy of its chosen backend."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read the HAProxy config: {err}", file=file) from err
    sections = _parse_sections(text, file)
    backend, frontend, why = _choose_backend(sections, file)
    notes: list[AdapterNote] = [
        AdapterNote(kind="default", field="backend", text=f"policy read from {why}", source=_SOURCE)
    ]

    eff = _Effective()
    for d in _defaults_for(backend, sections, file):
        _apply(d, eff, file)
    _apply(backend, eff, file)

    retries = eff.retries if eff.retries is not None else DEFAULT_RETRIES
    if eff.retries is None:
        notes.append(_default("retries", f"not set: HAProxy's default {DEFAULT_RETRIES} applies"))
    words = eff.retry_on if eff.retry_on is not None else DEFAULT_RETRY_ON
    if eff.retry_on is None:
        notes.append(_default("retry-on", "not set: HAProxy's default 'conn-failure' applies"))
    if eff.mode != "http":
        l7 = [w for w in words if w != "conn-failure"]
        if l7:
            notes.append(
                _quirk(
                    "mode",
                    f"mode is {eff.mode!r}, not http: retry-on is silently ignored outside HTTP "
                    f"mode, so {' '.join(l7)} do not apply; only connection failures are retried",
                )
            )
        words = ("conn-failure",)

    unconditional, excluded, unmodelled = _disable_l7(
        tuple(s for s in (frontend, backend) if s is not None), file
    )
    l7_words = [w for w in words if w in _L7_WORDS]
    if unconditional and l7_words:
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                "an unconditional rule turns layer-7 retries off: only conn-failure remains",
            )
        )
        words = tuple(w for w in words if w not in _L7_WORDS)
    for rule in unmodelled:
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                f"conditional rule not modelled (only 'if METH_X [|| METH_Y]' is): {rule}",
            )
        )

    statuses = frozenset(int(w) for w in words if w.isdigit())
    retry_on = RetryOn(
        statuses=statuses,
        connect_failure="conn-failure" in words,
        reset="empty-response" in words,
        per_try_timeout="response-timeout" in words,
    )
    if "none" in words:
        notes.append(_quirk("retry-on", "'none': no failure is retried whatever 'retries' says"))
    if "junk-response" in words:
        notes.append(
            _quirk(
                "retry-on",
                "junk-response (an invalid or truncated response) has no canonical counterpart; "
                "the harness's backends do not produce it",
            )
        )
    if "0rtt-rejected" in words:
        notes.append(_quirk("retry-on", "0rtt-rejected concerns TLS early data only; ignored"))

    methods = MethodRule()
    if excluded and l7_words and not unconditional:
        methods = MethodRule(retryable=_ALL_METHODS - excluded, connect_failure_any_method=True)
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                f"layer-7 retries are off for {', '.join(sorted(excluded))}; connection failures "
                "(request not sent) are still retried for every method",
            )
        )
    elif l7_words and not unconditional:
        notes.append(
            _quirk(
                "retry-on",
                "HAProxy has no method filter: layer-7 retries also replay POST and other "
                "non-idempotent requests (the docs warn; use http-request disable-l7-retry)",
            )
        )

    if eff.timeout_server_s is None:
        notes.append(
            _default("timeout server", "not set: attempts have no timeout (HAProxy warns)")
        )
    elif "response-timeout" not in words:
        notes.append(
            _quirk(
                "timeout server",
                f"an attempt is abandoned after {eff.timeout_server_s:g}s (a 504 in HTTP mode) "
                "and is not retried (response-timeout is not in retry-on)",
            )
        )
    if retry_on.connect_failure:
        connect = eff.timeout_connect_s
        wait = min(connect, CONN_RETRY_DELAY_CAP_S) if connect else CONN_RETRY_DELAY_CAP_S
        notes.append(
            _quirk(
                "timeout connect",
                f"a connection retry to the same server waits min(timeout connect, 1s) = "
                f"{wait:g}s (not in the backoff, which is 0: layer-7 retries are immediate)",
            )
        )
    if eff.redispatch is None:
        notes.append(
            _quirk(
                "option redispatch",
                "not set: retries stay on the server of the first attempt (inference from "
                "stream_choose_redispatch in src/stream.c)",
            )
        )
    else:
        where = (
            "only the last retry"
            if eff.redispatch == -1
            else "every retry"
            if eff.redispatch == 1
            else f"every {eff.redispatch}th retry"
            if eff.redispatch > 0
            else f"the retry {-eff.redispatch - 1} before the last"
        )
        notes.append(
            _quirk("option redispatch", f"{where} may go to another server; others reuse it")
        )
    if l7_words:
        notes.append(
            _quirk(
                "retry-on",
                "layer-7 retries need the whole request in one buffer (tune.bufsize); "
                "requests with larger bodies are not retried",
            )
        )
    notes.append(
        _quirk(
            "retries",
            "HAProxy 2.6.0 made only retries-1 retries (counter incremented before the check); "
            "fixed by bc6b23813 (connection) and 41ade746c (layer 7), backported to later 2.6.x",
        )
    )
    servers = _server_count(backend, context)
    if servers == 1 and eff.redispatch is not None:
        notes.append(_quirk("server", "one server: redispatch has nowhere else to go"))

    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=retries,
        retry_on=retry_on,
        methods=methods,
        backoff=Backoff(base_s=0.0, multiplier=1.0),
        per_try_timeout_s=eff.timeout_server_s,
        different_upstream=eff.redispatch == 1 and servers != 1,
    )
    return AdaptedPolicy(system=SYSTEM, source_file=file, policy=policy, notes=notes)


def _default(field_name: str, text: str) -> AdapterNote:
    return AdapterNote(kind="default", field=field_name, text=text, source=_SOURCE)


def _quirk(field_name: str, text: str) -> AdapterNote:
    return AdapterNote(kind="quirk", field=field_name, text=text, source=_SOURCE)

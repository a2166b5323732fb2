"""Adapter: an HAProxy 2.6 ``haproxy.cfg`` (template) -> the canonical :class:`RetryPolicy`.

Owns the HAProxy tokenizer (sections + keyword lines, quotes, comments), the ``defaults``
inheritance into the chosen backend, and the mapping of ``retries`` / ``retry-on`` /
``timeout server`` / ``timeout connect`` / ``option redispatch`` / ``option http-buffer-request``
/ ``http-request disable-l7-retry`` to the policy. Conditions of ``disable-l7-retry`` rules
(``if``/``unless``, ``!``, AND, ``or``/``||``, named, anonymous and predefined ACLs) are
evaluated per method by :mod:`harness.adapters.haproxy_conditions`; a condition that depends on
anything but the method becomes an :class:`~harness.policy.model.Unmodelled` entry (aspect
METHODS) instead of a guess, and a rule that can never be true gets a note saying it is dead.

Not judged (``RetryPolicy.not_judged``): such conditions; a frontend's conditional
``use_backend`` sending requests to another backend (everything, for the requests it may take);
and, without
``option http-buffer-request``, which requests with a body (POST, PUT, PATCH) get layer-7
retries (HAProxy drops them for a request not received completely when first sent); and a
``server`` line with health checks on (``check``, directly or from ``default-server``) or with
``observe`` (live traffic marks the server down): which server a retry goes to and how many
attempts a request gets (none: HAProxy's own 503 when every server is DOWN) then depend on
check results at run time (see :func:`_health_checked`); a ``server`` line that names no
harness placeholder (a literal address: not one of the harness's backends, so no journal sees
HAProxy's attempts to it): the retry count, the upstream and the backoff, unless it is a
``backup`` that no server's health check can make HAProxy use, or ``disabled`` (see
:func:`_foreign_servers`). Told the load's body size per method
(``AdapterContext.body_bytes``), a method whose body alone exceeds the usable buffer
(``tune.bufsize`` - ``tune.maxrewrite``) is declared not retried at layer 7 (a request not
fitting in one buffer never is, docs ``retry-on``), and one within
:data:`REQUEST_HEAD_ALLOWANCE` below it leaves methods not judged (see :func:`_body_fit`).

Sources (HAProxy 2.6):

- haproxy/haproxy tag v2.6.0 ``doc/configuration.txt``: ``retries`` (default 3, one counter for
  connection and layer-7 retries), ``retry-on`` (default ``conn-failure``; the keyword list and
  the expansion of ``all-retryable-errors``), ``option redispatch [<interval>]`` (default
  interval -1: only the last retry goes to another server), ``http-request disable-l7-retry``;
  https://docs.haproxy.org/2.6/configuration.html#4.2-retry-on
- ``src/backend.c`` (back_handle_st_cer): after a connection error the retry to the *same*
  server waits ``min(timeout connect, 1s)``; ``src/http_ana.c`` (do_l7_retry): layer-7 retries
  are immediate.
- the 2.6 off-by-one (only ``retries - 1`` retries): connection retries on 2.6.0-2.6.2 (fixed
  in 2.6.3 by bc6b23813), layer-7 retries on 2.6.0-2.6.9 (fixed in 2.6.10 by 41ade746c); see
  https://www.haproxy.org/download/2.6/src/CHANGELOG.

The file is read lexically, placeholders (``{{listen}}``, ``{{upstream_hostport}}`` ...) and all.
A ``server`` line with a per-replica placeholder stands for ``context.upstream_servers`` servers.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters import haproxy_conditions as conditions
from harness.adapters._common import note
from harness.adapters.base import FOREIGN_SERVER_ASPECTS, AdaptedPolicy, AdapterContext, AdapterNote
from harness.adapters.haproxy_conditions import AclTable
from harness.durations import DurationError, haproxy_seconds
from harness.errors import BadInput
from harness.policy.model import Aspect, Backoff, MethodRule, RetryOn, RetryPolicy, Unmodelled
from harness.suts.templating import is_per_replica, names_upstreams

SYSTEM: str = "haproxy"

DEFAULT_RETRIES = 3
"""``retries`` when no section sets it (configuration.txt, ``retries``)."""

DEFAULT_RETRY_ON: tuple[str, ...] = ("conn-failure",)
"""``retry-on`` when no section sets it (configuration.txt, ``retry-on``)."""

CONN_RETRY_DELAY_CAP_S = 1.0
"""A connection retry to the same server waits min(timeout connect, 1 s) (backend.c)."""

DEFAULT_BUFSIZE = 16384
"""``tune.bufsize`` when the global section does not set it (configuration.txt 3.2; ``haproxy
-vv`` of Debian's 2.6.12: ``bufsize = 16384, maxrewrite = 1024``)."""

DEFAULT_MAXREWRITE = 1024
"""``tune.maxrewrite`` when not set (``haproxy -vv``; configuration.txt 3.2: "automatically
readjusted to half of bufsize if it is larger than that")."""

REQUEST_HEAD_ALLOWANCE = 2048
"""Bytes left for the request line, the load's headers and HAProxy's own per-message overhead
when deciding that a body *fits* the buffer. The load's request line and headers are about 250
bytes; against real HAProxy 2.6.12 (default buffer, 15360 usable bytes) a POST from
python-requests with a 15000-byte body was retried and one with 15100 bytes was not (the test
``tests/integration/suts/test_haproxy_notes_live.py`` sends 14900 and 15300). A body between
the usable size less this allowance and the usable size is *not judged*; above the usable size
it never fits."""

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
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose requests usually carry a body (the http-buffer-request question)."""
_BACKEND_ONLY = frozenset({"retries", "retry-on"})
_RETRY_KEYWORDS = ("retries", "retry-on")
_RETRY_OPTIONS = ("redispatch", "http-buffer-request")
_KNOWN_HTTP_REQUEST = frozenset(
    {
        "add-acl",
        "add-header",
        "allow",
        "auth",
        "cache-use",
        "capture",
        "del-acl",
        "del-header",
        "del-map",
        "deny",
        "disable-l7-retry",
        "do-resolve",
        "early-hint",
        "normalize-uri",
        "redirect",
        "reject",
        "replace-header",
        "replace-path",
        "replace-pathq",
        "replace-uri",
        "replace-value",
        "return",
        "sc-inc-gpc",
        "sc-inc-gpc0",
        "sc-inc-gpc1",
        "sc-set-gpt",
        "sc-set-gpt0",
        "send-spoe-group",
        "set-bandwidth-limit",
        "set-dst",
        "set-dst-port",
        "set-header",
        "set-log-level",
        "set-map",
        "set-mark",
        "set-method",
        "set-nice",
        "set-path",
        "set-pathq",
        "set-priority-class",
        "set-priority-offset",
        "set-query",
        "set-src",
        "set-src-port",
        "set-timeout",
        "set-tos",
        "set-uri",
        "set-var",
        "set-var-fmt",
        "silent-drop",
        "strict-mode",
        "tarpit",
        "track-sc0",
        "track-sc1",
        "track-sc2",
        "unset-var",
        "use-service",
        "wait-for-body",
        "wait-for-handshake",
        "lua",
        "set-retries",
    }
)
_KNOWN_OPTIONS = frozenset(
    {
        "redispatch",
        "http-buffer-request",
        "httplog",
        "tcplog",
        "httpchk",
        "forwardfor",
        "http-server-close",
        "http-keep-alive",
        "httpclose",
        "dontlognull",
        "log-health-checks",
        "abortonclose",
        "allbackups",
        "http-no-delay",
        "http-pretend-keepalive",
        "http-use-htx",
        "log-separate-errors",
        "logasap",
        "prefer-last-server",
        "splice-auto",
        "splice-request",
        "splice-response",
        "tcp-check",
        "tcpka",
        "clitcpka",
        "srvtcpka",
        "transparent",
        "persist",
        "http-ignore-probes",
        "http-use-proxy-header",
        "independent-streams",
        "nolinger",
        "originalto",
        "socket-stats",
        "spop-check",
        "checkcache",
        "contstats",
        "disable-h2-upgrade",
        "accept-invalid-http-request",
        "accept-invalid-http-response",
        "h1-case-adjust-bogus-client",
        "h1-case-adjust-bogus-server",
        "http-restrict-req-hdr-names",
        "idle-close-on-response",
        "ldap-check",
        "mysql-check",
        "pgsql-check",
        "redis-check",
        "smtpchk",
        "ssl-hello-chk",
        "external-check",
        "dontlog-normal",
        "httpslog",
        "tcp-smart-accept",
        "tcp-smart-connect",
    }
)
_KNOWN_PROXY_KEYWORDS = frozenset(
    {
        "acl",
        "backlog",
        "balance",
        "bind",
        "bind-process",
        "capture",
        "compression",
        "cookie",
        "declare",
        "default-server",
        "default_backend",
        "description",
        "disabled",
        "dispatch",
        "email-alert",
        "enabled",
        "errorfile",
        "errorfiles",
        "errorloc",
        "errorloc302",
        "errorloc303",
        "error-log-format",
        "external-check",
        "force-persist",
        "filter",
        "fullconn",
        "grace",
        "hash-balance-factor",
        "hash-type",
        "http-after-response",
        "http-check",
        "http-error",
        "http-request",
        "http-response",
        "http-reuse",
        "http-send-name-header",
        "id",
        "ignore-persist",
        "load-server-state-from-file",
        "log",
        "log-format",
        "log-format-sd",
        "log-tag",
        "max-keep-alive-queue",
        "max-session-srv-conns",
        "maxconn",
        "mode",
        "monitor",
        "monitor-uri",
        "no",
        "option",
        "persist",
        "rate-limit",
        "redirect",
        "redispatch",
        "retries",
        "retry-on",
        "server",
        "server-state-file-name",
        "server-template",
        "source",
        "stats",
        "stick",
        "stick-table",
        "tcp-check",
        "tcp-request",
        "tcp-response",
        "timeout",
        "transparent",
        "unique-id-format",
        "unique-id-header",
        "use-fcgi-app",
        "use-server",
        "use_backend",
        "uri",
        "nbthread",
    }
)
_DOC = "https://docs.haproxy.org/2.6/configuration.html"
_DOC_KEYWORDS = "https://docs.haproxy.org/2.6/configuration.html#4.1"
_DOC_USE_BACKEND = "https://docs.haproxy.org/2.6/configuration.html#4.2-use_backend"
_DOC_RETRY_ON = "https://docs.haproxy.org/2.6/configuration.html#4.2-retry-on"
_DOC_REDISPATCH = "https://docs.haproxy.org/2.6/configuration.html#4.2-option%20redispatch"
_DOC_DISABLE = "https://docs.haproxy.org/2.6/configuration.html#4.2-http-request%20disable-l7-retry"
_DOC_CONDITIONS = (
    "https://docs.haproxy.org/2.6/configuration.html#7.2 (conditions) and #7.4 (predefined "
    "ACLs); https://github.com/haproxy/haproxy/blob/v2.6.0/src/acl.c (parse_acl_cond)"
)
_DOC_BUFFER = "https://docs.haproxy.org/2.6/configuration.html#4.2-option%20http-buffer-request"
_DOC_BUFSIZE = (
    "https://docs.haproxy.org/2.6/configuration.html#4.2-retry-on ('Requests not fitting in a "
    "single buffer will never be retried'), #3.2-tune.bufsize ('If an HTTP request is larger "
    "than (tune.bufsize - tune.maxrewrite)...'), #3.2-tune.maxrewrite"
)
_DOC_HEALTH = (
    "https://docs.haproxy.org/2.6/configuration.html#5.2-check (a server is marked DOWN after "
    "'fall' consecutive failed checks, UP after 'rise'), #5.2-observe ('enabling it also "
    "requires to enable health checks'), #5.2-on-error (fail-check default, fastinter, "
    "sudden-death, mark-down), #5.2-error-limit (default 10), #5.3 (default-server); "
    "#5.2-agent-check, #5.2-track; #4.2-option%20redispatch and #4.2-retries (a retry to a "
    "server that went down)"
)
_SRC_L7_SEND = (
    "https://github.com/haproxy/haproxy/blob/v2.6.0/src/stconn.c (sc_conn_send: the L7-retry "
    "flag is dropped when the request is not complete, req.msg_state != HTTP_MSG_DONE, at the "
    "first send)"
)
_SRC_BACKEND = "https://github.com/haproxy/haproxy/blob/v2.6.0/src/backend.c (back_handle_st_cer)"
_SRC_STREAM = (
    "https://github.com/haproxy/haproxy/blob/v2.6.0/include/haproxy/stream.h "
    "(stream_choose_redispatch)"
)


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
    """HAProxy time (:func:`harness.durations.haproxy_seconds`); no unit means ms."""
    try:
        return haproxy_seconds(value)
    except DurationError as exc:
        raise BadInput(str(exc), file=file, line=line, field=field) from None


@dataclass
class _Effective:
    """The settings that matter, after ``defaults`` inheritance (``retry-on`` with its line)."""

    mode: str = "tcp"
    retries: int | None = None
    retry_on: tuple[str, ...] | None = None
    retry_on_line: int | None = None
    timeout_server_s: float | None = None
    timeout_connect_s: float | None = None
    redispatch: int | None = None  # the interval; None = off
    buffer_request: bool = False  # option http-buffer-request


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
            eff.retries = int(w[1])
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
            eff.redispatch = interval  # 0 is documented as disabling it
        elif w[:3] == ("no", "option", "redispatch"):
            eff.redispatch = None
        elif w[:2] == ("option", "http-buffer-request"):
            eff.buffer_request = True
        elif w[:3] == ("no", "option", "http-buffer-request"):
            eff.buffer_request = False


@dataclass(frozen=True)
class _Buffer:
    """HAProxy's request buffer: ``tune.bufsize`` less the ``tune.maxrewrite`` reserve is the
    most a request (line, headers and body) may take to fit in one buffer."""

    bufsize: int
    maxrewrite: int
    where: str  # the global lines that set it, or HAProxy's defaults

    @property
    def usable(self) -> int:
        return self.bufsize - self.maxrewrite


def _tune_number(ln: _Line, file: str) -> int:
    if len(ln.words) != 2 or not ln.words[1].isdigit() or int(ln.words[1]) == 0:
        raise BadInput("expected one integer > 0", file=file, line=ln.line, field=ln.words[0])
    return int(ln.words[1])


def _buffer(sections: list[_Section], file: str) -> _Buffer:
    """``tune.bufsize`` and ``tune.maxrewrite`` of the global section(s) (the last line wins),
    or their defaults. bufsize is rounded up to a multiple of 16 (64-bit machines) and
    maxrewrite cut to half of bufsize, as configuration.txt 3.2 says HAProxy does."""
    bufsize, maxrewrite = DEFAULT_BUFSIZE, DEFAULT_MAXREWRITE
    written: list[str] = []
    for sec in sections:
        if sec.kind != "global":
            continue
        for ln in sec.lines:
            if ln.words[0] == "tune.bufsize":
                bufsize = -(-_tune_number(ln, file) // 16) * 16
            elif ln.words[0] == "tune.maxrewrite":
                maxrewrite = _tune_number(ln, file)
            else:
                continue
            written.append(f"{file}:{ln.line}: {' '.join(ln.words)}")
    maxrewrite = min(maxrewrite, bufsize // 2)
    where = "; ".join(written) if written else "HAProxy's defaults"
    return _Buffer(bufsize=bufsize, maxrewrite=maxrewrite, where=where)


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
            allowed_words = (
                sorted(_RETRY_ON_WORDS)
                + [str(s) for s in sorted(RETRY_ON_STATUSES)]
                + ["all-retryable-errors"]
            )
            close = difflib.get_close_matches(w, allowed_words, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise BadInput(
                f"unknown keyword {w!r} ({hint}allowed: {' '.join(allowed_words)})",
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


def _routed_elsewhere(frontend: _Section, backend: _Section, file: str) -> list[Unmodelled]:
    """The frontend's conditional ``use_backend`` rules that send requests to another backend.

    HAProxy evaluates ``use_backend`` rules in order and the first whose condition holds picks
    the backend (docs 4.2 "use_backend"); the requests a rule takes get that backend's retry
    settings, and which requests match (a path, a header, a method) is not evaluated here, so
    everything the policy says is not judged for them: the harness cannot tell them apart."""
    out = []
    for ln in frontend.all("use_backend"):
        if len(ln.words) < 2 or ln.words[1] == backend.name:
            continue
        if len(ln.words) == 2:
            break  # unconditional: chosen by _choose_backend, nothing after it is reached
        out.append(
            Unmodelled(
                aspects=frozenset(Aspect),
                native=" ".join(ln.words),
                reason=f"requests matching the condition go to backend {ln.words[1]!r}, not "
                f"{backend.name!r} whose policy is read; which requests match is not evaluated",
                location=f"{file}:{ln.line}",
            )
        )
    return out


def _named_backend(sections: list[_Section], ln: _Line, file: str, field: str) -> _Section:
    """The backend or listen section ``ln`` (``use_backend NAME`` / ``default_backend NAME``)
    names; BadInput naming the line when there is none (HAProxy refuses it too)."""
    name = ln.words[1]
    for s in sections:
        if s.kind in {"backend", "listen"} and s.name == name:
            return s
    raise BadInput(f"names an unknown backend {name!r}", file=file, line=ln.line, field=field)


def _choose_backend(sections: list[_Section], file: str) -> tuple[_Section, _Section | None, str]:
    """The backend whose policy is read, the frontend in front of it, and why it was chosen."""
    backends = [s for s in sections if s.kind in {"backend", "listen"} and s.all("server")]
    frontends = [s for s in sections if s.kind == "frontend"]
    if not backends:
        raise BadInput("no backend or listen section with server lines", file=file, field="backend")
    if frontends:
        fe = frontends[0]
        for ln in fe.all("use_backend"):
            if len(ln.words) == 2:  # unconditional: every request not taken by a rule before it
                chosen = _named_backend(sections, ln, file, "use_backend")
                why = f"backend {chosen.name!r}: the unconditional use_backend of {fe.name!r}"
                return chosen, fe, why
        default = fe.last("default_backend")
        if default is not None and len(default.words) == 2:
            chosen = _named_backend(sections, default, file, "default_backend")
            why = f"backend {chosen.name!r}: the default_backend of frontend {fe.name!r}"
            if len(frontends) > 1:
                why += " (the first of several frontends)"
            return chosen, fe, why
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


@dataclass
class _L7Rules:
    """What the ``http-request disable-l7-retry`` rules do, per method."""

    disabled: frozenset[str] = frozenset()  # some rule is true for the method
    undecided: frozenset[str] = frozenset()  # some rule may be true (depends on more)
    unmodelled: list[Unmodelled] = field(default_factory=list)
    dead: list[_Line] = field(default_factory=list)


def _disable_l7(sections: tuple[_Section, ...], file: str) -> _L7Rules:
    """Evaluate every ``http-request disable-l7-retry`` rule (frontend first, then backend).

    ACLs are read in file order per section (HAProxy refuses an ACL used before its ``acl``
    line); conditions go through :mod:`harness.adapters.haproxy_conditions`.
    """
    out = _L7Rules()
    disabled: set[str] = set()
    undecided: set[str] = set()
    for sec in sections:
        acls = AclTable()
        for ln in sec.lines:
            if ln.words[0] == "acl":
                acls.declare(ln.words[1:], file=file, line=ln.line)
                continue
            if ln.words[:2] != ("http-request", "disable-l7-retry"):
                continue
            cond = ln.words[2:]
            truth = (
                conditions.TRUE
                if not cond
                else conditions.parse_condition(
                    cond,
                    acls.acls,
                    file=file,
                    line=ln.line,
                    field_name="http-request disable-l7-retry",
                )
            )
            disabled |= truth.true
            undecided |= truth.unknown
            if not truth.true and not truth.unknown:
                out.dead.append(ln)
            if truth.unknown:
                out.unmodelled.append(
                    Unmodelled(
                        aspects=frozenset({Aspect.METHODS}),
                        native=" ".join(ln.words),
                        reason=(
                            "whether layer-7 retries are switched off for "
                            f"{', '.join(m for m in conditions.METHODS if m in truth.unknown)} "
                            f"depends on {', '.join(truth.unknowns)}, which is not decided by "
                            "the config and the method alone"
                        ),
                        location=f"{file}:{ln.line}",
                    )
                )
    out.disabled = frozenset(disabled)
    out.undecided = frozenset(undecided - disabled)
    return out


def _server_count(backend: _Section, context: AdapterContext) -> int | None:
    total = 0
    for ln in backend.all("server"):
        if is_per_replica(" ".join(ln.words)):
            if context.upstream_servers is None:
                return None
            total += context.upstream_servers
        else:
            total += 1
    return total


_HEALTH_REASON = (
    "HAProxy's health checks: a server that fails 'fall' consecutive checks (active: a TCP "
    "connect, or the HTTP check of option httpchk; passive with observe: live responses, "
    "a 5xx counting as an error at layer 7, after error-limit errors) is marked DOWN, so later "
    "requests and redispatched retries go to other servers, and with every server DOWN "
    "HAProxy answers 503 itself after no attempt; whether and when a server is DOWN depends "
    "on the faults and their timing at run time, not on the config. The checks' own "
    "connections (HTTP requests with option httpchk) also reach the backends"
)
_HEALTH_WORDS = ("check", "observe", "agent-check", "track")
"""Server keywords that let HAProxy mark the server DOWN at run time (``no-<word>`` resets)."""


def _health_checked(
    backend: _Section, chain: list[_Section], servers: int | None, file: str
) -> list[Unmodelled]:
    """One :class:`Unmodelled` per ``server`` line with health checks or ``observe`` on.

    ``check`` (set on the line or inherited from a ``default-server`` line of the ``defaults``
    chain or of the backend above it; ``no-check`` resets it) starts active checks; ``observe
    layer4|layer7`` (with ``on-error``, ``error-limit``) marks servers down from live traffic;
    ``agent-check`` (``no-agent-check`` resets it) lets an agent answer "down"; ``track`` takes
    another server's check state (docs 5.2 ``agent-check``, ``track``).
    Aspects: the retry count (a request may get fewer attempts, none at all when every server
    is DOWN: HAProxy's 503) and, with several servers, the upstream of each attempt.

    Not exempted, and why: a TCP-connect check (``check`` without ``option httpchk``) fails only
    when the server refuses or does not accept connections, which the harness's faults
    (replica loss, pauses) do at times the config cannot tell; the docs say ``observe`` needs
    ``check``, yet HAProxy 2.6.12 accepts ``observe`` alone without a warning, so the harness
    does not assume it is inert. A line without any of them stays judged (docs 5.2 ``check``: "By
    default, a server is always considered available")."""
    inherited = dict.fromkeys(_HEALTH_WORDS, False)

    def absorb(words: tuple[str, ...], state: dict[str, bool]) -> None:
        for i, w in enumerate(words):
            if w in state:  # 'observe none' is the default: off
                state[w] = not (w == "observe" and words[i + 1 : i + 2] == ("none",))
            elif w.startswith("no-") and w[3:] in state:
                state[w[3:]] = False

    for d in chain:
        for ln in d.all("default-server"):
            absorb(ln.words[1:], inherited)
    aspects = frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    if servers == 1:
        aspects = frozenset({Aspect.MAX_RETRIES})
    out: list[Unmodelled] = []
    for ln in backend.lines:
        if ln.words[0] == "default-server":
            absorb(ln.words[1:], inherited)
            continue
        if ln.words[0] != "server":
            continue
        state = dict(inherited)
        absorb(ln.words[2:], state)
        on = [k for k in _HEALTH_WORDS if state[k]]
        if not on:
            continue
        from_default = [k for k in on if k not in ln.words]
        shown = " ".join(ln.words)
        if from_default:
            shown += f" ({' and '.join(from_default)} from default-server)"
        out.append(
            Unmodelled(
                aspects=aspects,
                native=f"{shown} in {backend.kind} {backend.name}",
                reason=_HEALTH_REASON,
                location=f"{file}:{ln.line}",
            )
        )
    return out


_DOC_BACKUP = (
    'https://docs.haproxy.org/2.6/configuration.html#5.2-backup (\'When "backup" is '
    "present on a server line, the server is only used in load balancing when all other "
    "non-backup servers are unavailable'), #5.2-check ('By default, a server is always "
    "considered available'), #5.2-disabled (starts in maintenance mode)"
)
_FOREIGN_REASON = (
    "the line names no harness placeholder ({{upstream_hostport}}, {{upstream_host}}, "
    "{{upstream_port}}, {{upstreams}}, {{upstream}}), so it is not one of the harness's "
    "backends: HAProxy's attempts to it are attempts no journal records. They use up "
    "retries, they sit unseen between the journaled attempts, and HAProxy's answer for them "
    "(503 after a refused connection) reaches the client as the last answer"
)


def _foreign_servers(
    backend: _Section, health_checked: bool, file: str
) -> tuple[list[Unmodelled], list[AdapterNote]]:
    """The ``server`` lines of the backend that are not harness backends: one
    :class:`Unmodelled` (max_retries, upstream, backoff) for each that HAProxy may send an
    attempt to, a note for each it never uses: a ``disabled`` server (maintenance), and a
    ``backup`` while no server has health checks on (``health_checked``): HAProxy uses a backup
    only when every non-backup server is unavailable, and a server without checks is always
    available (docs 5.2 ``backup``, ``check``)."""
    out: list[Unmodelled] = []
    unused: list[AdapterNote] = []
    for ln in backend.lines:
        if ln.words[0] != "server" or names_upstreams(" ".join(ln.words)):
            continue
        text = " ".join(ln.words)
        if "disabled" in ln.words[2:] or ("backup" in ln.words[2:] and not health_checked):
            why = (
                "disabled: it starts in maintenance and gets no traffic"
                if "disabled" in ln.words[2:]
                else "a backup gets requests only when every other server is unavailable, "
                "and without health checks a server is always available"
            )
            unused.append(
                _quirk(
                    "server",
                    f"line {ln.line}: '{text}' is not a harness backend, but HAProxy never "
                    f"uses it: {why}",
                    source=_DOC_BACKUP,
                )
            )
            continue
        out.append(
            Unmodelled(
                aspects=FOREIGN_SERVER_ASPECTS,
                native=f"{text} in {backend.kind} {backend.name}",
                reason=_FOREIGN_REASON,
                location=f"{file}:{ln.line}",
            )
        )
    return out, unused


def load(path: Path, context: AdapterContext) -> AdaptedPolicy:
    """Read ``path`` (an haproxy.cfg template) into the declared policy of its chosen backend."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read the HAProxy config: {err}", file=file) from err
    sections = _parse_sections(text, file)
    for sec in sections:
        if sec.kind in _PROXY_SECTIONS:
            _refuse_misspelt(sec, file)
    backend, frontend, why = _choose_backend(sections, file)
    notes: list[AdapterNote] = [note("default", "backend", f"policy read from {why}", source=_DOC)]
    if frontend is not None:
        for ln in frontend.lines:
            if ln.words[0] in _BACKEND_ONLY or ln.words[:2] == ("option", "redispatch"):
                notes.append(
                    _quirk(
                        ln.words[0],
                        f"line {ln.line}: '{' '.join(ln.words)}' in a frontend has no effect "
                        "(a backend keyword; HAProxy warns and ignores it); the backend's "
                        "value applies",
                        source=_DOC_KEYWORDS,
                    )
                )

    eff = _Effective()
    chain = _defaults_for(backend, sections, file)
    for d in chain:
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

    rules = _disable_l7(tuple(s for s in (frontend, backend) if s is not None), file)
    l7_words = [w for w in words if w in _L7_WORDS]
    not_judged: list[Unmodelled] = []
    if frontend is not None:
        for u in _routed_elsewhere(frontend, backend, file):
            not_judged.append(u)
            notes.append(
                _quirk(
                    "use_backend",
                    f"not judged (everything): {u.native}: {u.reason}",
                    source=_DOC_USE_BACKEND,
                )
            )
    for d in chain:
        for ln in d.all("http-request", "disable-l7-retry"):
            if not d.name:  # HAProxy 2.6: "not allowed in anonymous 'defaults' section" (fatal)
                raise BadInput(
                    "http-request rules are not allowed in an anonymous defaults section "
                    "(HAProxy refuses the config); name it ('defaults mydefaults') and use it "
                    "with 'from', or move the rule to the frontend or backend",
                    file=file,
                    line=ln.line,
                    field="http-request",
                )
            if not l7_words:
                continue
            reason = (
                "http-request rules of a defaults section (HAProxy 2.5+, named defaults used "
                "with 'from') are not evaluated by the harness (only the frontend's and the "
                "backend's are)"
            )
            not_judged.append(
                Unmodelled(
                    aspects=frozenset({Aspect.METHODS, Aspect.STATUSES, Aspect.RESETS}),
                    native=" ".join(ln.words),
                    reason=reason,
                    location=f"{file}:{ln.line}",
                )
            )
            notes.append(
                _quirk(
                    "http-request disable-l7-retry",
                    f"line {ln.line}: not judged (methods, statuses, resets): {reason}",
                    source=_DOC_DISABLE,
                )
            )
    for ln in rules.dead:
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                f"line {ln.line}: '{' '.join(ln.words)}' is dead: its condition is false for "
                "every method (one request has one method), so it never switches anything off",
                source=_DOC_CONDITIONS,
            )
        )
    all_off = rules.disabled >= frozenset(conditions.METHODS)
    conn_failure = "conn-failure" in words
    if all_off and l7_words:
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                "the rules switch layer-7 retries off for every method: "
                + (
                    "only conn-failure remains"
                    if conn_failure
                    else "and retry-on has no conn-failure, so nothing is retried"
                ),
                source=_DOC_DISABLE,
            )
        )
        words = tuple(w for w in words if w not in _L7_WORDS)
        l7_words = []
    if l7_words:
        not_judged.extend(rules.unmodelled)
        for u in rules.unmodelled:
            notes.append(
                _quirk(
                    "http-request disable-l7-retry",
                    f"not judged (methods): {u.native} at {u.location}: {u.reason}",
                    source=_DOC_CONDITIONS,
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
    retryable = frozenset(conditions.METHODS) - rules.disabled
    if l7_words and rules.disabled:
        methods = MethodRule(retryable=retryable, connect_failure_any_method=conn_failure)
        notes.append(
            _quirk(
                "http-request disable-l7-retry",
                f"layer-7 retries are off for {', '.join(sorted(rules.disabled))} (retried: "
                f"{', '.join(m for m in conditions.METHODS if m in retryable)}); "
                + (
                    "connection failures (request not sent) are still retried for every method"
                    if conn_failure
                    else "connection failures are not retried at all (retry-on has no "
                    "conn-failure: back_handle_st_cer retries a failed connect only with it)"
                ),
                source=_DOC_DISABLE,
            )
        )
    elif l7_words and not rules.undecided:
        notes.append(
            _quirk(
                "retry-on",
                "HAProxy has no method filter: layer-7 retries also replay POST and other "
                "non-idempotent requests (the docs warn; use http-request disable-l7-retry)",
                source=_DOC_RETRY_ON,
            )
        )
    buffer = _buffer(sections, file)
    too_big, unsure = _body_fit(context, buffer, retryable if l7_words else frozenset())
    bodies = context.body_bytes or {}
    if too_big:
        retryable -= frozenset(too_big)
        methods = MethodRule(retryable=retryable, connect_failure_any_method=conn_failure)
        notes.append(
            _quirk(
                "tune.bufsize",
                f"the load's {', '.join(too_big)} requests carry "
                f"{', '.join(sorted({str(bodies[m]) for m in too_big}))}-byte bodies "
                f"({context.body_source or 'load.body_bytes'}), more than fits in one buffer "
                f"(tune.bufsize {buffer.bufsize} - tune.maxrewrite {buffer.maxrewrite} = "
                f"{buffer.usable} bytes; "
                f"{buffer.where}): HAProxy never retries them at layer 7, so the policy "
                f"retries {', '.join(too_big)} only after a connection failure"
                + ("" if conn_failure else " (and retry-on has no conn-failure: never)"),
                source=_DOC_BUFSIZE,
            )
        )
    if unsure:
        sizes = sorted({bodies[m] for m in unsure})
        reason = (
            f"a body of {', '.join(map(str, sizes))} bytes is within "
            f"{REQUEST_HEAD_ALLOWANCE} bytes of what fits in one buffer (tune.bufsize "
            f"{buffer.bufsize} - tune.maxrewrite {buffer.maxrewrite} = {buffer.usable} bytes for "
            "the request line, headers and body, less HAProxy's own overhead; "
            f"{buffer.where}): whether the whole request fits, and so gets layer-7 retries, "
            "depends on its headers and HAProxy's internal layout, not on the config alone"
        )
        not_judged.append(
            Unmodelled(
                aspects=frozenset({Aspect.METHODS}),
                native=f"{', '.join(unsure)} with load.body_bytes {', '.join(map(str, sizes))} "
                f"and tune.bufsize {buffer.bufsize}",
                reason=reason,
                location=context.body_source,
            )
        )
        notes.append(
            _quirk(
                "tune.bufsize",
                f"not judged (methods): {reason}; a body below "
                f"{buffer.usable - REQUEST_HEAD_ALLOWANCE} or above {buffer.usable} bytes is "
                "judged",
                source=_DOC_BUFSIZE,
            )
        )
    body_methods = [
        m
        for m in conditions.METHODS
        if m in _BODY_METHODS & (retryable - rules.undecided) and m not in unsure
    ]
    if l7_words and body_methods:
        if eff.buffer_request:
            notes.append(
                _quirk(
                    "option http-buffer-request",
                    "set: HAProxy waits for the whole request body before connecting, so "
                    "requests with a body are complete when first sent and stay retryable",
                    source=_DOC_BUFFER,
                )
            )
        else:
            construct = (
                f"retry-on {' '.join(l7_words)} without option http-buffer-request "
                f"({', '.join(body_methods)} layer-7 retryable)"
            )
            reason = (
                "HAProxy keeps layer-7 retries only for a request it had received completely "
                "when first sending it to a server; whether a request with a body was (body in "
                "the same packet as the headers) or not (body sent later: never retried) "
                "depends on the client and the network, not on the config"
            )
            not_judged.append(
                Unmodelled(
                    aspects=frozenset({Aspect.METHODS}),
                    native=construct,
                    reason=reason,
                    location=f"{file}:{eff.retry_on_line}" if eff.retry_on_line else None,
                )
            )
            notes.append(
                _quirk(
                    "option http-buffer-request",
                    f"not set: not judged (methods): {reason}. 'option http-buffer-request' "
                    "makes them retryable",
                    source=f"{_SRC_L7_SEND}; {_DOC_BUFFER}",
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
                source=_SRC_BACKEND,
            )
        )
    servers = _server_count(backend, context)
    several = servers is None or servers > 1
    checked = _health_checked(backend, chain, servers, file)
    for u in checked:
        not_judged.append(u)
        affected = ", ".join(sorted(a.value for a in u.aspects))
        notes.append(
            _quirk("server", f"not judged ({affected}): {u.native}: {u.reason}", source=_DOC_HEALTH)
        )
    foreign, unused = _foreign_servers(backend, bool(checked), file)
    notes.extend(unused)
    for u in foreign:
        not_judged.append(u)
        notes.append(
            _quirk(
                "server",
                f"not judged (max_retries, upstream, backoff; so client agreement too): "
                f"{u.native} at {u.location}: {u.reason}",
                source=_DOC_BACKUP,
            )
        )
    notes.append(_redispatch_note(eff.redispatch, several))
    if l7_words:
        notes.append(
            _quirk(
                "retry-on",
                "layer-7 retries need the whole request in one buffer (tune.bufsize "
                f"{buffer.bufsize} - tune.maxrewrite {buffer.maxrewrite} = {buffer.usable} "
                "bytes for the request line, headers and body); requests with larger bodies "
                "are not retried"
                + (
                    ""
                    if context.body_bytes is not None
                    else " (a scenario's load.body_bytes is compared with it; here none is)"
                ),
                source=_DOC_BUFSIZE,
            )
        )
    notes.append(
        _quirk(
            "retries",
            "on HAProxy 2.6.0 to 2.6.2 a request gets only retries-1 connection retries "
            "(fixed in 2.6.3 by bc6b23813) and on 2.6.0 to 2.6.9 only retries-1 layer-7 "
            "retries (fixed in 2.6.10 by 41ade746c): the counter was incremented before the "
            "check. The policy declares the documented count, which 2.6.10 and later make "
            "(the CI's Debian 2.6.12 makes all of them)",
            source="https://github.com/haproxy/haproxy/commit/"
            "bc6b23813fd2b0cf08ee9051f00ed9986ed1036e and https://github.com/haproxy/haproxy/"
            "commit/41ade746c727596d5ac6fa10446be25c19d39362; "
            "https://www.haproxy.org/download/2.6/src/CHANGELOG (2.6.3, 2.6.10)",
        )
    )
    if servers == 1 and eff.redispatch is not None:
        notes.append(
            _quirk(
                "server", "one server: redispatch has nowhere else to go", source=_DOC_REDISPATCH
            )
        )

    policy = RetryPolicy(
        system=SYSTEM,
        max_retries=retries,
        retry_on=retry_on,
        methods=methods,
        backoff=Backoff(base_s=0.0, multiplier=1.0),
        per_try_timeout_s=eff.timeout_server_s,
        # any redispatch moves every retry on 2.6.12 (test_haproxy_notes_live.py)
        different_upstream=eff.redispatch is not None and several,
        not_judged=tuple(not_judged),
    )
    return AdaptedPolicy(system=SYSTEM, source_file=file, policy=policy, notes=notes)


def _body_fit(
    context: AdapterContext, buffer: _Buffer, l7_retryable: frozenset[str]
) -> tuple[list[str], list[str]]:
    """Of the layer-7 retryable methods the load sends a body with (``context.body_bytes``):
    those whose body alone is larger than the usable buffer (the request never fits: never
    retried at layer 7, configuration.txt ``retry-on``), and those within
    :data:`REQUEST_HEAD_ALLOWANCE` of it (whether the request fits is not decided here)."""
    too_big: list[str] = []
    unsure: list[str] = []
    for m in conditions.METHODS:
        size = (context.body_bytes or {}).get(m)
        if size is None or m not in l7_retryable:
            continue
        if size > buffer.usable:
            too_big.append(m)
        elif size > buffer.usable - REQUEST_HEAD_ALLOWANCE:
            unsure.append(m)
    return too_big, unsure


def _redispatch_note(interval: int | None, several: bool) -> AdapterNote:
    """What ``option redispatch [<interval>]`` does to where retries go.

    The docs give the interval a meaning (every Nth retry, the last one, 0: disabled). HAProxy
    2.6.12 does not follow it with several servers: any ``option redispatch``, 0 included, moved
    every retry, connection or layer-7, to another server at once, with ``balance roundrobin``
    and with ``leastconn`` (``tests/integration/suts/test_haproxy_notes_live.py``)."""
    if interval is None:
        return _quirk(
            "option redispatch",
            "not set: every retry stays on the server of the first attempt",
            source=f"{_DOC_REDISPATCH}; {_SRC_STREAM}",
        )
    shown = "-1 (the default interval)" if interval == -1 else str(interval)
    if not several:
        text = f"{shown}: one server, every retry stays on it"
    else:
        text = (
            f"{shown}: every retry, connection or layer-7, may go to another server at once, "
            "whatever the interval (HAProxy 2.6.12, shown with balance roundrobin and "
            "leastconn; the docs say the interval picks which retries move and that 0 "
            "disables redispatching)"
        )
    return _quirk(
        "option redispatch",
        text,
        source=f"{_DOC_REDISPATCH}; {_SRC_STREAM}; finding of retry-harness against HAProxy "
        "2.6.12 (tests/integration/suts/test_haproxy_notes_live.py)",
    )


def _refuse_misspelt(sec: _Section, file: str) -> None:
    """BadInput for a near miss of a retry keyword HAProxy does not know (it refuses them too)."""
    for ln in sec.lines:
        w = ln.words
        candidates: tuple[str, ...] = ()
        word = w[0]
        if word not in _KNOWN_PROXY_KEYWORDS:
            candidates, shown = _RETRY_KEYWORDS, word
        elif word == "option" and len(w) > 1 and w[1] not in _KNOWN_OPTIONS:
            candidates, word, shown = _RETRY_OPTIONS, w[1], f"option {w[1]}"
        elif word == "http-request" and len(w) > 1 and w[1] not in _KNOWN_HTTP_REQUEST:
            candidates, word, shown = ("disable-l7-retry",), w[1], f"http-request {w[1]}"
        if not candidates:
            continue
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
        if close:
            raise BadInput(
                f"unknown keyword {shown!r} in a {sec.kind} section; did you mean "
                f"{close[0]!r}? (HAProxy refuses it too)",
                file=file,
                line=ln.line,
                field=shown,
            )


def _default(field_name: str, text: str, *, source: str | None = None) -> AdapterNote:
    return note("default", field_name, text, source=source or _DOC)


def _quirk(field_name: str, text: str, *, source: str | None = None) -> AdapterNote:
    return note("quirk", field_name, text, source=source or _DOC)

"""Real HAProxy 2.6 shows what the haproxy adapter claims.

* Conditions: random ``if``/``unless`` conditions over methods (named ACLs over several lines,
  anonymous ACLs, predefined ``METH_*``, ``!``, ``or``/``||``, request-dependent terms) are
  evaluated by real HAProxy for every method, with and without the headers the
  request-dependent terms look at; where the adapter says true or false, HAProxy agrees.
* ``option http-buffer-request``: a POST whose body arrives after its headers gets no layer-7
  retry without the option, and is retried with it; a POST sent in one piece is retried.
* ``http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS`` (the issue's example):
  GET is retried on 502, POST is not.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.adapters import haproxy_conditions as hc
from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import HaproxySut
from tests.integration.suts.upstream import Upstream, running_upstream
from tests.unit.adapters.haproxy_condition_strategies import (
    Condition,
    conditions,
    render,
    unknown_values,
)

pytestmark = pytest.mark.integration

LIVE_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")
"""CONNECT is left out: HAProxy answers a CONNECT with an origin-form target with 400."""
HEADER_SETS = (frozenset(), frozenset({"x-a"}), frozenset({"x-b"}), frozenset({"x-a", "x-b"}))


def _skip_without_haproxy() -> None:
    hint = missing_binary(HaproxySut(config=Path("x.cfg")))
    if hint is not None:
        pytest.skip(hint)


@contextmanager
def _haproxy(tmp: Path, text: str, upstream: Upstream) -> Iterator[str]:
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(text, encoding="utf-8")
    listen = ("127.0.0.1", free_port())
    spec = HaproxySut(config=cfg, ready_timeout_s=15)
    with start_sut(
        spec, listen=listen, upstreams=[upstream.url], workdir=tmp / "work", base_dir=tmp
    ) as sut:
        yield sut.url


def _raw(url: str, request: bytes, *, pause_before: int | None = None) -> bytes:
    """Send ``request`` over one connection (pausing 0.3 s before byte ``pause_before``)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        if pause_before is None:
            s.sendall(request)
        else:
            s.sendall(request[:pause_before])
            time.sleep(0.3)
            s.sendall(request[pause_before:])
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def _conditions_config(conds: list[Condition]) -> str:
    lines = []
    for i, cond in enumerate(conds):
        acls, text = render(cond, prefix=f"c{i}_")
        lines += acls
        lines.append(f"http-request set-var(txn.c{i}) int(1) {text}")
    results = "".join(f"%[var(txn.c{i},0)]" for i in range(len(conds)))
    body = "\n    ".join(lines)
    return (
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
        "    timeout server 10s\n"
        f"frontend fe\n    bind {{{{listen}}}}\n    {body}\n"
        f'    http-request return status 200 hdr x-r "{results}"\n'
        "    default_backend be\n"
        "backend be\n    server s{{upstream_index}} {{upstream_hostport}}\n"
    )


def _adapter_truths(conds: list[Condition]) -> list[hc.Truth]:
    out = []
    for i, cond in enumerate(conds):
        acls, text = render(cond, prefix=f"c{i}_")
        table = hc.AclTable()
        for n, line in enumerate(acls, start=1):
            table.declare(line.split()[1:], file="live.cfg", line=n)
        out.append(
            hc.parse_condition(text.split(), table.acls, file="live.cfg", line=0, field_name="c")
        )
    return out


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(conds=st.lists(conditions(), min_size=25, max_size=25))
def test_real_haproxy_agrees_with_the_condition_evaluation(
    conds: list[Condition], tmp_path_factory: pytest.TempPathFactory
) -> None:
    _skip_without_haproxy()
    tmp = tmp_path_factory.mktemp("cond")
    truths = _adapter_truths(conds)
    with (
        running_upstream("up0") as upstream,
        _haproxy(tmp, _conditions_config(conds), upstream) as url,
    ):
        for method in LIVE_METHODS:
            for headers in HEADER_SETS:
                extra = "".join(f"{h}: 1\r\n" for h in sorted(headers))
                answer = _raw(url, f"{method} / HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
                head = answer.decode("latin-1")
                got = next(
                    line.split(":", 1)[1].strip()
                    for line in head.split("\r\n")
                    if line.lower().startswith("x-r:")
                )
                assert len(got) == len(conds), head
                for i, cond in enumerate(conds):
                    real = got[i] == "1"
                    # the brute-force reference with the real header values...
                    assert real == unknown_values(cond, headers, method), (i, render(cond))
                    # ...and the adapter's three-valued answer wherever it decides
                    decided = truths[i].value(method)
                    if decided is not None:
                        assert real == decided, (i, render(cond), method, headers)


def test_real_haproxy_method_values_are_matched_as_the_adapter_says(tmp_path: Path) -> None:
    """``method get`` (lower case) and ``method -i get`` do not match GET; ``-i patch`` does."""
    _skip_without_haproxy()
    acls = ["acl lc method get", "acl lci method -i get", "acl pi method -i patch"]
    text = (
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
        "    timeout server 10s\n"
        "frontend fe\n    bind {{listen}}\n    " + "\n    ".join(acls) + "\n"
        "    http-request set-var(txn.a) int(1) if lc\n"
        "    http-request set-var(txn.b) int(1) if lci\n"
        "    http-request set-var(txn.c) int(1) if pi\n"
        "    http-request return status 200 hdr x-r "
        '"%[var(txn.a,0)]%[var(txn.b,0)]%[var(txn.c,0)]"\n'
        "    default_backend be\n"
        "backend be\n    server s{{upstream_index}} {{upstream_hostport}}\n"
    )
    table = hc.AclTable()
    for n, line in enumerate(acls, start=1):
        table.declare(line.split()[1:], file="t", line=n)
    with running_upstream("up0") as upstream, _haproxy(tmp_path, text, upstream) as url:
        for method in ("GET", "PATCH"):
            head = _raw(url, f"{method} / HTTP/1.1\r\nHost: t\r\n\r\n".encode()).decode()
            got = next(
                ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.startswith("x-r")
            )
            expected = "".join(
                "1" if table.acls[name].value(method) else "0" for name in ("lc", "lci", "pi")
            )
            assert got == expected, method


_RETRYING = """\
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    retries 2
    retry-on conn-failure 503
{extra}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
"""


def _post(rid: str) -> tuple[bytes, int]:
    body = b"hello"
    head = (
        f"POST /p HTTP/1.1\r\nHost: t\r\nX-Request-ID: {rid}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body, len(head)


@pytest.mark.parametrize(
    ("extra", "split", "arrivals", "status"),
    [
        ("", True, 1, 503),  # body after the headers: the L7 retry is dropped
        ("", False, 2, 200),  # the whole request in one piece: retried
        ("    option http-buffer-request\n", True, 2, 200),  # HAProxy waits for the body
    ],
)
def test_real_haproxy_drops_l7_retries_for_a_request_not_received_completely(
    tmp_path: Path, extra: str, split: bool, arrivals: int, status: int
) -> None:
    _skip_without_haproxy()
    with (
        running_upstream("up0", fail_first=1, fail_status=503) as upstream,
        _haproxy(tmp_path, _RETRYING.format(extra=extra), upstream) as url,
    ):
        request, head_len = _post("p1")
        answer = _raw(url, request, pause_before=head_len if split else None)
        assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:80]
        seen = upstream.of("p1")
        assert len(seen) == arrivals
        assert all(a.body == b"hello" for a in seen)


def test_real_haproxy_issue_example_retries_get_not_post(tmp_path: Path) -> None:
    text = _RETRYING.format(
        extra="    http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS\n"
    ).replace("retry-on conn-failure 503", "retry-on conn-failure empty-response 502")
    _skip_without_haproxy()
    with (
        running_upstream("up0", fail_first=1, fail_status=502) as upstream,
        _haproxy(tmp_path, text, upstream) as url,
    ):
        get = _raw(url, b"GET /g HTTP/1.1\r\nHost: t\r\nX-Request-ID: g1\r\n\r\n")
        request, _ = _post("p1")
        post = _raw(url, request)
        assert get.startswith(b"HTTP/1.1 200") and len(upstream.of("g1")) == 2
        assert post.startswith(b"HTTP/1.1 502") and len(upstream.of("p1")) == 1

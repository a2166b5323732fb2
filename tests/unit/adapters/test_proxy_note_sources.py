"""Every note of the HAProxy, nginx, Caddy and urllib3 adapters cites public documentation or
source code by URL (a documentation page, or a file of the system's repository pinned to a tag
or commit), never a document users do not have."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.adapters import load_adapted
from harness.adapters.base import AdapterContext, AdapterNote

SHIPPED = Path(__file__).resolve().parents[3] / "scenarios" / "configs"
_URL = re.compile(r"https://\S+")
_PINNED_GITHUB = re.compile(
    r"^https://github\.com/[^/]+/[^/]+/(blob/[^/]+/\S+|commit/[0-9a-f]{40})"
)
_DOCS = (
    "https://docs.haproxy.org/2.6/",
    "https://www.haproxy.org/download/2.6/",
    "https://nginx.org/en/docs/",
    "https://caddyserver.com/docs/",
    "https://urllib3.readthedocs.io/",
)

CASES = [
    ("haproxy", "haproxy.cfg"),
    ("haproxy", "haproxy-l7.cfg"),
    ("haproxy", "haproxy-get-only.cfg"),
    ("nginx", "nginx.conf"),
    ("nginx", "nginx-single.conf"),
    ("nginx", "nginx-keepalive.conf"),
    ("caddy", "Caddyfile"),
    ("caddy", "Caddyfile-deadline"),
    ("urllib3", "urllib3-client.yaml"),
]


@pytest.mark.parametrize(("system", "name"), CASES)
def test_every_note_cites_a_public_source(system: str, name: str) -> None:
    if system == "caddy" and shutil.which("caddy") is None:
        pytest.skip("caddy not installed (apt-get install -y caddy)")
    adapted = load_adapted(system, SHIPPED / name, AdapterContext(upstream_servers=2))
    assert adapted.notes
    _check_sources(adapted.notes)


def _check_sources(notes: list[AdapterNote]) -> None:
    for note in notes:
        assert note.source, (note.field, note.text)
        assert "retry-semantics" not in note.source
        urls = _URL.findall(note.source)
        assert urls, note.source
        for url in (u.rstrip(";,)") for u in urls):
            assert _PINNED_GITHUB.match(url) or url.startswith(_DOCS), url


HAPROXY_EXTRA = [
    "    mode tcp\n    retries 2\n    retry-on conn-failure 503\n",
    "    retries 2\n    retry-on none\n",
    "    retry-on all-retryable-errors\n    option redispatch 2\n",
    "    retry-on 503 empty-response\n    http-request disable-l7-retry if METH_POST METH_PUT\n",
    "    retry-on 503\n    http-request disable-l7-retry if { req.hdr(x) -m found }\n",
    "    retry-on 503\n    option http-buffer-request\n    option redispatch 0\n",
]
NGINX_EXTRA = [
    "proxy_next_upstream off http_503;",
    "proxy_next_upstream timeout invalid_header;",
    "proxy_next_upstream error http_503;\n proxy_request_buffering off;",
    "proxy_next_upstream error http_503 non_idempotent;\n proxy_next_upstream_tries 9;",
]


@pytest.mark.parametrize("extra", HAPROXY_EXTRA)
def test_haproxy_notes_of_rarer_constructs_cite_urls(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "frontend fe\n    bind {{listen}}\n    retries 4\n    default_backend be\n"
        f"backend be\n{extra}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}\n"
    )
    _check_sources(load_adapted("haproxy", path, AdapterContext(upstream_servers=2)).notes)


@pytest.mark.parametrize("extra", NGINX_EXTRA)
def test_nginx_notes_of_rarer_constructs_cite_urls(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text(
        "events {}\nhttp {\n upstream b {\n  server {{upstream_hostport}};\n  keepalive 4;\n }\n"
        " server {\n  listen {{listen}};\n  location / {\n   proxy_pass http://b;\n"
        f"   {extra}\n  }}\n }}\n}}\n"
    )
    for servers in (1, 3):
        adapted = load_adapted("nginx", path, AdapterContext(upstream_servers=servers))
        _check_sources(adapted.notes)

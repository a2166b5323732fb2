"""Every note of the HAProxy, nginx, Caddy and urllib3 adapters cites public documentation or
source code (a URL, or a file of the system's repository), never a document users do not have."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.adapters import load_adapted
from harness.adapters.base import AdapterContext

SHIPPED = Path(__file__).resolve().parents[3] / "scenarios" / "configs"
_PUBLIC = re.compile(
    r"https://|haproxy/haproxy|nginx/nginx|caddyserver/caddy|urllib3/urllib3|Go 1\.\d+ src/"
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
    for note in adapted.notes:
        assert note.source, (note.field, note.text)
        assert "retry-semantics" not in note.source
        assert _PUBLIC.search(note.source), note.source

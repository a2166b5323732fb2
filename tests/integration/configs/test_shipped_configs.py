"""The shipped SUT config templates in ``scenarios/configs/`` are accepted by the real binaries.

Each template is filled with ``harness.suts.templating.render_template`` (3 replicas on free
loopback ports; nothing listens there, the tools only check the config) and handed to the
binary's own checker: ``haproxy -c``, ``nginx -t``, ``caddy validate``. The same templates are
read by the adapters, so the test also checks that the adapter and the binary agree on the
file being well formed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness.adapters import caddy, haproxy, nginx
from harness.adapters.base import AdapterContext
from harness.suts.templating import render_template

pytestmark = pytest.mark.integration

CONFIGS = Path(__file__).resolve().parents[3] / "scenarios" / "configs"
REPLICAS = 3
CHECK_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _need(binary: str, package: str) -> str:
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip(f"{binary} is not installed (apt-get install -y {package})")
    return found


def _render(name: str, out_dir: Path) -> Path:
    template = CONFIGS / name
    upstreams = [f"http://127.0.0.1:{_free_port()}" for _ in range(REPLICAS)]
    text = render_template(
        template.read_text(encoding="utf-8"),
        listen=("127.0.0.1", _free_port()),
        upstreams=upstreams,
        source=template,
    )
    assert "{{" not in text, f"unfilled placeholder in {name}"
    rendered = out_dir / name
    rendered.write_text(text, encoding="utf-8")
    return rendered


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("name", ["haproxy.cfg", "haproxy-l7.cfg", "haproxy-get-only.cfg"])
def test_haproxy_accepts_shipped_config(name: str, tmp_path: Path) -> None:
    binary = _need("haproxy", "haproxy")
    rendered = _render(name, tmp_path)
    _run([binary, "-c", "-q", "-f", str(rendered)], cwd=tmp_path)
    adapted = haproxy.load(CONFIGS / name, AdapterContext(upstream_servers=REPLICAS))
    assert adapted.policy.max_retries >= 1


@pytest.mark.parametrize("name", ["nginx.conf", "nginx-single.conf"])
def test_nginx_accepts_shipped_config(name: str, tmp_path: Path) -> None:
    binary = _need("nginx", "nginx-light")
    rendered = _render(name, tmp_path)
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    _run(
        [binary, "-t", "-q", "-p", f"{prefix}/", "-c", str(rendered), "-e", "stderr"],
        cwd=prefix,
    )
    adapted = nginx.load(CONFIGS / name, AdapterContext(upstream_servers=REPLICAS))
    assert adapted.policy.max_retries == 2


@pytest.mark.parametrize("name", ["Caddyfile", "Caddyfile-try-duration", "Caddyfile-snippet"])
def test_caddy_accepts_shipped_config(name: str, tmp_path: Path) -> None:
    binary = _need("caddy", "caddy")
    rendered = _render(name, tmp_path)
    home = tmp_path / "home"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    _run(
        [binary, "validate", "--config", str(rendered), "--adapter", "caddyfile"],
        cwd=tmp_path,
        env=env,
    )
    adapted = caddy.load(CONFIGS / name, AdapterContext(upstream_servers=REPLICAS))
    assert adapted.policy.retry_on.statuses == frozenset()

"""Dispatch-level checks that start nothing: missing binaries, loopback-only URLs, busy ports."""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.suts.base import RunningSut, missing_binary, start_sut
from harness.suts.network import ensure_port_free, free_port, is_loopback
from harness.suts.spec import (
    CaddySut,
    CommandSut,
    HaproxySut,
    NginxSut,
    Urllib3ClientSut,
    UrlSut,
)
from harness.suts.url import target

MISSING = "definitely-not-installed"


@pytest.mark.parametrize(
    ("spec", "command"),
    [
        (
            HaproxySut(config=Path("x"), binary="definitely-not-installed"),
            "apt-get install -y haproxy",
        ),
        (
            NginxSut(config=Path("x"), binary="definitely-not-installed"),
            "apt-get install -y nginx-light",
        ),
        (CaddySut(config=Path("x"), binary="definitely-not-installed"), "apt-get install -y caddy"),
    ],
)
def test_missing_binary_hint_names_binary_and_install_command(
    spec: HaproxySut | NginxSut | CaddySut, command: str
) -> None:
    hint = missing_binary(spec)
    assert hint is not None and "definitely-not-installed" in hint and command in hint


def test_nothing_missing_for_python_and_url_kinds(tmp_path: Path) -> None:
    assert missing_binary(Urllib3ClientSut(config=Path("x"))) is None
    assert missing_binary(UrlSut(url="http://127.0.0.1:1")) is None
    assert missing_binary(CommandSut(command="python3 -V")) is None
    assert missing_binary(CommandSut(command="./run.sh"), tmp_path) is not None
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert missing_binary(CommandSut(command="./run.sh {listen}"), tmp_path) is None
    assert missing_binary(CommandSut(command="{python} proxy.py {listen}"), tmp_path) is None


def test_python_command_runs_the_harness_interpreter_without_the_venv_on_path(
    tmp_path: Path,
) -> None:
    """A real process: ``{python}`` imports the harness's packages even with PATH lacking the
    venv (a bare ``python`` would be whichever one PATH finds, without ``fake_backends``)."""
    script = tmp_path / "serve.py"
    script.write_text(
        "import sys\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "import fake_backends  # only the harness's interpreter has it\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = sys.executable.encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
    )
    spec = CommandSut(
        command="{python} serve.py {listen_port} {upstream}",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
        ready_timeout_s=20,
    )
    port = free_port()
    with start_sut(
        spec,
        listen=("127.0.0.1", port),
        upstreams=["http://127.0.0.1:1"],
        workdir=tmp_path,
        base_dir=tmp_path,
    ) as sut:
        assert isinstance(sut, RunningSut)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert answer.read().decode() == sys.executable


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.1:80", "http://0.0.0.0:8080", "http://[::]:1"]
)
def test_url_sut_refuses_non_loopback_before_any_traffic(url: str) -> None:
    with (
        pytest.raises(BadInput, match="not loopback") as err,
        start_sut(UrlSut(url=url), listen=("127.0.0.1", 1), upstreams=[], workdir=Path(".")),
    ):
        pytest.fail("must not start")
    assert err.value.field == "sut.url"


@pytest.mark.parametrize("url", ["https://127.0.0.1:1", "127.0.0.1:8080", "http://127.0.0.1:x"])
def test_url_sut_needs_an_http_base_url(url: str) -> None:
    with pytest.raises(BadInput):
        target(UrlSut(url=url))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_busy_port_is_bad_input_and_free_port_passes() -> None:
    ensure_port_free(("127.0.0.1", free_port()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen()
        with pytest.raises(BadInput, match="already in use"):
            ensure_port_free(("127.0.0.1", port))


def test_listen_must_be_loopback() -> None:
    with pytest.raises(BadInput, match="loopback"):
        ensure_port_free(("0.0.0.0", 0))


def test_running_sut_stop_is_idempotent() -> None:
    calls: list[int] = []
    sut = RunningSut(url="http://127.0.0.1:1", name="x", _stopper=lambda: calls.append(1))
    sut.stop()
    sut.stop()
    assert calls == [1] and sut.stopped

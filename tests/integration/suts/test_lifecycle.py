"""Start-up failures, busy ports, the command and url kinds, and teardown guarantees."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.errors import BadInput, RunFailed
from harness.processes import timeouts
from harness.suts.base import missing_binary, start_sut
from harness.suts.spec import CommandSut, Urllib3ClientSut, UrlSut
from tests.integration.suts.conftest import DATA
from tests.integration.suts.upstream import Upstream, running_upstream

pytestmark = pytest.mark.integration

PY = sys.executable


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_command_sut_with_placeholders_and_env(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(
        "import http.server, os, sys\n"
        "host, port = sys.argv[1].rsplit(':', 1)\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = (os.environ['GREETING'] + ' ' + sys.argv[2]).encode()\n"
        "        self.send_response(200 if self.path == '/healthz' else 404)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "http.server.HTTPServer((host, int(port)), H).serve_forever()\n"
    )
    spec = CommandSut(
        command=f"{PY} serve.py {{listen}} {{{{upstreams}}}}",
        ready_path="/healthz",
        env={"GREETING": "hello"},
        ready_timeout_s=10,
    )
    with start_sut(
        spec,
        listen=listen,
        upstreams=[u.url for u in upstreams],
        workdir=workdir,
        base_dir=tmp_path,
    ) as sut:
        r = requests.get(sut.url + "/healthz", timeout=5)
        pid = sut.pid
    assert r.text == "hello " + ",".join(u.url for u in upstreams)
    assert pid is not None and _gone(pid)


def test_command_that_exits_at_once_is_run_failed_with_log_tail(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = CommandSut(
        command=f"{PY} -c \"import sys; print('cannot start: bad flag'); sys.exit(3)\"",
        ready_timeout_s=10,
    )
    started = time.monotonic()
    with (
        pytest.raises(RunFailed, match=r"(?s)exited with code 3.*cannot start: bad flag"),
        start_sut(spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir),
    ):
        pytest.fail("must not start")
    assert time.monotonic() - started < 5  # noticed the exit, did not wait for the timeout


def test_command_that_never_listens_times_out_and_is_killed(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    pid_file = workdir.parent / "pid"
    spec = CommandSut(
        command=f"{PY} -c \"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid()));"
        ' time.sleep(60)"',
        ready_timeout_s=1,
    )
    started = time.monotonic()
    with (
        pytest.raises(RunFailed, match="did not become ready within 1 s"),
        start_sut(spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir),
    ):
        pytest.fail("must not start")
    assert time.monotonic() - started < 8
    assert _gone(int(pid_file.read_text()))


def test_process_that_ignores_sigterm_is_killed(
    upstreams: list[Upstream],
    listen: tuple[str, int],
    workdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = timeouts.TIMEOUTS.model_copy(update={"term_grace_s": 0.5})
    monkeypatch.setattr(timeouts, "TIMEOUTS", short)
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import http.server, signal, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "host, port = sys.argv[1].rsplit(':', 1)\n"
        "http.server.HTTPServer((host, int(port)), http.server.BaseHTTPRequestHandler)"
        ".serve_forever()\n"
    )
    spec = CommandSut(command=f"{PY} stubborn.py {{listen}}", ready_timeout_s=10)
    with start_sut(
        spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=tmp_path
    ) as sut:
        pid = sut.pid
        started = time.monotonic()
        sut.stop()
        assert pid is not None and _gone(pid)
        assert sut.stopped and 0.4 < time.monotonic() - started < 3
        sut.stop()  # idempotent


def test_busy_port_is_bad_input(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(listen)
        busy.listen()
        spec = Urllib3ClientSut(config=Path("urllib3-retry.yaml"))
        with (
            pytest.raises(BadInput, match=f"port {listen[1]} .* already in use"),
            start_sut(
                spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
            ),
        ):
            pytest.fail("must not start")


def test_missing_command_program_is_bad_input(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = CommandSut(command="definitely-not-installed --listen {listen}")
    assert missing_binary(spec) is not None
    with (
        pytest.raises(BadInput, match="definitely-not-installed"),
        start_sut(spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir),
    ):
        pytest.fail("must not start")


def test_url_sut_answering_and_not_answering(listen: tuple[str, int]) -> None:
    with running_upstream() as up:
        with start_sut(
            UrlSut(url=up.url, ready_timeout_s=5),
            listen=listen,
            upstreams=[],
            workdir=Path("unused"),
        ) as sut:
            assert sut.url == up.url and sut.pid is None
            sut.stop()
        assert len(up.probes()) >= 1
    dead = UrlSut(url=f"http://127.0.0.1:{listen[1]}", ready_timeout_s=0.5)
    with (
        pytest.raises(RunFailed, match=r"did not answer within 0\.5 s"),
        start_sut(dead, listen=listen, upstreams=[], workdir=Path("unused")),
    ):
        pytest.fail("must not start")
    assert not Path("unused").exists()


def test_keyboard_interrupt_in_the_body_still_tears_down(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = Urllib3ClientSut(config=Path("urllib3-retry.yaml"), ready_timeout_s=15)
    pid = None
    with (
        pytest.raises(KeyboardInterrupt),
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
        ) as sut,
    ):
        pid = sut.pid
        raise KeyboardInterrupt
    assert pid is not None and _gone(pid)

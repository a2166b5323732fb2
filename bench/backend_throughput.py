"""Attempts per second of one flaky backend against a bare Flask app, same gunicorn settings.

Both servers run with 2 gunicorn ``gthread`` workers x 16 threads on 127.0.0.1 (the settings
of :func:`fake_backends.server.gunicorn_options`). The backend has its journal on, the default
``file://`` (mmap) attempt counter, and FAILURE_RATE=0.3; every request carries a unique
X-Request-ID so the counter and the journal do their full work. Load: ``wrk`` (C, Debian
package ``wrk``) with a Lua script for the request ids, or, when wrk is missing, a multi-process
Python client (``http.client`` keep-alive, one process per connection group). Prints both rates
and the ratio (goal: >= 0.9 and >= 4,000 attempts/s on a 2-core machine). Never asserted in
tests.

    python bench/backend_throughput.py [--duration 10] [--connections 32] [--rounds 1]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import start_backend
from harness.processes.child import running
from harness.suts.network import probe_once

WRK_SCRIPT = """
local n = 0
local next_thread = 0
setup = function(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
request = function()
  n = n + 1
  return wrk.format("GET", "/bench", {["X-Request-ID"] = "b" .. tid .. "-" .. n})
end
"""


def _serve_bare(port: int, admin_port: int) -> None:
    """Run the bare Flask hello app under the backend's gunicorn settings (child process)."""
    from flask import Flask

    from fake_backends.server import ServeOptions, serve

    def factory() -> Flask:
        app = Flask("bare")

        @app.route("/", defaults={"path": ""})
        @app.route("/<path:path>")
        def hello(path: str) -> str:
            return "hello"

        return app

    serve(
        ServeOptions(host="127.0.0.1", port=port, admin_port=admin_port, kernel_stamps=False),
        factory,
    )


@contextmanager
def bare_app() -> Iterator[str]:
    port, admin_port = free_ports(2)
    argv = [sys.executable, __file__, "--serve-bare", str(port), str(admin_port)]
    url = f"http://127.0.0.1:{port}"
    with running(
        argv,
        name="bare Flask app",
        log_path=None,
        ready=lambda: probe_once("127.0.0.1", port, "/", 1.0) == 200,
        ready_timeout_s=15,
    ):
        yield url


def _wrk(url: str, duration: float, connections: int, script: Path) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration:.0f}s", "-s", str(script), url + "/"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no rate in wrk output: {out}")
    return float(match.group(1))


def _py_client(args: tuple[str, int, float, int]) -> int:
    host_port, conns, deadline, tag = args
    host, port = host_port.rsplit(":", 1)
    pool = [http.client.HTTPConnection(host, int(port), timeout=10) for _ in range(conns)]
    done = 0
    while time.time() < deadline:
        for conn in pool:
            conn.request("GET", "/bench", headers={"X-Request-ID": f"p{tag}-{done}"})
            conn.getresponse().read()
            done += 1
    return done


def _python_load(url: str, duration: float, connections: int) -> float:
    procs = max(2, min(8, connections // 4))
    host_port = url.removeprefix("http://")
    start = time.time()
    deadline = start + duration
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        per_proc = max(1, connections // procs)
        total = sum(
            pool.map(_py_client, [(host_port, per_proc, deadline, i) for i in range(procs)])
        )
    return total / (time.time() - start)


def measure(url: str, duration: float, connections: int, script: Path | None) -> float:
    if script is not None:
        _wrk(url, 1, connections, script)  # warm-up
        return _wrk(url, duration, connections, script)
    _python_load(url, 1, connections)
    return _python_load(url, duration, connections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "ADMIN_PORT"))
    args = parser.parse_args()
    if args.serve_bare:
        _serve_bare(*args.serve_bare)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        script: Path | None = None
        if shutil.which("wrk") and not args.python_client:
            script = Path(tmp) / "ids.lua"
            script.write_text(WRK_SCRIPT)
        client = "wrk (C), 2 threads" if script else "multi-process Python http.client"
        print(f"load generator: {client}, {args.connections} connections, {args.duration:.0f} s")
        profile = FaultProfile(failure_rate=0.3, seed=1)
        port, admin_port = free_ports(2)
        bare_rates, backend_rates = [], []
        for _ in range(args.rounds):
            with bare_app() as url:
                bare_rates.append(measure(url, args.duration, args.connections, script))
            with start_backend(port, admin_port, workers=2, threads=16, profile=profile) as b:
                backend_rates.append(measure(b.url, args.duration, args.connections, script))
                stats = b.admin.stats()
                records = list(b.admin.iter_journal())
                failed = sum(1 for r in records if r["fault"] != "none") / max(1, len(records))
        bare, backend = max(bare_rates), max(backend_rates)
        print(f"bare Flask hello (gunicorn 2 gthread workers): {bare:9.0f} requests/s")
        print(f"fake backend (journal on, FAILURE_RATE=0.3):   {backend:9.0f} attempts/s")
        print(f"ratio backend / bare:                           {backend / bare:9.2f}")
        print(
            f"journal of the last round: {stats.recorded} records, {stats.dropped} dropped, "
            f"observed failure share {failed:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

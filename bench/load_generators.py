"""Logical requests per second through nginx: one Locust process, a Locust master with 2 workers,
and wrk, against the same target in the same run; the load generator's CPU time per request;
and a cProfile of the one-process locustfile to show where its time goes.

Target: one flaky backend (no faults: every attempt answers 200; journal and ``file://``
counter on, 2 gunicorn gthread workers) behind the shipped ``scenarios/configs/nginx.conf`` on
127.0.0.1. Locust runs the shipped ``scenarios/steady.py`` (the harness's user: one exact client
record per logical request). wrk (Debian package ``wrk``) sends GETs with unique X-Request-IDs.
CPU time is the generator's own (user + system of the waited child processes, from
``getrusage(RUSAGE_CHILDREN)``), so it excludes nginx and the backend. On a 2-core machine
the generator, nginx and the backend share the CPU; the printed utilisation says how much of it
the generator took. Never asserted in tests.

    python bench/load_generators.py [--duration 8] [--users 16] [--profile-top 15]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import start_backend
from harness.processes.child import Child, spawn, wait_for_exit
from harness.scenario import LOAD_CONFIG_VERSION, LoadSpec
from harness.suts.base import start_sut
from harness.suts.spec import NginxSut

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "scenarios" / "steady.py"
NGINX_CONF = REPO / "scenarios" / "configs" / "nginx.conf"
WRK_SCRIPT = """
local n = 0
local next_thread = 0
setup = function(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
request = function()
  n = n + 1
  return wrk.format("GET", "/", {["X-Request-ID"] = "w" .. tid .. "-" .. n})
end
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_file(folder: Path, users: int, duration: float, workers: int) -> Path:
    load = LoadSpec(
        users=users,
        spawn_rate=float(users),
        duration_s=duration,
        request_timeout_s=10,
        workers=workers,
    )
    path = folder / "load.json"
    data = {"version": LOAD_CONFIG_VERSION, "seed": 7, "load": load.model_dump(mode="json")}
    path.write_text(json.dumps(data))
    return path


def _locust(
    url: str, folder: Path, users: int, duration: float, workers: int, profile: Path | None = None
) -> tuple[float, int, float]:
    """Run Locust (one process, or a master and ``workers`` workers): (rps, requests, cpu s)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "client-records.ndjson"
    env = {
        **os.environ,
        "RETRY_HARNESS_LOAD": str(_load_file(folder, users, duration, workers)),
        "RETRY_HARNESS_CLIENT_RECORDS": str(records),
        "RETRY_HARNESS_SUMMARY": str(folder / "summary.json"),
    }
    prefix = [sys.executable]
    if profile is not None:
        prefix += ["-m", "cProfile", "-o", str(profile)]
    base = [*prefix, "-m", "locust", "-f", str(LOCUSTFILE)]
    common = ["--loglevel", "WARNING"]
    cmd = [
        *base,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "--host",
        url,
        "--run-time",
        f"{duration + 15:.0f}s",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        *common,
    ]
    port = free_ports(1)[0]
    if workers:
        cmd += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(workers),
        ]
    before = _children_cpu()
    log_path = folder / "locust.log"
    worker_cmd = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    children: list[Child] = []
    try:
        children.append(spawn(cmd, name="Locust", log_path=log_path, env=env, cwd=folder))
        for index in range(workers):
            children.append(
                spawn(
                    [*worker_cmd, *common],
                    name=f"Locust worker {index}",
                    log_path=log_path,
                    env=env,
                    cwd=folder,
                )
            )
        for child in children:
            if not wait_for_exit(child, timeout_s=duration + 60):
                raise SystemExit(f"{child.name} did not finish in {duration + 60:.0f} s")
    finally:
        for child in children:
            child.stop()  # reaped: its CPU time is in RUSAGE_CHILDREN
    cpu = _children_cpu() - before
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    span_s = (max(r["end_us"] for r in lines) - min(r["start_us"] for r in lines)) / 1e6
    return len(lines) / span_s, len(lines), cpu


def _wrk(url: str, folder: Path, connections: int, duration: float) -> tuple[float, int, float]:
    script = folder / "ids.lua"
    script.write_text(WRK_SCRIPT)
    before = _children_cpu()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration:.0f}s", "-s", str(script), url + "/"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    cpu = _children_cpu() - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rate, total, cpu


_IMPORT_BUILTINS = {
    "<built-in method marshal.loads>",
    "<built-in method builtins.__build_class__>",
    "<built-in method _imp.create_dynamic>",
    "<built-in method _imp.exec_dynamic>",
    "<built-in method io.open_code>",
    "<built-in method posix.stat>",
}


def _profile_table(path: Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    groups: dict[str, float] = {}
    total = 0.0
    rows = []
    for (file, line, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        if "importlib" in file or func in _IMPORT_BUILTINS or "typing.py" in file:
            group = "start-up: imports, class creation"
        elif "scenarios/" in file or "harness/" in file:
            group = "retry-harness locustfile + ClientRecord"
        elif "/locust/" in file:
            group = "locust"
        elif "/requests/" in file or "/urllib3/" in file:
            group = "requests + urllib3 (the HTTP client)"
        elif "/gevent/" in file or "gevent" in func:
            group = "gevent (hub, sockets)"
        elif "/http/" in file or "socket" in file or "ssl" in file or "email" in file:
            group = "stdlib http.client / email parsing / socket"
        elif "pydantic" in file:
            group = "pydantic (ClientRecord JSON)"
        else:
            group = "other"
        groups[group] = groups.get(group, 0.0) + tottime
        rows.append((tottime, f"{Path(file).name}:{line} {func}"))
    print(f"\ncProfile of the one-process locustfile: {total:.2f} s of CPU in Python")
    for group, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:48s} {t:7.2f} s  {100 * t / total:5.1f} %")
    print("  cumulative time of the user's steps (per logical request):")
    wanted = {
        ("user.py", "logical_request"): "the whole logical request (task)",
        ("sessions.py", "request"): "  requests.Session.request (client + network wait)",
        ("user.py", "_send"): "  _send: ids, draw, record (incl. the request)",
        ("state.py", "write_record"): "  write_record: ClientRecord JSON + file write",
        ("events.py", "maybe_budget_done"): "  maybe_budget_done",
    }
    for (file, _, func), (_, calls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        label = wanted.get((Path(file).name, func))
        if label and calls:
            print(f"    {label:52s} {cumtime:6.2f} s  {1e6 * cumtime / calls:7.0f} µs x {calls}")
    print(f"  top {top} functions by own time:")
    for t, name in sorted(rows, reverse=True)[:top]:
        print(f"    {t:6.2f} s  {name}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--profile-top", type=int, default=15)
    p.add_argument("--keep", type=Path, help="keep the generators' folders (logs) here")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rh-bench-gen-") as tmp:
        work = args.keep.resolve() if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        port, admin, sut_port = free_ports(3)
        with (
            start_backend(
                port,
                admin,
                workers=2,
                threads=16,
                profile=FaultProfile(),
                journal_path=work / "journal.ndjson",
            ) as backend,
            start_sut(
                NginxSut(config=NGINX_CONF),
                listen=("127.0.0.1", sut_port),
                upstreams=[backend.url],
                workdir=work / "sut",
            ) as sut,
        ):
            print(
                f"target: nginx {sut.url} -> backend {backend.url}; {os.cpu_count()} cores, "
                f"load average {os.getloadavg()[0]:.1f}; {args.duration:g} s per generator"
            )
            rows = []
            rate, n, cpu = _wrk(sut.url, work, args.users, args.duration)
            rows.append((f"wrk -t2 -c{args.users}", rate, n, cpu))
            rate, n, cpu = _locust(sut.url, work / "one", args.users, args.duration, 0)
            rows.append((f"Locust, 1 process, {args.users} users", rate, n, cpu))
            rate, n, cpu = _locust(sut.url, work / "two", args.users, args.duration, 2)
            rows.append((f"Locust, master + 2 workers, {args.users} users", rate, n, cpu))
            print(
                f"\n{'generator':44s} {'req/s':>8s} {'requests':>9s} {'CPU s':>7s} "
                f"{'CPU/req':>9s} {'CPU/wall':>8s}"
            )
            for name, rate, n, cpu in rows:
                wall = n / rate
                print(
                    f"{name:44s} {rate:8.0f} {n:9d} {cpu:7.2f} {1e6 * cpu / n:7.0f}µs "
                    f"{cpu / wall:8.2f}"
                )
            prof = work / "locust.prof"
            _locust(sut.url, work / "prof", args.users, args.duration, 0, profile=prof)
            _profile_table(prof, args.profile_top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The web UI session (``retry-harness ui``): how long the Retries tab takes to show a fault
change, and logical requests per second from the UI with one Locust process and with workers.

For each Locust layout (``--workers 0``, then ``--workers N``) one ``retry-harness ui`` session
is started on a shipped scenario. A test is started through Locust's own ``POST /swarm`` (what
the start form sends) with no request budget.

- **Fault-change latency**: the failure rate is changed through our fault page's form target
  (``POST /retries/faults``), alternating between two rates. The script then polls
  ``/stats/requests``, the request the Retries tab makes, until its rows show the new epoch
  with a verdict over at least one request. The browser polls every 2 s, so add up to 2 s for
  what a user sees.
- **Logical requests/s**: the growth of Locust's aggregated request count over the window.
  Same-run reference: a headless Locust process (the same locustfile, users and SUT, no UI and
  no live judge) over an equal window, run in the session before its test starts.

Timings depend on the machine's load (it is shared); never asserted in tests.

    python bench/ui_session.py [--scenario scenarios/haproxy.yaml] [--users 8] [--window 20]
                               [--workers 2] [--changes 3] [--probe-wait 30]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from harness.errors import RunFailed
from harness.processes.child import spawn, wait_for_exit, wait_ready, wait_until

REPO = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(url: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(url + "stats/requests", timeout=10).json()
    return data


def _aggregated(url: str) -> int:
    return next(int(s["num_requests"]) for s in _stats(url)["stats"] if s["name"] == "Aggregated")


def _epoch_judged(url: str, rate: float) -> bool:
    """The tab's last epoch row is a change to ``rate`` with a verdict over >= 1 request."""
    rows = _stats(url).get("extended_stats", [{}])[0].get("data", [])
    epochs = [row for row in rows if row["section"] == "epoch"]
    if not epochs or "faults set" not in epochs[-1]["item"]:
        return False
    last = epochs[-1]
    return last["model"].startswith(f"fail {100 * rate:.1f} %") and bool(
        re.match(r"[1-9]\d* requests judged", last["observed"])
    )


class Session:
    def __init__(self, scenario: Path, workers: int, folder: Path) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.folder = folder
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        cmd = [sys.executable, "-m", "harness.cli", "ui", str(scenario), "--port", str(self.port)]
        cmd += ["--workers", str(workers), "--dir", str(folder)]
        self.log_path = folder.parent / f"ui-{workers}.log"
        self.child = spawn(cmd, name="retry-harness ui", log_path=self.log_path, env=env)
        try:
            wait_ready(self.child, lambda: _answers(self.url), timeout_s=180)
        except RunFailed as exc:
            self.child.stop()
            raise SystemExit(f"the UI did not come up: {exc}") from None
        self.info = json.loads((folder / "session.json").read_text())

    def swarm(self, users: int) -> None:
        form = {"user_count": users, "spawn_rate": users, "host": self.info["sut_url"]}
        form["rh_requests"] = 0
        requests.post(self.url + "swarm", data=form, timeout=10).raise_for_status()

    def close(self) -> None:
        """Ctrl-C, as a user would (the whole group, like a terminal); then a bounded wait."""
        self.child.signal_group(signal.SIGINT)
        if not wait_for_exit(self.child, timeout_s=90):
            self.child.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def rps(url: str, window: float) -> float:
    a, t0 = _aggregated(url), time.monotonic()
    time.sleep(window)
    return (_aggregated(url) - a) / (time.monotonic() - t0)


def fault_latency(session: Session, changes: int) -> list[float]:
    out = []
    for i in range(changes):
        rate = 0.6 if i % 2 == 0 else 0.3
        t0 = time.monotonic()
        requests.post(
            session.url + "retries/faults", json={"failure_rate": str(rate)}, timeout=30
        ).raise_for_status()
        judged = functools.partial(_epoch_judged, session.url, rate)
        if not wait_until(judged, timeout_s=120, interval_s=0.1):
            raise SystemExit("the tab did not show the change in 120 s")
        out.append(time.monotonic() - t0)
        time.sleep(3)
    return out


def headless_reference(session: Session, users: int, window: float, locustfile: str) -> float:
    records = session.folder.parent / "reference-records.ndjson"
    records.unlink(missing_ok=True)
    env = {
        **os.environ,
        "RETRY_HARNESS_LOAD": str(session.folder / "load.json"),
        "RETRY_HARNESS_CLIENT_RECORDS": str(records),
    }
    env.pop("RETRY_HARNESS_UI_SESSION", None)
    warm = 5.0
    cmd = [sys.executable, "-m", "locust", "-f", locustfile, "--headless", "-u", str(users)]
    cmd += ["-r", str(users), "--host", session.info["sut_url"], "--rh-requests", "0"]
    cmd += ["-t", f"{int(warm + window)}s", "--only-summary", "--exit-code-on-error", "0"]
    cmd += ["--loglevel", "WARNING"]
    subprocess.run(cmd, env=env, capture_output=True, timeout=warm + window + 120)
    starts = sorted(json.loads(line)["start_us"] for line in records.read_bytes().splitlines())
    cut = (starts[0] if starts else 0) + warm * 1e6
    in_window = [s for s in starts if cut <= s < cut + window * 1e6]
    print(f"    (reference: {len(starts)} records in all, {len(in_window)} in the window)")
    return len(in_window) / window


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "haproxy.yaml")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--changes", type=int, default=3)
    ap.add_argument("--probe-wait", type=float, default=30.0, help="seconds before measuring")
    args = ap.parse_args()
    from harness.scenario import load_scenario

    locustfile = load_scenario(args.scenario).load.locustfile
    print(f"scenario {args.scenario.name}, {args.users} users, window {args.window:g} s")
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        for workers in (0, args.workers):
            session = Session(args.scenario, workers, Path(tmp) / f"session-{workers}")
            try:
                layout = "one Locust process" if not workers else f"master + {workers} workers"
                # The session's timing probe (at most 1000 back-to-back pairs, for ε) runs at
                # its start: let it end first, so it loads neither measurement.
                time.sleep(args.probe_wait)
                if not workers:  # the reference first: the session's judge has nothing to do
                    ref = headless_reference(session, args.users, args.window, locustfile)
                    print(
                        f"  {'reference':>22}: {ref:7.1f} logical requests/s (headless Locust, "
                        "one process, no UI, no live judge, same SUT)"
                    )
                session.swarm(args.users)
                time.sleep(5.0)  # spawn and warm up
                measured = rps(session.url, args.window)
                print(f"  {layout:>22}: {measured:7.1f} logical requests/s from the UI")
                if not workers:
                    lat = fault_latency(session, args.changes)
                    shown = ", ".join(f"{x:.1f}" for x in lat)
                    print(
                        f"  fault change -> tab rows show the new epoch judged: {shown} s "
                        f"(median {sorted(lat)[len(lat) // 2]:.1f} s; the browser polls every "
                        "2 s on top)"
                    )
            finally:
                session.close()
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {f.read().split()[0]} (2 cores, shared)")


if __name__ == "__main__":
    main()

"""Kernel vs app attempt stamps: the gap a zero-delay retry shows on each clock.

A client sends back-to-back pairs of requests with one request id to one backend replica
(2 gunicorn workers) on a keep-alive connection: the second request goes out the moment the first
answer is read, so the pair is what a retry with zero delay looks like. For each pair the
backend's journal gives ``arrival(1) - end(0)`` twice: from the kernel's socket stamps
(``arrival_us``/``end_us`` with ``*_clock == "kernel"``) and from the app's own stamps
(``app_arrival_us``/``app_end_us``). The client's own turnaround (answer read -> next request
sent, ``time.time_ns``) is printed beside them: it is the floor both clocks should approach.

``--stress`` runs ``stress-ng --cpu 2 --timeout`` (bounded) for the measurement's duration.

    python bench/stamp_clocks.py --pairs 2000            # quiet
    python bench/stamp_clocks.py --pairs 2000 --stress   # under a CPU hog
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

from fake_backends.ports import free_ports
from harness.errors import BadInput
from harness.processes.backends import start_backend
from harness.processes.child import wait_until
from harness.processes.hog import cpu_hog as harness_cpu_hog
from harness.substrates.gap_probe import send_pair


@contextlib.contextmanager
def cpu_hog(on: bool, seconds: int) -> Iterator[None]:
    if not on:
        yield
        return
    try:
        with harness_cpu_hog(seconds):
            yield
    except BadInput as exc:
        raise SystemExit(f"stamp_clocks: --stress: {exc.reason}") from None


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def send_pairs(port: int, pairs: int, interval_s: float) -> dict[str, int]:
    """Client turnaround (µs) per pair: answer 0 read -> request 1 sent (the harness's own
    pair sender, :func:`harness.substrates.gap_probe.send_pair`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    turn: dict[str, int] = {}
    try:
        for i in range(pairs):
            rid = f"clk-{i}"
            turn[rid] = send_pair(conn, "/clk", {"X-Request-ID": rid}) // 1000
            time.sleep(interval_s)
    finally:
        conn.close()
    return turn


def gaps(journal: Path) -> dict[str, np.ndarray]:
    recs: dict[tuple[str, int], dict[str, object]] = {}
    for line in journal.read_bytes().splitlines():
        rec = orjson.loads(line)
        recs[(rec["request_id"], rec["attempt"])] = rec
    kernel, app, mixed = [], [], 0
    clocks: dict[str, int] = {}
    for rec in recs.values():
        key = f"arrival {rec['arrival_clock']}, end {rec['end_clock']}"
        clocks[key] = clocks.get(key, 0) + 1
    print("records by clock:", clocks)
    for (rid, att), second in recs.items():
        first = recs.get((rid, 0))
        if att != 1 or first is None:
            continue
        app.append(int(second["app_arrival_us"]) - int(first["app_end_us"]))  # type: ignore[call-overload]
        if second["arrival_clock"] == "kernel" and first["end_clock"] == "kernel":
            kernel.append(int(second["arrival_us"]) - int(first["end_us"]))  # type: ignore[call-overload]
        else:
            mixed += 1
    return {
        "kernel": np.asarray(kernel, np.float64),
        "app": np.asarray(app, np.float64),
        "not kernel-stamped": np.asarray([mixed], np.float64),
    }


def row(name: str, us: np.ndarray) -> str:
    if us.size == 0:
        return f"{name:>28}: no samples"
    q = np.percentile(us, [50, 95, 99])
    return (
        f"{name:>28}: n={us.size:5d}  min {us.min():8.1f}  p50 {q[0]:8.1f}  p95 {q[1]:8.1f}  "
        f"p99 {q[2]:8.1f}  max {us.max():8.1f} µs"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--interval-ms", type=float, default=2.0)
    ap.add_argument("--stress", action="store_true", help="stress-ng --cpu 2 during the run")
    args = ap.parse_args()
    if not 1 <= args.pairs <= 50_000:
        print("stamp_clocks: --pairs must be in 1..50000", file=sys.stderr)
        return 2
    port, admin = free_ports(2)
    budget_s = int(args.pairs * (args.interval_ms / 1e3 + 0.01)) + 30
    with start_backend(port, admin, workers=2) as backend, cpu_hog(args.stress, budget_s):
        turn = send_pairs(port, args.pairs, args.interval_ms / 1e3)
        # the journal line of an answer is written after the answer: wait (bounded) for all
        wait_until(
            lambda: _lines(backend.journal_path) >= 2 * args.pairs, timeout_s=10, interval_s=0.05
        )
        g = gaps(backend.journal_path)
    label = "under stress-ng --cpu 2" if args.stress else "quiet"
    print(f"zero-delay gap arrival(1) - end(0), {args.pairs} pairs, {label}:")
    print(row("kernel stamps", g["kernel"]))
    print(row("app stamps", g["app"]))
    print(row("client turnaround (floor)", np.asarray(list(turn.values()), np.float64)))
    print(f"{'pairs not kernel-stamped':>28}: {int(g['not kernel-stamped'][0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""No lost or duplicated journal record with kernel stamps on: 3 replicas x 2 workers.

Sends ``--attempts`` requests (default 20,000), each with its own X-Request-ID, round-robin over
3 replicas (2 gunicorn workers each) from 8 keep-alive client threads, then reads the three
journals: every request id must be there exactly once. Also prints which clock stamped the
records (``arrival_clock``/``end_clock``) and the rate reached.

    python bench/journal_integrity.py [--attempts 20000]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import sys
import threading
import time
from contextlib import ExitStack

import orjson

from fake_backends.ports import free_ports
from harness.processes.backends import start_backend

REPLICAS, WORKERS, CLIENTS = 3, 2, 8


def _client(ports: list[int], ids: list[str], errors: list[str]) -> None:
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in ports]
    try:
        for i, rid in enumerate(ids):
            conn = conns[i % len(conns)]
            try:
                conn.request("GET", "/j", headers={"X-Request-ID": rid})
                conn.getresponse().read()
            except (OSError, http.client.HTTPException) as err:
                errors.append(f"{rid}: {err}")
                conn.close()
    finally:
        for c in conns:
            c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attempts", type=int, default=20_000)
    args = ap.parse_args()
    if not 1 <= args.attempts <= 200_000:
        print("journal_integrity: --attempts must be in 1..200000", file=sys.stderr)
        return 2
    ids = [f"ji-{i}" for i in range(args.attempts)]
    errors: list[str] = []
    with ExitStack() as stack:
        handles = []
        for r in range(REPLICAS):
            port, admin = free_ports(2)
            handles.append(
                stack.enter_context(start_backend(port, admin, workers=WORKERS, replica=f"j{r}"))
            )
        ports = [int(h.url.rsplit(":", 1)[1]) for h in handles]
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=_client, args=(ports, ids[c::CLIENTS], errors))
            for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        time.sleep(1.0)  # the last journal lines are written after the answers
        seen: collections.Counter[str] = collections.Counter()
        clocks: collections.Counter[str] = collections.Counter()
        dropped = sum(h.admin.stats().dropped for h in handles)
        for h in handles:
            for line in h.journal_path.read_bytes().splitlines():
                rec = orjson.loads(line)
                seen[rec["request_id"]] += 1
                clocks[f"arrival {rec['arrival_clock']} / end {rec['end_clock']}"] += 1
    lost = [rid for rid in ids if seen[rid] == 0]
    dup = [rid for rid, n in seen.items() if n > 1]
    print(
        f"{args.attempts} attempts over {REPLICAS} replicas x {WORKERS} workers in {wall:.1f} s "
        f"({args.attempts / wall:.0f}/s); client errors {len(errors)}; journal records "
        f"{sum(seen.values())}; lost {len(lost)}; duplicated {len(dup)}; dropped {dropped}"
    )
    print("records by clock:", dict(clocks))
    if errors:
        print("first client errors:", errors[:3])
    return 0 if not lost and not dup and not errors else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: load + verify ~1,000,000 journaled attempts (250,000 requests).

Usage: ``python bench/oracle_speed.py [--requests 250000] [--dir DIR]``

Generates journals (4 replica files) and client records with the simulator of
``harness.oracle.synth`` (an Envoy-style full-jitter policy against a profile failing 83 % of
attempts, so requests average ~4 attempts), then, in a fresh subprocess so that the peak RSS
covers only the oracle, times ``load_attempts`` + ``load_client_records`` + ``verify`` and reports
the peak memory. Same-machine references are measured in that subprocess afterwards: plain
``orjson.loads`` over the same journal lines, Arrow's NDJSON reader alone over the same files
(the parse the loader builds on), and a numpy argsort of as many int64 keys, so the figures can
be compared across machines. Goal: under 5 s and under 1 GiB. Prints figures only.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fake_backends.profile import FaultProfile
from harness.oracle.synth import Traffic, client_lines, journal_lines, simulate
from harness.policy.model import Backoff, JitterModel, RetryOn, RetryPolicy

POLICY = RetryPolicy(
    system="envoy",
    max_retries=5,
    retry_on=RetryOn(statuses=frozenset({503}), reset=True),
    backoff=Backoff(base_s=0.025, multiplier=2, cap_s=0.25, jitter=JitterModel.FULL),
)
# 0.95 * 0.826 + 0.05 = 0.835 of attempts are retried: (1 - 0.835**6) / 0.165 = 4.0 attempts per
# request, so 250,000 requests give about 1,000,000 attempts.
PROFILE = FaultProfile(failure_rate=0.826, failure_status={503: 0.95, 500: 0.05}, reset_rate=0.05)
EPSILON_S = 0.002
REPLICAS = 4


def generate(directory: Path, requests: int) -> tuple[list[Path], Path, int]:
    run = simulate(
        POLICY, PROFILE, Traffic(n_requests=requests, rate_per_s=2000.0), seed=1, noise_s=0.001
    )
    journals = [directory / f"journal-{i}.ndjson" for i in range(REPLICAS)]
    handles = [p.open("wb") for p in journals]
    try:
        for i, line in enumerate(journal_lines(run)):
            handles[i % REPLICAS].write(line + b"\n")
    finally:
        for h in handles:
            h.close()
    clients = directory / "clients.ndjson"
    clients.write_bytes(b"\n".join(client_lines(run)) + b"\n")
    return journals, clients, len(run.attempts)


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited on exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(directory: Path) -> dict[str, float]:
    """Runs in a fresh process: load + verify, then the references."""
    from harness.oracle.journal import load_attempts, load_client_records
    from harness.oracle.verify import verify

    journals = sorted(directory.glob("journal-*.ndjson"))
    clients = directory / "clients.ndjson"
    import numpy as np
    import orjson
    import pyarrow as pa
    import pyarrow.json as pa_json
    import scipy.stats  # noqa: F401  (import cost is not the oracle's)

    from harness.oracle.journal import _ATTEMPT_SCHEMA

    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    attempts = load_attempts(journals)
    ta = time.perf_counter()
    c = load_client_records([clients])
    t1 = time.perf_counter()
    v = verify(POLICY, PROFILE, attempts, c, epsilon_s=EPSILON_S)
    t2 = time.perf_counter()
    rss1 = peak_rss_mib()
    n = len(attempts)
    del attempts, c
    # references on this machine
    t3 = time.perf_counter()
    for p in journals:
        for line in p.read_bytes().splitlines():
            orjson.loads(line)
    t4 = time.perf_counter()
    options = pa_json.ParseOptions(
        explicit_schema=_ATTEMPT_SCHEMA, unexpected_field_behavior="ignore"
    )
    for p in journals:
        pa_json.read_json(pa.BufferReader(p.read_bytes()), parse_options=options)
    t4a = time.perf_counter()
    keys = np.random.default_rng(0).integers(0, 2**62, size=n)
    t5 = time.perf_counter()
    np.argsort(keys)
    t6 = time.perf_counter()
    return {
        "attempts": n,
        "traces": v.traces,
        "outcome_failed_checks": float(sum(ch.outcome == "fail" for ch in v.checks)),
        "load_s": t1 - t0,
        "load_attempts_s": ta - t0,
        "load_clients_s": t1 - ta,
        "verify_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_rss_mib_before": rss0,
        "peak_rss_mib": rss1,
        "ref_orjson_loads_s": t4 - t3,
        "ref_arrow_read_json_s": t4a - t4,
        "ref_numpy_argsort_s": t6 - t5,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=250_000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        _, _, n = generate(directory, args.requests)
        took = time.perf_counter() - t
        print(f"generated {n} attempts for {args.requests} requests in {took:.1f} s")
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(directory)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"attempts {int(r['attempts'])}, traces {int(r['traces'])}")
    print(
        f"load    {r['load_s']:.2f} s   (attempts {r['load_attempts_s']:.2f} s, "
        f"client records {r['load_clients_s']:.2f} s)"
    )
    print(f"verify  {r['verify_s']:.2f} s")
    print(f"total   {r['total_s']:.2f} s   (goal < 5 s)")
    print(
        f"peak RSS {r['peak_rss_mib']:.0f} MiB (process after imports: "
        f"{r['peak_rss_mib_before']:.0f} MiB; goal < 1024 MiB)"
    )
    print(f"reference: orjson.loads per line over the same journal {r['ref_orjson_loads_s']:.2f} s")
    print(
        f"reference: Arrow read_json alone over the same journal {r['ref_arrow_read_json_s']:.2f} s"
    )
    print(
        f"reference: numpy argsort of {int(r['attempts'])} int64 {r['ref_numpy_argsort_s']:.3f} s"
    )
    print(f"failed checks on the correct simulated SUT: {int(r['outcome_failed_checks'])}")


if __name__ == "__main__":
    main()

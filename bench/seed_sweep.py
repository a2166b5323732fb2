"""Seed sweep: how often do the shipped conformant scenarios fail a conformant SUT?

Runs each scenario N times with different seeds (``retry-harness run FILE --seed S --quiet``, one
subprocess per run, exactly as a user or CI would) and prints, per scenario: runs, conformant
(exit 0), false failures (exit 1), inconclusive (exit 3), errors (any other exit), mean wall
time, mean logical requests and attempts, and the ε used (from each run's ``verdict.json``).
The last line compares the false-failure count with the stated per-run α: with R runs of
conformant scenarios the expected count is R·α, and ``P(X >= k)`` under Binomial(R, α) says
whether the count is compatible with the promise.

Showcases (a leading ``# expect: violation`` line) are skipped unless named explicitly; for
them the table's "false failures" column counts the expected violations instead.

Usage::

    python bench/seed_sweep.py                 # every conformant shipped scenario, N=20
    python bench/seed_sweep.py -n 5 scenarios/nginx.yaml scenarios/caddy.yaml
    nohup python bench/seed_sweep.py > /tmp/seed_sweep.txt 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import binom

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE = 0, 1, 3
FIRST_SEED = 1000


@dataclass
class Sweep:
    """The outcomes of one scenario's runs."""

    name: str
    expect: str
    codes: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    epsilon_ms: list[float] = field(default_factory=list)
    failed_seeds: list[int] = field(default_factory=list)

    def count(self, code: int) -> int:
        return sum(1 for c in self.codes if c == code)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.codes if c not in (EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE))


def expected_outcome(path: Path) -> str:
    """``violation`` for a showcase (``# expect: violation`` near the top), else conformant."""
    for line in path.read_text(encoding="utf-8").splitlines()[:10]:
        if line.startswith("# expect:"):
            return line.split(":", 1)[1].strip().lower()
    return "conformant"


def run_once(scenario: Path, seed: int, report_dir: Path) -> tuple[int, float, dict[str, object]]:
    """One ``retry-harness run``: exit code, wall time and the verdict JSON (empty if none)."""
    verdict_path = report_dir / "verdict.json"
    verdict_path.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(scenario),
        "--seed",
        str(seed),
        "--quiet",
        "--report-dir",
        str(report_dir),
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - started
    verdict: dict[str, object] = {}
    if verdict_path.exists():
        verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
    if proc.returncode not in (EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"  {scenario.stem} seed {seed}: exit {proc.returncode}: {' | '.join(tail)}")
    return proc.returncode, wall, verdict


def sweep(scenario: Path, n: int, work: Path) -> Sweep:
    """Run ``scenario`` with seeds FIRST_SEED .. FIRST_SEED + n - 1."""
    result = Sweep(name=scenario.stem, expect=expected_outcome(scenario))
    for i in range(n):
        seed = FIRST_SEED + i
        code, wall, verdict = run_once(scenario, seed, work / f"{scenario.stem}-{seed}")
        result.codes.append(code)
        result.wall_s.append(wall)
        if verdict:
            result.requests.append(int(str(verdict.get("client_records", 0))))
            result.attempts.append(int(str(verdict.get("attempts", 0))))
            result.epsilon_ms.append(float(str(verdict.get("epsilon_s", 0.0))) * 1e3)
        folder = work / f"{scenario.stem}-{seed}"
        wanted = EXIT_VIOLATION if result.expect == "violation" else EXIT_OK
        if code == wanted:
            shutil.rmtree(folder, ignore_errors=True)  # keep only the runs worth a look
        else:
            result.failed_seeds.append(seed)
            print(f"  {scenario.stem} seed {seed}: exit {code} (kept in {folder})", flush=True)
    return result


def _mean(values: Sequence[float], fmt: str) -> str:
    return format(statistics.fmean(values), fmt) if values else "-"


def _range(values: Sequence[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if values else "-"


def table(results: Sequence[Sweep]) -> str:
    head = (
        f"{'scenario':32} {'expect':10} {'runs':>4} {'conf':>4} {'false':>5} {'inc':>3} "
        f"{'err':>3} {'wall s':>6} {'requests':>8} {'attempts':>8} {'ε ms mean':>9} "
        f"{'ε ms range':>11}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        false_failures = r.count(EXIT_VIOLATION) if r.expect != "violation" else r.count(EXIT_OK)
        lines.append(
            f"{r.name:32} {r.expect:10} {len(r.codes):4} {r.count(EXIT_OK):4} "
            f"{false_failures:5} {r.count(EXIT_INCONCLUSIVE):3} {r.errors:3} "
            f"{_mean(r.wall_s, '.1f'):>6} {_mean(r.requests, '.0f'):>8} "
            f"{_mean(r.attempts, '.0f'):>8} {_mean(r.epsilon_ms, '.1f'):>9} "
            f"{_range(r.epsilon_ms):>11}"
        )
    return "\n".join(lines)


def summary(results: Sequence[Sweep], alpha: float) -> str:
    conformant = [r for r in results if r.expect != "violation"]
    runs = sum(len(r.codes) for r in conformant)
    false_failures = sum(r.count(EXIT_VIOLATION) for r in conformant)
    inconclusive = sum(r.count(EXIT_INCONCLUSIVE) for r in conformant)
    if runs == 0:
        return "no conformant scenario was run"
    p_tail = float(binom.sf(false_failures - 1, runs, alpha)) if false_failures else 1.0
    text = (
        f"conformant scenarios: {runs} runs, {false_failures} false failures "
        f"(expected {runs * alpha:.3f} at α={alpha} per run; P(X >= {false_failures}) = "
        f"{p_tail:.3g}), {inconclusive} inconclusive"
    )
    seeds = {r.name: r.failed_seeds for r in results if r.failed_seeds}
    if seeds:
        text += f"\nseeds with an unexpected outcome: {seeds}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", type=Path, help="default: conformant shipped ones")
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs per scenario")
    parser.add_argument("--alpha", type=float, default=0.001, help="stated false-failure rate")
    parser.add_argument("--work", type=Path, help="report folders (default: a temp folder)")
    args = parser.parse_args(argv)
    files = list(args.scenarios) or [
        p for p in sorted(SCENARIOS.glob("*.yaml")) if expected_outcome(p) != "violation"
    ]
    work = args.work or Path(tempfile.mkdtemp(prefix="seed-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"seed sweep: {len(files)} scenarios x {args.runs} runs; report folders in {work}")
    results: list[Sweep] = []
    started = time.monotonic()
    for file in files:
        t0 = time.monotonic()
        results.append(sweep(file.resolve(), args.runs, work))
        print(f"{file.stem}: done in {time.monotonic() - t0:.0f} s", flush=True)
    print()
    print(table(results))
    print()
    print(summary(results, args.alpha))
    print(f"total wall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Seed sweep: how often do conformant scenarios fail a conformant SUT, and are defects caught?

Runs each scenario N times with different seeds (``retry-harness run FILE --seed S --quiet``, one
subprocess per run, exactly as a user or CI would) and prints, per scenario: runs, conformant
(exit 0), false failures (exit 1), inconclusive (exit 3), errors (any other exit), mean wall
time, mean logical requests and attempts, and the ε used (from each run's ``verdict.json``).
The last line compares the false-failure count with the stated per-run α: with R runs of
conformant scenarios the expected count is R·α, and ``P(X >= k)`` under Binomial(R, α) says
whether the count is compatible with the promise.

Showcases (``expect: violation`` in the scenario) are skipped unless named explicitly; for
them the table's "false failures" column counts the runs that missed the expected violation.

``--hog`` runs every run twice as often: once on the machine as it is and once while
``stress-ng --cpu 2`` (one CPU hog per core, bounded by ``--timeout``) loads every core, and
reports the two halves separately; ``--hog-only`` only the second. ``--first-seed S`` starts
each scenario's seeds at S (default 1000), to add runs with new seeds to an earlier sweep's.
``--jobs J`` runs J runs side by side (more load, too).

Every run is also written as one JSON line to ``runs.ndjson`` in the work folder: scenario,
condition, seed, exit code, wall time, the 1-minute load average at its start and end, ε and its
parts (``run.json``: ``epsilon_parts`` when the run records them, else the numbers of its
``epsilon_evidence`` sentence, which is kept too), the lowest judged/eligible share, and each
check that was not a pass (outcome, summary, judged/eligible, statistic), so a false failure can
be diagnosed afterwards; the report folder of every run without the expected outcome is kept.
The table adds ε p95 per scenario, and each condition's load average (sampled every 10 s) is
printed beside its half.

``--proxy`` sweeps the retrying proxy of ``tests/support/retrying_proxy.py`` (test code) with
its scenarios in ``tests/scenarios/retrying_proxy``: the correct proxy (false-failure rate, no
failure allowed) and each injected defect at the scenario's size (detection rate: a defect is
caught when the run exits 1). ``--defect-runs M`` sets the runs per defect.

Usage::

    python bench/seed_sweep.py                 # every conformant shipped scenario, N=20
    python bench/seed_sweep.py -n 20 --hog     # the same, quiet and under a CPU hog
    python bench/seed_sweep.py -n 5 scenarios/nginx.yaml scenarios/caddy.yaml
    python bench/seed_sweep.py --proxy -n 34 --hog --jobs 2 --defect-runs 3
    nohup python bench/seed_sweep.py > /tmp/seed_sweep.txt 2>&1 &
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import yaml
from scipy.stats import binom

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
PROXY = ROOT / "tests" / "support" / "retrying_proxy.py"
PROXY_SCENARIOS = ROOT / "tests" / "scenarios" / "retrying_proxy"
EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE = 0, 1, 3
FIRST_SEED = 1000
RUN_TIMEOUT_S = 900.0  # one run never outlives this (then it is stopped: run_cli)
RUN_STOP_GRACE_S = 60.0  # SIGTERM to SIGKILL for a run that outlived RUN_TIMEOUT_S
HOG_TIMEOUT_S = 3600  # one stress-ng never outlives this, whatever happens to the sweep

# Which proxy scenario exposes which injected defect (tests/support/retrying_proxy.py DEFECTS).
DEFECT_SCENARIOS: dict[str, str] = {
    "no_jitter": "backoff",
    "wait_half": "backoff",
    "no_backoff": "envoy-like",
    "no_cap": "cap",
    "linear": "backoff",
    "extra_retry": "backoff",
    "fewer_retries": "backoff",
    "retry_non_retryable": "backoff",
    "no_retry_reset": "backoff",
    "retry_post": "limits",
    "ignore_deadline": "deadline",
    "ignore_budget": "limits",
    "ignore_per_try_timeout": "limits",
    "ignore_retry_after": "retry-after",
}


@dataclass
class Sweep:
    """The outcomes of one scenario's runs (in one condition: quiet or under a CPU hog)."""

    name: str
    expect: str
    condition: str = "quiet"
    codes: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    epsilon_ms: list[float] = field(default_factory=list)
    judged_share: list[float] = field(default_factory=list)
    not_passed: Counter[str] = field(default_factory=Counter)
    failed_seeds: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, code: int) -> int:
        return sum(1 for c in self.codes if c == code)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.codes if c not in (EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE))

    @property
    def unexpected(self) -> int:
        """Runs that got the wrong one of pass/violation (inconclusive and errors aside)."""
        if self.expect == "violation":
            return self.count(EXIT_OK)
        return self.count(EXIT_VIOLATION)


#: The exit code a run of a scenario with this ``expect:`` should give.
WANTED_EXIT = {
    "conformant": EXIT_OK,
    "violation": EXIT_VIOLATION,
    "inconclusive": EXIT_INCONCLUSIVE,
}


def expected_outcome(path: Path) -> str:
    """The scenario's ``expect:`` field (conformant when absent or unreadable)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "conformant"
    value = doc.get("expect") if isinstance(doc, dict) else None
    return str(value) if value else "conformant"


@contextlib.contextmanager
def cpu_hog(enabled: bool) -> Iterator[None]:
    """``stress-ng --cpu 2`` (harness.processes.hog, bounded) while the block runs, if enabled."""
    if not enabled:
        yield
        return
    from harness.processes.hog import cpu_hog as stress_ng

    with stress_ng(HOG_TIMEOUT_S, cpus=2):
        yield


STOP_AT: float | None = None
"""``time.time()`` after which no new run starts (``--until``)."""

RUNS_FILE = "runs.ndjson"
_RUNS_LOCK = threading.Lock()

_PART = re.compile(
    r"(?:largest of \d+ )?(?P<name>[A-Za-z][^(),;=]*?)\s*\((?:p95 (?P<p95>[\d.]+) ms, )?"
    r"max (?P<max>[\d.]+) ms\)"
)
_FLOOR = re.compile(r"ε = max\((?P<floor>[\d.]+) ms,")


def epsilon_parts(manifest: dict[str, Any]) -> dict[str, float]:
    """ε's parts in ms: ``run.json``'s ``epsilon_parts`` (seconds) when the run records them,
    else the numbers of its evidence sentence (``floor``, ``<part>_p95``, ``<part>_max``)."""
    parts = manifest.get("epsilon_parts")
    if isinstance(parts, dict):
        return {str(k): float(v) * 1e3 for k, v in parts.items() if isinstance(v, int | float)}
    sentence = str(manifest.get("epsilon_evidence", ""))
    out: dict[str, float] = {}
    if m := _FLOOR.search(sentence):
        out["floor"] = float(m["floor"])
    for m in _PART.finditer(sentence):
        slug = re.sub(r"[^a-z0-9]+", "_", m["name"].lower().replace("the sut's ", "")).strip("_")
        if m["p95"]:
            out[f"{slug}_p95"] = float(m["p95"])
        out[f"{slug}_max"] = float(m["max"])
    return out


def not_passed(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """Each check of the verdict that was not a pass (n/a included), with what it saw."""
    out = []
    for c in verdict.get("checks", []):
        if c.get("outcome") == "pass":
            continue
        stat = c.get("stat") or {}
        out.append(
            {
                "check": c.get("name"),
                "outcome": c.get("outcome"),
                "summary": c.get("summary"),
                "judged": c.get("judged"),
                "eligible": c.get("eligible"),
                "stat": {k: stat.get(k) for k in ("test", "p_value", "n", "n_planned", "alpha")}
                if stat
                else None,
                "evidence": list(c.get("evidence", []))[:3],
            }
        )
    return out


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; empty when it is missing, unreadable or not an object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def run_cli(
    cmd: Sequence[str], timeout_s: float = RUN_TIMEOUT_S, grace_s: float = RUN_STOP_GRACE_S
) -> tuple[int, str]:
    """Run one harness command to its end, bounded: (exit code, its stderr or else stdout).

    A run that outlives ``timeout_s`` (or the sweep's Ctrl-C) is asked to stop as a user would:
    SIGTERM to the CLI, which tears down everything it started and exits 143; only if it is
    still there after ``grace_s`` are it and every process it had started (backends, Redis, the
    SUT, Locust, stress-ng: each in a session of its own, so a signal to the CLI alone never
    reaches them) killed. Exit code -15 (torn down) or -9 (killed) after a timeout, with a line
    saying so."""
    proc = subprocess.Popen(
        list(cmd),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, err or out
    except subprocess.TimeoutExpired:
        code, how = _stop_cli(proc, grace_s)
        return code, f"timed out after {timeout_s:g} s ({how})"
    except BaseException:
        _stop_cli(proc, grace_s)
        raise


def _stop_cli(proc: subprocess.Popen[str], grace_s: float) -> tuple[int, str]:
    """SIGTERM the CLI, wait ``grace_s``, then SIGKILL it and what it started.

    Returns the exit code to report (-15: it ended on SIGTERM; -9: it had to be killed) and
    which way it took, in words.
    """
    started = _tree(proc.pid)
    proc.terminate()
    code = -int(signal.SIGTERM)
    try:
        proc.communicate(timeout=grace_s)
        how = "torn down"
    except subprocess.TimeoutExpired:
        if proc.poll() is None:
            code, how = -int(signal.SIGKILL), f"killed: still running {grace_s:g} s after SIGTERM"
        else:
            how = "torn down, but its output was held open"
        started += _tree(proc.pid)
        proc.kill()
    left = [p for p in dict.fromkeys(started) if _running(p)]
    for child in left:  # what a teardown missed, or the CLI never got to
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(left, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)  # its pipes, now that nothing holds them
    return code, how + (f"; {len(left)} leftover process(es) killed" if left else "")


def _tree(pid: int) -> list[psutil.Process]:
    """Every process ``pid`` started, in its session or not (empty once it is gone)."""
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def run_once(scenario: Path, seed: int, report_dir: Path) -> tuple[int, float, str]:
    """One ``retry-harness run``: exit code, wall time and the last lines it printed on an
    exit other than pass/violation/inconclusive (empty otherwise)."""
    (report_dir / "verdict.json").unlink(missing_ok=True)
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
    code, out = run_cli(cmd)
    wall = time.monotonic() - started
    tail = ""
    if code not in (EXIT_OK, EXIT_VIOLATION, EXIT_INCONCLUSIVE):
        tail = " | ".join(out.strip().splitlines()[-3:])
        print(f"  {scenario.stem} seed {seed}: exit {code}: {tail}")
    return code, wall, tail


def _one(result: Sweep, scenario: Path, seed: int, work: Path, hog: bool) -> None:
    if STOP_AT is not None and time.time() >= STOP_AT:
        return
    folder = work / f"{result.name}-{result.condition}-{seed}"
    load_start = os.getloadavg()[0]
    with cpu_hog(hog):
        code, wall, tail = run_once(scenario, seed, folder)
    load_end = os.getloadavg()[0]
    verdict = read_json(folder / "verdict.json")
    manifest = read_json(folder / "run" / "run.json")
    eps = float(verdict.get("epsilon_s", manifest.get("epsilon_s", float("nan")))) * 1e3
    others = not_passed(verdict)
    wanted = WANTED_EXIT.get(result.expect, EXIT_OK)
    record = {
        "scenario": result.name,
        "condition": result.condition,
        "expect": result.expect,
        "seed": seed,
        "exit": code,
        "wall_s": round(wall, 2),
        "load1_start": load_start,
        "load1_end": load_end,
        "epsilon_ms": eps,
        "epsilon_parts_ms": epsilon_parts(manifest),
        "epsilon_evidence": manifest.get("epsilon_evidence"),
        "judged_share": verdict.get("judged_share"),
        "requests": verdict.get("client_records"),
        "attempts": verdict.get("attempts"),
        "sut_answered": verdict.get("sut_answered"),
        "not_passed": others,
        "error_tail": tail or None,
        "kept": None if code == wanted else str(folder),
    }
    with _RUNS_LOCK, (work / RUNS_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with result.lock:
        result.codes.append(code)
        result.wall_s.append(wall)
        if verdict:
            result.requests.append(int(verdict.get("client_records", 0)))
            result.attempts.append(int(verdict.get("attempts", 0)))
            result.epsilon_ms.append(eps)
            if verdict.get("judged_share") is not None:
                result.judged_share.append(float(verdict["judged_share"]))
        for c in others:
            if c["outcome"] != "not_applicable":
                result.not_passed[f"{c['check']}:{c['outcome']}"] += 1
    flagged = ", ".join(
        f"{c['check']} {c['outcome']}" for c in others if c["outcome"] != "not_applicable"
    )
    print(
        f"run {result.name} [{result.condition}] seed {seed}: exit {code}, {wall:.0f} s, "
        f"ε {eps:.0f} ms, load {load_start:.1f}->{load_end:.1f}"
        + (f"; {flagged}" if flagged else ""),
        flush=True,
    )
    if code == wanted:
        shutil.rmtree(folder, ignore_errors=True)  # keep only the runs worth a look
    else:
        with result.lock:
            result.failed_seeds.append(seed)
        print(f"  {result.name} [{result.condition}] seed {seed}: exit {code} (kept in {folder})")
    sys.stdout.flush()


@dataclass
class LoadSampler:
    """The 1-minute load average every ``every_s`` seconds while a condition runs."""

    every_s: float = 10.0
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __enter__(self) -> LoadSampler:
        def sample() -> None:
            while True:
                self.samples.append(os.getloadavg()[0])
                if self._stop.wait(self.every_s):
                    return

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def sentence(self) -> str:
        if not self.samples:
            return "load average: no sample"
        x = np.asarray(self.samples)
        return (
            f"load average (1 min, {x.size} samples every {self.every_s:.0f} s): "
            f"mean {x.mean():.1f}, median {np.median(x):.1f}, min {x.min():.1f}, "
            f"max {x.max():.1f}"
        )


def sweep(
    scenario: Path,
    n: int,
    work: Path,
    *,
    name: str | None = None,
    expect: str | None = None,
    hog: bool = False,
    jobs: int = 1,
    first_seed: int = FIRST_SEED,
    into: Sweep | None = None,
) -> Sweep:
    """Run ``scenario`` with seeds first_seed .. first_seed + n - 1 (``jobs`` at a time).

    With ``hog`` one ``stress-ng --cpu 2`` runs for the whole batch (bounded by its timeout).
    ``into`` adds the outcomes to an earlier sweep of the same scenario and condition.
    """
    result = into or Sweep(
        name=name or scenario.stem,
        expect=expect or expected_outcome(scenario),
        condition="cpu-hog" if hog else "quiet",
    )
    seeds = [first_seed + i for i in range(n)]
    with cpu_hog(hog), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(_one, result, scenario, s, work, False) for s in seeds]:
            future.result()
    return result


def defect_variant(base: Path, defect: str, out_dir: Path) -> Path:
    """A copy of a proxy scenario whose proxy runs with ``--defect DEFECT`` (expect: violation)."""
    doc = yaml.safe_load(base.read_text(encoding="utf-8"))
    out = out_dir / f"{base.stem}-{defect}.yaml"
    doc["name"] = f"{doc['name']}-{defect}"
    doc["expect"] = "violation"
    doc["sut"]["command"] = (
        f"{sys.executable} {PROXY} --listen {{listen}} --upstreams {{upstreams}} "
        f"--scenario {out} --defect {defect}"
    )
    locustfile = doc.get("load", {}).get("locustfile")
    if locustfile and not Path(locustfile).is_absolute() and (base.parent / locustfile).exists():
        doc["load"]["locustfile"] = str((base.parent / locustfile).resolve())
    out_dir.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def _mean(values: Sequence[float], fmt: str) -> str:
    return format(statistics.fmean(values), fmt) if values else "-"


def _range(values: Sequence[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if values else "-"


def _p95(values: Sequence[float]) -> str:
    return f"{float(np.percentile(values, 95)):.1f}" if values else "-"


def table(results: Sequence[Sweep]) -> str:
    head = (
        f"{'scenario':40} {'condition':9} {'expect':10} {'runs':>4} {'pass':>4} {'viol':>4} "
        f"{'inc':>3} {'err':>3} {'wrong':>5} {'wall s':>6} {'requests':>8} {'attempts':>8} "
        f"{'ε ms mean':>9} {'ε ms p95':>8} {'ε ms range':>11} {'judged min':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.name:40} {r.condition:9} {r.expect:10} {len(r.codes):4} {r.count(EXIT_OK):4} "
            f"{r.count(EXIT_VIOLATION):4} {r.count(EXIT_INCONCLUSIVE):3} {r.errors:3} "
            f"{r.unexpected:5} {_mean(r.wall_s, '.1f'):>6} {_mean(r.requests, '.0f'):>8} "
            f"{_mean(r.attempts, '.0f'):>8} {_mean(r.epsilon_ms, '.1f'):>9} "
            f"{_p95(r.epsilon_ms):>8} {_range(r.epsilon_ms):>11} "
            f"{format(min(r.judged_share), '.0%') if r.judged_share else '-':>10}"
        )
    notes = [
        f"{r.name} [{r.condition}]: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(r.not_passed.items()))
        for r in results
        if r.not_passed
    ]
    if notes:
        lines += ["", "checks that were not a pass (n/a aside), runs per check:", *notes]
    return "\n".join(lines)


def summary(results: Sequence[Sweep], alpha: float) -> str:
    out: list[str] = []
    conformant = [r for r in results if r.expect == "conformant"]
    for label, part in (
        ("all", conformant),
        ("quiet", [r for r in conformant if r.condition == "quiet"]),
        ("cpu-hog", [r for r in conformant if r.condition == "cpu-hog"]),
    ):
        runs = sum(len(r.codes) for r in part)
        if runs == 0:
            continue
        false_failures = sum(r.count(EXIT_VIOLATION) for r in part)
        inconclusive = sum(r.count(EXIT_INCONCLUSIVE) for r in part)
        errors = sum(r.errors for r in part)
        p_tail = float(binom.sf(false_failures - 1, runs, alpha)) if false_failures else 1.0
        out.append(
            f"conformant ({label}): {runs} runs, {false_failures} false failures "
            f"({false_failures / runs:.1%}; expected {runs * alpha:.3f} at α={alpha} per run; "
            f"P(X >= {false_failures}) = {p_tail:.3g}), {inconclusive} inconclusive, "
            f"{errors} errors"
        )
    unsure = [r for r in results if r.expect == "inconclusive" and r.codes]
    if unsure:  # expect: inconclusive (something not judged): a violation is a false failure
        runs = sum(len(r.codes) for r in unsure)
        out.append(
            f"expected inconclusive: {sum(r.count(EXIT_INCONCLUSIVE) for r in unsure)} of {runs} "
            f"runs inconclusive, {sum(r.count(EXIT_VIOLATION) for r in unsure)} false failures, "
            f"{sum(r.count(EXIT_OK) for r in unsure)} passes"
        )
    showcases = [r for r in results if r.expect == "violation" and r.codes]
    if showcases:
        runs = sum(len(r.codes) for r in showcases)
        caught = sum(r.count(EXIT_VIOLATION) for r in showcases)
        missed = [r.name for r in showcases if r.count(EXIT_VIOLATION) < len(r.codes)]
        out.append(
            f"expected violations: {caught} of {runs} runs caught ({caught / runs:.1%})"
            + (f"; not always caught: {', '.join(missed)}" if missed else "")
        )
    if not out:
        return "nothing was run"
    seeds = {f"{r.name}[{r.condition}]": r.failed_seeds for r in results if r.failed_seeds}
    if seeds:
        out.append(f"seeds with an unexpected outcome: {seeds}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    global STOP_AT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", type=Path, help="default: conformant shipped ones")
    parser.add_argument("-n", "--runs", type=int, default=20, help="runs per scenario (and hog)")
    parser.add_argument("--alpha", type=float, default=0.001, help="stated false-failure rate")
    parser.add_argument("--work", type=Path, help="report folders (default: a temp folder)")
    parser.add_argument("--hog", action="store_true", help="also run each under stress-ng --cpu 2")
    parser.add_argument(
        "--hog-only", action="store_true", help="run each only under stress-ng --cpu 2"
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        help=f"seed of each scenario's first run (default {FIRST_SEED}; another value adds "
        "runs with new seeds to an earlier sweep's)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side")
    parser.add_argument("--proxy", action="store_true", help="sweep the retrying test proxy")
    parser.add_argument("--defect-runs", type=int, default=3, help="--proxy: runs per defect")
    parser.add_argument("--defects", help="--proxy: comma-separated defects (default: all)")
    parser.add_argument(
        "--until",
        help="HH:MM (UTC): start no run after this (the defects first, then each condition "
        "gets an equal share of the time left; scenarios take turns within it)",
    )
    args = parser.parse_args(argv)
    if args.until:
        hh, mm = (int(x) for x in args.until.split(":"))
        now = time.gmtime()
        STOP_AT = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
    if args.proxy:
        files = list(args.scenarios) or sorted(PROXY_SCENARIOS.glob("*.yaml"))
    else:
        files = list(args.scenarios) or [
            p for p in sorted(SCENARIOS.glob("*.yaml")) if expected_outcome(p) != "violation"
        ]
    work = args.work or Path(tempfile.mkdtemp(prefix="seed-sweep-"))
    work.mkdir(parents=True, exist_ok=True)
    conditions = [True] if args.hog_only else [False, True] if args.hog else [False]
    print(
        f"seed sweep: {len(files)} scenarios x {args.runs} runs x {len(conditions)} conditions"
        f" ({args.jobs} at a time); report folders in {work}",
        flush=True,
    )
    results: list[Sweep] = []
    started = time.monotonic()
    defect_results = _defects(args, work) if args.proxy else []
    sweeps = {
        (f, hog): Sweep(
            name=f.stem, expect=expected_outcome(f), condition="cpu-hog" if hog else "quiet"
        )
        for f in files
        for hog in conditions
    }
    end = STOP_AT
    loads: dict[str, str] = {}
    for k, hog in enumerate(conditions):
        if end is not None:  # each condition gets its share of the time left
            STOP_AT = time.time() + (end - time.time()) / (len(conditions) - k)
        tasks = [  # scenarios take turns, so a sweep cut by --until still covers each
            (sweeps[(f, hog)], f.resolve(), args.first_seed + i)
            for i in range(args.runs)
            for f in files
        ]
        with (
            LoadSampler() as load,
            cpu_hog(hog),
            ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool,
        ):
            futures = [pool.submit(_one, r, f, seed, work, False) for r, f, seed in tasks]
            for future in futures:
                future.result()
        condition = "cpu-hog" if hog else "quiet"
        loads[condition] = load.sentence()
        print(f"{condition}: {loads[condition]}", flush=True)
        for f in files:
            r = sweeps[(f, hog)]
            print(
                f"{f.stem} [{r.condition}]: {len(r.codes)} runs, {r.unexpected} unexpected, "
                f"{r.count(EXIT_INCONCLUSIVE)} inconclusive",
                flush=True,
            )
    STOP_AT = end
    results = list(sweeps.values()) + defect_results
    print()
    print(table(results))
    print()
    print(summary(results, args.alpha))
    for condition, sentence in loads.items():
        print(f"{condition}: {sentence}")
    print(f"per-run records (ε parts, checks not passed): {work / RUNS_FILE}")
    print(f"total wall time {time.monotonic() - started:.0f} s")
    return 0


def _defects(args: argparse.Namespace, work: Path) -> list[Sweep]:
    """Each injected defect of the proxy, ``--defect-runs`` runs each (at the scenario's size),
    all in one pool of ``--jobs``."""
    chosen = args.defects.split(",") if args.defects else list(DEFECT_SCENARIOS)
    tasks: list[tuple[Sweep, Path, int]] = []
    results: list[Sweep] = []
    for defect in chosen:
        base = PROXY_SCENARIOS / f"{DEFECT_SCENARIOS[defect]}.yaml"
        variant = defect_variant(base, defect, work / "variants")
        r = Sweep(name=f"{base.stem}+{defect}", expect="violation")
        results.append(r)
        tasks += [(r, variant, FIRST_SEED + i) for i in range(args.defect_runs)]
    with LoadSampler() as load, ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(_one, r, f, seed, work, False) for r, f, seed in tasks]:
            future.result()
    print(f"defects: {load.sentence()}", flush=True)
    for r in results:
        print(
            f"defect {r.name}: caught {r.count(EXIT_VIOLATION)} of {len(r.codes)} "
            f"(inconclusive {r.count(EXIT_INCONCLUSIVE)})",
            flush=True,
        )
    return results


if __name__ == "__main__":
    raise SystemExit(main())

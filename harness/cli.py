"""The ``retry-harness`` command line.

Exit codes (every command): 0 conformant / done, 1 violation, 2 bad input or a run that could
not be carried out (one line naming the file, the field and what is allowed, or what happened),
3 inconclusive, 130 interrupted by Ctrl-C and 143 by SIGTERM (everything started has been torn
down; a run folder keeps a partial run that ``verify`` judges, marked as interrupted). The
console entry point is :mod:`harness.entry`, so a signal at any moment (while the modules load,
or after the verdict) still ends in one of these codes, never in death by the signal.

A closed stdout (``retry-harness run x.yaml | head -1``) never changes the exit code: output
that cannot be written is dropped and the verdict's code is still returned.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NoReturn, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import BadInput, RunFailed
from harness.seeds import SEED_MAX, SEED_RULE
from harness.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, exit_code_for

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3
SHIPPED_SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
EXIT_CODES_HELP = """exit codes:
  0    conformant: every check passed
  1    violation: a check found the SUT doing something its declared policy does not allow
  2    bad input (one line naming the file, the field and what is allowed; nothing was
       started) or a run that could not be carried out
  3    inconclusive: nothing failed, but a check lacked samples, power or precision
  130  interrupted (Ctrl-C): everything started was stopped; the run folder keeps a partial
       run that 'retry-harness verify' judges, marked as interrupted
  143  terminated (SIGTERM): the same as 130"""
VERBOSE_HELP = "show every evidence line and request id of every check"
REQUIRE_ALL_ENV = "RETRY_HARNESS_REQUIRE_ALL"
"""Set to 1 (.ci/run does): a conformance row skipped for a missing SUT fails the job."""

MISTAKEN_COMMANDS = {
    "kind": "unknown command 'kind'; kind runs through: retry-harness run FILE --substrate kind",
}
"""Commands users try that do not exist, with the line that says what to run instead."""


class _PipeSafeConsole(Console):
    """A rich Console that goes quiet when its reader has gone (``2>&1 | head -1``) instead of
    rich's default, which raises ``SystemExit(1)``: exit 1 means "violation" here, so a closed
    pipe must never turn an outcome into it. Its file descriptor is pointed at /dev/null so
    the interpreter's last flush cannot fail either."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _to_devnull(self.file)


err = _PipeSafeConsole(stderr=True, highlight=False)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)

    def _check_value(self, action: argparse.Action, value: object) -> None:
        # One well-known mistake gets its own line: kind is a substrate of 'run', not a command.
        if (
            isinstance(action, argparse._SubParsersAction)
            and value in MISTAKEN_COMMANDS
            and value not in action.choices
        ):
            raise argparse.ArgumentError(None, MISTAKEN_COMMANDS[str(value)])
        super()._check_value(action, value)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retry-harness")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="retry-harness",
        description="Verify that a system's real retry behaviour matches its declared policy.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"retry-harness {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=text,
            description=text,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command("run", "run one scenario (local processes, docker or kind: see --substrate)")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--report-dir", type=Path, help="default: reports/<scenario name>")
    run.add_argument(
        "--seed", type=_seed, help=f"override the scenario's load and fault seed (0..{SEED_MAX})"
    )
    run.add_argument("--quiet", action="store_true", help="no progress, only the verdict")
    run.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    _substrate_args(run)
    run.add_argument(
        "--render",
        type=Path,
        metavar="DIR",
        help="with --substrate kind: only write every manifest and the kind cluster config",
    )

    ver = command("verify", "recompute a verdict offline from a saved run folder")
    ver.add_argument("run_dir", type=Path, help="the run/ folder of an earlier run")
    ver.add_argument("--report-dir", type=Path, help="where to write reports (default: none)")
    ver.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)

    pol = sub.add_parser("policy", help="show the canonical policy read from a native config")
    pol_sub = pol.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    show = pol_sub.add_parser("show", help="canonical policy and the adapter's notes")
    show.add_argument("config", type=Path)
    show.add_argument("--system", required=True, help="adapter name (see 'policy systems')")
    show.add_argument(
        "--replicas",
        type=_replica_count,
        metavar="N",
        help="number of upstream servers (1 or more), if it matters",
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pol_sub.add_parser("systems", help="list the supported systems")
    pol_sub.add_parser("schema", help="print the canonical policy's JSON Schema")

    pl = sub.add_parser("plan", help="logical requests needed for a scenario's detection goals")
    pl.add_argument("scenario", type=Path)

    conf = command("conformance", "run every shipped (or given) scenario")
    conf.add_argument("scenarios", nargs="*", type=Path, help=f"default: {SHIPPED_SCENARIOS}")
    conf.add_argument("--report-dir", type=Path, default=Path("reports"))
    conf.add_argument("--seed", type=_seed, help=f"override every scenario's seed (0..{SEED_MAX})")
    conf.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    _substrate_args(conf)

    ui = sub.add_parser(
        "ui", help="keep a scenario's backends and SUT up under Locust's web UI (Ctrl-C ends)"
    )
    ui.add_argument("scenario", type=Path, help="scenario YAML file")
    ui.add_argument(
        "--substrate",
        choices=["local", "docker"],
        default="local",
        help="where backends and SUT run (default: local processes)",
    )
    ui.add_argument("--port", type=int, default=8089, help="web UI port on 127.0.0.1")
    ui.add_argument(
        "--workers",
        type=int,
        help="Locust worker processes under a master (default: the scenario's load.workers)",
    )
    ui.add_argument("--dir", type=Path, help="session folder (default: reports/<scenario name>/ui)")

    sch = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    sch.add_argument("what", choices=["scenario", "policy"], nargs="?", default="scenario")
    return p


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..32 (got {text!r})") from None
    if not 0 <= value <= 32:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..32 (got {value})")
    return value


def _seed(text: str) -> int:
    """``--seed``'s text as an integer; its range is checked with the scenario
    (``harness.run.preflight``), and either refusal gives the allowed range."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{SEED_RULE} (got {text!r})") from None


def _replica_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (got {value})")
    return value


def _substrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--substrate",
        choices=["local", "docker", "kind"],
        default="local",
        help="where backends and SUT run (default: local processes; docker: containers on a "
        "network of the run's own, images from 'nox -s image'; kind: the kits in "
        "scenarios/kits/ in a kind cluster)",
    )
    p.add_argument(
        "--keep-cluster", action="store_true", help="kind: keep the cluster for the next run"
    )
    p.add_argument("--cluster-name", default="retry-harness", help="kind: cluster name")
    p.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="Locust as a master and N worker processes (overrides load.workers; 0: one process)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="docker: leave the run's containers and network up (prints how to remove them)",
    )


TAIL_LINES_SHOWN = 5


def one_line(text: str) -> str:
    """A message on one line: its first line, then at most the last ``TAIL_LINES_SHOWN``
    non-empty lines of what follows (a quoted log tail), joined with `` | ``."""
    lines = [line.strip() for line in text.splitlines()]
    head, rest = (lines[0] if lines else ""), [line for line in lines[1:] if line]
    return " | ".join([head, *rest[-TAIL_LINES_SHOWN:]]) if rest else head


def _say_error(prefix: str, what: object) -> None:
    """One line on stderr, never wrapped (rich would fold it at the terminal width). A reader
    that has gone (``2>&1 | head -3``) loses the line, and the exit code stays the caller's:
    an uncaught ``BrokenPipeError`` here would end the process with 1, "violation"."""
    try:
        sys.stderr.write(f"{prefix}: {one_line(str(what))}\n")
        sys.stderr.flush()
    except BrokenPipeError:
        _to_devnull(sys.stderr)


@contextmanager
def _progress(enabled: bool) -> Iterator[object]:
    """A transient progress bar on a terminal; none otherwise (rich ends a bar on a pipe or a
    file with an empty line, which put a blank line before every error line)."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        yield bar


def _kind_factory(path: Path, args: argparse.Namespace | None) -> object:
    """The ``make_substrate`` of ``--substrate kind`` (checked now), else None (local)."""
    from harness.substrates.kind_run import check_substrate, kind_substrate_factory

    substrate = getattr(args, "substrate", "local")
    check_substrate(path, substrate, getattr(args, "render", None))
    if substrate == "kind":
        assert args is not None
        return kind_substrate_factory(
            path,
            keep_cluster=args.keep_cluster,
            cluster_name=args.cluster_name,
            workers=getattr(args, "workers", None),
        )
    if substrate == "docker":
        assert args is not None
        from harness.substrates.docker import DockerSubstrate, check_docker

        check_docker([path])  # docker, the images and the scenario, before anything starts
        return functools.partial(DockerSubstrate, keep=args.keep)
    return None


def _render(path: Path, out: Path, workers: int | None = None) -> int:
    from harness.substrates.kind_run import render_only

    rendered = render_only(path, out, workers)
    err.print(f"rendered {path} into {rendered.root}", markup=False, soft_wrap=True)
    err.print(f"  kind cluster config: {rendered.cluster_config}", markup=False, soft_wrap=True)
    err.print(f"  commands, in order:  {rendered.install_script}", markup=False, soft_wrap=True)
    err.print(
        f"  build offline:       kubectl kustomize {rendered.root}", markup=False, soft_wrap=True
    )
    return EXIT_OK


class _PipeSafe(io.TextIOBase):
    """stdout that drops what it cannot write once the reader has gone (``| head -1``)."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self.broken = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)  # type: ignore[attr-defined]
            except BrokenPipeError:
                self._broke()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()  # type: ignore[attr-defined]
            except BrokenPipeError:
                self._broke()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def _broke(self) -> None:
        self.broken = True
        _to_devnull(sys.stdout)


def _to_devnull(stream: IO[str] | object) -> None:
    """Point ``stream``'s file descriptor at /dev/null so that no later write or the
    interpreter's last flush can fail on a pipe whose reader has gone (nothing to do for a
    stream without a descriptor)."""
    try:
        fd = stream.fileno()  # type: ignore[union-attr]
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _stdout_console() -> Console:
    return _PipeSafeConsole(file=cast(IO[str], _PipeSafe(sys.stdout)), highlight=False)


def _run_one(
    path: Path,
    report_dir: Path | None,
    seed: int | None,
    quiet: bool,
    args: argparse.Namespace | None = None,
) -> int:
    from harness.run import Interrupted, run_scenario

    if args is not None and getattr(args, "render", None) is not None:
        from harness.substrates.kind_run import check_substrate

        check_substrate(path, args.substrate, args.render)
        return _render(path, args.render, getattr(args, "workers", None))
    make_substrate = _kind_factory(path, args)

    console = _stdout_console()
    with _progress(not quiet) as bar:
        task_id = None

        def progress(phase: str, done: int, total: int | None) -> None:
            nonlocal task_id
            if bar is None:
                return
            assert isinstance(bar, Progress)
            if task_id is None:
                task_id = bar.add_task("requests", total=total)
            bar.update(task_id, completed=done, total=total)

        def log(text: str) -> None:
            if not quiet:
                err.print(
                    f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", markup=True, soft_wrap=True
                )

        try:
            result = run_scenario(
                path,
                report_dir=report_dir,
                seed=seed,
                log=log,
                progress=progress,
                console=console,
                make_substrate=make_substrate,  # type: ignore[arg-type]
                workers=getattr(args, "workers", None),
                verbose=bool(getattr(args, "verbose", False)),
            )
        except Interrupted as exc:
            code = exit_code_for(exc)
            if exc.run_dir is None:
                _say_error("interrupted", "everything started was stopped (no load had run)")
            else:
                _say_error(
                    "interrupted",
                    "everything started was stopped; a partial run is saved, judge it with: "
                    f"retry-harness verify {exc.run_dir}",
                )
            return code
    if not quiet:
        for kind, p in sorted(result.report_paths.items()):
            err.print(f"{kind} report: {p}", markup=False, soft_wrap=True)
        err.print(
            f"run folder (for 'retry-harness verify'): {result.run_dir}",
            markup=False,
            soft_wrap=True,
        )
    return result.verdict.exit_code


def _verify(run_dir: Path, report_dir: Path | None, verbose: bool = False) -> int:
    from harness.report import render_console, write_reports
    from harness.run import verify_run_dir

    verdict = verify_run_dir(run_dir)
    if report_dir is not None:
        write_reports(verdict, report_dir, console=_stdout_console(), verbose=verbose)
    else:
        render_console(verdict, _stdout_console(), verbose=verbose)
    return verdict.exit_code


def _policy_show(config: Path, system: str, replicas: int | None, as_json: bool) -> int:
    from harness.adapters import load_adapted
    from harness.adapters.base import AdapterContext

    adapted = load_adapted(system, config, AdapterContext(upstream_servers=replicas))
    if as_json:
        print(adapted.model_dump_json(indent=2))
        return EXIT_OK
    from harness.policy.expectations import delay_window

    out = _stdout_console()
    policy = adapted.policy
    out.print(f"[bold]{config}[/] read as [bold]{system}[/]")
    out.print_json(policy.model_dump_json())
    table = Table(title="declared delay before each retry (s)")
    for col in ("retry", "lo", "nominal", "hi"):
        table.add_column(col, justify="right")
    for k in range(1, min(policy.max_retries, 8) + 1):
        w = delay_window(policy, k)
        table.add_row(str(k), f"{w.lo_s:.4g}", f"{w.nominal_s:.4g}", f"{w.hi_s:.4g}")
    out.print(table)
    notes = Table(title="adapter notes", show_lines=False)
    for col in ("kind", "field", "note"):
        notes.add_column(col, overflow="fold")
    for n in adapted.notes:
        notes.add_row(n.kind, n.field, n.text)
    out.print(notes)
    return EXIT_OK


def _plan(path: Path) -> int:
    from harness.run import preflight

    scenario, _, planned = preflight(path)
    out = _stdout_console()
    table = Table(
        title=f"sample plan for {scenario.name} (α={planned.alpha}, power={planned.power})"
    )
    for col in ("check", "samples", "unit", "logical requests", "how"):
        table.add_column(col, overflow="fold")
    for name, cp in planned.checks.items():
        table.add_row(name, str(cp.n), cp.unit, str(cp.requests), cp.detail)
    out.print(table)
    sends, cap = scenario.load.requests, scenario.load.duration_s
    if sends is not None:
        sent = str(sends)
    elif cap is not None:
        sent = f"as many as fit in {cap} s"
    else:
        sent = f"what the plan needs (time cap {scenario.load.time_cap_s:g} s)"
    from harness.oracle.planner import CONCLUDE_MISS

    out.print(
        f"needs {planned.requests_to_conclude()} logical requests; the scenario sends {sent} "
        f"(the count reaching every planned sample with probability {1 - CONCLUDE_MISS:g} each; "
        f"{planned.requests} on average)"
    )
    from harness.run import skipped_checks

    skipped, why = skipped_checks(scenario)
    for line in why:
        out.print(f"note: {line}", markup=False, soft_wrap=True)
    if not planned.checks:
        out.print(
            "note: no statistical check is planned"
            + (f" ({len(skipped)} skipped)" if skipped else "")
            + ": only invariants are judged, on every request sent",
            markup=False,
            soft_wrap=True,
        )
    return EXIT_OK


def _conformance(
    paths: Sequence[Path],
    report_dir: Path,
    seed: int | None,
    args: argparse.Namespace | None = None,
) -> int:
    from harness.run import preflight
    from harness.scenario import Scenario
    from harness.substrates.kind_run import kit_scenarios
    from harness.suts.base import missing_binary

    on_kind = getattr(args, "substrate", "local") == "kind"
    if on_kind:  # a missing program is one line before the first scenario, not one per kit
        from harness.substrates.kind_tools import require_tools

        require_tools(["docker"])
    if getattr(args, "substrate", "local") == "docker":  # one line, not one per scenario
        from harness.substrates.docker import check_docker

        check_docker()
    files = list(paths) or (
        kit_scenarios() if on_kind else sorted(SHIPPED_SCENARIOS.glob("*.yaml"))
    )
    if not files:
        raise BadInput("no scenario files found", file=SHIPPED_SCENARIOS)
    rows: list[tuple[str, str, str]] = []
    codes: list[int] = []
    started = time.monotonic()
    labels = file_labels(files)
    valid: list[tuple[Path, Scenario]] = []
    for file in files:  # every file is checked before anything starts
        try:
            valid.append((file, preflight(file, seed)[0]))
        except BadInput as exc:
            _say_error("invalid", exc)
            rows.append((labels[file], "invalid", one_line(str(exc))))
            codes.append(EXIT_BAD_INPUT)
    folders = report_folders([scenario.name for _, scenario in valid])
    for i, ((file, scenario), folder) in enumerate(zip(valid, folders, strict=True), 1):
        row_name = f"{scenario.name} ({labels[file]})"
        hint = missing_binary(scenario.sut, scenario.base_dir)
        err.rule(f"[{i}/{len(valid)}] {row_name}")
        if hint:
            rows.append((row_name, "skipped", f"SUT not installed: {hint}"))
            err.print(f"skipped: the SUT is not installed: {hint}", markup=False)
            if os.environ.get(REQUIRE_ALL_ENV) == "1":  # CI: every SUT must be there
                codes.append(EXIT_BAD_INPUT)
            continue
        t0 = time.monotonic()
        try:
            code = _run_one(file, report_dir / folder, seed, quiet=False, args=args)
        except (BadInput, RunFailed) as exc:
            _say_error("error", exc)
            rows.append((row_name, "error", one_line(str(exc))))
            codes.append(EXIT_BAD_INPUT)
            continue
        if code == EXIT_TERMINATED:
            raise Terminated
        if code == EXIT_INTERRUPTED:
            raise KeyboardInterrupt
        got = _LABELS.get(code, str(code))
        expect = scenario.expect
        detail = f"{time.monotonic() - t0:.1f} s; expected {expect}"
        if folder != scenario.name:  # another file has this name: its reports are elsewhere
            detail += f"; reports in {report_dir / folder}"
        ok = got == expect
        outcomes = _check_outcomes(report_dir / folder / "verdict.json")
        if ok and scenario.expect_failing:  # the showcase's own finding, and no other failure
            failed = sorted(n for n, o in outcomes.items() if o == "fail")
            must = set(scenario.expect_failing)
            allowed = must | set(scenario.expect_may_fail)
            shown = bool(must & set(failed))
            other = [c for c in failed if c not in allowed]
            ok = shown and not other
            detail += f"; failed: {', '.join(failed) or 'none'}"
            if not shown:
                detail += f"; NONE of {', '.join(sorted(must))} failed"
            if other:
                detail += f"; failed unexpectedly: {', '.join(other)}"
        if ok and scenario.expect_not_judged:  # inconclusive for the named reason, no other
            ok, said = _inconclusive_as_expected(outcomes, scenario.expect_not_judged)
            detail += said
        rows.append((row_name, got, detail + (" ✓" if ok else " ✗")))
        # A showcase that is meant to expose a violation passes the job when it does.
        codes.append(EXIT_OK if ok else (code if code != EXIT_OK else EXIT_VIOLATION))
    elapsed = time.monotonic() - started
    table = Table(title=f"conformance: {len(files)} scenarios in {elapsed:.0f} s")
    for col in ("scenario", "result", "detail"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    _stdout_console().print(table)
    for worst in (EXIT_BAD_INPUT, EXIT_VIOLATION, EXIT_INCONCLUSIVE):
        if worst in codes:
            return worst
    return EXIT_OK


_LABELS = {EXIT_OK: "conformant", EXIT_VIOLATION: "violation", EXIT_INCONCLUSIVE: "inconclusive"}


def file_labels(files: Sequence[Path]) -> dict[Path, str]:
    """How the conformance table names each scenario file: its file name, or, when two given
    files share a file name (``a/scenario.yaml``, ``b/scenario.yaml``), its path as given."""
    names = Counter(f.name for f in files)
    return {f: f.name if names[f.name] == 1 else str(f) for f in files}


def report_folders(names: Sequence[str]) -> list[str]:
    """The report folder (under ``--report-dir``) of each scenario, in order: its ``name:``,
    and for the second and later scenarios with the same name ``NAME-2``, ``NAME-3``, ... (one
    scenario's reports must not overwrite another's)."""
    named = set(names)
    taken: set[str] = set()
    out = []
    for name in names:
        folder, n = name, 1
        while folder in taken or (folder != name and folder in named):
            n += 1
            folder = f"{name}-{n}"
        taken.add(folder)
        out.append(folder)
    return out


def _check_outcomes(verdict_json: Path) -> dict[str, str]:
    """Check name -> outcome of a saved verdict (empty when it cannot be read)."""
    try:
        doc = json.loads(verdict_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(c.get("name")): str(c.get("outcome")) for c in doc.get("checks", [])}


_UNJUDGED = ("not_judged", "inconclusive")


def _inconclusive_as_expected(outcomes: dict[str, str], expected: list[str]) -> tuple[bool, str]:
    """Whether an inconclusive verdict is so for the scenario's own reason (``expect_not_judged``):
    each named check not judged or inconclusive, every other one passed or not applicable.
    Returns (ok, the detail to add to the conformance row)."""
    if not outcomes:
        return False, "; verdict.json unreadable: cannot tell why it is inconclusive"
    unjudged = sorted(n for n, o in outcomes.items() if o in _UNJUDGED)
    judged = sorted(n for n in expected if outcomes.get(n) not in _UNJUDGED)
    other = sorted(
        f"{n} ({o})"
        for n, o in outcomes.items()
        if n not in expected and o not in ("pass", "not_applicable")
    )
    detail = f"; not judged/inconclusive: {', '.join(unjudged) or 'none'}"
    if judged:
        detail += "; judged though expected not: " + ", ".join(
            f"{n} ({outcomes.get(n, 'absent')})" for n in judged
        )
    if other:
        detail += f"; unexpectedly: {', '.join(other)}"
    return not judged and not other, detail


def _ui(args: argparse.Namespace) -> int:
    import signal

    from harness.ui_session import run_ui

    # Ctrl-C ends the session even when started from a shell that ignores SIGINT for
    # background jobs (a job inherits SIG_IGN and Python then raises no KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def log(text: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", markup=True, soft_wrap=True)

    try:
        run_ui(
            args.scenario,
            substrate=args.substrate,
            port=args.port,
            workers=args.workers,
            workdir=args.dir,
            log=log,
        )
    except KeyboardInterrupt:
        err.print("UI session ended: everything it started was stopped", markup=False)
    return EXIT_OK


def _schema(what: str) -> int:
    if what == "policy":
        from harness.policy.schema import policy_json_schema

        print(json.dumps(policy_json_schema(), indent=2))
    else:
        from harness.scenario import scenario_json_schema

        print(json.dumps(scenario_json_schema(), indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run_one(args.scenario, args.report_dir, args.seed, args.quiet, args)
        if args.command == "verify":
            return _verify(args.run_dir, args.report_dir, args.verbose)
        if args.command == "policy":
            if args.policy_command == "systems":
                from harness.adapters import known_systems

                print("\n".join(known_systems()))
                return EXIT_OK
            if args.policy_command == "schema":
                return _schema("policy")
            return _policy_show(args.config, args.system, args.replicas, args.json)
        if args.command == "plan":
            return _plan(args.scenario)
        if args.command == "conformance":
            return _conformance(args.scenarios, args.report_dir, args.seed, args)
        if args.command == "schema":
            return _schema(args.what)
        if args.command == "ui":
            return _ui(args)
    except BadInput as exc:
        _say_error("error", exc)
        return EXIT_BAD_INPUT
    except RunFailed as exc:
        _say_error("run failed", exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        _say_error("interrupted", "everything started was stopped")
        return exit_code_for(exc)
    except BrokenPipeError:  # a plain print's reader left (`schema | head -1`): output is done
        _to_devnull(sys.stdout)
        return EXIT_OK
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":  # python -m harness.cli: the same entry point as retry-harness
    from harness.entry import run as _entry

    _entry()

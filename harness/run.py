"""One conformance run, end to end: scenario -> policy -> substrate -> oracle -> reports.

The run folder keeps every input of the verdict (canonical policy, fault profile, journals,
client records, ε and its evidence, α, the checks), so ``retry-harness verify RUN_DIR`` recomputes
the same verdict offline: the verdict is a pure function of those files.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fake_backends.profile import FaultProfile
from harness.adapters import known_systems, load_adapted
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput
from harness.oracle.journal import AttemptTable, load_attempts, load_client_records
from harness.oracle.planner import DetectionGoals, RequestGroup, SamplePlan, plan
from harness.oracle.records import DownWindow
from harness.oracle.tolerances import Tolerances
from harness.oracle.verdict import Outcome, Verdict
from harness.oracle.verify import CHECK_NAMES, verify
from harness.policy.model import RetryPolicy
from harness.scenario import (
    IDEMPOTENT_METHODS,
    LoadSpec,
    Scenario,
    check_hangs_outlast_timeout,
    load_scenario,
)
from harness.seeds import SEED_MAX, SEED_RULE
from harness.telemetry.check import alerts_check, telemetry_check
from harness.telemetry.record import TelemetryRecord, load_record
from harness.telemetry.session import load_with_telemetry
from harness.telemetry.spec import prepare_rules
from harness.traffic import HarnessTraffic, summarize

if TYPE_CHECKING:
    from harness.substrates.base import Artifacts, PartialArtifacts

RUN_FORMAT_VERSION = 1

# Statistical checks assume one steady fault profile and all replicas up; a scenario whose chaos
# changes that cannot be judged by them (its invariants still apply).
STEADY_STATE_CHECKS = ("success_rate", "attempt_distribution", "fault_audit")

Log = Callable[[str], None]


class RunManifest(BaseModel):
    """Everything besides the NDJSON files that the verdict depends on (``run.json``)."""

    model_config = ConfigDict(frozen=True)

    version: int = RUN_FORMAT_VERSION
    scenario: str
    seed: int
    alpha: float
    epsilon_s: float
    epsilon_evidence: str
    lateness_slack_s: float | None = Field(
        default=None,
        description="The run's lateness slack, seconds (what it judges: harness.oracle.tolerances; "
        "null: an older run folder, whose epsilon_s was built from maxima and serves as both)",
    )
    epsilon_parts: dict[str, float] = Field(
        default_factory=dict,
        description="The named parts of ε and the lateness slack, seconds (empty: older folder)",
    )
    goals: DetectionGoals
    checks: list[str] | None = None
    skip_checks: list[str] = Field(default_factory=list)
    dropped_attempts: int = 0
    down_windows: list[DownWindow] = Field(
        default_factory=list, description="Replicas down on purpose (chaos), wall clock"
    )
    replicas: int | None = Field(
        default=None, description="Backend replicas the run started (null: an older run folder)"
    )
    notes: list[str] = Field(default_factory=list)
    interrupted: bool = Field(
        default=False,
        description="The run was interrupted (Ctrl-C, SIGTERM): only the logical requests that "
        "completed before it are kept, and the verdict is partial",
    )
    interrupted_at_us: int | None = Field(
        default=None,
        description="Wall clock (µs since the epoch) when the interruption reached the run: "
        "client records that ended after it are the harness's doing (it was stopping the SUT "
        "and the backends while the load still ran) and are left out (null: not interrupted, "
        "or the instant is not known)",
    )
    harness_traffic: HarnessTraffic | None = Field(
        default=None, description="The harness's own attempts (readiness, calibration)"
    )
    chaos_not_applied: list[str] = Field(
        default_factory=list,
        description="Chaos operations never applied (their time came after the load ended): "
        "the run did not test what the scenario declares, so it is at most inconclusive",
    )
    journals: list[str]
    client_records: str


@dataclass
class RunResult:
    verdict: Verdict
    run_dir: Path
    report_paths: dict[str, Path]


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    """The scenario with a new load seed and fault seed (for repeated runs)."""
    backends = scenario.backends.model_copy(
        update={"profile": scenario.backends.profile.model_copy(update={"seed": seed})}
    )
    out = scenario.model_copy(update={"seed": seed, "backends": backends})
    out._base_dir = scenario.base_dir
    out._source_file = scenario.source_file
    return out


def with_workers(scenario: Scenario, workers: int) -> Scenario:
    """The scenario with ``load.workers`` set (``--workers N``: a Locust master and N workers)."""
    out = scenario.model_copy(
        update={"load": scenario.load.model_copy(update={"workers": workers})}
    )
    out._base_dir = scenario.base_dir
    out._source_file = scenario.source_file
    return out


def declared_policy(scenario: Scenario) -> AdaptedPolicy:
    """The scenario's declared policy: an adapter's reading of a native config, or inline."""
    spec = scenario.policy
    if spec.inline is not None:
        return AdaptedPolicy(
            system="inline", source_file=str(scenario.source_file or ""), policy=spec.inline
        )
    assert spec.source is not None
    file = scenario.policy_file
    if file is None:
        raise BadInput("no policy file", file=scenario.source_file, field="policy.source.file")
    if spec.source.system not in known_systems():
        raise BadInput(
            f"unknown system '{spec.source.system}'; allowed: {', '.join(known_systems())}",
            file=scenario.source_file,
            field="policy.source.system",
        )
    bodies = scenario.load.body_bytes_by_method
    line = scenario.line_of("load", "body_bytes")
    where = f"{scenario.source_file or 'scenario'}" + (f":{line}" if line else "")
    context = AdapterContext(
        upstream_servers=scenario.backends.replicas,
        body_bytes=bodies,
        body_source=where,
    )
    adapted = load_adapted(spec.source.system, file, context)
    limit = adapted.body_limit
    over = {m: n for m, n in bodies.items() if limit is not None and n > limit.max_bytes}
    if limit is not None and over:
        raise BadInput(
            f"{scenario.load.body_bytes} bytes ({', '.join(over)}) is more than the SUT's "
            f"request body limit of {limit.max_bytes} bytes ({limit.source}): {limit.effect}, "
            f"so their retries cannot be tested; allowed: 0..{limit.max_bytes}, or raise the "
            f"limit ({limit.doc})",
            file=scenario.source_file,
            line=line,
            field="load.body_bytes",
        )
    return adapted


def goals_of(scenario: Scenario) -> DetectionGoals:
    return scenario.checks.goals


def request_groups(load: LoadSpec) -> list[RequestGroup]:
    """Every kind of logical request the load sends, with its share of requests.

    Mirrors the locustfiles' draw: the method by its weight, the path uniformly, and an
    Idempotency-Key on a non-idempotent method with probability ``idempotency_keys``.
    """
    total = sum(load.methods.values())
    groups: list[RequestGroup] = []
    for method, weight in load.methods.items():
        for path in load.paths:
            share = weight / total / len(load.paths)
            keyed = 0.0 if method in IDEMPOTENT_METHODS else load.idempotency_keys
            for with_key, part in ((False, 1.0 - keyed), (True, keyed)):
                if share * part > 0:
                    groups.append(RequestGroup(method, path, with_key, share * part))
    return groups


def sample_plan(scenario: Scenario, policy: RetryPolicy, epsilon_s: float = 0.0) -> SamplePlan:
    """What the scenario's detection goals need over every kind of request it sends (the
    oracle's one planner, :func:`harness.oracle.planner.plan`). Checks the scenario does not run
    (``checks.skip``, ``checks.only``, or steady-state checks under chaos) are left out."""
    skip, _ = skipped_checks(scenario)
    only = scenario.checks.only
    selected = [c for c in (only or CHECK_NAMES) if c not in skip]
    return plan(
        policy,
        scenario.backends.profile,
        request_groups(scenario.load),
        goals_of(scenario),
        epsilon_s=epsilon_s,
        checks=selected,
        reachable=scenario.backends.replicas,
    )


def sized_by_plan(scenario: Scenario, planned: SamplePlan) -> Scenario:
    """A scenario whose load gives neither ``requests`` nor ``duration_s`` sends what the plan
    needs to be conclusive (:meth:`SamplePlan.requests_to_conclude`: every planned sample count
    reached with probability 0.999, not merely on average; at least one request), under the
    safety time cap ``DEFAULT_TIME_CAP_S``."""
    load = scenario.load
    if load.requests is not None or load.duration_s is not None:
        return scenario
    sized = load.model_copy(update={"requests": max(planned.requests_to_conclude(), 1)})
    out = scenario.model_copy(update={"load": sized})
    out._base_dir = scenario.base_dir
    out._source_file = scenario.source_file
    return out


def skipped_checks(scenario: Scenario) -> tuple[list[str], list[str]]:
    """The checks a scenario does not run (``checks.skip``, and the steady-state checks under
    chaos) and the notes that say why."""
    skip = list(scenario.checks.skip)
    notes: list[str] = []
    if scenario.chaos:
        auto = [c for c in STEADY_STATE_CHECKS if c not in skip]
        skip += auto
        if auto:
            notes.append(
                "chaos operations change the fault profile or the replicas mid-run: the "
                f"steady-state statistical checks ({', '.join(auto)}) are not run; "
                "every invariant still is"
            )
    return skip, notes


def _check_names(scenario: Scenario) -> None:
    for field, names in (
        ("checks.only", scenario.checks.only or []),
        ("checks.skip", scenario.checks.skip),
        ("expect_failing", scenario.expect_failing or []),
        ("expect_may_fail", scenario.expect_may_fail),
        ("expect_not_judged", scenario.expect_not_judged or []),
    ):
        unknown = [n for n in names if n not in CHECK_NAMES]
        if unknown:
            raise BadInput(
                f"unknown check(s) {', '.join(unknown)}; allowed: {', '.join(CHECK_NAMES)}",
                file=scenario.source_file,
                field=field,
            )


def run_scenario(
    path: Path,
    *,
    report_dir: Path | None = None,
    seed: int | None = None,
    formats: tuple[str, ...] = ("console", "json", "junit", "html"),
    log: Log | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
    console: Any = None,
    make_substrate: Callable[..., Any] | None = None,
    workers: int | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run one scenario file and write its reports.

    ``make_substrate(scenario, run_dir, progress=, log=)`` returns the substrate (a context
    manager with ``run_load``); default: the local substrate.
    """
    from harness.report import write_reports
    from harness.signals import sigterm_as_interrupt
    from harness.substrates.local import LocalSubstrate

    say = log or (lambda text: None)
    scenario, adapted, planned = preflight(path, seed, workers)
    policy = adapted.policy
    scenario = sized_by_plan(scenario, planned)
    needed = planned.requests_to_conclude()
    if scenario.load.requests is not None and needed > scenario.load.requests:
        say(
            f"note: the detection goals need {needed} logical requests to be conclusive "
            f"({planned.requests} on average), the load sends {scenario.load.requests}: "
            "under-sized statistical checks may be inconclusive"
        )
    telemetry = scenario.telemetry
    rules, rules_not_evaluated = (
        prepare_rules(
            telemetry,
            scenario_file=scenario.source_file,
            base_dir=scenario.base_dir,
        )
        if telemetry is not None
        else (None, None)
    )
    report_dir = (report_dir or Path("reports") / scenario.name).resolve()
    run_dir = report_dir / "run"
    try:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        drop_reports(report_dir)
        run_dir.mkdir(parents=True)
    except OSError as exc:
        raise BadInput(
            f"cannot create the run folder {run_dir}: {exc.strerror or exc}", field="--report-dir"
        ) from None
    record: TelemetryRecord | None = None
    if scenario.source_file is not None:
        shutil.copyfile(scenario.source_file, run_dir / "scenario.yaml")
    substrate: Any = None
    artifacts: Artifacts | None = None
    try:
        with sigterm_as_interrupt():
            substrate = (make_substrate or LocalSubstrate)(
                scenario, run_dir, progress=progress, log=say
            )
            with substrate:
                if telemetry is None:
                    artifacts = substrate.run_load()
                else:
                    artifacts, record = load_with_telemetry(
                        substrate,
                        lambda: substrate.run_load(),
                        system=adapted.system,
                        rules=rules,
                        expect_alerts=telemetry.expect_alerts,
                        workdir=run_dir,
                        why_not=rules_not_evaluated,
                        log=say,
                    )
    except KeyboardInterrupt as exc:
        # everything started is down by now; the substrate kept what the run's artifacts
        # would have said (SubstrateLifecycle.partial); keep what was recorded for `verify`
        from harness.signals import Terminated, signals_deferred

        with signals_deferred():
            partial = getattr(substrate, "partial", None)
            if partial is None and artifacts is not None:
                # the load had ended: the interruption came during teardown (a tester's Ctrl-C
                # 7 s into replica-loss lost the kill's window and the partial run FAILed)
                from harness.substrates.base import PartialArtifacts
                from harness.substrates.calibration import wall_us

                partial = PartialArtifacts.after_load(artifacts, wall_us())
            saved = save_interrupted(run_dir, scenario, adapted, partial)
        raise Interrupted(
            run_dir if saved else None, terminated=isinstance(exc, Terminated)
        ) from None
    assert artifacts is not None  # the load ended: run_load returned them
    if record is not None:
        record.save(run_dir)
    manifest = manifest_for(
        scenario,
        artifacts.tolerances,
        run_dir,
        artifacts.journal_paths,
        artifacts.client_records_path,
        chaos_log=artifacts.chaos_log,
        more_notes=artifacts.journal_notes,
        dropped_attempts=artifacts.dropped_attempts,
        down_windows=artifacts.down_windows,
        chaos_not_applied=artifacts.chaos_not_applied,
    )
    save_inputs(run_dir, manifest, adapted, scenario.backends.profile)
    verdict = verify_run_dir(run_dir)
    paths = write_reports(
        verdict, report_dir, formats=formats, policy=policy, console=console, verbose=verbose
    )
    return RunResult(verdict=verdict, run_dir=run_dir, report_paths=paths)


class Interrupted(KeyboardInterrupt):
    """A run was interrupted; ``run_dir`` holds a partial run for ``verify`` (None: nothing was
    recorded yet); ``terminated``: by SIGTERM, not Ctrl-C."""

    def __init__(self, run_dir: Path | None, *, terminated: bool = False) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.terminated = terminated


_LISTEN_NAMES = frozenset({"listen", "listen_port"})
_UPSTREAM_NAMES = frozenset({"upstreams", "upstream", "upstream_hostport", "upstream_port"})


def check_sut_placeholders(scenario: Scenario) -> None:
    """The SUT's config (or command) has a listen placeholder and an upstream placeholder.

    Without ``{{listen}}`` the SUT listens somewhere the harness never sends the load to (the
    run would wait for readiness and fail); without an upstream placeholder it forwards to
    something other than the flaky backends (nothing would be judged). Both are refused here,
    before anything starts, naming the file and what is allowed.
    """
    from harness.suts.templating import placeholder_names

    sut = scenario.sut
    if sut.kind in ("haproxy", "nginx", "caddy"):
        config = getattr(sut, "config", None)
        assert isinstance(config, Path)
        try:
            names = placeholder_names(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(
                f"cannot read the SUT config {config}: {exc}",
                file=scenario.source_file,
                field="sut.config",
            ) from None
        where: Path | None = config
        field, brace = "sut.config", "{{%s}}"
        line = None  # the rule is about the whole config file
    elif sut.kind == "command":
        names = placeholder_names(str(getattr(sut, "command", "")), single=True)
        where, field, brace = scenario.source_file, "sut.command", "{%s}"
        line = scenario.line_of("sut", "command")
    else:
        return
    if not names & _LISTEN_NAMES:
        raise BadInput(
            "has no listen placeholder, so the SUT would not listen where the harness sends the "
            f"load; allowed: {brace % 'listen'} (host:port), or {brace % 'listen_host'} and "
            f"{brace % 'listen_port'}",
            file=where,
            line=line,
            field=field,
        )
    if not names & _UPSTREAM_NAMES:
        raise BadInput(
            "has no upstream placeholder, so the SUT would not forward to the flaky backends "
            f"and nothing could be judged; allowed: {brace % 'upstreams'} (all backend URLs), "
            f"{brace % 'upstream'} (the first)"
            + (
                ", or a line with {{upstream_hostport}} (or {{upstream_host}} and "
                "{{upstream_port}}) repeated per backend"
                if brace == "{{%s}}"
                else ""
            ),
            file=where,
            line=line,
            field=field,
        )


def preflight(
    path: Path, seed: int | None = None, workers: int | None = None
) -> tuple[Scenario, AdaptedPolicy, SamplePlan]:
    """Everything that can be checked before anything starts: the scenario file, ``--seed``,
    check names, the SUT config's placeholders, the declared policy and the sample plan.

    Raises ``BadInput`` (one line naming the file, the field and what is allowed).
    """
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise BadInput(f"{SEED_RULE} (got {seed})", field="--seed")
    scenario = load_scenario(path)
    if seed is not None:
        scenario = with_seed(scenario, seed)
    if workers is not None:
        scenario = with_workers(scenario, workers)
    _check_names(scenario)
    check_sut_placeholders(scenario)
    adapted = declared_policy(scenario)
    check_hangs_outlast_timeout(scenario, adapted.policy)
    return scenario, adapted, sample_plan(scenario, adapted.policy)


def drop_reports(report_dir: Path) -> None:
    """Remove the reports (verdict.json, junit.xml, report.html) in ``report_dir``: they describe
    a run folder that is replaced now, and an interrupted run must not leave them beside its
    partial run as if they were its own (``verify`` writes the partial run's)."""
    from harness.report import FILE_NAMES

    for name in FILE_NAMES.values():
        (report_dir / name).unlink(missing_ok=True)


def manifest_for(
    scenario: Scenario,
    tol: Tolerances,
    run_dir: Path,
    journals: Sequence[Path],
    client_records: Path,
    /,
    *,
    chaos_log: Sequence[str] = (),
    more_notes: Sequence[str] = (),
    **specific: Any,
) -> RunManifest:
    """The manifest (``run.json``) of a run of ``scenario`` whose files are in ``run_dir``.

    Every field a run folder's manifest has in common (the normal run, the interrupted run and
    a UI session's epoch) is built here from the scenario, the run's measured tolerances ``tol``
    (:class:`harness.oracle.tolerances.Tolerances`), its clean journals and client records;
    ``chaos_log`` lines become ``chaos:`` notes after the checks the scenario skips, then
    ``more_notes``.
    ``specific`` adds or replaces fields (``interrupted``, ``dropped_attempts``,
    ``down_windows``, ``chaos_not_applied``, ...): TypeError for a name RunManifest does not
    have, pydantic's ValidationError for a wrong value.
    """
    unknown = sorted(set(specific) - set(RunManifest.model_fields))
    if unknown:
        raise TypeError(f"RunManifest has no field(s) {', '.join(unknown)}")
    skip, notes = skipped_checks(scenario)
    fields: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "alpha": scenario.checks.alpha,
        "epsilon_s": tol.epsilon_s,
        "epsilon_evidence": tol.evidence,
        "lateness_slack_s": tol.lateness_slack_s,
        "epsilon_parts": tol.parts,
        "goals": goals_of(scenario),
        "checks": scenario.checks.only,
        "skip_checks": skip,
        "replicas": scenario.backends.replicas,
        "notes": [*notes, *(f"chaos: {line}" for line in chaos_log), *more_notes],
        "harness_traffic": summarize(run_dir, client_records),
        "journals": [p.name for p in journals],
        "client_records": client_records.name,
    }
    fields.update(specific)
    return RunManifest(**fields)


def save_interrupted(
    run_dir: Path,
    scenario: Scenario,
    adapted: AdaptedPolicy,
    partial: PartialArtifacts | None = None,
) -> bool:
    """After an interruption (everything stopped), keep what was recorded as a partial run.

    The reports beside ``run_dir`` were removed when the run began (``drop_reports``), so none
    describes another run. The backends' raw journals and Locust's client records are on disk
    as they were written: the harness's own traffic is split out as usual, only logical
    requests with a (kept) client record are kept (an unfinished request would look like one
    the SUT gave up on), and of those only the ones that ended before
    ``partial.interrupted_at_us`` (the instant the substrate noted, before teardown): the load
    keeps going while the SUT and the backends are stopped, and its connection errors then are
    the harness's doing, not the SUT's (a new user's finding: an interrupted run was judged a
    violation on them). ``partial`` (kept by the substrate,
    :class:`harness.substrates.base.PartialArtifacts`) gives the down windows (one still open
    closed at the interruption), the dropped count and the chaos log, as the normal path's
    artifacts do: a kill before the interruption is judged as a kill, and a dropped record
    makes the partial verdict inconclusive. Without it (the substrate kept nothing) every kept
    record is kept and no window, drop or chaos is known. ε is measured from what there is,
    and ``run.json`` says ``interrupted``. Returns False when nothing was recorded yet
    (interrupted before the load began).
    """
    import orjson

    from harness.substrates.base import PartialArtifacts
    from harness.substrates.calibration import run_tolerances
    from harness.traffic import split_journal

    records = run_dir / "client-records.ndjson"
    raws = sorted(run_dir.glob("journal-r*.raw.ndjson"))
    if not raws or not records.exists():
        return False
    at: int | None
    if partial is None:  # the substrate kept nothing: no cut-off, window, drop or chaos known
        at, known = None, PartialArtifacts(interrupted_at_us=0)
    else:
        at, known = partial.interrupted_at_us, partial
    kept, _ = records_before(records, at)
    records.write_bytes(b"".join(kept))
    done = {orjson.loads(line)["request_id"] for line in kept}
    journals: list[Path] = []
    for raw in raws:
        index = raw.name[len("journal-r") : -len(".raw.ndjson")]
        clean = run_dir / f"journal-r{index}.ndjson"
        split_journal(
            raw,
            clean,
            run_dir / f"calibration-r{index}.ndjson",
            run_dir / f"harness-traffic-r{index}.ndjson",
        )
        lines = clean.read_bytes().splitlines(keepends=True)
        clean.write_bytes(
            b"".join(
                line
                for line in lines
                if (rid := orjson.loads(line).get("request_id")) is None or rid in done
            )
        )
        journals.append(clean)
    windows = list(known.down_windows)
    spans = [(w.start_us, w.end_us) for w in windows]
    tol = run_tolerances(run_dir, journals, records, spans)
    manifest = manifest_for(
        scenario,
        tol,
        run_dir,
        journals,
        records,
        chaos_log=known.chaos_log,
        more_notes=[
            *known.journal_notes,
            *(
                f"journal dropped count not read from {line}: records it dropped are not counted"
                for line in known.dropped_unread
            ),
        ],
        interrupted=True,
        interrupted_at_us=at,
        dropped_attempts=known.dropped_attempts,
        down_windows=windows,
        chaos_not_applied=list(known.chaos_not_applied),
    )
    save_inputs(run_dir, manifest, adapted, scenario.backends.profile)
    return True


def records_before(records: Path, at_us: int | None) -> tuple[list[bytes], Counter[str]]:
    """The whole client-record lines of ``records`` (NDJSON) that ended by ``at_us`` (all of
    them when None), and what the records that ended after it saw (status or error -> count).

    After an interruption the load may still run while the harness stops the SUT and the
    backends: the connection errors it then gets are the harness's doing, not the SUT's. A
    line without its newline (still being written) or not JSON is left out.
    """
    import orjson

    kept: list[bytes] = []
    late: Counter[str] = Counter()
    for line in records.read_bytes().splitlines(keepends=True):
        if not line.endswith(b"\n"):
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if at_us is not None and int(rec.get("end_us") or 0) > at_us:
            status = rec.get("status")
            late[str(status) if status is not None else str(rec.get("error") or "no status")] += 1
            continue
        kept.append(line)
    return kept, late


def save_inputs(
    run_dir: Path, manifest: RunManifest, adapted: AdaptedPolicy, profile: FaultProfile
) -> None:
    (run_dir / "run.json").write_text(manifest.model_dump_json(indent=2) + "\n")
    (run_dir / "policy.json").write_text(adapted.model_dump_json(indent=2) + "\n")
    (run_dir / "profile.json").write_text(profile.model_dump_json(indent=2) + "\n")


def _read_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BadInput(
            f"missing run file (expected {path.name} in a run folder)", file=path
        ) from None
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise BadInput(f"not a valid {model.__name__}: {' '.join(first)}", file=path) from None


def verify_run_dir(run_dir: Path) -> Verdict:
    """Recompute the verdict of a saved run from its files alone."""
    if not run_dir.is_dir():
        raise BadInput("not a run folder (expected run.json, policy.json, ...)", file=run_dir)
    manifest: RunManifest = _read_model(run_dir / "run.json", RunManifest)
    adapted: AdaptedPolicy = _read_model(run_dir / "policy.json", AdaptedPolicy)
    profile: FaultProfile = _read_model(run_dir / "profile.json", FaultProfile)
    attempts = load_attempts([run_dir / name for name in manifest.journals])
    clients_path = run_dir / manifest.client_records
    late: Counter[str] = Counter()
    kept: list[bytes] = []
    if manifest.interrupted and manifest.interrupted_at_us is not None and clients_path.exists():
        # Locust may append records after save_interrupted cut the file (a second Ctrl-C
        # that cut the teardown short left it running while the SUT was stopped)
        kept, late = records_before(clients_path, manifest.interrupted_at_us)
    clients = load_client_records(kept if late else [clients_path])
    checks = manifest.checks
    if manifest.skip_checks:
        checks = [c for c in (checks or CHECK_NAMES) if c not in manifest.skip_checks]
    verdict = verify(
        adapted.policy,
        profile,
        attempts,
        clients,
        alpha=manifest.alpha,
        epsilon_s=manifest.epsilon_s,
        lateness_slack_s=manifest.lateness_slack_s,
        goals=manifest.goals,
        checks=checks,
        dropped=manifest.dropped_attempts,
        scenario=manifest.scenario,
        down_windows=manifest.down_windows,
        replicas=manifest.replicas,
    )
    notes = [manifest.epsilon_evidence, *manifest.notes]
    if late:
        notes.insert(
            0,
            f"{sum(late.values())} client records ended after the interruption "
            f"({dict(late.most_common(5))}): the harness was stopping the SUT and the backends "
            "while the load still ran, so they are the harness's doing, not the SUT's; left out",
        )
    if manifest.interrupted:
        update: dict[str, Any] = {"scenario": f"{manifest.scenario} (INTERRUPTED: partial)"}
        if verdict.outcome is Outcome.PASS:
            update["outcome"] = Outcome.INCONCLUSIVE  # a cut-short run is never a pass
        verdict = verdict.model_copy(update=update)
        notes.insert(
            0,
            f"INTERRUPTED run: a partial verdict on the {verdict.client_records} logical "
            "requests that completed before the interruption (attempts of unfinished requests "
            "were left out); it is at most inconclusive unless it found a violation",
        )
    if manifest.chaos_not_applied:
        if verdict.outcome is Outcome.PASS:  # the declared chaos never happened: not a pass
            verdict = verdict.model_copy(update={"outcome": Outcome.INCONCLUSIVE})
        notes.insert(
            0,
            "INCONCLUSIVE: the scenario's chaos did not all happen ("
            + "; ".join(manifest.chaos_not_applied)
            + "): the run did not test what the scenario declares",
        )
    if manifest.harness_traffic is not None:
        notes += manifest.harness_traffic.notes()
    notes += [f"policy ({n.kind}) {n.field}: {n.text}" for n in adapted.notes]
    if verdict.sut_answered:
        notes += _sut_log_explanations(run_dir)
    verdict = with_telemetry(verdict, run_dir, attempts, down_windows=manifest.down_windows)
    return verdict.model_copy(update={"notes": [*verdict.notes, *notes]})


def with_telemetry(
    verdict: Verdict,
    run_dir: Path,
    attempts: AttemptTable,
    *,
    down_windows: Sequence[DownWindow] = (),
) -> Verdict:
    """The verdict with the telemetry and alert checks of the run's ``telemetry.json`` (if any);
    the outcome is recomputed over every check."""
    record = load_record(run_dir)
    if record is None:
        return verdict
    calibration = sorted(run_dir.glob("calibration-r*.ndjson"))
    readiness = sorted(run_dir.glob("harness-traffic-r*.ndjson"))
    extra = [
        telemetry_check(
            record,
            attempts,
            probes=load_attempts(calibration) if calibration else None,
            through_sut=load_attempts(readiness) if readiness else None,
            down_windows=down_windows,
        )
    ]
    alerts = alerts_check(record, attempts)
    if alerts is not None:
        extra.append(alerts)
    outcome = verdict.outcome
    seen = {c.outcome for c in extra}
    if Outcome.FAIL in seen:
        outcome = Outcome.FAIL
    elif Outcome.INCONCLUSIVE in seen and outcome is Outcome.PASS:
        outcome = Outcome.INCONCLUSIVE
    return verdict.model_copy(update={"checks": [*verdict.checks, *extra], "outcome": outcome})


SUT_FOLDER = "sut"
"""Where every substrate keeps the SUT's config and log inside the run folder."""


def _sut_log_explanations(run_dir: Path) -> list[str]:
    """SUT log lines that may explain the requests it answered itself (when the run folder has
    the SUT's log): only the SUT's own logs (``sut/*.log``), never the backends', Locust's,
    Redis' or Prometheus' (whose "error" lines explain nothing the SUT did)."""
    from harness.oracle.sut_made import explaining_lines

    out: list[str] = []
    for log in sorted((run_dir / SUT_FOLDER).glob("*.log")):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        found = explaining_lines(lines)
        if found:
            out.append(f"SUT log {log.relative_to(run_dir)}: " + " | ".join(found))
    return out

"""The scenario file: its pydantic model, its loader and its JSON Schema.

A scenario YAML says which backends to start (and their fault profile), which system under test
(SUT) to put in front of them, where its declared retry policy comes from, what load to drive
through it, which chaos operations to run, and what the checks must be able to detect.

``load_scenario(path)`` turns a file into a :class:`Scenario` or raises one
:class:`~harness.errors.BadInput` naming the file, the line, the dotted field and what is allowed.
Relative paths in the file resolve against the scenario file's folder (``Scenario.base_dir``).

``python -m harness.scenario --schema`` prints the JSON Schema (committed as
``harness/scenario.schema.json``); ``python -m harness.scenario FILE...`` checks files.

Semantics worth knowing:

- ``policy.source.file`` may be omitted when ``sut.kind`` is haproxy, nginx, caddy, traefik or
  urllib3_client: the policy is then read from the SUT's own config file (``sut.config``), so what
  is verified is what is deployed. ``Scenario.policy_file`` gives the file either way.
- ``load.requests`` and ``load.duration_s``: neither means "what the sample plan needs" (the run
  sets ``requests`` from the oracle's planner, with the safety time cap ``DEFAULT_TIME_CAP_S``).
  ``requests`` alone: stop after exactly that many logical requests (with a safety time cap of
  ``DEFAULT_TIME_CAP_S``). ``duration_s`` alone: a time-bound run. Both: ``requests`` is the
  budget and ``duration_s`` a hard time cap; the run ends at whichever comes first
  (``LoadSpec.time_cap_s``).
- ``load.idempotency_keys``: ``true``/``false`` or the fraction in [0, 1] of requests with a
  non-idempotent method (POST, PATCH, any non-standard method) that carry an ``Idempotency-Key``;
  stored as the fraction (``true`` is 1.0).
- ``load.locustfile``: resolved against the scenario's folder first, then against the shipped
  locustfiles' root and their folder (so the default ``scenarios/steady.py`` and a shipped
  scenario's short ``steady.py`` work from any folder); stored absolute.
- ``chaos[].replica`` is the 0-based index of a backend replica; ``duration_s`` on ``kill``,
  ``pause`` or ``set_faults`` undoes the operation after that many seconds (restart, resume, put
  the previous profile back); ``set_faults`` needs a ``profile``.
- ``sut.kind: command`` commands run with the scenario's folder as working directory.
- ``policy.source.system`` must be the SUT's own system when the harness starts that SUT from
  its config (``SUT_KIND_SYSTEM``: haproxy, nginx, caddy, traefik, urllib3_client -> urllib3);
  ``command`` and ``url`` SUTs and inline policies pair with any system.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from fake_backends.profile import FaultProfile, Faults
from harness.errors import BadInput
from harness.input_errors import (
    FieldError,
    LineMap,
    bad_input_from_validation,
    dotted,
    load_yaml_mapping,
    parse_yaml_documents,
    read_text,
)
from harness.oracle.planner import DetectionGoals, Deviations
from harness.policy.model import RetryPolicy
from harness.seeds import SEED_MAX
from harness.suts.spec import CommandSut, SutSpec
from harness.suts.templating import command_argv
from harness.telemetry.spec import TelemetrySpec

__all__ = [
    "DEFAULT_TIME_CAP_S",
    "IDEMPOTENT_METHODS",
    "LOAD_CONFIG_VERSION",
    "SHIPPED_ROOT",
    "BackendsSpec",
    "ChaosOp",
    "ChecksSpec",
    "DetectSpec",
    "LoadSpec",
    "PolicySource",
    "PolicySpec",
    "Scenario",
    "SpikeShape",
    "dump_scenario",
    "load_config_dict",
    "load_scenario",
    "scenario_json_schema",
    "write_load_config",
]

DEFAULT_TIME_CAP_S = 600.0
"""Safety time cap of a run bounded only by ``load.requests``."""

LOAD_CONFIG_VERSION = 1
"""Version of the JSON file named by ``RETRY_HARNESS_LOAD`` (see :func:`load_config_dict`)."""

SHIPPED_ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the shipped ``scenarios/`` locustfiles."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""Methods that never carry an Idempotency-Key in the shipped locustfiles (RFC 9110 idempotent)."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods the shipped locustfiles send ``load.body_bytes`` of body with (the others: none)."""

SUT_KIND_SYSTEM: dict[str, str] = {
    "haproxy": "haproxy",
    "nginx": "nginx",
    "caddy": "caddy",
    "traefik": "traefik",
    "urllib3_client": "urllib3",
}
"""SUT kinds the harness starts from their own config -> the one adapter (``policy.source.system``)
that reads what that SUT does. A policy read by another system's adapter describes another SUT:
refused. ``command`` and ``url`` SUTs (any program) and inline policies pair with anything."""
SUT_KINDS_WITH_OWN_CONFIG = frozenset(SUT_KIND_SYSTEM)
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")
"""Methods the load may send: RFC 9110 section 9 (CONNECT aside, it is not proxied) and PATCH
(RFC 5789). A misspelt method (``GETT``) would be sent as is and judged as non-idempotent."""

MAX_USERS = 10_000
MAX_REQUESTS = 10_000_000
MAX_DURATION_S = 86_400.0
WEIGHT_SUM_TOLERANCE = 1e-6


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackendsSpec(_Frozen):
    """The flaky backends: how many replicas, their gunicorn sizing and their fault profile."""

    replicas: int = Field(strict=True, default=2, ge=1, le=64)
    workers: int = Field(
        strict=True, default=2, ge=1, le=64, description="gunicorn workers per replica"
    )
    threads: int = Field(
        strict=True, default=16, ge=1, le=1024, description="gunicorn threads per worker"
    )
    profile: FaultProfile = Field(default_factory=FaultProfile)
    counter: Literal["file", "sqlite", "redis"] = Field(
        default="file",
        description="Shared attempt counter across workers and replicas: 'file' (a memory-mapped "
        "table, the fastest, one host), 'sqlite' (one host) or 'redis' (a redis-server the "
        "harness starts)",
    )


class PolicySource(_Frozen):
    """A native config file an adapter reads to learn the declared policy."""

    system: str = Field(min_length=1, description="Adapter name, e.g. haproxy, envoy-gateway")
    file: Path | None = Field(
        default=None,
        description="The native config; omit for SUT kinds haproxy, nginx, caddy and "
        "urllib3_client to read the SUT's own config file",
    )


class PolicySpec(_Frozen):
    """Exactly one of ``source`` (a native config) or ``inline`` (the canonical policy)."""

    source: PolicySource | None = None
    inline: RetryPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> PolicySpec:
        if (self.source is None) == (self.inline is None):
            given = "both" if self.source is not None else "neither"
            raise ValueError(
                f"give exactly one of 'source' (a native config: system, file) or 'inline' "
                f"(a canonical retry policy); {given} given"
            )
        return self


class SpikeShape(_Frozen):
    """A retry-storm spike: ``users`` users from ``at_s`` for ``duration_s`` seconds."""

    at_s: float = Field(ge=0, description="Seconds after the start when the spike begins")
    users: int = Field(strict=True, ge=1, le=MAX_USERS, description="Users during the spike")
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    spawn_rate: float | None = Field(
        default=None, gt=0, description="Users per second while ramping; default: all at once"
    )


def _fraction_from_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return value


IdempotencyFraction = Annotated[
    float,
    BeforeValidator(_fraction_from_bool),
    Field(ge=0, le=1),
    WithJsonSchema(
        {
            "anyOf": [{"type": "boolean"}, {"type": "number", "minimum": 0, "maximum": 1}],
            "description": "true, false, or the fraction of non-idempotent requests with an "
            "Idempotency-Key",
        }
    ),
]


class LoadSpec(_Frozen):
    """The Locust load (also the ``load`` object of the ``RETRY_HARNESS_LOAD`` JSON file)."""

    users: int = Field(strict=True, default=4, ge=1, le=MAX_USERS)
    spawn_rate: float = Field(
        default=4.0, gt=0, le=MAX_USERS, description="Users started per second"
    )
    requests: int | None = Field(
        strict=True, default=None, ge=1, le=MAX_REQUESTS, description="Logical requests in total"
    )
    duration_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DURATION_S,
        description="Run time; with requests, a hard time cap",
    )
    methods: dict[str, float] = Field(
        default_factory=lambda: {"GET": 1.0}, description="Method -> weight"
    )
    paths: list[str] = Field(default_factory=lambda: ["/"], min_length=1)
    idempotency_keys: IdempotencyFraction = 0.0
    body_bytes: int = Field(
        strict=True, default=0, ge=0, le=10_000_000, description="POST/PUT/PATCH body"
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Client timeout per logical request"
    )
    locustfile: str = Field(default="scenarios/steady.py", min_length=1)
    shape: SpikeShape | None = None
    workers: int = Field(
        strict=True,
        default=0,
        ge=0,
        le=32,
        description="Locust worker processes: 0 runs one Locust process; N runs a master and N "
        "workers (Locust's --master/--worker), each worker with its share of the request "
        "budget and its own request ids, every client record shipped to the master",
    )

    @field_validator("methods", mode="before")
    @classmethod
    def _upper_methods(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k.upper() if isinstance(k, str) else k: w for k, w in v.items()}
        return v

    @field_validator("methods")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("needs at least one method, e.g. {GET: 1.0}")
        for method, weight in v.items():
            if method not in HTTP_METHODS:
                raise ValueError(
                    f"'{method}' is not an HTTP method the load can send; allowed: "
                    + ", ".join(HTTP_METHODS)
                )
            if not weight >= 0 or weight == float("inf"):
                raise ValueError(f"weight of {method} must be a finite number >= 0")
        total = sum(v.values())
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(
                f"method weights sum to {total:g}; they must sum to 1 (each weight is the share "
                "of requests sent with that method), as status weights must"
            )
        return v

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"path '{p}' must start with '/'")
        return v

    @property
    def body_bytes_by_method(self) -> dict[str, int]:
        """Body size in bytes of the requests the shipped locustfiles send, per method: every
        method of :data:`BODY_METHODS` with a weight above 0 sends ``body_bytes`` (see
        ``scenarios/locust_support/user.py``); methods sent without a body are absent, and so
        is every method when ``body_bytes`` is 0."""
        if not self.body_bytes:
            return {}
        return {m: self.body_bytes for m, w in self.methods.items() if w > 0 and m in BODY_METHODS}

    @property
    def time_cap_s(self) -> float:
        """Hard time cap of the run: ``duration_s``, else ``DEFAULT_TIME_CAP_S``."""
        return self.duration_s if self.duration_s is not None else DEFAULT_TIME_CAP_S


class ChaosOp(_Frozen):
    """One timed operation on one backend replica."""

    at_s: float = Field(
        ge=0, description="Seconds after the load's first request (when the load starts)"
    )
    action: Literal["kill", "pause", "resume", "set_faults"]
    replica: int = Field(strict=True, ge=0, description="0-based replica index")
    duration_s: float | None = Field(
        default=None, gt=0, description="Undo after this long (restart, resume, old profile)"
    )
    profile: FaultProfile | None = Field(default=None, description="set_faults: the new profile")

    @model_validator(mode="after")
    def _fits_action(self) -> ChaosOp:
        if self.action == "set_faults" and self.profile is None:
            raise FieldError(("profile",), "set_faults needs a profile")
        if self.action != "set_faults" and self.profile is not None:
            raise FieldError(("profile",), f"only set_faults takes a profile, not {self.action}")
        if self.action == "resume" and self.duration_s is not None:
            raise FieldError(("duration_s",), "resume takes no duration_s")
        return self


DetectSpec = Deviations
"""The ``checks.detect`` section: the oracle's own model (``harness.oracle.planner``)."""


class ChecksSpec(DetectionGoals):
    """The run's error rates and deviations to detect (the planner's :class:`DetectionGoals`),
    and which checks run."""

    only: list[str] | None = Field(default=None, description="Run only these checks")
    skip: list[str] = Field(default_factory=list, description="Do not run these checks")

    @model_validator(mode="after")
    def _disjoint(self) -> ChecksSpec:
        both = sorted(set(self.only or ()) & set(self.skip))
        if both:
            raise ValueError(f"checks both in only and skip: {', '.join(both)}")
        return self

    @property
    def goals(self) -> DetectionGoals:
        """The detection goals alone (what the planner and the oracle take)."""
        return DetectionGoals(alpha=self.alpha, power=self.power, detect=self.detect)


class Scenario(_Frozen):
    """A whole scenario file."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
    description: str = ""
    expect: Literal["conformant", "violation", "inconclusive"] = Field(
        default="conformant",
        description="The verdict this scenario is meant to get: 'conformant' for a system that "
        "does what its config declares; 'violation' for a showcase whose config seems to declare "
        "something the system does not do. `conformance` passes a scenario when it gets this",
    )
    expect_failing: list[str] | None = Field(
        default=None,
        min_length=1,
        description="With expect: violation, the checks that show the finding: at least one "
        "of them must fail (a finding may show in one of several checks from seed to seed, as "
        "hidden retries show as too many attempts or as a retried failure). With it, "
        "`conformance` also fails a showcase that no longer shows its finding, or that fails "
        "another check than these and expect_may_fail (a harness false failure, a broken "
        "adapter)",
    )
    expect_may_fail: list[str] = Field(
        default_factory=list,
        description="With expect_failing: checks that may fail too, as consequences of the "
        "finding (e.g. the success rate or the attempt distribution of hidden retries)",
    )
    expect_not_judged: list[str] | None = Field(
        default=None,
        min_length=1,
        description="With expect: inconclusive (and required there), the checks the verdict "
        "must leave not judged or inconclusive: every one of them must be, and every other "
        "check must pass or be not applicable. With it, `conformance` fails a row that is "
        "inconclusive for another reason (a check below plan, a dropped journal record, the "
        "harness's own self-check) or that judges what it should not",
    )
    seed: int = Field(strict=True, default=0, ge=0, le=SEED_MAX)
    backends: BackendsSpec = Field(default_factory=BackendsSpec)
    sut: SutSpec
    policy: PolicySpec
    load: LoadSpec
    chaos: list[ChaosOp] = Field(default_factory=list)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    telemetry: TelemetrySpec | None = Field(
        default=None,
        description="Scrape the SUT's own telemetry with Prometheus and check it against the "
        "journal; optionally evaluate alert rules (see harness/telemetry/spec.py)",
    )

    _base_dir: Path | None = PrivateAttr(default=None)
    _source_file: Path | None = PrivateAttr(default=None)
    _lines: LineMap = PrivateAttr(default_factory=LineMap)

    @model_validator(mode="after")
    def _cross_fields(self) -> Scenario:
        for i, op in enumerate(self.chaos):
            if op.replica >= self.backends.replicas:
                raise FieldError(
                    ("chaos", i, "replica"),
                    f"replica {op.replica} does not exist; allowed: 0..{self.backends.replicas - 1}"
                    " (backends.replicas)",
                )
            end = self.load.duration_s
            if self.load.requests is None and end is not None and op.at_s >= end:
                raise FieldError(  # a time-bound load ends duration_s after its first request
                    ("chaos", i, "at_s"),
                    f"{op.at_s:g} s is not before the end of the load, which is time-bound "
                    f"(load.duration_s {end:g} s): the operation could never run; allowed: "
                    f"0 <= at_s < {end:g}",
                )
        source = self.policy.source
        system = SUT_KIND_SYSTEM.get(self.sut.kind)
        if source is not None and system is not None and source.system != system:
            raise FieldError(
                ("policy", "source", "system"),
                f"'{source.system}' does not describe sut kind '{self.sut.kind}', which the "
                f"harness runs from its own config; allowed: '{system}' (or an inline policy, "
                "or sut kind command/url for another system)",
            )
        if (
            source is not None
            and source.file is None
            and self.sut.kind not in (SUT_KINDS_WITH_OWN_CONFIG)
        ):
            raise FieldError(
                ("policy", "source", "file"),
                f"needed for sut kind '{self.sut.kind}'; it may be omitted only for "
                f"{', '.join(sorted(SUT_KINDS_WITH_OWN_CONFIG))} (the SUT's own config)",
            )
        if self.expect_failing is not None and self.expect != "violation":
            raise FieldError(
                ("expect_failing",),
                f"names the checks a violation showcase must fail; expect is '{self.expect}' "
                "(set expect: violation, or drop expect_failing)",
            )
        if self.expect_not_judged is not None and self.expect != "inconclusive":
            raise FieldError(
                ("expect_not_judged",),
                "names the checks an inconclusive scenario must leave not judged; expect is "
                f"'{self.expect}' (set expect: inconclusive, or drop expect_not_judged)",
            )
        if self.expect == "inconclusive" and self.expect_not_judged is None:
            raise FieldError(
                ("expect_not_judged",),
                "required with expect: inconclusive: the checks the verdict must leave not "
                "judged or inconclusive (any other inconclusive check then fails the "
                "conformance row)",
            )
        if self.expect_may_fail and self.expect_failing is None:
            raise FieldError(
                ("expect_may_fail",),
                "goes with expect_failing (the checks that must fail); add it or drop this",
            )
        return self

    @property
    def base_dir(self) -> Path | None:
        """The scenario file's folder (relative paths were resolved against it)."""
        return self._base_dir

    @property
    def source_file(self) -> Path | None:
        """The scenario file this model was loaded from, if any."""
        return self._source_file

    def line_of(self, *loc: str | int) -> int | None:
        """The 1-based line of a field (``line_of("sut", "command")``) in :attr:`source_file`,
        or of its nearest ancestor written there; None when not known."""
        return self._lines.line(*loc)

    @property
    def policy_file(self) -> Path | None:
        """The native config the policy adapter reads (None for an inline policy)."""
        source = self.policy.source
        if source is None:
            return None
        if source.file is not None:
            return source.file
        config = getattr(self.sut, "config", None)
        return config if isinstance(config, Path) else None


# --------------------------------------------------------------------------- path resolution


def _absolutise(model: BaseModel, base: Path) -> BaseModel:
    """A copy of ``model`` with every relative ``Path`` field (recursively) made absolute."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = (base / value).resolve()
        elif isinstance(value, BaseModel):
            new = _absolutise(value, base)
            if new is not value:
                update[name] = new
        elif isinstance(value, list):
            items = [_absolutise(v, base) if isinstance(v, BaseModel) else v for v in value]
            if any(a is not b for a, b in zip(items, value, strict=True)):
                update[name] = items
    return model.model_copy(update=update) if update else model


def _shipped_locustfiles() -> list[str]:
    folder = SHIPPED_ROOT / "scenarios"
    return sorted(f"scenarios/{p.name}" for p in folder.glob("*.py") if p.name != "__init__.py")


def _resolve_locustfile(value: str, base: Path) -> Path | None:
    p = Path(value).expanduser()
    if p.is_absolute():
        return p if p.is_file() else None
    # the scenario's folder, then the shipped ones by path (scenarios/steady.py) or by the short
    # name a shipped scenario uses (steady.py), so a copy of it works from any folder
    for root in (base, SHIPPED_ROOT, SHIPPED_ROOT / "scenarios"):
        candidate = (root / p).resolve()
        if candidate.is_file():
            return candidate
    return None


def _finish(scenario: Scenario, base: Path, file: Path, lines: LineMap) -> Scenario:
    """Resolve relative paths against ``base`` and check that referenced files exist."""
    out = _absolutise(scenario, base)
    assert isinstance(out, Scenario)

    def missing(loc: tuple[str | int, ...], what: str, path: Path) -> BadInput:
        return BadInput(
            f"{what} {path} does not exist", file=file, line=lines.line(*loc), field=dotted(loc)
        )

    config = getattr(out.sut, "config", None)
    if isinstance(config, Path) and not config.is_file():
        raise missing(("sut", "config"), "config file", config)
    source = out.policy.source
    if source is not None and source.file is not None and not source.file.is_file():
        raise missing(("policy", "source", "file"), "policy file", source.file)
    locustfile = _resolve_locustfile(out.load.locustfile, base)
    if locustfile is None:
        raise BadInput(
            f"locustfile '{out.load.locustfile}' not found in {base} nor among the shipped "
            f"ones; shipped: {', '.join(_shipped_locustfiles())}",
            file=file,
            line=lines.line("load", "locustfile"),
            field="load.locustfile",
        )
    if isinstance(out.sut, CommandSut):
        command_argv(out.sut.command, source=file, line=lines.line("sut", "command"))
    out = out.model_copy(
        update={"load": out.load.model_copy(update={"locustfile": str(locustfile)})}
    )
    out._base_dir = base
    out._source_file = file
    out._lines = lines
    return out


# --------------------------------------------------------------------------- public API


def load_scenario(path: Path) -> Scenario:
    """Read, validate and resolve one scenario file; any problem raises one ``BadInput``."""
    path = Path(path)
    docs = parse_yaml_documents(read_text(path), file=path)
    data, lines = docs[0] if len(docs) == 1 else (None, LineMap())
    if not isinstance(data, dict):
        raise BadInput(
            "a scenario must be a mapping with fields " + ", ".join(Scenario.model_fields),
            file=path,
            line=lines.line(),
        )
    _check_status_weights(data, lines, path)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise bad_input_from_validation(exc, file=path, lines=lines, model=Scenario) from None
    except RecursionError:
        raise BadInput("the YAML refers to itself (a recursive alias)", file=path) from None
    base = path.resolve().parent
    return _finish(scenario, base, path, lines)


HANG_MARGIN_S = 1.0
"""How much longer than the declared per-try timeout a hang's bound must be (see
:func:`check_hangs_outlast_timeout`)."""


def check_hangs_outlast_timeout(scenario: Scenario, policy: RetryPolicy) -> None:
    """Refuse (``BadInput``) a profile whose hangs end before the SUT's per-try timeout.

    A backend ends a hang at its bound ``hang_s`` by closing the connection without a response:
    when that comes before the declared ``per_try_timeout_s`` the SUT sees a reset, never its
    timeout, so the run would not test the timeout it is meant to and the models (which count a
    hang as a per-try timeout) would not describe it. ``hang_s`` must therefore exceed the
    per-try timeout by :data:`HANG_MARGIN_S` (so a loaded machine's late timer does not race the
    bound). Checked on every profile with ``hang_rate > 0``: the backends' own, each route's and
    each ``set_faults`` chaos profile. Nothing to check when the policy declares no per-try
    timeout (a hang then ends at its bound as a reset, or when the SUT leaves).
    """
    ptt = policy.per_try_timeout_s
    if ptt is None:
        return
    places: list[tuple[tuple[str | int, ...], Faults]] = [
        (("backends", "profile"), scenario.backends.profile)
    ]
    for i, route in enumerate(scenario.backends.profile.routes):
        places.append((("backends", "profile", "routes", i, "faults"), route.faults))
    for i, op in enumerate(scenario.chaos):
        if op.profile is not None:
            places.append((("chaos", i, "profile"), op.profile))
            for j, route in enumerate(op.profile.routes):
                places.append((("chaos", i, "profile", "routes", j, "faults"), route.faults))
    for loc, faults in places:
        if faults.hang_rate > 0 and faults.hang_s < ptt + HANG_MARGIN_S:
            file = scenario.source_file
            lines = LineMap()
            if file is not None:
                with contextlib.suppress(BadInput):  # the file was read once already
                    _, lines = load_yaml_mapping(file)
            key = (*loc, "hang_s")
            raise BadInput(
                f"a hang bound of {faults.hang_s:g} s ends hangs before the declared per-try "
                f"timeout ({ptt:g} s, {policy.system} policy): the SUT would see resets, never its "
                f"timeout; allowed: hang_s >= per_try_timeout_s + {HANG_MARGIN_S:g} s "
                f"(>= {ptt + HANG_MARGIN_S:g} s), or hang_rate 0",
                file=file,
                line=lines.line(*key) or lines.line(*loc),
                field=dotted(key),
            )


def _check_status_weights(data: Any, lines: LineMap, path: Path) -> None:
    """Every ``failure_status`` mix (profile, routes, chaos profiles) sums to 1.

    The backends would silently rescale a mix that does not (``{503: 0.5, 502: 0.3}`` is read
    as 62.5 % / 37.5 %), so a typo would change the faults without a word.
    """

    seen: set[int] = set()  # a recursive alias is reported by the model's validation

    def walk(node: Any, loc: tuple[str | int, ...]) -> None:
        if isinstance(node, dict | list):
            if id(node) in seen:
                return
            seen.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "failure_status" and isinstance(value, dict):
                    weights = [w for w in value.values() if isinstance(w, int | float)]
                    if len(weights) == len(value) and weights:
                        total = float(sum(weights))
                        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
                            raise BadInput(
                                f"status weights sum to {total:g}; they must sum to 1 (each "
                                "weight is the share of failures answered with that status)",
                                file=path,
                                line=lines.line(*loc, key),
                                field=dotted((*loc, key)),
                            )
                elif isinstance(key, str):
                    walk(value, (*loc, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, (*loc, i))

    walk(data, ())


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as YAML that ``load_scenario`` reads back to an equal model."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=False)


def load_config_dict(scenario: Scenario) -> dict[str, Any]:
    """The ``RETRY_HARNESS_LOAD`` JSON: ``{"version": 1, "seed": int, "load": {LoadSpec}}``."""
    return {
        "version": LOAD_CONFIG_VERSION,
        "seed": scenario.seed,
        "load": scenario.load.model_dump(mode="json"),
    }


def write_load_config(scenario: Scenario, path: Path) -> Path:
    """Write :func:`load_config_dict` to ``path`` (for ``RETRY_HARNESS_LOAD``); return it."""
    path.write_text(json.dumps(load_config_dict(scenario), indent=2) + "\n", encoding="utf-8")
    return path


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    """``--schema``: print the JSON Schema; otherwise check each named scenario file."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--schema"]:
        sys.stdout.write(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
        return 0
    if not args or any(a.startswith("-") for a in args):
        sys.stderr.write("usage: python -m harness.scenario --schema | FILE...\n")
        return 2
    code = 0
    for name in args:
        try:
            load_scenario(Path(name))
        except BadInput as exc:
            sys.stderr.write(f"{exc}\n")
            code = 2
        else:
            sys.stdout.write(f"{name}: ok\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())

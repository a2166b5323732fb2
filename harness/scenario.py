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
  locustfiles' root (so the default ``scenarios/steady.py`` always works); stored absolute.
- ``chaos[].replica`` is the 0-based index of a backend replica; ``duration_s`` on ``kill``,
  ``pause`` or ``set_faults`` undoes the operation after that many seconds (restart, resume, put
  the previous profile back); ``set_faults`` needs a ``profile``.
- ``sut.kind: command`` commands run with the scenario's folder as working directory.
"""

from __future__ import annotations

import json
import sys
import types
import typing
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

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.input_errors import reject_duplicate_keys
from harness.oracle.planner import DetectionGoals, Deviations
from harness.policy.model import RetryPolicy
from harness.suts.spec import SutSpec
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
    "ScenarioFieldError",
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

SUT_KINDS_WITH_OWN_CONFIG = frozenset({"haproxy", "nginx", "caddy", "traefik", "urllib3_client"})
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")
"""Methods the load may send: RFC 9110 section 9 (CONNECT aside, it is not proxied) and PATCH
(RFC 5789). A misspelt method (``GETT``) would be sent as is and judged as non-idempotent."""

MAX_USERS = 10_000
MAX_REQUESTS = 10_000_000
MAX_DURATION_S = 86_400.0
WEIGHT_SUM_TOLERANCE = 1e-6


class ScenarioFieldError(ValueError):
    """A cross-field rule broken at ``loc`` (a path below the model that raised it)."""

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackendsSpec(_Frozen):
    """The flaky backends: how many replicas, their gunicorn sizing and their fault profile."""

    replicas: int = Field(default=2, ge=1, le=64)
    workers: int = Field(default=2, ge=1, le=64, description="gunicorn workers per replica")
    threads: int = Field(default=16, ge=1, le=1024, description="gunicorn threads per worker")
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
    users: int = Field(ge=1, le=MAX_USERS, description="Users during the spike")
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

    users: int = Field(default=4, ge=1, le=MAX_USERS)
    spawn_rate: float = Field(
        default=4.0, gt=0, le=MAX_USERS, description="Users started per second"
    )
    requests: int | None = Field(
        default=None, ge=1, le=MAX_REQUESTS, description="Logical requests in total"
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
    body_bytes: int = Field(default=0, ge=0, le=10_000_000, description="POST/PUT/PATCH body")
    request_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="Client timeout per logical request"
    )
    locustfile: str = Field(default="scenarios/steady.py", min_length=1)
    shape: SpikeShape | None = None
    workers: int = Field(
        default=0,
        ge=0,
        le=32,
        description="Locust worker processes: 0 runs one Locust process; N runs a master and N "
        "workers (Locust's --master/--worker), each worker with its share of the request "
        "budget and its own request ids, every client record shipped to the master",
    )

    @field_validator("users", "requests", mode="before")
    @classmethod
    def _not_absurd(cls, v: Any, info: Any) -> Any:
        limit = MAX_USERS if info.field_name == "users" else MAX_REQUESTS
        if isinstance(v, int | float) and not isinstance(v, bool) and v > limit:
            raise ValueError(f"at most {limit} (got {v:g}); allowed: a whole number 1..{limit}")
        return v

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
        if sum(v.values()) <= 0:
            raise ValueError("method weights must sum to more than 0")
        return v

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"path '{p}' must start with '/'")
        return v

    @property
    def time_cap_s(self) -> float:
        """Hard time cap of the run: ``duration_s``, else ``DEFAULT_TIME_CAP_S``."""
        return self.duration_s if self.duration_s is not None else DEFAULT_TIME_CAP_S


class ChaosOp(_Frozen):
    """One timed operation on one backend replica."""

    at_s: float = Field(ge=0, description="Seconds after the load starts")
    action: Literal["kill", "pause", "resume", "set_faults"]
    replica: int = Field(ge=0, description="0-based replica index")
    duration_s: float | None = Field(
        default=None, gt=0, description="Undo after this long (restart, resume, old profile)"
    )
    profile: FaultProfile | None = Field(default=None, description="set_faults: the new profile")

    @model_validator(mode="after")
    def _fits_action(self) -> ChaosOp:
        if self.action == "set_faults" and self.profile is None:
            raise ScenarioFieldError(("profile",), "set_faults needs a profile")
        if self.action != "set_faults" and self.profile is not None:
            raise ScenarioFieldError(
                ("profile",), f"only set_faults takes a profile, not {self.action}"
            )
        if self.action == "resume" and self.duration_s is not None:
            raise ScenarioFieldError(("duration_s",), "resume takes no duration_s")
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
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
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

    @model_validator(mode="after")
    def _cross_fields(self) -> Scenario:
        for i, op in enumerate(self.chaos):
            if op.replica >= self.backends.replicas:
                raise ScenarioFieldError(
                    ("chaos", i, "replica"),
                    f"replica {op.replica} does not exist; allowed: 0..{self.backends.replicas - 1}"
                    " (backends.replicas)",
                )
        source = self.policy.source
        if (
            source is not None
            and source.file is None
            and self.sut.kind not in (SUT_KINDS_WITH_OWN_CONFIG)
        ):
            raise ScenarioFieldError(
                ("policy", "source", "file"),
                f"needed for sut kind '{self.sut.kind}'; it may be omitted only for "
                f"{', '.join(sorted(SUT_KINDS_WITH_OWN_CONFIG))} (the SUT's own config)",
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


# --------------------------------------------------------------------------- YAML <-> lines


def _key_node(node: yaml.Node, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                return k, v
    return None


def resolve_loc(root: yaml.Node | None, loc: Sequence[str | int]) -> tuple[int | None, str]:
    """The 1-based line and dotted field of a pydantic error ``loc`` in a composed YAML tree.

    Parts that name no YAML node are union tags or pydantic internals and are skipped, except a
    last part that names a missing key (reported at its parent's line).
    """
    node = root
    line = root.start_mark.line + 1 if root is not None else None
    parts: list[str | int] = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(part, str) and (part.startswith("[") or _is_tag(loc[:i], part)):
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
                parts.append(part)
                continue
        elif node is not None:
            found = _key_node(node, part)
            if found is not None:
                key, node = found
                line = key.start_mark.line + 1
                parts.append(part)
                continue
        if last:
            parts.append(part)
    return line, _dotted(parts)


def _dotted(parts: Sequence[str | int]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    tp = _strip_annotated(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [_strip_annotated(a) for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def _types_at(loc: Sequence[str | int]) -> list[Any]:
    """The candidate types of the object at pydantic ``loc`` (union tags included in loc)."""
    current: list[Any] = [Scenario]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            for member in _union_members(tp):
                if isinstance(member, type) and issubclass(member, BaseModel):
                    if isinstance(part, str) and part in member.model_fields:
                        nxt.append(member.model_fields[part].annotation)
                    kind = member.model_fields.get("kind")
                    if kind is not None and kind.default == part:
                        nxt.append(member)  # a discriminated-union tag
                    continue
                origin = typing.get_origin(member)
                args = typing.get_args(member)
                if origin in (list, tuple, frozenset, set) and isinstance(part, int) and args:
                    nxt.append(args[0])
                elif origin is dict and len(args) == 2:
                    nxt.append(args[1])
        current = nxt
    return [m for tp in current for m in _union_members(tp)]


def _is_tag(parent: Sequence[str | int], part: str) -> bool:
    """Whether ``part`` is a discriminated-union tag that pydantic put into the loc."""
    models = [m for m in _types_at(parent) if isinstance(m, type) and issubclass(m, BaseModel)]
    return len(models) > 1 and part in _tags_at(parent)


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that validated the object at pydantic ``loc``."""
    for member in _types_at(loc):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _tags_at(loc: Sequence[str | int]) -> list[str]:
    """The ``kind`` tags of the discriminated union at ``loc``."""
    tags: list[str] = []
    for member in _types_at(loc):
        if isinstance(member, type) and issubclass(member, BaseModel):
            kind = member.model_fields.get("kind")
            if kind is not None and isinstance(kind.default, str):
                tags.append(kind.default)
    return tags


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(err: Any) -> tuple[tuple[str | int, ...], str]:
    """The loc and one-line reason of one pydantic error dict."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, ScenarioFieldError):
        return loc + cause.loc, cause.reason
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model is not None else "?"
        return loc, f"unknown field '{loc[-1]}'; allowed: {allowed}"
    if kind == "missing":
        return loc, "required field is missing"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        field = str(ctx.get("discriminator", "'kind'")).strip("'")
        allowed = ", ".join(_tags_at(loc))
        if kind == "union_tag_invalid":
            return loc, f"unknown {field} '{ctx.get('tag')}'; allowed: {allowed}"
        return loc, f"needs '{field}'; allowed: {allowed}"
    if kind == "model_type" or kind == "model_attributes_type":
        model = _model_at(loc)
        allowed = ", ".join(model.model_fields) if model is not None else "?"
        return loc, f"must be a mapping with fields {allowed} (got {_short(err.get('input'))})"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    value = err.get("input")
    if kind not in ("value_error", "assertion_error") and (
        value is None or isinstance(value, str | int | float | bool)
    ):
        msg += f" (got {_short(value)})"
    return loc, msg


def _bad_from_validation(exc: ValidationError, root: yaml.Node | None, file: Path) -> BadInput:
    found: list[tuple[int, str, str]] = []
    for err in exc.errors():
        loc, reason = _reason(err)
        line, field = resolve_loc(root, loc)
        found.append((line or 0, field, reason))
    found.sort(key=lambda t: (t[2] == "required field is missing", t[0]))  # precise lines first
    line, field, reason = found[0]
    if len(found) > 1:
        more = len(found) - 1
        reason += f" (and {more} more problem{'s' if more > 1 else ''})"
    return BadInput(reason, file=file, line=line or None, field=field or None)


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
    for root in (base, SHIPPED_ROOT):
        candidate = (root / p).resolve()
        if candidate.is_file():
            return candidate
    return None


def _finish(scenario: Scenario, base: Path, file: Path, root: yaml.Node | None) -> Scenario:
    """Resolve relative paths against ``base`` and check that referenced files exist."""
    out = _absolutise(scenario, base)
    assert isinstance(out, Scenario)

    def missing(loc: tuple[str | int, ...], what: str, path: Path) -> BadInput:
        line, field = resolve_loc(root, loc)
        return BadInput(f"{what} {path} does not exist", file=file, line=line, field=field)

    config = getattr(out.sut, "config", None)
    if isinstance(config, Path) and not config.is_file():
        raise missing(("sut", "config"), "config file", config)
    source = out.policy.source
    if source is not None and source.file is not None and not source.file.is_file():
        raise missing(("policy", "source", "file"), "policy file", source.file)
    locustfile = _resolve_locustfile(out.load.locustfile, base)
    if locustfile is None:
        line, field = resolve_loc(root, ("load", "locustfile"))
        raise BadInput(
            f"locustfile '{out.load.locustfile}' not found in {base} nor among the shipped "
            f"ones; shipped: {', '.join(_shipped_locustfiles())}",
            file=file,
            line=line,
            field=field,
        )
    out = out.model_copy(
        update={"load": out.load.model_copy(update={"locustfile": str(locustfile)})}
    )
    out._base_dir = base
    out._source_file = file
    return out


# --------------------------------------------------------------------------- public API


def load_scenario(path: Path) -> Scenario:
    """Read, validate and resolve one scenario file; any problem raises one ``BadInput``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("scenario file does not exist", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read the scenario file: {exc}", file=path) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(filter(None, [exc.context, exc.problem]))
        raise BadInput(
            f"invalid YAML: {problem or exc}", file=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {exc}", file=path) from None
    reject_duplicate_keys(root, path)
    if not isinstance(data, dict):
        raise BadInput(
            "a scenario must be a mapping with fields " + ", ".join(Scenario.model_fields),
            file=path,
            line=root.start_mark.line + 1 if root is not None else None,
        )
    _check_status_weights(data, root, path)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _bad_from_validation(exc, root, path) from None
    except RecursionError:
        raise BadInput("the YAML refers to itself (a recursive alias)", file=path) from None
    base = path.resolve().parent
    return _finish(scenario, base, path, root)


def _check_status_weights(data: Any, root: yaml.Node | None, path: Path) -> None:
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
                            line, field = resolve_loc(root, (*loc, key))
                            raise BadInput(
                                f"status weights sum to {total:g}; they must sum to 1 (each "
                                "weight is the share of failures answered with that status)",
                                file=path,
                                line=line,
                                field=field,
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

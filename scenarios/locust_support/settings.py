"""The inputs of a Locust process: environment variables, the load file and ``--rh-*`` options.

Imports no Locust: these are plain values (see the package docstring for the contract).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import BadInput
from harness.input_errors import bad_input_from_validation
from harness.processes.locust import ENV_LOAD
from harness.scenario import DEFAULT_TIME_CAP_S, LOAD_CONFIG_VERSION, LoadSpec

REQUEST_ID_HEADER = "X-Request-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"
HARNESS_BROKEN_EXIT_CODE = 3


@dataclass(frozen=True)
class RunConfig:
    """The effective load settings of one test run in this process."""

    seed: int
    load: LoadSpec
    from_file: bool

    @property
    def time_cap_s(self) -> float:
        return self.load.time_cap_s


def parse_mix(text: str) -> dict[str, float]:
    """``"GET:0.8,POST:0.2"`` (or ``"GET"``, weight 1) -> ``{"GET": 0.8, "POST": 0.2}``."""
    mix: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.partition(":")
        try:
            mix[name.strip().upper()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"bad weight in method mix item '{item}'") from None
    return mix


def format_mix(mix: dict[str, float]) -> str:
    return ",".join(f"{m}:{w:g}" for m, w in mix.items())


def default_load(locustfile_defaults: dict[str, Any]) -> LoadSpec:
    """The load of a plain ``locust -f`` run: the locustfile's defaults under the default cap."""
    return LoadSpec.model_validate({"duration_s": DEFAULT_TIME_CAP_S, **locustfile_defaults})


def config_from_env(locustfile_defaults: dict[str, Any]) -> RunConfig:
    """The run's config from ``RETRY_HARNESS_LOAD``; without it, the defaults and a time seed.

    A bad load file ends the process (``SystemExit`` naming the variable, the file and why).
    """
    path = os.environ.get(ENV_LOAD)
    if not path:
        load = default_load(locustfile_defaults)
        return RunConfig(seed=time.time_ns() // 1000, load=load, from_file=False)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("version", LOAD_CONFIG_VERSION) != 1:
            raise ValueError(f"expected a JSON object with version {LOAD_CONFIG_VERSION}")
        seed = raw.get("seed", 0)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0 (got {seed!r})")
        load = LoadSpec.model_validate(raw.get("load", {}))
    except ValidationError as exc:
        bad = bad_input_from_validation(exc, file=None, model=LoadSpec)
        raise SystemExit(f"{ENV_LOAD}={path}: load.{bad}") from None
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{ENV_LOAD}={path}: {exc}") from None
    return RunConfig(seed=seed, load=load, from_file=True)


def config_with_options(base: RunConfig, opts: Any) -> RunConfig:
    """``base`` with the ``--rh-*`` options (from the command line or the web UI) applied.

    Raises ``BadInput`` (one line naming the option, e.g. ``--rh-request-timeout: must be
    > 0 (got -1.0)``) on a bad option value.
    """
    if opts is None or not hasattr(opts, "rh_seed"):
        return base
    try:
        methods = parse_mix(str(opts.rh_methods))
    except ValueError as exc:
        raise BadInput(str(exc), field="--rh-methods") from None
    requests = int(opts.rh_requests)
    cap = float(opts.rh_max_duration)
    fields = base.load.model_dump()
    fields.update(
        requests=requests if requests > 0 else None,
        duration_s=cap if cap > 0 else (None if requests > 0 else DEFAULT_TIME_CAP_S),
        methods=methods,
        paths=[p.strip() for p in str(opts.rh_paths).split(",") if p.strip()],
        idempotency_keys=float(opts.rh_idempotency_keys),
        request_timeout_s=float(opts.rh_request_timeout),
        body_bytes=int(opts.rh_body_bytes),
    )
    try:
        load = LoadSpec.model_validate(fields)
    except ValidationError as exc:
        bad = bad_input_from_validation(exc, file=None, model=LoadSpec)
        top = (bad.field or "").split(".")[0].split("[")[0]
        option = OPTION_OF_FIELD.get(top)
        raise BadInput(bad.reason if option else str(bad), field=option or None) from None
    return replace(base, seed=int(opts.rh_seed), load=load)


OPTION_OF_FIELD = {
    "requests": "--rh-requests",
    "duration_s": "--rh-max-duration",
    "methods": "--rh-methods",
    "paths": "--rh-paths",
    "idempotency_keys": "--rh-idempotency-keys",
    "request_timeout_s": "--rh-request-timeout",
    "body_bytes": "--rh-body-bytes",
}
"""The ``--rh-*`` option that sets each load field (what a bad value's message names)."""


def add_arguments(parser: Any, config: RunConfig) -> None:
    """The ``--rh-*`` options on Locust's parser (also shown in the web UI's start form)."""
    load = config.load
    parser.add_argument(
        "--rh-requests",
        type=int,
        default=load.requests or 0,
        help="retry-harness: logical requests in total, then stop (0: no budget)",
    )
    parser.add_argument(
        "--rh-methods",
        type=str,
        default=format_mix(load.methods),
        help="retry-harness: method mix, e.g. GET:0.8,POST:0.2",
    )
    parser.add_argument(
        "--rh-paths",
        type=str,
        default=",".join(load.paths),
        help="retry-harness: comma-separated paths, drawn uniformly",
    )
    parser.add_argument(
        "--rh-idempotency-keys",
        type=float,
        default=float(load.idempotency_keys),
        help="retry-harness: fraction of POST/PATCH requests with an Idempotency-Key",
    )
    parser.add_argument("--rh-seed", type=int, default=config.seed, help="retry-harness: run seed")
    parser.add_argument(
        "--rh-request-timeout",
        type=float,
        default=float(load.request_timeout_s),
        help="retry-harness: client timeout per logical request (s)",
    )
    parser.add_argument(
        "--rh-body-bytes",
        type=int,
        default=load.body_bytes,
        help="retry-harness: body size of POST/PUT/PATCH requests",
    )
    parser.add_argument(
        "--rh-max-duration",
        type=float,
        default=float(load.duration_s or 0.0),
        help="retry-harness: hard time cap of the run in seconds (0: the default cap)",
    )

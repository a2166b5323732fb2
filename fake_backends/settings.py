"""Start-up configuration of a flaky backend: environment variables and CLI flags.

This module owns the parsing of every environment variable the backend reads and turns each
bad value into one :class:`harness.errors.BadInput` line naming the variable, the value and what
is allowed (``__main__`` prints it and exits with status 2).

Fault profile variables (all optional; ``FAULT_PROFILE`` is the base, the others override it):

========================  ===========================================================
``FAULT_PROFILE``         the whole profile as JSON (the harness uses this)
``FAILURE_RATE``          0..1, probability that an attempt fails with a status
``FAILURE_STATUS``        ``503`` or a weighted mix ``503:0.7,500:0.2,429:0.1``
``FAIL_FIRST_N``          integer >= 0: the first N attempts of each request id fail
``FAIL_FIRST_N_STATUS``   status of those failures (400..599, default 503)
``RETRY_AFTER``           Retry-After on 429/503 answers: seconds or an HTTP date
``LATENCY_MS``            ``50`` (fixed), ``20-80`` (uniform), ``lognormal:50:0.5``
                          (median ms, sigma), ``none``
``HANG_RATE``/``HANG_MS`` probability of a hang, and its bound in milliseconds
``RESET_RATE``            probability of a connection reset (no response)
``OUTAGE``                ``D/P`` or ``D/P/OFFSET``: fail everything D s every P s
``OUTAGE_STATUS``         status answered during an outage (default 503)
``SEED``                  integer seed of every fault decision
``UPSTREAM_URL``          pass-through: attempts that are not failed go there
``ROUTE_PROFILES``        JSON list of ``RouteProfile`` objects
========================  ===========================================================

Service variables: ``REPLICA``, ``REQUEST_ID_HEADER`` (default ``X-Request-ID``),
``CHAOS_ADMIN_TOKEN``, ``COUNTER_URL`` (``file:///path[?slots=N]``, ``sqlite:///path`` or
``redis://host:port/db``), ``JOURNAL`` (file path), ``JOURNAL_MAX_RECORDS`` (cap, default
1,000,000).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fake_backends.counter import parse_file_url
from fake_backends.profile import FaultProfile, RouteProfile
from harness.errors import BadInput

DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
DEFAULT_JOURNAL_MAX_RECORDS = 1_000_000

T = TypeVar("T")

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_REPLICA_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BackendSettings(BaseModel):
    """Service settings of one replica (everything that is not the fault profile)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replica: str = "r0"
    request_id_header: str = DEFAULT_REQUEST_ID_HEADER
    admin_token: str | None = None
    counter_url: str | None = Field(
        default=None,
        description="file:///path[?slots=N], sqlite:///path or redis://host:port/db; "
        "None: a private file:// table in the state dir",
    )
    journal_path: Path | None = Field(default=None, description="None: a file in the state dir")
    journal_max_records: int = Field(default=DEFAULT_JOURNAL_MAX_RECORDS, ge=1)
    admin_port: int | None = Field(default=None, description="Local port of the admin listener")


def _env_value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _parse(name: str, raw: str, allowed: str, convert: Callable[[str], T]) -> T:
    try:
        return convert(raw)
    except (ValueError, TypeError) as err:
        raise BadInput(f"must be {allowed} (got {raw!r})", field=name) from err


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("out of range")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("negative")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("not positive")
    return value


def _status(raw: str) -> int:
    value = int(raw)
    if not 400 <= value <= 599:
        raise ValueError("not an error status")
    return value


def parse_status_mix(raw: str) -> dict[int, float]:
    """``503`` or ``503:0.7,500:0.2,429:0.1`` -> status -> weight (not yet normalised)."""
    mix: dict[int, float] = {}
    for part in raw.split(","):
        status_text, _, weight_text = part.strip().partition(":")
        status = _status(status_text)
        weight = float(weight_text) if weight_text else 1.0
        if weight < 0 or status in mix:
            raise ValueError("negative or repeated")
        mix[status] = weight
    if sum(mix.values()) <= 0:
        raise ValueError("weights sum to 0")
    return mix


def parse_latency(raw: str) -> dict[str, Any]:
    """``50``, ``fixed:50``, ``20-80``, ``uniform:20:80``, ``lognormal:50:0.5`` or ``none``."""
    text = raw.strip().lower()
    if text in ("none", "0"):
        return {"kind": "none"}
    parts = text.split(":")
    if parts[0] == "lognormal" and len(parts) in (2, 3):
        median = float(parts[1])
        sigma = float(parts[2]) if len(parts) == 3 else 0.5
        if median < 0 or sigma <= 0:
            raise ValueError("bad lognormal")
        return {"kind": "lognormal", "median_ms": median, "sigma": sigma}
    if parts[0] == "uniform" and len(parts) == 3:
        low, high = float(parts[1]), float(parts[2])
    elif parts[0] == "fixed" and len(parts) == 2:
        low = high = float(parts[1])
    elif len(parts) == 1 and "-" in text:
        low_text, high_text = text.split("-", 1)
        low, high = float(low_text), float(high_text)
    elif len(parts) == 1:
        low = high = float(text)
    else:
        raise ValueError("unknown latency form")
    if low < 0 or high < low:
        raise ValueError("bad bounds")
    if low == high:
        return {"kind": "fixed", "ms": low}
    return {"kind": "uniform", "min_ms": low, "max_ms": high}


def parse_outage(raw: str) -> dict[str, float]:
    """``D/P`` or ``D/P/OFFSET`` seconds."""
    parts = [float(p) for p in raw.split("/")]
    if len(parts) not in (2, 3):
        raise ValueError("need D/P or D/P/OFFSET")
    duration, period = parts[0], parts[1]
    offset = parts[2] if len(parts) == 3 else 0.0
    if not (0 < duration <= period) or offset < 0:
        raise ValueError("need 0 < D <= P and OFFSET >= 0")
    return {"duration_s": duration, "period_s": period, "offset_s": offset}


def check_retry_after(raw: str) -> str:
    """A Retry-After value: delay seconds (integer >= 0) or an HTTP date."""
    text = raw.strip()
    if text.isdigit():
        return text
    parsedate_to_datetime(text)  # raises ValueError/TypeError on a bad date
    return text


def _upstream(raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+", raw):
        raise ValueError("not an http(s) URL")
    return raw.rstrip("/")


def _json_value(raw: str) -> Any:
    return json.loads(raw)


def _describe_validation(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return (f"{loc}: " if loc else "") + str(first["msg"])


def profile_from_env(env: Mapping[str, str]) -> FaultProfile:
    """The fault profile described by ``env`` (``FAULT_PROFILE`` overridden by single vars)."""
    data: dict[str, Any] = {}
    raw = _env_value(env, "FAULT_PROFILE")
    if raw is not None:
        base = _parse("FAULT_PROFILE", raw, "a JSON object", _json_value)
        if not isinstance(base, dict):
            raise BadInput(f"must be a JSON object (got {raw!r})", field="FAULT_PROFILE")
        try:
            FaultProfile.model_validate(base)
        except ValidationError as err:
            raise BadInput(
                f"must be a valid fault profile: {_describe_validation(err)} (got {raw!r})",
                field="FAULT_PROFILE",
            ) from err
        data.update(base)

    simple: list[tuple[str, str, str, Callable[[str], Any]]] = [
        ("FAILURE_RATE", "failure_rate", "a number in 0..1", _rate),
        (
            "FAILURE_STATUS",
            "failure_status",
            "a status 400..599 or a mix like 503:0.7,500:0.3 (weights >= 0, sum > 0)",
            parse_status_mix,
        ),
        ("FAIL_FIRST_N", "fail_first_n", "an integer >= 0", _non_negative_int),
        ("FAIL_FIRST_N_STATUS", "fail_first_n_status", "a status in 400..599", _status),
        (
            "RETRY_AFTER",
            "retry_after",
            "an integer number of seconds >= 0 or an HTTP date",
            check_retry_after,
        ),
        (
            "LATENCY_MS",
            "latency",
            "none, MS, MIN-MAX, uniform:MIN:MAX or lognormal:MEDIAN:SIGMA (ms >= 0, sigma > 0)",
            parse_latency,
        ),
        ("HANG_RATE", "hang_rate", "a number in 0..1", _rate),
        ("RESET_RATE", "reset_rate", "a number in 0..1", _rate),
        ("SEED", "seed", "an integer", int),
        ("UPSTREAM_URL", "upstream_url", "an http:// or https:// URL", _upstream),
    ]
    for var, key, allowed, convert in simple:
        value = _env_value(env, var)
        if value is not None:
            data[key] = _parse(var, value, allowed, convert)

    hang_ms = _env_value(env, "HANG_MS")
    if hang_ms is not None:
        data["hang_s"] = _parse("HANG_MS", hang_ms, "a number > 0", _positive_float) / 1000.0
    outage = _env_value(env, "OUTAGE")
    if outage is not None:
        parsed = _parse(
            "OUTAGE", outage, "D/P or D/P/OFFSET seconds with 0 < D <= P, OFFSET >= 0", parse_outage
        )
        status = _env_value(env, "OUTAGE_STATUS")
        if status is not None:
            parsed["status"] = _parse("OUTAGE_STATUS", status, "a status in 400..599", _status)
        data["outage"] = parsed
    routes = _env_value(env, "ROUTE_PROFILES")
    if routes is not None:
        items = _parse("ROUTE_PROFILES", routes, "a JSON list of route profiles", _json_value)
        if not isinstance(items, list):
            raise BadInput(f"must be a JSON list (got {routes!r})", field="ROUTE_PROFILES")
        try:
            data["routes"] = [RouteProfile.model_validate(item) for item in items]
        except ValidationError as err:
            raise BadInput(
                f"must be a list of route profiles: {_describe_validation(err)} (got {routes!r})",
                field="ROUTE_PROFILES",
            ) from err

    try:
        return FaultProfile.model_validate(data)
    except ValidationError as err:
        rates = {k: data.get(k, 0.0) for k in ("reset_rate", "hang_rate", "failure_rate")}
        if "must not exceed 1" in str(err):
            raise BadInput(
                f"must sum to at most 1 (got {rates})",
                field="RESET_RATE+HANG_RATE+FAILURE_RATE",
            ) from err
        raise BadInput(
            f"invalid fault profile: {_describe_validation(err)}", field="fault profile"
        ) from err


def settings_from_env(env: Mapping[str, str], **overrides: Any) -> BackendSettings:
    """Service settings from ``env``; ``overrides`` (CLI flags) win when not None."""
    data: dict[str, Any] = {}
    replica = _env_value(env, "REPLICA")
    if replica is not None:
        data["replica"] = replica
    header = _env_value(env, "REQUEST_ID_HEADER")
    if header is not None:
        data["request_id_header"] = header
    token = env.get("CHAOS_ADMIN_TOKEN")
    if token:
        data["admin_token"] = token
    counter = _env_value(env, "COUNTER_URL")
    if counter is not None:
        data["counter_url"] = counter
    journal = _env_value(env, "JOURNAL")
    if journal is not None:
        data["journal_path"] = Path(journal)
    cap = _env_value(env, "JOURNAL_MAX_RECORDS")
    if cap is not None:
        data["journal_max_records"] = _parse(
            "JOURNAL_MAX_RECORDS", cap, "an integer >= 1", _positive_int
        )
    data.update({k: v for k, v in overrides.items() if v is not None})

    if not _REPLICA_NAME.match(str(data.get("replica", "r0"))):
        raise BadInput(
            f"must be 1-64 characters of A-Z a-z 0-9 _ . - (got {data['replica']!r})",
            field="REPLICA",
        )
    if not _HEADER_NAME.match(str(data.get("request_id_header", DEFAULT_REQUEST_ID_HEADER))):
        raise BadInput(
            f"must be an HTTP header name (got {data['request_id_header']!r})",
            field="REQUEST_ID_HEADER",
        )
    counter_url = data.get("counter_url")
    if counter_url is not None and not re.match(
        r"^(file:.+|sqlite:///.+|rediss?://.+)$", counter_url
    ):
        raise BadInput(
            "must be file:///ABSOLUTE/PATH[?slots=N], sqlite:///PATH or redis://HOST:PORT/DB "
            f"(got {counter_url!r})",
            field="COUNTER_URL",
        )
    if counter_url is not None and counter_url.startswith("file:"):
        try:
            parse_file_url(counter_url)
        except ValueError as exc:
            raise BadInput(str(exc), field="COUNTER_URL") from None
    return BackendSettings.model_validate(data)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("not positive")
    return value


def port_from_env(env: Mapping[str, str], name: str) -> int | None:
    """A TCP port from ``env`` (1..65535), or None when unset."""
    raw = _env_value(env, name)
    if raw is None:
        return None
    return _parse(name, raw, "an integer port in 1..65535", _port)


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("out of range")
    return value

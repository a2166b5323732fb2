"""Start-up configuration of a flaky backend: every environment variable it reads, in one model.

:class:`BackendEnv` (pydantic-settings) owns the variable names, their text forms and their
rules; :data:`ENV_VARS` is derived from it (a launcher that wants a clean environment removes
exactly these). A bad value becomes one :class:`BadSetting` line naming the variable (or the
flag that set it), what is allowed and the value (``__main__`` prints it and exits with status
2). This package imports nothing from ``harness``: it is the service of its own container image.

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
1,000,000), ``PORT``, ``ADMIN_PORT``, ``WORKERS`` and ``THREADS`` (1..64; defaults 2 and 16),
``STAMP_CLOCK`` (``kernel``, the default: attempt times from socket timestamps where the kernel
allows them, else the app's clock; ``app``: never ask the kernel, see
:mod:`fake_backends.kernel_stamps`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from fake_backends.counter import parse_file_url
from fake_backends.profile import FaultProfile, RouteProfile

DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
DEFAULT_JOURNAL_MAX_RECORDS = 1_000_000


class BadSetting(ValueError):
    """A bad environment variable or flag; ``str(err)`` is the one line shown to the user,
    for example ``FAILURE_RATE: must be a number in 0..1 (got '1.5')``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


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


# --- The text forms of the variables (the grammar pydantic cannot know) ----------------------


def _rate(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("out of range")
    return value


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError("out of range")
        return value

    return convert


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("not positive")
    return value


_status = _int_in(400, 599)


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


def _matching(pattern: str) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if not re.match(pattern, raw):
            raise ValueError("no match")
        return raw

    return convert


def _counter_url(raw: str) -> str:
    if not re.match(r"^(file:.+|sqlite:///.+|rediss?://.+)$", raw):
        raise ValueError("unknown scheme")
    if raw.startswith("file:"):
        try:
            parse_file_url(raw)
        except ValueError as err:  # names what is wrong with the file:// URL, and the URL
            raise _WholeReason(str(err)) from None
    return raw


def _json_of(model: type[BaseModel], *, many: bool) -> Callable[[str], Any]:
    """JSON text of one ``model`` object (kept as a dict: single variables override it) or,
    with ``many``, of a list of them (validated models)."""
    kind, name = (list, "list") if many else (dict, "object")

    def convert(raw: str) -> Any:
        value = json.loads(raw)
        if not isinstance(value, kind):
            raise ValueError(f"not a JSON {name}")
        try:
            models = [model.model_validate(item) for item in (value if many else [value])]
        except ValidationError as err:
            raise ValueError(_first_error(err)) from None
        return models if many else value

    return convert


class _WholeReason(ValueError):
    """A converter's reason that already says what is allowed and shows the value."""


def _text(allowed: str, convert: Callable[[str], Any], *, detail: bool = False) -> Any:
    """Field metadata: the variable's text is parsed by ``convert``; a bad one reads
    ``must be <allowed>[: <convert's reason>] (got '<text>')``. A flag's value (an int, a
    path) is checked by the same rule through its text; blank text counts as unset."""

    def parse(raw: object) -> object:
        if raw is None:
            return None
        text = str(raw).strip()
        if not text:
            return None
        try:
            return convert(text)
        except _WholeReason:
            raise
        except (ValueError, TypeError) as err:
            why = f": {err}" if detail else ""
            raise ValueError(f"must be {allowed}{why} (got {text!r})") from None

    return BeforeValidator(parse)


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return (f"{loc}: " if loc else "") + str(first["msg"])


def _var(alias: str) -> Any:
    return Field(default=None, alias=alias)


_PROFILE_FIELDS = (
    "failure_rate",
    "failure_status",
    "fail_first_n",
    "fail_first_n_status",
    "retry_after",
    "latency",
    "hang_rate",
    "reset_rate",
    "seed",
    "upstream_url",
)


class BackendEnv(BaseSettings):
    """Every variable a replica reads, typed and checked (None: unset or blank)."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", frozen=True, populate_by_name=True
    )

    fault_profile: Annotated[
        dict[str, Any] | None,
        NoDecode,
        _text("a JSON fault profile", _json_of(FaultProfile, many=False), detail=True),
    ] = _var("FAULT_PROFILE")
    failure_rate: Annotated[float | None, _text("a number in 0..1", _rate)] = _var("FAILURE_RATE")
    failure_status: Annotated[
        dict[int, float] | None,
        NoDecode,
        _text(
            "a status 400..599 or a mix like 503:0.7,500:0.3 (weights >= 0, sum > 0)",
            parse_status_mix,
        ),
    ] = _var("FAILURE_STATUS")
    fail_first_n: Annotated[int | None, _text("an integer >= 0", _int_in(0))] = _var("FAIL_FIRST_N")
    fail_first_n_status: Annotated[int | None, _text("a status in 400..599", _status)] = _var(
        "FAIL_FIRST_N_STATUS"
    )
    retry_after: Annotated[
        str | None, _text("an integer number of seconds >= 0 or an HTTP date", check_retry_after)
    ] = _var("RETRY_AFTER")
    latency: Annotated[
        dict[str, Any] | None,
        NoDecode,
        _text(
            "none, MS, MIN-MAX, uniform:MIN:MAX or lognormal:MEDIAN:SIGMA (ms >= 0, sigma > 0)",
            parse_latency,
        ),
    ] = _var("LATENCY_MS")
    hang_rate: Annotated[float | None, _text("a number in 0..1", _rate)] = _var("HANG_RATE")
    hang_ms: Annotated[float | None, _text("a number > 0", _positive_float)] = _var("HANG_MS")
    reset_rate: Annotated[float | None, _text("a number in 0..1", _rate)] = _var("RESET_RATE")
    outage: Annotated[
        dict[str, float] | None,
        NoDecode,
        _text("D/P or D/P/OFFSET seconds with 0 < D <= P, OFFSET >= 0", parse_outage),
    ] = _var("OUTAGE")
    outage_status: Annotated[int | None, _text("a status in 400..599", _status)] = _var(
        "OUTAGE_STATUS"
    )
    seed: Annotated[int | None, _text("an integer", int)] = _var("SEED")
    upstream_url: Annotated[str | None, _text("an http:// or https:// URL", _upstream)] = _var(
        "UPSTREAM_URL"
    )
    route_profiles: Annotated[
        list[Any] | None,
        NoDecode,
        _text("a JSON list of route profiles", _json_of(RouteProfile, many=True), detail=True),
    ] = _var("ROUTE_PROFILES")

    replica: Annotated[
        str | None,
        _text("1-64 characters of A-Z a-z 0-9 _ . -", _matching(r"^[A-Za-z0-9_.-]{1,64}$")),
    ] = _var("REPLICA")
    request_id_header: Annotated[
        str | None, _text("an HTTP header name", _matching(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"))
    ] = _var("REQUEST_ID_HEADER")
    admin_token: str | None = _var("CHAOS_ADMIN_TOKEN")
    counter_url: Annotated[
        str | None,
        _text(
            "file:///ABSOLUTE/PATH[?slots=N], sqlite:///PATH or redis://HOST:PORT/DB",
            _counter_url,
            detail=True,
        ),
    ] = _var("COUNTER_URL")
    journal_path: Annotated[Path | None, _text("a file path", Path)] = _var("JOURNAL")
    journal_max_records: Annotated[int | None, _text("an integer >= 1", _int_in(1))] = _var(
        "JOURNAL_MAX_RECORDS"
    )
    port: Annotated[int | None, _text("an integer port in 1..65535", _int_in(1, 65535))] = _var(
        "PORT"
    )
    admin_port: Annotated[int | None, _text("an integer port in 1..65535", _int_in(1, 65535))] = (
        _var("ADMIN_PORT")
    )
    workers: Annotated[int | None, _text("an integer in 1..64", _int_in(1, 64))] = _var("WORKERS")
    threads: Annotated[int | None, _text("an integer in 1..64", _int_in(1, 64))] = _var("THREADS")
    stamp_clock: Annotated[str | None, _text("kernel or app", _matching(r"^(kernel|app)$"))] = _var(
        "STAMP_CLOCK"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment comes in through read() (a mapping, os.environ by default).
        return (init_settings,)

    @classmethod
    def read(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        flags: Mapping[str, tuple[str, object]] | None = None,
    ) -> BackendEnv:
        """The variables of ``env`` (default ``os.environ``); ``flags`` (field -> (flag name,
        value), None values ignored) win. Raises :class:`BadSetting` naming the variable or flag.
        """
        given = {f: v for f, (_, v) in (flags or {}).items() if v is not None}
        values = {
            **_MappingSource(cls, os.environ if env is None else env)(),
            **{_ALIASES.get(f, f): v for f, v in given.items()},
        }
        try:
            return cls(**values)
        except ValidationError as err:
            first = err.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            field = next((f for f, a in _ALIASES.items() if a == name), name)
            if field in given and flags is not None:
                name = flags[field][0]
            reason = str(first["ctx"]["error"]) if "error" in first.get("ctx", {}) else None
            raise BadSetting(name, reason or str(first["msg"])) from None

    def profile(self) -> FaultProfile:
        """The fault profile: ``FAULT_PROFILE`` as the base, overridden by single variables."""
        data: dict[str, Any] = dict(self.fault_profile or {})
        data.update({k: getattr(self, k) for k in _PROFILE_FIELDS if getattr(self, k) is not None})
        if self.hang_ms is not None:
            data["hang_s"] = self.hang_ms / 1000.0
        if self.outage is not None:
            outage = dict(self.outage)
            if self.outage_status is not None:
                outage["status"] = self.outage_status
            data["outage"] = outage
        if self.route_profiles is not None:
            data["routes"] = self.route_profiles
        try:
            return FaultProfile.model_validate(data)
        except ValidationError as err:
            rates = {k: data.get(k, 0.0) for k in ("reset_rate", "hang_rate", "failure_rate")}
            if "must not exceed 1" in str(err):
                raise BadSetting(
                    "RESET_RATE+HANG_RATE+FAILURE_RATE", f"must sum to at most 1 (got {rates})"
                ) from err
            raise BadSetting("fault profile", f"invalid: {_first_error(err)}") from err

    def service(self) -> BackendSettings:
        """The service settings (replica name, header, token, counter, journal, admin port)."""
        fields = {
            name: getattr(self, name)
            for name in BackendSettings.model_fields
            if getattr(self, name, None) is not None
        }
        return BackendSettings.model_validate(fields)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over any mapping (tests, launchers)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._mapping, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


_ALIASES = {name: info.alias or name for name, info in BackendEnv.model_fields.items()}
ENV_VARS: tuple[str, ...] = tuple(_ALIASES.values())
"""Every variable a replica reads (a launcher removes these from an inherited environment)."""


def profile_from_env(env: Mapping[str, str] | None = None) -> FaultProfile:
    """The fault profile described by ``env`` (default ``os.environ``)."""
    return BackendEnv.read(env).profile()


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> BackendSettings:
    """Service settings from ``env``; ``overrides`` (field -> value) win when not None."""
    return BackendEnv.read(env, flags={k: (k, v) for k, v in overrides.items()}).service()

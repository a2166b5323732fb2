"""Duration grammars of the systems whose configs the harness reads: one function per grammar.

Each function takes the value as the config holds it and returns seconds (a float), or raises
:class:`DurationError` whose message says what the grammar allows (callers turn it into a
:class:`~harness.errors.BadInput` with the file, line and field they know). Every grammar cites
its public source:

- :func:`go_seconds`: Go's ``time.ParseDuration`` ("250ms", "1.5s", "1m30s", "10us"), used by
  Istio, Traefik and our urllib3 client config; plain numbers in the caller's unit.
  https://pkg.go.dev/time#ParseDuration (go/src/time/format.go).
- :func:`gateway_seconds`: the Gateway API ``Duration`` of GEP-2257 (1-4 groups of up to five
  digits and h/m/s/ms), used by HTTPRoute and Envoy Gateway.
  https://gateway-api.sigs.k8s.io/geps/gep-2257/
- :func:`nginx_seconds`: nginx time intervals ("500ms", "30s", "1h 30m"; no unit means seconds;
  units ms s m h d w M y). https://nginx.org/en/docs/syntax.html
- :func:`haproxy_seconds`: HAProxy time values (an integer with us/ms/s/m/h/d; no unit means
  milliseconds). https://docs.haproxy.org/2.6/configuration.html#2.5
- :func:`caddy_seconds`: Caddy durations in JSON (integer nanoseconds, or Go syntax plus a "d"
  day unit). https://caddyserver.com/docs/conventions#durations
"""

from __future__ import annotations

import math
import re

__all__ = [
    "GATEWAY_DURATION_RULE",
    "GO_DURATION_RULE",
    "DurationError",
    "caddy_seconds",
    "gateway_seconds",
    "go_seconds",
    "haproxy_seconds",
    "nginx_seconds",
]


class DurationError(ValueError):
    """A value outside its grammar; the message says what is allowed and what was given."""


# --- Go time.ParseDuration ------------------------------------------------------------------

_GO_UNITS_NS: dict[str, float] = {  # nanoseconds per unit: exact for sub-second units
    "ns": 1.0,
    "us": 1e3,
    "µs": 1e3,  # Go accepts both micro signs (U+00B5 and U+03BC)
    "μs": 1e3,
    "ms": 1e6,
    "s": 1e9,
    "m": 60e9,
    "h": 3600e9,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_GO_PART = re.compile(rf"({_NUMBER})(ns|us|µs|μs|ms|s|m|h)")
_GO_FULL = re.compile(rf"(?:{_NUMBER}(?:ns|us|µs|μs|ms|s|m|h))+")
_PLAIN_NUMBER = re.compile(rf"[+]?{_NUMBER}(?:[eE][+-]?\d+)?")

GO_DURATION_RULE = 'a duration such as "250ms", "1.5s", "1m30s"'


def go_seconds(value: object, *, unit_s: float | None = 1.0, allow_zero: bool = True) -> float:
    """Seconds from a Go ``time.ParseDuration`` string, or a plain number in ``unit_s`` seconds.

    Accepted: "250ms", "1s", "1.5s", "1m30s", "10us", "2h"; numbers (int/float, or numeric
    strings) are multiplied by ``unit_s`` (``unit_s=None`` requires a unit). Negative, NaN,
    infinite and (with ``allow_zero=False``) zero durations raise :class:`DurationError`.
    """
    if isinstance(value, bool) or value is None:
        raise DurationError(f"must be {GO_DURATION_RULE} (got {value!r})")
    seconds: float
    if isinstance(value, int | float):
        if unit_s is None:
            raise DurationError(f"must be {GO_DURATION_RULE} with a unit (got {value!r})")
        seconds = float(value) * unit_s
    elif isinstance(value, str):
        s = value.strip()
        if _GO_FULL.fullmatch(s):
            nanos = math.fsum(float(num) * _GO_UNITS_NS[unit] for num, unit in _GO_PART.findall(s))
            seconds = nanos / 1e9
        elif _PLAIN_NUMBER.fullmatch(s) and unit_s is not None:
            seconds = float(s) * unit_s
        else:
            raise DurationError(f"must be {GO_DURATION_RULE} (got {value!r})")
    else:
        raise DurationError(f"must be {GO_DURATION_RULE} (got {type(value).__name__})")
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(f"must be a finite duration >= 0 (got {value!r})")
    if seconds == 0 and not allow_zero:
        raise DurationError(f"must be greater than 0 (got {value!r})")
    return seconds


# --- Gateway API Duration (GEP-2257) --------------------------------------------------------

_GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_GATEWAY_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_GATEWAY_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}

GATEWAY_DURATION_RULE = (
    "a Gateway API duration (GEP-2257): 1-4 groups of up to 5 digits and a unit h, m, s or ms, "
    'e.g. "250ms", "1s", "1m30s"'
)


def gateway_seconds(value: object, *, allow_zero: bool = True) -> float:
    """Seconds from a Gateway API ``Duration`` (exact integer milliseconds, one rounding)."""
    if not isinstance(value, str) or not _GATEWAY_DURATION.match(value):
        raise DurationError(f"must be {GATEWAY_DURATION_RULE} (got {value!r})")
    millis = sum(int(n) * _GATEWAY_UNITS_MS[unit] for n, unit in _GATEWAY_PART.findall(value))
    seconds = millis / 1000
    if seconds == 0 and not allow_zero:
        raise DurationError(f"must be {GATEWAY_DURATION_RULE} greater than zero (got {value!r})")
    return float(seconds)


# --- nginx time -----------------------------------------------------------------------------

_NGINX_UNITS_S = {
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "M": 2592000.0,  # a month is 30 days
    "y": 31536000.0,  # a year is 365 days
}
_NGINX_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?\s*")
_NGINX_FULL = re.compile(r"(\d+(ms|s|m|h|d|w|M|y)?\s*)+")


def nginx_seconds(value: str) -> float:
    """Seconds from an nginx time ("500ms", "30s", "1m30s", "1h 30m", "2" = 2 s)."""
    parts = _NGINX_PART.findall(value)
    if not _NGINX_FULL.fullmatch(value) or not parts:
        raise DurationError(f"expected a time like 500ms, 30s, 1m30s (got {value!r})")
    return sum(int(n) * _NGINX_UNITS_S[u or "s"] for n, u in parts)


# --- HAProxy time ---------------------------------------------------------------------------

_HAPROXY_TIME = re.compile(r"(\d+)(us|ms|s|m|h|d)?")
_HAPROXY_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def haproxy_seconds(value: str) -> float:
    """Seconds from an HAProxy time ("500" = 500 ms, "500ms", "2s", "1m")."""
    m = _HAPROXY_TIME.fullmatch(value)
    if not m:
        raise DurationError(f"expected a time like 500, 500ms, 2s, 1m (got {value!r})")
    return int(m.group(1)) * _HAPROXY_UNITS_S[m.group(2) or "ms"]


# --- Caddy duration -------------------------------------------------------------------------

_CADDY_DAYS = re.compile(r"(\d+(?:\.\d+)?)d")


def caddy_seconds(value: object) -> float:
    """Seconds from a Caddy duration in JSON: integer nanoseconds, or a string in Go syntax
    with a "d" (24 h) unit as well ("250ms", "1d"); "0" is zero."""
    if isinstance(value, bool):
        raise DurationError(f"must be a duration (got {value!r})")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(f"must be >= 0 (got {value!r})")
        return float(value) / 1e9
    if isinstance(value, str):
        go_syntax = _CADDY_DAYS.sub(lambda m: f"{float(m.group(1)) * 24:g}h", value)
        if go_syntax == "0":
            return 0.0
        return go_seconds(go_syntax, unit_s=None)
    raise DurationError(f"must be a duration (got {value!r})")

"""Each system's duration grammar (harness.durations): accepted forms, units and refusals."""

from __future__ import annotations

import pytest

from harness.durations import (
    DurationError,
    caddy_seconds,
    gateway_seconds,
    go_seconds,
    haproxy_seconds,
    nginx_seconds,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("1m30s", 90.0), ("10us", 1e-5), ("10µs", 1e-5), ("10μs", 1e-5), (2, 2.0)],
)
def test_go(text: object, seconds: float) -> None:
    assert go_seconds(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("1h", 3600.0), ("1m30s", 90.0), ("0s", 0.0)]
)
def test_gateway(text: str, seconds: float) -> None:
    assert gateway_seconds(text) == seconds


@pytest.mark.parametrize("text", ["1.5s", "10us", "123456ms", "1h1m1s1ms1s", 5])
def test_gateway_refuses_what_gep_2257_does_not_allow(text: object) -> None:
    with pytest.raises(DurationError, match="GEP-2257"):
        gateway_seconds(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30", 30.0), ("1h 30m", 5400.0), ("1d", 86400.0), ("1M", 2592000.0)],
)
def test_nginx(text: str, seconds: float) -> None:
    assert nginx_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"), [("500", 0.5), ("500ms", 0.5), ("2s", 2.0), ("10us", 1e-5), ("1d", 86400)]
)
def test_haproxy_no_unit_is_milliseconds(text: str, seconds: float) -> None:
    assert haproxy_seconds(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    ("value", "seconds"), [(250_000_000, 0.25), ("1d", 86400.0), ("1.5d", 129600.0), ("0", 0.0)]
)
def test_caddy(value: object, seconds: float) -> None:
    assert caddy_seconds(value) == seconds


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (go_seconds, "-1s"),
        (go_seconds, "1 sec"),
        (nginx_seconds, "1.5s"),
        (nginx_seconds, "fast"),
        (haproxy_seconds, "1.5s"),
        (haproxy_seconds, "1m30s"),
        (caddy_seconds, "5"),  # a string needs a unit; a number is nanoseconds
        (caddy_seconds, -1),
        (caddy_seconds, True),
    ],
)
def test_refusals_say_what_is_allowed(parse: object, text: object) -> None:
    with pytest.raises(DurationError) as err:
        parse(text)  # type: ignore[operator]
    assert repr(text) in str(err.value) or "duration" in str(err.value)

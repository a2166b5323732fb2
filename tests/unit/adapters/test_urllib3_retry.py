"""urllib3 Retry adapter: parsing, defaults, errors, and agreement with the real urllib3.Retry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.exceptions import MaxRetryError
from urllib3.response import HTTPResponse

from harness.adapters import load_adapted, urllib3_retry
from harness.adapters.urllib3_retry import DEFAULT_ALLOWED_METHODS
from harness.errors import BadInput
from harness.policy import (
    JitterModel,
    RetryPolicy,
    delay_window,
    is_retryable_method,
    is_retryable_status,
    nominal_delay,
)

METHODS = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "POST", "PATCH"]
tmp_settings = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def adapt_yaml(tmp_path: Path, data: dict[str, Any]) -> RetryPolicy:
    f = tmp_path / "retry.yaml"
    f.write_text(yaml.safe_dump(data))
    return load_adapted("urllib3", f).policy


def fail_status(retry: urllib3.Retry, status: int = 503) -> urllib3.Retry:
    return retry.increment(method="GET", url="/", response=HTTPResponse(body=b"", status=status))


# --- pinned behaviour ---------------------------------------------------------------------


def test_defaults_are_filled_and_noted(tmp_path: Path) -> None:
    f = tmp_path / "retry.yaml"
    f.write_text("backoff_factor: 0.5\nstatus_forcelist: [502, 503]\n")
    adapted = load_adapted("urllib3", f)
    p = adapted.policy
    assert p.system == "urllib3"
    assert p.max_retries == 10  # Retry()'s own default, not Retry.DEFAULT's 3
    assert p.methods.retryable == DEFAULT_ALLOWED_METHODS
    assert p.backoff.cap_s == 120
    assert p.backoff.jitter is JitterModel.NONE
    assert p.retry_after.max_s == 21600
    defaulted = {n.field for n in adapted.defaults}
    assert {"total", "backoff_max", "allowed_methods", "retry_after_max"} <= defaulted
    assert "backoff_factor" not in defaulted and "status_forcelist" not in defaulted
    quirks = " ".join(n.text for n in adapted.quirks)
    assert "first retry does not wait" in quirks
    assert "POST and PATCH" in quirks
    assert "any method" in quirks


def test_schedule_is_zero_then_doubling(tmp_path: Path) -> None:
    p = adapt_yaml(tmp_path, {"total": 6, "backoff_factor": 1, "backoff_max": 5})
    assert [nominal_delay(p, k) for k in range(1, 6)] == [0, 2, 4, 5, 5]


def test_retry_after_makes_429_retryable_and_replaces_backoff(tmp_path: Path) -> None:
    p = adapt_yaml(tmp_path, {"total": 3, "backoff_factor": 2, "retry_after_max": 30})
    assert not is_retryable_status(p, 429)
    assert is_retryable_status(p, 429, has_retry_after=True)
    assert not is_retryable_status(p, 500, has_retry_after=True)
    w = delay_window(p, 2, retry_after_s=100, status=429)
    assert (w.lo_s, w.hi_s) == (30, 30)


@pytest.mark.parametrize(("total", "respect"), [(0, True), (3, False), (None, True)])
def test_retry_after_alone_needs_positive_total_and_respect(
    tmp_path: Path, total: int | None, respect: bool
) -> None:
    kwargs: dict[str, Any] = {"total": total, "respect_retry_after_header": respect}
    if total is None:
        kwargs["status"] = 3  # a finite limit for the harness
    p = adapt_yaml(tmp_path, kwargs)
    assert not urllib3.Retry(**kwargs).is_retry("GET", 429, has_retry_after=True)
    assert not is_retryable_status(p, 429, has_retry_after=True)


def test_counters_fold_to_smallest_limit_with_note(tmp_path: Path) -> None:
    f = tmp_path / "retry.yaml"
    f.write_text("total: 5\nstatus: 2\nconnect: 0\nstatus_forcelist: [503]\n")
    adapted = load_adapted("urllib3", f)
    assert adapted.policy.max_retries == 2
    assert adapted.policy.retry_on.connect_failure is False
    assert any("folded" in n.text for n in adapted.quirks)


def test_timeout_mapping_and_python_file(tmp_path: Path) -> None:
    f = tmp_path / "client.py"
    f.write_text(
        "import urllib3\n"
        "from urllib3.util import Retry\n"
        "http = urllib3.PoolManager(\n"
        "    retries=Retry(4, backoff_factor=0.25, status_forcelist=(500, 503),\n"
        "                  allowed_methods=frozenset({'get', 'POST'}), backoff_jitter=0.1),\n"
        "    timeout=urllib3.Timeout(connect=1.0, read=2.5),\n"
        ")\n"
    )
    p = load_adapted("urllib3", f).policy
    assert p.max_retries == 4
    assert p.retry_on.statuses == {500, 503}
    # urllib3 compares method.upper() with the names as written: 'get' matches no request
    assert p.methods.retryable == frozenset({"POST"})
    assert p.backoff.jitter is JitterModel.ADDITIVE and p.backoff.jitter_s == 0.1
    assert p.per_try_timeout_s == 2.5 and p.retry_on.per_try_timeout


def test_allowed_methods_none_means_every_method(tmp_path: Path) -> None:
    p = adapt_yaml(tmp_path, {"allowed_methods": None})
    assert p.methods.retryable is None


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("total: 3\nbackof_factor: 1\n", "backof_factor", 2),
        ("total: three\n", "total", 1),
        ("total: 3\nbackoff_factor: -1\n", "backoff_factor", 2),
        ("status_forcelist:\n  - 503\n  - abc\n", "status_forcelist[1]", 3),
        ("total: 2\nallowed_methods: GET\n", "allowed_methods", 2),
        ("total: 2\ntimeout: 0\n", "timeout", 2),
        ("total: 2\ntimeout: {read: soon}\n", "timeout.read", 2),
        ("total: null\n", "total", 1),
        ("respect_retry_after_header: 'yes'\n", "respect_retry_after_header", 1),
    ],
)
def test_bad_yaml_values_name_field_and_line(
    tmp_path: Path, text: str, field: str, line: int
) -> None:
    f = tmp_path / "retry.yaml"
    f.write_text(text)
    with pytest.raises(BadInput) as err:
        load_adapted("urllib3", f)
    assert (err.value.file, err.value.field, err.value.line) == (str(f), field, line)


def test_malformed_yaml(tmp_path: Path) -> None:
    f = tmp_path / "retry.yaml"
    f.write_text("total: 3\nstatus_forcelist: [503\n")
    with pytest.raises(BadInput, match="malformed YAML") as err:
        load_adapted("urllib3", f)
    assert err.value.line is not None


@pytest.mark.parametrize(
    ("source", "line", "match"),
    [
        ("from urllib3 import Retry\nn = 3\nr = Retry(\n    total=n)\n", 4, "literal"),
        ("Retry(3)\nRetry(4)\n", 2, "exactly one"),
        ("x = 1\n", None, "exactly one"),
        ("Retry(3, **opts)\n", 1, "kwargs"),
        ("Retry(total=3\n", 1, "invalid Python"),
        ("Retry(total=3, bogus=1)\n", 1, "not a urllib3 2.x Retry argument"),
    ],
)
def test_bad_python_files(tmp_path: Path, source: str, line: int | None, match: str) -> None:
    f = tmp_path / "client.py"
    f.write_text(source)
    with pytest.raises(BadInput, match=match) as err:
        load_adapted("urllib3", f)
    assert err.value.file == str(f)
    assert err.value.line == line


# --- agreement with the real urllib3.Retry (property-based) ---------------------------------

factors = st.floats(0, 10, allow_nan=False, allow_infinity=False)
maxes = st.floats(0, 300, allow_nan=False, allow_infinity=False)


@tmp_settings
@given(factor=factors, backoff_max=maxes)
def test_nominal_delays_equal_real_get_backoff_time(
    tmp_path: Path, factor: float, backoff_max: float
) -> None:
    p = adapt_yaml(
        tmp_path,
        {
            "total": 12,
            "backoff_factor": factor,
            "backoff_max": backoff_max,
            "status_forcelist": [503],
        },
    )
    retry = urllib3.Retry(total=12, backoff_factor=factor, backoff_max=backoff_max)
    for k in range(1, 12):
        retry = fail_status(retry)  # k failures in history: the wait before retry k
        assert nominal_delay(p, k) == pytest.approx(retry.get_backoff_time(), rel=1e-12)


@tmp_settings
@given(factor=factors, backoff_max=maxes, jitter=st.floats(0.001, 5), seed=st.integers(0, 2**32))
def test_real_jittered_delays_fall_in_window(
    tmp_path: Path, factor: float, backoff_max: float, jitter: float, seed: int
) -> None:
    import random

    random.seed(seed)
    p = adapt_yaml(
        tmp_path,
        {
            "total": 8,
            "backoff_factor": factor,
            "backoff_max": backoff_max,
            "backoff_jitter": jitter,
        },
    )
    retry = urllib3.Retry(
        total=8, backoff_factor=factor, backoff_max=backoff_max, backoff_jitter=jitter
    )
    for k in range(1, 8):
        retry = fail_status(retry)
        for _ in range(5):
            assert delay_window(p, k).contains(retry.get_backoff_time(), epsilon_s=1e-9)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    allowed=st.none() | st.sets(st.sampled_from(METHODS), min_size=1),
    forcelist=st.sets(st.sampled_from([408, 413, 429, 500, 502, 503, 504])),
    total=st.integers(0, 5),
    respect=st.booleans(),
    method=st.sampled_from(METHODS),
    status=st.sampled_from([404, 408, 413, 429, 500, 502, 503, 504]),
    has_ra=st.booleans(),
)
def test_status_retry_decision_equals_real_is_retry(
    tmp_path: Path,
    allowed: set[str] | None,
    forcelist: set[int],
    total: int,
    respect: bool,
    method: str,
    status: int,
    has_ra: bool,
) -> None:
    kwargs: dict[str, Any] = {
        "total": total,
        "allowed_methods": sorted(allowed) if allowed is not None else None,
        "status_forcelist": sorted(forcelist),
        "respect_retry_after_header": respect,
    }
    p = adapt_yaml(tmp_path, kwargs)
    real = urllib3.Retry(**kwargs).is_retry(method, status, has_retry_after=has_ra)
    ours = is_retryable_method(
        p, method, has_idempotency_key=False, trigger="status"
    ) and is_retryable_status(p, status, has_retry_after=has_ra)
    assert ours == real


def real_status_retries(kwargs: dict[str, Any]) -> int:
    """How many 503 answers the real Retry lets through before MaxRetryError."""
    retry = urllib3.Retry(**kwargs)
    for n in range(50):
        try:
            retry = fail_status(retry)
        except MaxRetryError:
            return n
    raise AssertionError("never exhausted")


@tmp_settings
@given(total=st.none() | st.integers(0, 8), status=st.none() | st.integers(1, 8))
def test_max_retries_equals_real_status_retry_count(
    tmp_path: Path, total: int | None, status: int | None
) -> None:
    if total is None and status is None:
        return
    kwargs = {"total": total, "status": status, "status_forcelist": [503]}
    f = tmp_path / "retry.json"
    f.write_text(json.dumps(kwargs))
    assert load_adapted("urllib3", f).policy.max_retries == real_status_retries(kwargs)


@tmp_settings
@given(seconds=st.integers(1, 100_000), cap=st.integers(1, 50_000), k=st.integers(1, 6))
def test_retry_after_window_equals_real_parse(
    tmp_path: Path, seconds: int, cap: int, k: int
) -> None:
    p = adapt_yaml(tmp_path, {"total": 6, "retry_after_max": cap, "backoff_factor": 1})
    real = urllib3.Retry(total=6, retry_after_max=cap).parse_retry_after(str(seconds))
    w = delay_window(p, k, retry_after_s=seconds, status=503)
    assert w.lo_s == w.hi_s == real


# -- absent, empty and set; legacy names; Retry-After exhaustion --------------------------------


@pytest.mark.parametrize(
    ("data", "retryable"),
    [
        ({}, urllib3_retry.DEFAULT_ALLOWED_METHODS),  # absent: the default set
        ({"allowed_methods": None}, None),  # None: every method
        ({"allowed_methods": []}, None),  # empty: every method too (urllib3 2.x)
        ({"allowed_methods": ["POST"]}, frozenset({"POST"})),
        ({"allowed_methods": ["post"]}, frozenset()),  # lower case matches nothing
    ],
)
def test_allowed_methods_absent_empty_set(
    tmp_path: Path, data: dict[str, object], retryable: frozenset[str] | None
) -> None:
    adapted = urllib3_retry.adapt(data, file=tmp_path / "r.yaml")
    assert adapted.policy.methods.retryable == retryable
    if data.get("allowed_methods") == []:
        assert any("EVERY method" in n.text for n in adapted.quirks)


@pytest.mark.parametrize("forcelist", [None, []])
def test_status_forcelist_none_and_empty_retry_no_status(
    tmp_path: Path, forcelist: list[int] | None
) -> None:
    p = urllib3_retry.adapt({"status_forcelist": forcelist}, file=tmp_path / "r.yaml").policy
    assert p.retry_on.statuses == frozenset()
    assert p.retry_after.makes_retryable  # Retry-After still makes 413/429/503 retryable


@pytest.mark.parametrize(("total", "max_retries"), [(None, None), (0, 0), (False, 0), (4, 4)])
def test_total_absent_none_zero_false_set(
    tmp_path: Path, total: object, max_retries: int | None
) -> None:
    data: dict[str, object] = {"total": total, "status": 2} if total is None else {"total": total}
    p = urllib3_retry.adapt(data, file=tmp_path / "r.yaml").policy
    assert p.max_retries == (2 if max_retries is None else max_retries)
    if total is None:  # no total: Retry-After alone does not make a status retryable
        assert not p.retry_after.makes_retryable
    absent = urllib3_retry.adapt({}, file=tmp_path / "r.yaml").policy
    assert absent.max_retries == urllib3_retry.DEFAULT_TOTAL


def test_method_whitelist_is_refused_naming_allowed_methods(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        urllib3_retry.adapt({"method_whitelist": ["GET"]}, file=tmp_path / "r.yaml")
    assert err.value.field == "method_whitelist"
    assert "use allowed_methods" in err.value.reason and "removed in 2.0" in err.value.reason


def test_misspelt_argument_names_the_likely_one(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="did you mean 'status_forcelist'"):
        urllib3_retry.adapt({"status_forcelst": [503]}, file=tmp_path / "r.yaml")


def test_retry_after_exhaustion_returns_the_answer_note(tmp_path: Path) -> None:
    adapted = urllib3_retry.adapt({"total": 2}, file=tmp_path / "r.yaml")
    assert any("urlopen RETURNS it" in n.text for n in adapted.quirks)
    assert all("retry-semantics" not in (n.source or "") for n in adapted.notes)

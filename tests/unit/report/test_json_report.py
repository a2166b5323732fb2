"""The JSON form: an exact round trip, non-finite numbers kept, bad files named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from harness.errors import BadInput
from harness.oracle.verdict import Statistic, Verdict
from harness.report.json_report import read_json, write_json
from tests.unit.report.sample_verdicts import bare_verdict, verdict


@pytest.mark.parametrize("make", [verdict, bare_verdict, lambda: verdict(failing=False)])
def test_round_trip_is_exact(tmp_path: Path, make: object) -> None:
    original: Verdict = make()  # type: ignore[operator]
    path = write_json(original, tmp_path / "sub" / "verdict.json")
    assert read_json(path) == original


def test_file_is_the_model_dump(tmp_path: Path) -> None:
    original = verdict()
    path = write_json(original, tmp_path / "verdict.json")
    assert json.loads(path.read_text(encoding="utf-8")) == original.model_dump(mode="json")


def test_non_finite_numbers_and_numpy_values_survive(tmp_path: Path) -> None:
    check = verdict().checks[2]
    stat = Statistic(
        test="exact binomial", statistic=math.inf, p_value=math.nan, n=0, n_planned=10, alpha=0.01
    )
    data = {"ci": [-math.inf, math.inf], "count": np.int64(7), "arr": np.array([0.5, 1.5])}
    odd = verdict().model_copy(
        update={"checks": [check.model_copy(update={"stat": stat, "data": data})]}
    )
    back = read_json(write_json(odd, tmp_path / "v.json"))
    assert back.checks[0].stat is not None
    assert math.isnan(back.checks[0].stat.p_value)
    assert back.checks[0].stat.statistic == math.inf
    assert back.checks[0].data == {"ci": [-math.inf, math.inf], "count": 7, "arr": [0.5, 1.5]}


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        read_json(tmp_path / "nope.json")


def test_garbage_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(BadInput, match="not a verdict JSON object") as err:
        read_json(path)
    assert str(path) in str(err.value)


def test_newer_version_is_refused(tmp_path: Path) -> None:
    payload = verdict().model_dump(mode="json") | {"version": 99}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(BadInput, match="unsupported verdict version 99") as err:
        read_json(path)
    assert err.value.field == "version"


def test_invalid_field_is_named(tmp_path: Path) -> None:
    payload = verdict().model_dump(mode="json")
    payload["checks"][1]["outcome"] = "maybe"
    path = tmp_path / "v.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(BadInput) as err:
        read_json(path)
    assert err.value.field == "checks[1].outcome"
    assert "(got 'maybe')" in str(err.value)  # and what is allowed, in pydantic's words
    assert "'pass'" in str(err.value)

"""Shared adapter helpers: durations, YAML line maps, Value errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.adapters._common import (
    Value,
    load_yaml_documents,
    parse_duration,
)
from harness.errors import BadInput

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("1m30s", 90.0),
        ("10us", 1e-5),
        ("2h", 7200.0),
        (".5s", 0.5),
        ("0", 0.0),
        (3, 3.0),
        ("2.5", 2.5),
    ],
)
def test_parse_duration_examples(text: object, seconds: float) -> None:
    assert parse_duration(text, file="f", field="x") == pytest.approx(seconds, rel=1e-12)


def test_plain_numbers_use_callers_unit() -> None:
    assert parse_duration(500, file="f", field="x", unit_s=1e-3) == 0.5
    assert parse_duration("500", file="f", field="x", unit_s=1e-3) == 0.5
    with pytest.raises(BadInput, match="unit"):
        parse_duration(500, file="f", field="x", unit_s=None)


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from(list(UNITS))), min_size=1))
def test_parse_duration_sums_components(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{u}" for n, u in parts)
    expected = sum(n * UNITS[u] for n, u in parts)
    assert parse_duration(text, file="f", field="x") == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("text", ["-1s", "1 sec", "fast", "", True, None, [1], "1s2", "nan"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(BadInput) as err:
        parse_duration(text, file="cfg.yaml", field="retry.backoff", line=7)
    assert str(err.value).startswith("cfg.yaml:7: retry.backoff: ")


def test_zero_can_be_refused() -> None:
    with pytest.raises(BadInput, match="greater than 0"):
        parse_duration("0s", file="f", field="x", allow_zero=False)


def test_line_map_of_each_document(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("kind: A\n---\n# note\nkind: B\nspec:\n  items:\n    - x: 1\n      y: 2\n")
    docs = load_yaml_documents(f)
    assert [d["kind"] for d, _ in docs] == ["A", "B"]
    doc, lines = docs[1]
    assert doc["spec"]["items"][0]["y"] == 2
    assert lines.line("spec", "items", 0, "y") == 8
    assert lines.line("spec", "items", 0, "missing") == 7  # nearest known ancestor


def test_value_errors_name_dotted_field_and_line(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("retry:\n  perRetry:\n    timeout: 1\n    codes: [500, 'x']\n")
    ((doc, lines),) = load_yaml_documents(f)
    per = Value.document(doc, f, lines).dig("retry", "perRetry")
    assert per is not None
    timeout, codes = per.get("timeout"), per.get("codes")
    assert timeout is not None and codes is not None
    assert timeout.as_duration() == 1.0
    with pytest.raises(BadInput) as err:
        codes.as_statuses()
    assert (err.value.field, err.value.line) == ("retry.perRetry.codes[1]", 4)
    with pytest.raises(BadInput) as err:
        per.check_fields(frozenset({"timeout"}))
    assert (err.value.field, err.value.line) == ("retry.perRetry.codes", 4)
    with pytest.raises(BadInput, match=r"must be >= 2 \(got 1\)"):
        timeout.as_float(minimum=2)
    assert per.get("attempts") is None and not per.has("attempts")


def test_duplicate_key_is_refused_with_its_line_and_field(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys silently; the one YAML reader of
    ``harness.input_errors`` refuses it, as the scenario reader always did."""
    from harness.adapters._common import load_yaml_documents

    f = tmp_path / "route.yaml"
    f.write_text("spec:\n  retry:\n    attempts: 2\n    attempts: 5\n", encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        load_yaml_documents(f)
    assert caught.value.line == 4 and caught.value.field == "spec.retry.attempts"
    assert "duplicate key 'attempts'" in str(caught.value)

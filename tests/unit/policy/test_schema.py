"""The committed JSON Schema is current, and canonical policy files load or fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.policy import JitterModel
from harness.policy.schema import SCHEMA_FILE, load_policy_file, main, schema_text


def test_committed_schema_equals_generated() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "run: python -m harness.policy.schema"
    )
    assert main(["--check"]) == 0


def test_loads_yaml_policy(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text(
        "max_retries: 3\n"
        "retry_on: {statuses: [503, 502], reset: true}\n"
        "methods: {retryable: [get, put]}\n"
        "backoff: {base_s: 0.1, jitter: full, cap_s: 1}\n"
    )
    policy = load_policy_file(f)
    assert policy.max_retries == 3
    assert policy.retry_on.statuses == {502, 503}
    assert policy.methods.retryable == frozenset({"GET", "PUT"})
    assert policy.backoff.jitter is JitterModel.FULL


def test_loads_json_policy(tmp_path: Path) -> None:
    f = tmp_path / "policy.json"
    f.write_text('{"max_retries": 0, "per_try_timeout_s": 2.5}')
    assert load_policy_file(f).per_try_timeout_s == 2.5


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("max_retries: 2\nbackoff:\n  multiplier: 0.5\n", "backoff.multiplier", 3),
        ("max_retries: -1\n", "max_retries", 1),
        ("max_retries: 1\nretry_on:\n  statusez: [503]\n", "retry_on.statusez", 3),
        ("retry_on: {}\n", "max_retries", 1),
        ("max_retries: 1\nbackoff: {jitter: wobbly}\n", "backoff.jitter", 2),
    ],
)
def test_bad_policy_names_file_field_and_line(
    tmp_path: Path, text: str, field: str, line: int
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(BadInput) as err:
        load_policy_file(f)
    assert err.value.file == str(f)
    assert err.value.field == field
    assert err.value.line == line
    assert str(err.value).startswith(f"{f}:{line}: {field}: ")


def test_malformed_yaml_cites_line(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("max_retries: 1\nretry_on: [1, 2\nbackoff: {}\n")
    with pytest.raises(BadInput) as err:
        load_policy_file(f)
    assert err.value.line is not None and err.value.line >= 2
    assert "malformed YAML" in str(err.value)


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(BadInput, match="mapping"):
        load_policy_file(f)
    with pytest.raises(BadInput, match="file not found"):
        load_policy_file(tmp_path / "absent.yaml")

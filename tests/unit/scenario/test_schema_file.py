"""The committed JSON Schema of scenario files is up to date and describes the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import harness.scenario as scenario_module
from harness.scenario import scenario_json_schema

SCHEMA_FILE = Path(scenario_module.__file__).with_name("scenario.schema.json")


def test_committed_schema_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == scenario_json_schema(), (
        "harness/scenario.schema.json is stale; run: "
        "python -m harness.scenario --schema > harness/scenario.schema.json"
    )


def test_schema_names_the_sections_and_forbids_extra_fields() -> None:
    schema = scenario_json_schema()
    assert set(schema["properties"]) == {
        "name",
        "description",
        "expect",
        "expect_failing",
        "expect_may_fail",
        "expect_not_judged",
        "seed",
        "backends",
        "sut",
        "policy",
        "load",
        "chaos",
        "checks",
        "telemetry",
    }
    assert set(schema["required"]) == {"name", "sut", "policy", "load"}
    assert schema["additionalProperties"] is False
    load = schema["$defs"]["LoadSpec"]
    assert load["additionalProperties"] is False
    assert {"type": "boolean"} in load["properties"]["idempotency_keys"]["anyOf"]


def test_module_cli_prints_the_same_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness.scenario", "--schema"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(out) == scenario_json_schema()
    assert out == SCHEMA_FILE.read_text(encoding="utf-8")

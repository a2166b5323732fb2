"""The JSON Schema of the canonical retry policy, and loading a canonical policy file.

``python -m harness.policy.schema`` rewrites the committed ``retry_policy.schema.json`` next to this
module (``--check`` only compares and exits 1 when it is stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.input_errors import bad_input_from_validation, load_yaml_mapping
from harness.policy.model import SCHEMA_VERSION, RetryPolicy

SCHEMA_FILE = Path(__file__).with_name("retry_policy.schema.json")
SCHEMA_ID = "https://retry-harness.invalid/schemas/retry_policy.schema.json"


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a canonical policy file, as pydantic validates it."""
    schema = RetryPolicy.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "x-schema-version": SCHEMA_VERSION,
        **schema,
    }


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, 2-space indent, final newline)."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_policy_file(path: Path) -> RetryPolicy:
    """Read a canonical policy from a YAML or JSON file (one mapping).

    Errors raise ``BadInput`` naming the file, the YAML line where known, and the dotted field
    (pydantic's ``loc``), e.g. ``policy.yaml:5: backoff.multiplier: must be a number >= 1
    (got 0.5)``.
    """
    data, lines = load_yaml_mapping(path)
    try:
        return RetryPolicy.model_validate(data)
    except ValidationError as err:
        raise bad_input_from_validation(err, file=path, lines=lines, model=RetryPolicy) from None


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with ``--check`` verify) the committed schema file."""
    args = sys.argv[1:] if argv is None else argv
    text = schema_text()
    if "--check" in args:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is stale: run python -m harness.policy.schema", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

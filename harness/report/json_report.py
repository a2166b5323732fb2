"""The versioned JSON form of a verdict: what ``retry-harness verify`` and CI tools read back.

The file is ``verdict.model_dump()`` as JSON, losslessly: a non-finite float (a NaN p-value, an
infinite statistic, in any field or data block) is written as ``NaN`` / ``Infinity`` the way
Python's and pydantic's JSON readers accept it, not turned into ``null``. numpy scalars and arrays
in ``data`` blocks are written as plain numbers and lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import ValidationError

from harness.errors import BadInput
from harness.input_errors import bad_input_from_validation
from harness.oracle.verdict import VERDICT_VERSION, Verdict


def _plain(value: Any) -> Any:
    """numpy scalars/arrays (anything with ``tolist``) as Python numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a verdict JSON file")


def verdict_json(verdict: Verdict) -> bytes:
    """The JSON bytes of ``verdict`` (indented, UTF-8, ending in a newline)."""
    payload = verdict.model_dump(mode="python")
    return pydantic_core.to_json(payload, indent=2, inf_nan_mode="constants", fallback=_plain) + (
        b"\n"
    )


def write_json(verdict: Verdict, path: Path | str) -> Path:
    """Write ``verdict`` to ``path`` (parent folders created) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(verdict_json(verdict))
    return target


def read_json(path: Path | str) -> Verdict:
    """Read a verdict written by :func:`write_json`; a bad file raises :class:`BadInput`."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read the verdict file ({err.strerror})", file=source) from err
    try:
        version = pydantic_core.from_json(raw, allow_inf_nan=True).get("version")
    except (ValueError, AttributeError) as err:
        raise BadInput("not a verdict JSON object", file=source) from err
    if not isinstance(version, int) or version > VERDICT_VERSION:
        raise BadInput(
            f"unsupported verdict version {version!r} (this harness reads up to {VERDICT_VERSION})",
            file=source,
            field="version",
        )
    try:
        return Verdict.model_validate_json(raw)
    except ValidationError as err:
        raise bad_input_from_validation(err, file=source, model=Verdict) from err

"""The fault page's form (``retry-harness ui``, ``/retries/faults``) read into a FaultProfile.

Pure (no Locust, no Flask; ``scenarios.locust_support`` imports Locust, so it lives here): the
web UI calls :func:`profile_from_form`; a bad value is one
:class:`~harness.errors.BadInput` line naming the form field and what is allowed, the same
message a scenario file's ``backends.profile`` would get (``harness.input_errors``), never
pydantic's raw multi-line text.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.input_errors import bad_input_from_validation

STATUS_MIX_RULE = "comma-separated status:weight pairs, e.g. 503:0.7, 502:0.3"


def profile_from_form(base: FaultProfile, form: dict[str, str]) -> FaultProfile:
    """``base`` with the form's fields applied; BadInput (one line, the field named) on bad
    input."""
    data = json.loads(base.model_dump_json())

    def num(name: str) -> float | None:
        raw = form.get(name, "").strip()
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            raise BadInput(f"must be a number (got {raw!r})", field=name) from None

    for name in ("failure_rate", "hang_rate", "reset_rate", "hang_s"):
        value = num(name)
        if value is not None:
            data[name] = value
    if form.get("failure_status", "").strip():
        mix: dict[str, float] = {}
        for item in form["failure_status"].split(","):
            status, _, weight = item.strip().partition(":")
            try:
                mix[str(int(status))] = float(weight) if weight.strip() else 1.0
            except ValueError:
                raise BadInput(
                    f"must be {STATUS_MIX_RULE} (got {item.strip()!r})", field="failure_status"
                ) from None
        data["failure_status"] = mix
    if "retry_after" in form:
        data["retry_after"] = form["retry_after"].strip() or None
    kind = form.get("latency_kind", "").strip()
    if kind:
        lat: dict[str, Any] = {"kind": kind}
        if kind == "fixed":
            lat["ms"] = num("latency_ms") or 0.0
        elif kind == "uniform":
            lat["min_ms"] = num("latency_min_ms") or 0.0
            lat["max_ms"] = num("latency_max_ms") or 0.0
        elif kind == "lognormal":
            lat["median_ms"] = num("latency_ms") or 0.0
        data["latency"] = lat
    try:
        return FaultProfile.model_validate(data)
    except ValidationError as err:
        raise bad_input_from_validation(err, file=None, model=FaultProfile) from None

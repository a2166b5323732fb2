"""The UI's fault form: a good form gives the profile; a bad value is one line naming the field
and what is allowed (the form used to show pydantic's raw multi-line text)."""

from __future__ import annotations

import pytest

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.fault_form import profile_from_form

BASE = FaultProfile(failure_rate=0.2)


def test_form_fields_apply_over_the_current_profile() -> None:
    got = profile_from_form(BASE, {"failure_rate": "0.5", "failure_status": "503:0.7, 502:0.3"})
    assert got.failure_rate == 0.5
    assert {int(k): v for k, v in got.failure_status.items()} == {503: 0.7, 502: 0.3}


@pytest.mark.parametrize(
    ("form", "field", "needle"),
    [
        ({"failure_rate": "1.5"}, "failure_rate", "must be a number in 0..1 (got 1.5)"),
        ({"failure_rate": "lots"}, "failure_rate", "must be a number (got 'lots')"),
        ({"failure_status": "503=1"}, "failure_status", "status:weight pairs"),
        ({"hang_rate": "-0.1"}, "hang_rate", "must be a number in 0..1 (got -0.1)"),
    ],
)
def test_bad_value_is_one_line_naming_the_field(
    form: dict[str, str], field: str, needle: str
) -> None:
    with pytest.raises(BadInput) as err:
        profile_from_form(BASE, form)
    assert err.value.field == field, str(err.value)
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert str(err.value).startswith(f"{field}: ")

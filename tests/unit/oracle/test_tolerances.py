"""The timing tolerances are one family in one module (harness.oracle.tolerances), and what the
ε note printed on every verdict says about the lateness slack points there instead of
repeating (and contradicting) it."""

from __future__ import annotations

import numpy as np
import pytest

from harness.oracle.tolerances import (
    EARLY_TOLERANCE_S,
    lateness_tolerance,
    timer_read_tolerance_s,
)
from harness.substrates.calibration import combine


def test_the_lateness_tolerance_is_the_sut_forwarding_p90_when_larger_than_eps() -> None:
    fwd = np.linspace(0.001, 0.010, 40)
    tol, source = lateness_tolerance(0.002, fwd)
    assert tol == pytest.approx(float(np.quantile(fwd, 0.9)))
    assert "forwarding lateness" in source
    # fewer than 20 first attempts, or a p90 under ε: ε itself
    assert lateness_tolerance(0.002, fwd[:19])[0] == 0.002
    assert lateness_tolerance(0.02, fwd)[0] == 0.02


def test_the_timer_read_tolerance_is_the_slack_and_one_tick() -> None:
    assert timer_read_tolerance_s(0.05) == pytest.approx(0.05 + EARLY_TOLERANCE_S)


def test_the_printed_note_does_not_claim_lateness_judgements_for_the_slack() -> None:
    """The deadline and the per-try timeout's late side are sign tests against the lateness
    tolerance, not judged against the slack; the note said they were."""
    note = combine(np.array([0.001, 0.002]), np.array([0.003])).evidence
    assert "harness.oracle.tolerances" in note
    assert "deadline, per-try timeout" not in note

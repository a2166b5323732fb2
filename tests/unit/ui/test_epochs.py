"""Profile epochs of a UI session (harness.live_judge): how fault changes and resets cut it."""

from __future__ import annotations

from fake_backends.profile import FaultProfile
from harness.live_judge import epochs_from_control

BASE = FaultProfile(failure_rate=0.3)


def _faults(before: int, after: int, rate: float, errors: list[str] | None = None) -> dict:
    profile = BASE.model_copy(update={"failure_rate": rate}).model_dump(mode="json")
    return {
        "kind": "faults",
        "before_us": before,
        "after_us": after,
        "profile": profile,
        "errors": errors or [],
    }


def test_no_events_is_one_epoch_with_the_scenario_profile() -> None:
    epochs, cut = epochs_from_control([], 100, BASE)
    assert cut == 100
    assert [(e.index, e.start_us, e.end_us, e.profile) for e in epochs] == [(0, 100, None, BASE)]


def test_a_fault_change_ends_the_epoch_when_sent_and_opens_one_when_acknowledged() -> None:
    epochs, _ = epochs_from_control([_faults(1_000, 1_050, 0.6)], 100, BASE)
    first, second = epochs
    assert (first.start_us, first.end_us, first.profile.failure_rate) == (100, 1_000, 0.3)
    assert (second.start_us, second.end_us, second.profile.failure_rate) == (1_050, None, 0.6)
    # a request is judged only in the epoch that holds it whole
    assert first.holds(200, 900) and not first.holds(900, 1_010)
    assert not second.holds(1_040, 2_000) and second.holds(1_050, 2_000)


def test_a_reset_starts_a_new_test_keeps_earlier_epochs_and_the_profile_in_force() -> None:
    """The earlier test's epochs stay (their downloads must not 404); the reset closes the
    epoch in force and opens one in a new test with the same profile."""
    events = [_faults(1_000, 1_050, 0.6), {"kind": "reset", "t_us": 5_000, "why": "x"}]
    epochs, cut = epochs_from_control(events, 100, BASE)
    assert cut == 5_000
    assert [(e.index, e.test, e.start_us, e.end_us) for e in epochs] == [
        (0, 0, 100, 1_000),
        (1, 0, 1_050, 5_000),
        (2, 1, 5_000, None),
    ]
    assert epochs[-1].profile.failure_rate == 0.6 and epochs[-1].cause == "x"


def test_a_change_not_applied_everywhere_is_carried_with_its_errors() -> None:
    epochs, _ = epochs_from_control([_faults(10, 20, 0.5, ["r1: refused"])], 0, BASE)
    assert epochs[-1].errors == ["r1: refused"]

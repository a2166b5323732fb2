"""``Artifacts.tolerances``: the one way a finished run's artifacts give the verdict its
:class:`harness.oracle.tolerances.Tolerances` (a lateness slack not measured is ε)."""

from __future__ import annotations

from pathlib import Path

from harness.oracle.tolerances import Tolerances
from harness.substrates.base import Artifacts


def _artifacts(slack: float | None) -> Artifacts:
    return Artifacts(
        journal_paths=[Path("journal-r0.ndjson")],
        client_records_path=Path("client-records.ndjson"),
        dropped_attempts=0,
        epsilon_s=0.004,
        epsilon_evidence="zero-delay gap p95",
        lateness_slack_s=slack,
        epsilon_parts={"gap": 0.003, "forward": 0.001},
    )


def test_measured_slack_is_kept() -> None:
    assert _artifacts(0.02).tolerances == Tolerances(
        0.004, 0.02, "zero-delay gap p95", {"gap": 0.003, "forward": 0.001}
    )


def test_unmeasured_slack_is_epsilon() -> None:
    tol = _artifacts(None).tolerances
    assert (tol.epsilon_s, tol.lateness_slack_s) == (0.004, 0.004)

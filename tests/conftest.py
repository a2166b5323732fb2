"""Suite-wide: with ``RETRY_HARNESS_REQUIRE_ALL=1`` (set by .ci/run) a skipped test fails.

Tests skip with the reason when a program they need (a SUT, chromium, dockerd, promtool) is
missing, which is right on a laptop but hides a broken install step on CI: the CI machine must
have everything. Only the kind tests (no kind cluster can run where CI runs) and tests marked
``may_skip`` (a skip that depends on the machine's behaviour, not on a missing program) may
still skip.

Property tests (hypothesis) run without the per-example deadline (200 ms by default) and the
"too slow" health check: on a loaded CI runner one example took 431 ms and failed a test whose
subject is not speed; speed goals live in ``bench/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "retry-harness", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("retry-harness")

REQUIRE_ALL_ENV = "RETRY_HARNESS_REQUIRE_ALL"
_KIND_TESTS = Path(__file__).resolve().parent / "kind"


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV) == "1"


def _may_skip(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker("may_skip") is not None
        or _KIND_TESTS in Path(str(item.fspath)).resolve().parents
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and require_all() and not _may_skip(item) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ALL_ENV}=1: this test may not skip here ({reason})"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped at import (``allow_module_level``) fails too."""
    in_kind = _KIND_TESTS in Path(str(report.fspath)).resolve().parents
    if report.skipped and require_all() and not in_kind:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ALL_ENV}=1: this module may not skip here ({reason})"

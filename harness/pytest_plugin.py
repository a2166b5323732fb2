"""pytest plugin (entry point ``pytest11``): fixtures for users' own retry tests.

- ``flaky_backend``: a factory that starts flaky backend replicas with a fault profile and stops
  them after the test; each handle has ``.url``, ``.admin`` (journal, faults) and chaos methods.
- ``retry_scenario``: a factory that runs a scenario file on the local substrate and returns its
  ``Verdict`` (reports go to the test's tmp folder).
- ``assert_conformant(verdict, *checks)`` and ``assert_check(verdict, name)``: assertions whose
  failure message shows each failing check's summary, evidence and counter-example request ids.

Imports are lazy so that merely installing the package does not import ``requests`` (and so
``ssl``) into every pytest run: that would break Locust's gevent monkey-patching in users' tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fake_backends.profile import FaultProfile
    from harness.oracle.verdict import CheckResult, Verdict
    from harness.processes.backends import BackendHandle


def _explain(results: list[CheckResult]) -> str:
    from harness.report.formatting import sample_group, test_text

    lines: list[str] = []
    for r in results:
        lines.append(f"[{r.outcome.value}] {r.name}: {r.summary}")
        if r.stat is not None:
            s = r.stat
            of = f", {group}" if (group := sample_group(s)) else ""
            lines.append(
                f"    {test_text(s)}: p={s.p_value:.3g}, n={s.n} (planned {s.n_planned}{of}), "
                f"α={s.alpha:.3g}"
            )
        lines += [f"    {e}" for e in r.evidence[:8]]
        if r.request_ids:
            lines.append(f"    request ids: {', '.join(r.request_ids[:10])}")
    return "\n".join(lines)


def assert_check(verdict: Verdict, name: str) -> CheckResult:
    """Assert that check ``name`` passed; returns it. The message shows the evidence."""
    from harness.oracle.verdict import Outcome

    found = [c for c in verdict.checks if c.name == name]
    if not found:
        known = ", ".join(c.name for c in verdict.checks)
        raise AssertionError(f"the verdict has no check {name!r}; it has: {known}")
    if found[0].outcome != Outcome.PASS:
        raise AssertionError(f"check {name!r} did not pass:\n{_explain(found)}")
    return found[0]


def assert_conformant(verdict: Verdict, *checks: str) -> None:
    """Assert the whole verdict (or only ``checks``) passed; not-applicable checks are fine."""
    from harness.oracle.verdict import Outcome

    judged = [c for c in verdict.checks if not checks or c.name in checks]
    bad = [c for c in judged if c.outcome in (Outcome.FAIL, Outcome.INCONCLUSIVE)]
    if bad:
        raise AssertionError(
            f"{len(bad)} of {len(judged)} checks did not pass "
            f"(scenario {verdict.scenario}):\n{_explain(bad)}"
        )


@pytest.fixture
def flaky_backend(tmp_path: Path) -> Iterator[Callable[..., BackendHandle]]:
    """Factory: ``flaky_backend(profile=FaultProfile(...), replica="r0", workers=2)``."""
    from fake_backends.ports import free_port
    from harness.processes.backends import start_backend

    shared_counter = tmp_path.absolute() / "attempt-counter.bin"  # one for all the test's replicas
    with contextlib.ExitStack() as stack:

        def start(
            profile: FaultProfile | None = None,
            *,
            replica: str = "r0",
            workers: int = 2,
            threads: int = 16,
            counter_url: str | None = None,
            **kwargs: Any,
        ) -> BackendHandle:
            return stack.enter_context(
                start_backend(
                    free_port(),
                    free_port(),
                    workers=workers,
                    threads=threads,
                    replica=replica,
                    profile=profile,
                    counter_url=counter_url or f"file://{shared_counter}",
                    journal_path=tmp_path / f"journal-{replica}.ndjson",
                    **kwargs,
                )
            )

        yield start


@pytest.fixture
def retry_scenario(tmp_path: Path) -> Callable[..., Verdict]:
    """Factory: ``retry_scenario("scenario.yaml", seed=None) -> Verdict`` (reports in tmp)."""
    from harness.run import run_scenario

    def run(path: str | Path, *, seed: int | None = None) -> Verdict:
        result = run_scenario(
            Path(path), report_dir=tmp_path / "report", seed=seed, formats=("json", "junit")
        )
        return result.verdict

    return run

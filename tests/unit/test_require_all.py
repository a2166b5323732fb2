"""RETRY_HARNESS_REQUIRE_ALL=1 turns a skip into a failure (tests/conftest.py), kind aside.

Runs pytest on a small throwaway test file, inside this repository's tests/ folder so that its
conftest applies, once without the switch (skipped) and once with it (failed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

BODY = """
import pytest

def test_needs_a_program():
    pytest.skip("frobnicator is not installed")

@pytest.mark.may_skip
def test_depends_on_the_machine():
    pytest.skip("the kernel did something else")
"""


@pytest.mark.parametrize("switch", ["", "1"], ids=["off", "on"])
def test_a_skip_fails_only_with_the_switch(switch: str) -> None:
    probe = HERE / f"test_zz_require_all_probe_{os.getpid()}_{switch or 'off'}.py"
    probe.write_text(BODY.replace("def test_depends", "def test_zz_depends"))
    try:
        env = {**os.environ, "RETRY_HARNESS_REQUIRE_ALL": switch}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(probe)],
            capture_output=True,
            text=True,
            env=env,
            cwd=HERE.parents[1],
            timeout=120,
        )
    finally:
        probe.unlink(missing_ok=True)
    tail = done.stdout.strip().splitlines()[-1]
    if switch:
        assert "1 failed" in tail and "1 skipped" in tail, done.stdout
        assert "RETRY_HARNESS_REQUIRE_ALL=1: this test may not skip here" in done.stdout
        assert "frobnicator is not installed" in done.stdout
    else:
        assert "2 skipped" in tail and "failed" not in tail, done.stdout

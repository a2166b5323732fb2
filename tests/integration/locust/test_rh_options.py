"""A bad ``--rh-*`` option is one line in Locust's log naming the option and the rule (through
the one pydantic mapper, harness/input_errors.py), and the test ends at once with the harness's
exit code. Through a real Locust process: the locust_support package registers its listeners
on import (and Locust patches the standard library), so it is never imported into pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fake_backends.ports import free_port
from tests.integration.cli.helpers import REPO

pytestmark = pytest.mark.integration

LOCUST = Path(sys.executable).with_name("locust")
HARNESS_BROKEN_EXIT_CODE = 3  # scenarios/locust_support/settings.py (not imported here)


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        (
            "--rh-request-timeout",
            "-1",
            "--rh-request-timeout: must be a number > 0 and <= 3600 (got -1.0)",
        ),
        ("--rh-methods", "GET:x", "--rh-methods: bad weight in method mix item 'GET:x'"),
        ("--rh-idempotency-keys", "3", "--rh-idempotency-keys: "),
    ],
)
def test_a_bad_rh_option_is_one_line_naming_it(
    tmp_path: Path, option: str, value: str, said: str
) -> None:
    argv = [str(LOCUST), "-f", str(REPO / "scenarios" / "steady.py"), "--headless"]
    argv += ["-u", "1", "-r", "1", "-t", "10", "--host", f"http://127.0.0.1:{free_port()}"]
    argv += ["--rh-requests", "5", f"{option}={value}"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == HARNESS_BROKEN_EXIT_CODE, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "retry-harness: bad option " in line]
    assert len(lines) == 1, done.stderr[-2000:]
    message = lines[0].split("retry-harness: bad option ", 1)[1]
    assert message.startswith(said), message
    assert "validation error" not in done.stderr and "Traceback" not in done.stderr

"""An ``expect: inconclusive`` scenario names the checks it leaves not judged
(``expect_not_judged``): conformance fails the row when the verdict is inconclusive for another
reason, so a harness regression cannot hide behind the expected outcome."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from harness.cli import _inconclusive_as_expected
from tests.integration.cli.helpers import REPO, run_cli

KEEPALIVE = REPO / "scenarios" / "nginx-keepalive.yaml"
NOT_JUDGED = [
    "attempts_bound",
    "retry_when_due",
    "success_rate",
    "attempt_distribution",
    "client_agreement",
]


def _outcomes(**changed: str) -> dict[str, str]:
    base = {n: "not_judged" for n in NOT_JUDGED}
    base.update(stop_on_success="pass", fault_audit="pass", retry_after="not_applicable")
    return {**base, **changed}


def test_the_named_checks_unjudged_and_the_rest_passed_is_as_expected() -> None:
    ok, detail = _inconclusive_as_expected(_outcomes(), NOT_JUDGED)
    assert ok, detail
    ok, _ = _inconclusive_as_expected(_outcomes(success_rate="inconclusive"), NOT_JUDGED)
    assert ok  # a named check may also be inconclusive


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"fault_audit": "inconclusive"}, "unexpectedly: fault_audit (inconclusive)"),
        ({"stop_on_success": "not_judged"}, "unexpectedly: stop_on_success (not_judged)"),
        ({"stop_on_success": "fail"}, "unexpectedly: stop_on_success (fail)"),
        ({"attempts_bound": "pass"}, "judged though expected not: attempts_bound (pass)"),
    ],
)
def test_any_other_reason_fails_the_row(changed: dict[str, str], said: str) -> None:
    ok, detail = _inconclusive_as_expected(_outcomes(**changed), NOT_JUDGED)
    assert not ok and said in detail, detail


def test_an_unreadable_verdict_is_not_taken_as_expected() -> None:
    ok, detail = _inconclusive_as_expected({}, NOT_JUDGED)
    assert not ok and "unreadable" in detail


def _copy(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(KEEPALIVE.read_text())
    data["sut"]["config"] = str(REPO / "scenarios" / data["sut"]["config"])
    data.update(changes)
    path = tmp_path / "keepalive.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_expect_not_judged_goes_with_expect_inconclusive_and_is_required_there(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(KEEPALIVE.read_text())
    data.pop("expect_not_judged")
    path = _copy(tmp_path)
    path.write_text(yaml.safe_dump({**data, "sut": yaml.safe_load(path.read_text())["sut"]}))
    done = run_cli("plan", path)
    assert done.returncode == 2 and "expect_not_judged: required with expect: inconclusive" in (
        " ".join(done.stderr.split())
    ), done.stderr
    done = run_cli("plan", _copy(tmp_path, expect="conformant"))
    assert done.returncode == 2 and "expect_not_judged" in done.stderr, done.stderr
    done = run_cli("run", _copy(tmp_path, expect_not_judged=["attempts_bund"]))
    assert done.returncode == 2 and "unknown check(s) attempts_bund" in done.stderr, done.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_row_inconclusive_for_another_reason_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed (apt-get install -y nginx-light)")
    monkeypatch.setenv("COLUMNS", "400")  # the table's detail cells on one line each
    # 60 requests: fault_audit, the one statistical check judged, is below its plan
    load = {**yaml.safe_load(KEEPALIVE.read_text())["load"], "requests": 60}
    short = _copy(tmp_path, load=load)
    done = run_cli("conformance", short, "--report-dir", tmp_path / "a", timeout=300)
    text = " ".join(done.stdout.split())
    assert done.returncode == 3, done.stdout + done.stderr
    assert "unexpectedly: fault_audit (inconclusive)" in text, text
    assert "✗" in text and "not judged/inconclusive: " in text, text

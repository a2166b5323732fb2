"""The JUnit XML form: parses, one testcase per check, failures and skips where they belong."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.oracle.aspects import not_judged_result
from harness.oracle.verdict import CheckKind, CheckResult, Outcome, Statistic, Verdict
from harness.policy.model import Aspect, RetryPolicy, Unmodelled
from harness.report.junit import write_junit
from tests.unit.report.sample_verdicts import HOSTILE_ID, verdict


def _suite(tmp_path: Path, v: Verdict, **kw: str) -> tuple[ET.Element, ET.Element]:
    path = write_junit(v, tmp_path / "out" / "junit.xml", **kw)
    root = ET.parse(path).getroot()
    suites = root.findall("testsuite")
    assert root.tag == "testsuites"
    assert len(suites) == 1
    return root, suites[0]


def test_one_testcase_per_check_with_counts(tmp_path: Path) -> None:
    v = verdict()
    root, suite = _suite(tmp_path, v)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.name for c in v.checks]
    assert {c.get("classname") for c in cases} == {"retry_harness.full-jitter-502"}
    assert all(c.get("time") == "0" for c in cases)
    expected = {"tests": "6", "failures": "2", "errors": "0", "skipped": "2", "time": "0"}
    assert {k: suite.get(k) for k in expected} == expected
    assert root.get("tests") == "6" and root.get("failures") == "2"
    assert suite.get("timestamp") and suite.get("hostname")


def test_failure_skip_and_pass_elements(tmp_path: Path) -> None:
    v = verdict()
    _, suite = _suite(tmp_path, v)
    by_name = {c.get("name"): c for c in suite.findall("testcase")}
    for check in v.checks:
        case = by_name[check.name]
        failures, skips = case.findall("failure"), case.findall("skipped")
        if check.outcome is Outcome.FAIL:
            assert len(failures) == 1 and not skips
            assert failures[0].get("message") == check.summary
            for line in check.evidence:
                assert line in (failures[0].text or "")
        elif check.outcome in (Outcome.INCONCLUSIVE, Outcome.NOT_APPLICABLE):
            assert len(skips) == 1 and not failures
        else:
            assert not failures and not skips
    inconclusive = by_name["jitter_distribution"].find("skipped")
    assert inconclusive is not None
    message = inconclusive.get("message") or ""
    assert "INCONCLUSIVE" in message and "not passed" in message and "n=27 of 60" in message
    na = by_name["retry_budget"].find("skipped")
    assert na is not None and (na.get("message") or "").startswith("not applicable")


def test_properties_carry_run_facts(tmp_path: Path) -> None:
    _, suite = _suite(tmp_path, verdict())
    props = {p.get("name"): p.get("value") for p in suite.iterfind("properties/property")}
    assert props["alpha"] == "0.001"
    assert props["epsilon_s"] == "0.004"
    assert props["traces"] == "1000"
    assert props["attempts"] == "1417"
    assert props["outcome"] == "fail"


def test_suite_name_and_unnamed_scenario(tmp_path: Path) -> None:
    root, suite = _suite(tmp_path, verdict(scenario=None), suite_name="nightly")
    assert suite.get("name") == "nightly" and root.get("name") == "nightly"
    assert suite.find("testcase") is not None
    assert {c.get("classname") for c in suite.iter("testcase")} == {"retry_harness.unnamed"}


def test_hostile_strings_stay_well_formed(tmp_path: Path) -> None:
    v = verdict()
    check = v.checks[1].model_copy(
        update={"summary": 'bad "quote" & <tag> \x00\x1b', "request_ids": [HOSTILE_ID, "\x07"]}
    )
    odd = v.model_copy(update={"checks": [check]})
    _, suite = _suite(tmp_path, odd)
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'bad "quote" & <tag> \ufffd\ufffd'
    assert HOSTILE_ID in (failure.text or "")


def test_all_pass_has_no_failures(tmp_path: Path) -> None:
    v = verdict(failing=False)
    _, suite = _suite(tmp_path, v)
    assert suite.get("failures") == "0"
    assert not list(suite.iter("failure"))


def test_a_skip_says_why_in_the_checks_own_words(tmp_path: Path) -> None:
    """JUnit is what CI users read first: an inconclusive check says its own reason (only one
    below plan names its sample), and a not-judged one says "not judged", not "not applicable"
    (it used to be "too few samples to judge" for every inconclusive check)."""
    policy = RetryPolicy(
        system="haproxy",
        max_retries=2,
        not_judged=(
            Unmodelled(
                aspects=frozenset({Aspect.MAX_RETRIES}),
                native="server b1 ... check",
                reason="a health check can mark the server DOWN",
                location="haproxy.cfg:12",
            ),
        ),
    )
    not_judged = not_judged_result("attempts_bound", policy)
    assert not_judged is not None
    stat = Statistic(test="G-test", p_value=0.4, n=500, n_planned=400, alpha=0.001)
    blind = CheckResult(
        name="stop_on_success",
        title="Stop on success",
        kind=CheckKind.INVARIANT,
        outcome=Outcome.INCONCLUSIVE,
        summary="cannot tell: the lateness slack is as large as the per-try timeout",
    )
    share = CheckResult(
        name="attempt_distribution",
        title="Attempt distribution",
        kind=CheckKind.STATISTICAL,
        outcome=Outcome.INCONCLUSIVE,
        summary="judged only 22 of 1000 eligible requests",
        stat=stat,
    )
    v = verdict().model_copy(update={"checks": [not_judged, blind, share]})
    _, suite = _suite(tmp_path, v)
    messages = {
        c.get("name"): (c.find("skipped").get("message") or "")  # type: ignore[union-attr]
        for c in suite.findall("testcase")
    }
    assert messages["attempts_bound"] == not_judged.summary
    assert messages["attempts_bound"].startswith("not judged: the haproxy config has 1")
    assert messages["stop_on_success"] == f"INCONCLUSIVE, not passed: {blind.summary}"
    assert messages["attempt_distribution"] == f"INCONCLUSIVE, not passed: {share.summary}"
    assert not any("too few samples" in m for m in messages.values())

"""The JUnit XML form of a verdict: one ``<testsuite>`` per verdict, one ``<testcase>`` per check.

Follows the attribute set CI servers read (Jenkins, GitLab, GitHub test reporters): counts of
tests, failures, errors and skipped on the suite, ``classname``/``name``/``time`` on each case.
A failed check carries ``<failure message=summary>`` with its evidence as text; an inconclusive
or not-applicable check is ``<skipped>`` with a message saying why (an inconclusive check did
NOT pass: it had fewer samples than planned). Run facts are ``<properties>``.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.report.formatting import (
    evidence_text,
    fmt_number,
    outcome_counts,
    sample_group,
    stat_line,
    test_text,
)

# Characters XML 1.0 forbids even escaped; a hostile request id must not make the file unreadable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _skip_message(check: CheckResult) -> str:
    """Why a check is a skip, in the check's own words: its outcome, then its summary (which
    gives the reason: a sample below plan, a timer it cannot tell, too little judged, a
    construct not judged); the sample size is added only when it is below plan."""
    if check.outcome is Outcome.INCONCLUSIVE:
        message = f"INCONCLUSIVE, not passed: {check.summary}"
        s = check.stat
        if s is not None and s.n < s.n_planned:
            group = sample_group(s)
            message += f" ({test_text(s)}: n={s.n} of {s.n_planned} planned" + (
                f", {group})" if group else ")"
            )
        return message
    label = "not judged" if check.outcome is Outcome.NOT_JUDGED else "not applicable"
    return check.summary if check.summary.startswith(label) else f"{label}: {check.summary}"


def junit_tree(verdict: Verdict, *, suite_name: str | None = None) -> ET.ElementTree[ET.Element]:
    """The JUnit document of ``verdict`` as an ElementTree."""
    scenario = verdict.scenario or "unnamed"
    classname = f"retry_harness.{scenario}"
    counts = outcome_counts(verdict)
    skipped = (
        counts[Outcome.INCONCLUSIVE] + counts[Outcome.NOT_APPLICABLE] + counts[Outcome.NOT_JUDGED]
    )
    totals = {
        "tests": str(len(verdict.checks)),
        "failures": str(counts[Outcome.FAIL]),
        "errors": "0",
        "skipped": str(skipped),
        "time": "0",
    }
    # <testsuites> takes no "skipped" attribute in the Jenkins schema; <testsuite> does.
    root_totals = {k: v for k, v in totals.items() if k != "skipped"}
    root = ET.Element("testsuites", {"name": _clean(suite_name or classname), **root_totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _clean(suite_name or classname),
            **totals,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": _clean(socket.gethostname() or "localhost"),
            "id": "0",
            "package": _clean(classname),
        },
    )
    properties = ET.SubElement(suite, "properties")
    facts = {
        "outcome": verdict.outcome.value,
        "verdict_version": str(verdict.version),
        "scenario": scenario,
        "alpha": fmt_number(verdict.alpha, 6),
        "epsilon_s": fmt_number(verdict.epsilon_s, 6),
        "traces": str(verdict.traces),
        "attempts": str(verdict.attempts),
        "client_records": str(verdict.client_records),
        "dropped_attempts": str(verdict.dropped_attempts),
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    for check in verdict.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": _clean(classname), "name": _clean(check.name), "time": "0"},
        )
        if check.outcome is Outcome.FAIL:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": _clean(check.summary), "type": f"{check.kind.value}_check_failed"},
            )
            failure.text = _clean(evidence_text(check))
        elif check.outcome in (Outcome.INCONCLUSIVE, Outcome.NOT_APPLICABLE, Outcome.NOT_JUDGED):
            skip = ET.SubElement(case, "skipped", {"message": _clean(_skip_message(check))})
            skip.text = _clean(evidence_text(check))
        else:
            out = ET.SubElement(case, "system-out")
            body = [check.title, check.summary]
            if check.stat is not None:
                body.append(stat_line(check.stat))
            out.text = _clean("\n".join(body + check.evidence))
    ET.SubElement(suite, "system-out").text = _clean("\n".join(verdict.notes))
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(verdict: Verdict, path: Path | str, *, suite_name: str | None = None) -> Path:
    """Write the JUnit XML of ``verdict`` to ``path`` (parent folders created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(verdict, suite_name=suite_name).write(target, encoding="utf-8", xml_declaration=True)
    return target

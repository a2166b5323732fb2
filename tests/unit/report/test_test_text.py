"""The statistic's test and group ("exact binomial on GET") read the same in every renderer:
one ``formatting.test_text``, used by the text line, HTML, JUnit and the pytest plugin."""

from __future__ import annotations

import html

from harness.oracle.verdict import CheckKind, CheckResult, Outcome, Statistic
from harness.pytest_plugin import _explain
from harness.report import formatting
from harness.report.html import render_html
from harness.report.junit import junit_tree
from tests.unit.report.sample_verdicts import verdict

STAT = Statistic(
    test="exact binomial (two-sided)",
    p_value=0.03,
    n=40,
    n_planned=120,
    alpha=0.001,
    label="GET",
    n_label="POST",
)
CHECK = CheckResult(
    name="success_rate",
    title="Success rate",
    kind=CheckKind.STATISTICAL,
    outcome=Outcome.INCONCLUSIVE,
    summary="POST has 40 requests, 120 planned",
    stat=STAT,
)


def test_the_test_names_its_group() -> None:
    assert formatting.test_text(STAT) == "exact binomial (two-sided) on GET"
    assert (
        formatting.test_text(STAT.model_copy(update={"label": None}))
        == "exact binomial (two-sided)"
    )


def test_every_renderer_shows_the_same_test_text() -> None:
    text = formatting.test_text(STAT)
    v = verdict().model_copy(update={"checks": [CHECK]})
    assert formatting.stat_line(STAT).startswith(text + " · ")
    assert f"<td>{html.escape(text)}</td>" in render_html(v)
    [case] = junit_tree(v).getroot().iter("testcase")
    skipped = case.find("skipped")
    assert skipped is not None and text in (skipped.get("message") or "")
    assert f"    {text}: p=" in _explain([CHECK])

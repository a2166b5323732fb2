"""The console table: every check and outcome shown, details for failures, plain in CI logs."""

from __future__ import annotations

import io

from rich.console import Console

from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.report.console import BRIEF_EVIDENCE_LINES, render_console
from tests.unit.report.sample_verdicts import HOSTILE_ID, verdict


def _recording_console() -> Console:
    return Console(record=True, width=120, file=io.StringIO())


def _render(*, verbose: bool = False, failing: bool = True) -> str:
    console = _recording_console()
    render_console(verdict(failing=failing), console, verbose=verbose)
    return console.export_text()


def test_every_check_and_outcome_is_shown() -> None:
    text = _render()
    for check in verdict().checks:
        assert check.name in text
    for label in ("pass", "FAIL", "inconclusive", "n/a"):
        assert label in text
    assert "Verdict: FAIL" in text


def test_headline_names_the_run() -> None:
    text = _render()
    for part in ("1000 traces", "1417 attempts", "1000 client records", "2 dropped", "α=0.001"):
        assert part in text
    assert "ε=4 ms" in text
    assert "exit code 1" in text


def test_statistical_rows_show_test_p_n_and_alpha() -> None:
    text = _render()
    assert "G-test" in text
    assert "p=1.2e-07" in text
    assert "n=27/60" in text
    assert "α=0.00025" in text


def test_failed_invariant_lists_request_ids_and_first_evidence() -> None:
    text = _render()
    assert "counter-examples:" in text
    assert HOSTILE_ID in text  # printed verbatim, not eaten as markup
    assert "r-0107" in text
    assert "r-0311: retry 2" not in text  # the fourth evidence line is held back
    assert "1 more evidence line" in text
    assert BRIEF_EVIDENCE_LINES == 3


def test_verbose_shows_all_evidence_of_every_check() -> None:
    text = _render(verbose=True)
    assert "r-0311: retry 2" in text
    assert "retry 2: KS D=0.088" in text  # evidence of a check that did not fail
    assert "more evidence" not in text


def test_passing_run_prints_no_details() -> None:
    text = _render(failing=False)
    assert "counter-examples" not in text
    assert "Verdict: INCONCLUSIVE" in text


def test_notes_are_printed() -> None:
    assert "urllib3 does not wait before its first retry" in _render()


def test_markup_in_user_strings_is_not_interpreted() -> None:
    check = CheckResult(
        name="client_agreement",
        title="Client agreement",
        kind=CheckKind.INVARIANT,
        outcome=Outcome.FAIL,
        summary="[bold red]looks like markup[/]",
        request_ids=["[link=file:///etc]id[/link]"],
        evidence=["[/] stray close tag"],
    )
    v = verdict().model_copy(update={"checks": [check]})
    console = _recording_console()
    render_console(v, console)
    text = console.export_text()
    assert "[bold red]looks like markup[/]" in text
    assert "[link=file:///etc]id[/link]" in text
    assert "[/] stray close tag" in text


def test_plain_non_terminal_console_has_no_escape_codes() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=120)  # not a TTY: rich turns colour off by itself
    render_console(verdict(), console)
    out = buf.getvalue()
    assert "\x1b[" not in out
    assert "backoff_window" in out


def test_ascii_only_console_gets_ascii_boxes() -> None:
    ascii_console = Console(file=_AsciiFile(), width=120)
    render_console(verdict(), ascii_console)
    out = ascii_console.file.getvalue()  # type: ignore[attr-defined]
    borders = [line for line in out.splitlines() if line.startswith(("+", "|"))]
    assert len(borders) >= len(verdict().checks) + 3
    assert all(line.isascii() for line in borders if line.startswith("+"))
    assert not set(out) & set("━┃┏┓┗┛┡┩│└┘┌┐─╇┳┻")


def test_forced_colour_marks_outcomes() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=True, color_system="standard")
    render_console(verdict(), console)
    out = buf.getvalue()
    assert "\x1b[32mpass" in out  # green
    assert "\x1b[1;31mFAIL" in out  # bold red
    assert "\x1b[33minconclusive" in out  # yellow


class _AsciiFile(io.StringIO):
    """A stream that declares an ASCII encoding, like a CI log with LANG=C."""

    encoding = "ascii"

"""The terminal rendering of a verdict: a headline, one table row per check, then the details.

Every user-derived string goes in as :class:`rich.text.Text`, never as markup, so a request id
such as ``[bold]`` or ``<script>`` prints verbatim. Colours and box characters follow rich's own
detection: a non-terminal or ``NO_COLOR`` console gets plain text, an ASCII-only encoding gets
ASCII boxes.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from harness.oracle.verdict import CheckKind, CheckResult, Outcome, Verdict
from harness.report.formatting import OUTCOME_LABEL, headline, outcome_counts, stat_line

OUTCOME_STYLE: dict[Outcome, str] = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.INCONCLUSIVE: "yellow",
    Outcome.NOT_APPLICABLE: "dim",
    Outcome.NOT_JUDGED: "magenta",
}

#: Without ``verbose``, a failed check shows this many evidence lines and request ids.
BRIEF_EVIDENCE_LINES = 3
BRIEF_REQUEST_IDS = 5


def render_console(
    verdict: Verdict, console: Console | None = None, *, verbose: bool = False
) -> None:
    """Print ``verdict`` to ``console`` (a fresh stdout console by default).

    Failed checks are followed by their counter-example request ids and first evidence lines;
    ``verbose`` prints every evidence line and id, of every check that has any.
    """
    out = console if console is not None else Console()
    out.print(_headline(verdict))
    out.print(_checks_table(verdict))
    for check in verdict.checks:
        details = _details(check, verbose=verbose)
        if details is not None:
            out.print(details)
    if verdict.notes:
        out.print(Text("Notes", style="bold"))
        for note in verdict.notes:
            out.print(Text("  • ") + Text(note))


def _outcome_text(outcome: Outcome, *, upper: bool = False) -> Text:
    label = OUTCOME_LABEL[outcome]
    return Text(label.upper() if upper else label, style=OUTCOME_STYLE[outcome])


def _headline(verdict: Verdict) -> Text:
    line = Text("Verdict: ", style="bold")
    line.append_text(_outcome_text(verdict.outcome, upper=True))
    rest = headline(verdict).split(" — ", 1)[1]
    line.append(" — " + rest)
    counts = outcome_counts(verdict)
    tally = ", ".join(f"{n} {OUTCOME_LABEL[o]}" for o, n in counts.items() if n)
    line.append(f"\nChecks: {len(verdict.checks)} ({tally or 'none'})")
    line.append(f" · exit code {verdict.exit_code}", style="dim")
    return line


def _checks_table(verdict: Verdict) -> Table:
    table = Table(title=None, show_lines=False, expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    for check in verdict.checks:
        evidence = Text(check.summary)
        if check.stat is not None:
            evidence.append("\n" + stat_line(check.stat), style="dim")
        table.add_row(
            Text(check.name),
            Text(check.kind.value),
            _outcome_text(check.outcome),
            evidence,
        )
    return table


def _details(check: CheckResult, *, verbose: bool) -> Group | None:
    """The counter-examples of a failed check (or any check's evidence when verbose)."""
    if not (verbose or check.outcome is Outcome.FAIL):
        return None
    if not (check.evidence or check.request_ids):
        return None
    title = Text(f"{check.name}", style="bold")
    title.append(" — ")
    title.append_text(_outcome_text(check.outcome))
    title.append(f" — {check.title}")
    parts: list[Text] = [title]
    if check.request_ids and (verbose or check.kind is CheckKind.INVARIANT):
        ids = check.request_ids if verbose else check.request_ids[:BRIEF_REQUEST_IDS]
        more = len(check.request_ids) - len(ids)
        line = Text("  counter-examples: ", style="bold") + Text(", ".join(ids))
        if more:
            line.append(f" (+{more} more)", style="dim")
        parts.append(line)
    lines = check.evidence if verbose else check.evidence[:BRIEF_EVIDENCE_LINES]
    parts.extend(Text("  ") + Text(ev) for ev in lines)
    hidden = len(check.evidence) - len(lines)
    if hidden:
        noun = "line" if hidden == 1 else "lines"
        parts.append(Text(f"  … {hidden} more evidence {noun} (verbose shows all)", style="dim"))
    return Group(*parts)

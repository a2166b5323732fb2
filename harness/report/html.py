"""The HTML report of a verdict: one self-contained file a CI job can keep as an artifact.

Inline CSS, plots embedded as base64 PNG (``data:`` URIs), no script and no external asset, so
the file opens offline and from any artifact store. Every string that comes from the run
(request ids, evidence, notes, scenario names) is escaped. matplotlib is imported only here,
inside :func:`write_html`, so importing :mod:`harness.report` stays cheap.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from html import escape
from pathlib import Path

from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.policy.model import RetryPolicy
from harness.report.formatting import (
    OUTCOME_LABEL,
    fmt_number,
    fmt_seconds,
    outcome_counts,
    sample_group,
    stat_line,
    test_text,
)
from harness.report.plot_data import (
    ALERTS,
    ATTEMPT_DISTRIBUTION,
    BACKOFF_WINDOW,
    JITTER_DISTRIBUTION,
    SUCCESS_RATE,
    TELEMETRY,
    AlertsData,
    AttemptDistributionData,
    BackoffWindowData,
    BlockT,
    JitterData,
    Missing,
    SuccessRateData,
    TelemetryData,
    find_check,
    plot_data,
)

#: Past this many evidence lines or request ids per check, the HTML points to verdict.json.
MAX_LISTED = 1000

_CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --inconclusive:#9a6700; --na:#6e7781; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#1f2328;
       margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin-top: 32px; border-bottom: 1px solid
var(--line); padding-bottom: 4px; font-size: 19px; }
header { border-left: 8px solid var(--na); padding: 8px 16px; background: #f6f8fa; }
header.pass { border-color: var(--pass); } header.fail { border-color: var(--fail); }
header.inconclusive { border-color: var(--inconclusive); }
header.pass h1 { color: var(--pass); } header.fail h1 { color: var(--fail); }
header.inconclusive h1 { color: var(--inconclusive); }
.facts div.wide { grid-column: span 3; }
table.stat-table { width: auto; } table.stat-table th { padding-right: 24px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px;
         margin: 16px 0; }
.facts div { background: #f6f8fa; border: 1px solid var(--line); border-radius: 6px;
             padding: 6px 10px; }
.facts dt { font-size: 12px; color: #59636e; } .facts dd { margin: 0; font-size: 17px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-weight: 600; font-size: 12px; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.inconclusive { background: var(--inconclusive); }
.badge.not_applicable { background: var(--na); }
.badge.not_judged { background: #8250df; }
.stat { color: #59636e; font-size: 12px; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 16px 0; } figure img { max-width: 100%; height: auto;
         border: 1px solid var(--line); }
figcaption { color: #59636e; font-size: 13px; }
.omitted { color: #59636e; font-style: italic; }
details { margin: 8px 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
summary { cursor: pointer; font-weight: 600; }
ul.ids { columns: 3 220px; }
footer { margin-top: 40px; color: #59636e; font-size: 12px; }
"""


def write_html(verdict: Verdict, path: Path | str, *, policy: RetryPolicy | None = None) -> Path:
    """Write the HTML report of ``verdict`` to ``path`` (parent folders created); return it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(verdict, policy=policy), encoding="utf-8")
    return target


def render_html(verdict: Verdict, *, policy: RetryPolicy | None = None) -> str:
    """The whole HTML document of ``verdict`` as a string."""
    scenario = verdict.scenario or "unnamed scenario"
    label = OUTCOME_LABEL[verdict.outcome].upper()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(label)} · {escape(scenario)} · retry-harness</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(verdict),
        _policy_section(policy),
        _notes_section(verdict),
        _checks_section(verdict),
        _plots_section(verdict),
        _evidence_section(verdict),
        f"<footer>retry-harness verdict, format version {verdict.version}. The complete data "
        "is in verdict.json.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _badge(outcome: Outcome) -> str:
    return f'<span class="badge {outcome.value}">{escape(OUTCOME_LABEL[outcome])}</span>'


def _header(verdict: Verdict) -> str:
    counts = outcome_counts(verdict)
    tally = ", ".join(f"{n} {OUTCOME_LABEL[o]}" for o, n in counts.items() if n) or "none"
    facts = {
        "traces": str(verdict.traces),
        "attempts": str(verdict.attempts),
        "client records": str(verdict.client_records),
        "dropped attempts": str(verdict.dropped_attempts),
        "α (family-wise)": fmt_number(verdict.alpha),
        "ε (timing tolerance)": fmt_seconds(verdict.epsilon_s),
        "checks": f"{len(verdict.checks)} ({tally})",
        "exit code": str(verdict.exit_code),
    }
    wide = {"checks"}
    cells = "".join(
        f'<div class="{"wide" if k in wide else "fact"}"><dt>{escape(k)}</dt>'
        f"<dd>{escape(v)}</dd></div>"
        for k, v in facts.items()
    )
    scenario = escape(verdict.scenario or "unnamed scenario")
    return (
        f'<header class="{verdict.outcome.value}">'
        f"<h1>{escape(OUTCOME_LABEL[verdict.outcome].upper())}</h1>"
        f"<div>scenario <strong>{scenario}</strong></div></header>"
        f'<dl class="facts">{cells}</dl>'
    )


def _policy_summary(policy: RetryPolicy) -> str:
    b = policy.backoff
    cap = "none" if b.cap_s is None else fmt_seconds(b.cap_s)
    statuses = ", ".join(str(s) for s in sorted(policy.retry_on.statuses)) or "none"
    parts = [
        f"system {policy.system}",
        f"max_retries {policy.max_retries}",
        f"backoff base {fmt_seconds(b.base_s)} × {fmt_number(b.multiplier)}, cap {cap}, "
        f"jitter {b.jitter.value}",
        f"retry on statuses {statuses}",
    ]
    if policy.per_try_timeout_s is not None:
        parts.append(f"per-try timeout {fmt_seconds(policy.per_try_timeout_s)}")
    if policy.deadline_s is not None:
        parts.append(f"deadline {fmt_seconds(policy.deadline_s)}")
    return " · ".join(parts)


def _policy_section(policy: RetryPolicy | None) -> str:
    if policy is None:
        return ""
    as_json = json.dumps(policy.model_dump(mode="json"), indent=2, sort_keys=True)
    return (
        "<section><h2>Declared policy</h2>"
        f"<p>{escape(_policy_summary(policy))}</p>"
        "<details><summary>canonical policy (JSON)</summary>"
        f"<pre>{escape(as_json)}</pre></details></section>"
    )


def _notes_section(verdict: Verdict) -> str:
    if not verdict.notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in verdict.notes)
    return f"<section><h2>Notes</h2><ul>{items}</ul></section>"


def _checks_section(verdict: Verdict) -> str:
    rows = []
    for check in verdict.checks:
        stat = f'<div class="stat">{escape(stat_line(check.stat))}</div>' if check.stat else ""
        has_details = bool(check.evidence or check.request_ids or check.stat)
        name = escape(check.name)
        link = f'<a href="#check-{name}">{name}</a>' if has_details else name
        rows.append(
            f"<tr><td><code>{link}</code><br>{escape(check.title)}</td>"
            f"<td>{escape(check.kind.value)}</td><td>{_badge(check.outcome)}</td>"
            f"<td>{escape(check.summary)}{stat}</td></tr>"
        )
    return (
        "<section><h2>Checks</h2><table><thead><tr><th>check</th><th>kind</th><th>result</th>"
        f"<th>evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _figure(png: bytes, alt: str, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _omitted(title: str, missing: Missing) -> str:
    return f'<p class="omitted">{escape(title)}: plot omitted — {escape(missing.reason)}.</p>'


def _plots_section(verdict: Verdict) -> str:
    from harness.report import plots  # matplotlib: imported only when a report is drawn

    def backoff(data: BackoffWindowData) -> bytes:
        return plots.backoff_window_png(data, verdict.epsilon_s)

    entries: list[str] = []
    _add_plot(
        entries,
        verdict,
        BACKOFF_WINDOW,
        BackoffWindowData,
        backoff,
        "Delay per retry index against the policy's window",
        "Dots are delays (red: outside the window widened by ε), boxes their quartiles, the "
        "band the window [lo, hi], the dashed line the nominal delay.",
    )
    _add_plot(
        entries,
        verdict,
        ATTEMPT_DISTRIBUTION,
        AttemptDistributionData,
        plots.attempt_distribution_png,
        "Attempts per trace",
        "Bars: traces seen per number of attempts; diamonds: the model's expected count.",
    )
    _add_plot(
        entries,
        verdict,
        SUCCESS_RATE,
        SuccessRateData,
        plots.success_rate_png,
        "Success rate",
        "The observed client success rate with its interval; dashed: the model's rate.",
    )
    _add_plot(
        entries,
        verdict,
        JITTER_DISTRIBUTION,
        JitterData,
        plots.jitter_png,
        "Jitter distribution",
        "Histogram (density) of delays per retry index; line: the jitter model's density.",
    )
    if find_check(verdict, TELEMETRY) is not None:
        _add_plot(
            entries,
            verdict,
            TELEMETRY,
            TelemetryData,
            plots.telemetry_png,
            "The SUT's own counters against the journal",
            "Solid: each counter's increase since the run's start, per Prometheus scrape; "
            "dashed: the journal's running count of what the counter says it counts.",
        )
    if find_check(verdict, ALERTS) is not None:
        _add_plot(
            entries,
            verdict,
            ALERTS,
            AlertsData,
            plots.alerts_png,
            "Alert timeline",
            "Shaded: when each alert of the user's rules was firing in the run's Prometheus; "
            "line: the journal's retries per request in each second.",
        )
    return f"<section><h2>Plots</h2>{''.join(entries)}</section>"


def _add_plot(
    entries: list[str],
    verdict: Verdict,
    name: str,
    model: type[BlockT],
    draw: Callable[[BlockT], bytes],
    title: str,
    caption: str,
) -> None:
    data = plot_data(verdict, name, model)
    if isinstance(data, Missing):
        entries.append(_omitted(title, data))
    else:
        entries.append(f"<h3>{escape(title)}</h3>" + _figure(draw(data), title, caption))


def _listed(items: list[str], css: str) -> str:
    shown = items[:MAX_LISTED]
    body = "".join(f"<li><code>{escape(i)}</code></li>" for i in shown)
    more = len(items) - len(shown)
    tail = f"<p>… {more} more in verdict.json</p>" if more else ""
    return f'<ul class="{css}">{body}</ul>{tail}'


def _check_details(check: CheckResult) -> str:
    parts = [f"<p>{escape(check.summary)}</p>"]
    if check.stat is not None:
        s = check.stat
        rows = {
            "test": test_text(s),
            "statistic": fmt_number(s.statistic),
            "p-value": fmt_number(s.p_value),
            "n / planned": f"{s.n} / {s.n_planned}"
            + (f" ({group})" if (group := sample_group(s)) else ""),
            "α (after Holm)": fmt_number(s.alpha),
            "effect": s.effect or "-",
        }
        cells = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows.items()
        )
        parts.append(f'<table class="stat-table">{cells}</table>')
    if check.request_ids:
        parts.append(f"<h4>Counter-examples ({len(check.request_ids)} request ids)</h4>")
        parts.append(_listed(check.request_ids, "ids"))
    if check.evidence:
        parts.append("<h4>Evidence</h4>")
        parts.append(_listed(check.evidence, "evidence"))
    opened = " open" if check.outcome is Outcome.FAIL else ""
    name = escape(check.name)
    return (
        f'<details id="check-{name}"{opened}><summary>{_badge(check.outcome)} '
        f"<code>{name}</code> — {escape(check.title)}</summary>{''.join(parts)}</details>"
    )


def _evidence_section(verdict: Verdict) -> str:
    details = [_check_details(c) for c in verdict.checks if c.evidence or c.request_ids or c.stat]
    if not details:
        return ""
    return f"<section><h2>Evidence</h2>{''.join(details)}</section>"

"""Renderers of a :class:`~harness.oracle.verdict.Verdict`: console table, JSON, JUnit XML, HTML.

:func:`write_reports` writes the chosen forms into one folder (``verdict.json``, ``junit.xml``,
``report.html``) and prints the console table. Importing this package does not import
matplotlib; only writing the HTML report does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.console import Console

from harness.errors import BadInput
from harness.oracle.verdict import Verdict
from harness.policy.model import RetryPolicy
from harness.report.console import render_console
from harness.report.html import write_html
from harness.report.json_report import read_json, write_json
from harness.report.junit import write_junit

FORMATS = ("console", "json", "junit", "html")
FILE_NAMES = {"json": "verdict.json", "junit": "junit.xml", "html": "report.html"}

__all__ = [
    "FILE_NAMES",
    "FORMATS",
    "read_json",
    "render_console",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]


def write_reports(
    verdict: Verdict,
    folder: Path | str,
    *,
    formats: Iterable[str] = FORMATS,
    policy: RetryPolicy | None = None,
    console: Console | None = None,
    verbose: bool = False,
) -> dict[str, Path]:
    """Write ``verdict`` in each of ``formats`` into ``folder`` (created if needed).

    Returns the path written per file format (``json``, ``junit``, ``html``); ``console`` prints
    the table to ``console`` (stdout by default) and has no path. An unknown format raises
    :class:`BadInput` before anything is written.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise BadInput(
            f"unknown report format {', '.join(map(repr, unknown))}; allowed: {', '.join(FORMATS)}",
            field="formats",
        )
    out = Path(folder)
    written: dict[str, Path] = {}
    if any(f in FILE_NAMES for f in chosen):
        out.mkdir(parents=True, exist_ok=True)
    if "json" in chosen:
        written["json"] = write_json(verdict, out / FILE_NAMES["json"])
    if "junit" in chosen:
        written["junit"] = write_junit(verdict, out / FILE_NAMES["junit"])
    if "html" in chosen:
        written["html"] = write_html(verdict, out / FILE_NAMES["html"], policy=policy)
    if "console" in chosen:
        render_console(verdict, console, verbose=verbose)
    return written

"""The user's alert rules: read (a Prometheus rules file or a ``PrometheusRule`` manifest),
checked with ``promtool check rules`` and turned into the plain rules file Prometheus loads.

Formats: Prometheus's rule file (``groups: [{name, rules: [{alert, expr, for, ...}]}]``,
https://prometheus.io/docs/prometheus/2.42/configuration/alerting_rules/) and the Prometheus
Operator's ``PrometheusRule`` (``kind: PrometheusRule``, the same groups under ``spec``,
https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRule).

Errors: every problem is :class:`~harness.errors.BadInput` naming the rules file, raised while
the scenario is checked, before anything starts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput, RunFailed
from harness.input_errors import parse_yaml_documents
from harness.processes.tools import run_tool

PROMTOOL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AlertRules:
    """The user's rules, ready to load: the plain rules file and the alert names it defines."""

    source: Path
    plain_text: str  # the rules file Prometheus loads (groups only)
    alerts: tuple[str, ...]

    def write(self, folder: Path) -> Path:
        """Write the plain rules file into ``folder``; its path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "alert-rules.yaml"
        path.write_text(self.plain_text, encoding="utf-8")
        return path


def _groups(document: Any, source: Path) -> list[Any]:
    if not isinstance(document, dict):
        raise BadInput(
            "must be a Prometheus rules file (groups: ...) or a PrometheusRule", file=source
        )
    if document.get("kind") == "PrometheusRule":
        spec = document.get("spec")
        groups = spec.get("groups") if isinstance(spec, dict) else None
        field = "spec.groups"
    else:
        groups = document.get("groups")
        field = "groups"
    if not isinstance(groups, list) or not groups:
        raise BadInput("must be a non-empty list of rule groups", file=source, field=field)
    return groups


def _alert_names(groups: list[Any]) -> tuple[str, ...]:
    names: list[str] = []
    for group in groups:
        rules = group.get("rules", []) if isinstance(group, dict) else []
        for rule in rules if isinstance(rules, list) else []:
            if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                names.append(rule["alert"])
    return tuple(dict.fromkeys(names))


def read_rules(source: Path) -> tuple[list[Any], str, bool]:
    """The rule groups of ``source``, the plain rules file Prometheus loads, and whether it was a
    PrometheusRule manifest; BadInput (file named) when it is not readable YAML of either form.
    Not checked by promtool: :func:`load_rules` is."""
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read the alert rules: {exc}", file=source) from exc
    docs = parse_yaml_documents(text, file=source)  # malformed YAML: BadInput with its line
    if len(docs) > 1:
        raise BadInput(
            f"expected one YAML document, found {len(docs)}", file=source, line=docs[1][1].line()
        )
    document = docs[0][0] if docs else None
    groups = _groups(document, source)
    plain_text = yaml.safe_dump({"groups": groups}, sort_keys=False)
    manifest = isinstance(document, dict) and document.get("kind") == "PrometheusRule"
    return groups, plain_text, manifest


def load_rules(source: Path, promtool: str) -> AlertRules:
    """Read, convert and check ``source`` (in a temporary file: nothing is left behind).

    Raises BadInput (file named, promtool's own message quoted) when the file cannot be read,
    is not a rules file, defines no alert, or promtool refuses it.
    """
    groups, plain_text, manifest = read_rules(source)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", encoding="utf-8") as plain:
        plain.write(plain_text)
        plain.flush()
        try:
            # a plain rules file is checked as the user wrote it, so promtool's line numbers
            # are the user's; a manifest's groups are checked as extracted
            checked = run_tool(
                [promtool, "check", "rules", plain.name if manifest else str(source)],
                timeout_s=PROMTOOL_TIMEOUT_S,
                what="promtool check rules",
            )
        except RunFailed as exc:  # named on the rules file, as before anything starts
            raise BadInput(str(exc), file=source) from None
    if checked.returncode != 0:
        said = " ".join((checked.stderr or checked.stdout).split())
        said = said.replace(plain.name, f"{source.name} (spec.groups)")
        raise BadInput(f"promtool check rules refused it: {said}", file=source)
    alerts = _alert_names(groups)
    if not alerts:
        raise BadInput("defines no alerting rule (rules with `alert:`)", file=source)
    return AlertRules(source=source, plain_text=plain_text, alerts=alerts)

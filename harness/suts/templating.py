"""Filling the placeholders of SUT config files and command templates (rules in ``spec.py``).

Config files use double braces only. A line that contains a per-replica placeholder
(``{{upstream_hostport}}``, ``{{upstream_host}}``, ``{{upstream_port}}``, ``{{upstream_index}}``)
is repeated once per backend replica, in order, with ``{{upstream_index}}`` counting from 0.
Any other ``{{identifier}}`` is an error naming the file, the line and the allowed names;
double braces around something that is not an identifier (``{{ .Host }}``) are left alone.

Command templates are split like a shell would (``shlex``) and each argv element is filled;
there the global names may also be written in single braces (``{listen}``), and one more name
exists: ``{python}``, the harness's own interpreter (``sys.executable``), so a Python SUT runs
with the harness's packages whether or not its venv is on PATH. Any other ``{identifier}``
(``{bogus}``, the typo ``{pyhton}``) is refused like an unknown double-brace name, before
anything starts; braces around anything else are left alone (``{}``, ``{print $1}``,
``{"a": 1}``, ``{ print }``), and so is a shell's ``${name}``.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import BadInput

GLOBAL_NAMES: tuple[str, ...] = ("listen", "listen_host", "listen_port", "upstreams", "upstream")
PER_REPLICA_NAMES: tuple[str, ...] = (
    "upstream_hostport",
    "upstream_host",
    "upstream_port",
    "upstream_index",
)
ALLOWED_NAMES: tuple[str, ...] = GLOBAL_NAMES + PER_REPLICA_NAMES
# Names only a command template has: the harness's own interpreter.
COMMAND_ONLY_NAMES: tuple[str, ...] = ("python",)
COMMAND_NAMES: tuple[str, ...] = GLOBAL_NAMES + COMMAND_ONLY_NAMES

# The one grammar of a config-file placeholder (adapters read configs with it too).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DOUBLE = PLACEHOLDER
_SINGLE = re.compile(r"\{(" + "|".join(COMMAND_NAMES) + r")\}")
# Any single-brace identifier not inside double braces and not a shell's ``${name}``.
_SINGLE_ANY = re.compile(r"(?<![{$])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def placeholder_names(text: str, *, single: bool = False) -> set[str]:
    """The placeholder names used in ``text``: ``{{name}}`` forms, and with ``single`` (command
    templates) the single-brace forms of the command names (global names and ``python``) too."""
    names = set(_DOUBLE.findall(text))
    if single:
        names |= set(_SINGLE.findall(text))
    return names


def is_per_replica(text: str) -> bool:
    """Whether ``text`` (a config line or word) holds a per-replica placeholder, so it stands for
    one copy per backend replica."""
    return not placeholder_names(text).isdisjoint(PER_REPLICA_NAMES)


def names_upstreams(text: str) -> bool:
    """Whether ``text`` holds any placeholder naming the upstreams (global or per replica)."""
    return any(name.startswith("upstream") for name in placeholder_names(text))


@dataclass(frozen=True)
class RenderedLine:
    """One line of a rendered file and the 1-based line of the template it came from."""

    text: str
    source_line: int | None


def hostport(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split_upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream must be a base URL like http://127.0.0.1:8080 (got {url!r})")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def global_values(listen: tuple[str, int], upstreams: Sequence[str]) -> dict[str, str]:
    """Values of the global placeholders."""
    if not upstreams:
        raise ValueError("at least one upstream is needed to fill the placeholders")
    host, port = listen
    return {
        "listen": hostport(host, port),
        "listen_host": host,
        "listen_port": str(port),
        "upstreams": ",".join(upstreams),
        "upstream": upstreams[0],
    }


def replica_values(upstreams: Sequence[str]) -> list[dict[str, str]]:
    """Values of the per-replica placeholders, one mapping per upstream, in order."""
    rows = []
    for index, url in enumerate(upstreams):
        host, port = _split_upstream(url)
        rows.append(
            {
                "upstream_hostport": hostport(host, port),
                "upstream_host": host,
                "upstream_port": str(port),
                "upstream_index": str(index),
            }
        )
    return rows


def command_only_values() -> dict[str, str]:
    """Values of the names only a command template has (``python``: the harness's own
    interpreter, ``sys.executable``); known before any port or upstream is."""
    return {"python": sys.executable}


def command_values(listen: tuple[str, int], upstreams: Sequence[str]) -> dict[str, str]:
    """Values of a command template's placeholders: the global ones and ``python``."""
    return {**global_values(listen, upstreams), **command_only_values()}


def _fill_command_word(word: str, values: Mapping[str, str]) -> str:
    """``word`` with its double- and single-brace command placeholders filled from ``values``;
    a name ``values`` lacks stays as written."""
    word = _DOUBLE.sub(lambda m: values.get(m.group(1), m.group(0)), word)
    return _SINGLE.sub(lambda m: values.get(m.group(1), m.group(0)), word)


def fill_command_only(word: str) -> str:
    """``word`` (one argv element of a command template) with the command-only names filled
    (``{python}``, ``{{python}}``), other placeholders left as written: what can be known of a
    command's program before the run chooses ports and upstreams."""
    return _fill_command_word(word, command_only_values())


def _allowed_text() -> str:
    return ", ".join("{{" + name + "}}" for name in ALLOWED_NAMES)


def _fill(text: str, values: Mapping[str, str]) -> str:
    return _DOUBLE.sub(lambda m: values[m.group(1)], text)


def render_lines(
    text: str,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    source: str | Path | None = None,
) -> list[RenderedLine]:
    """Render ``text`` line by line, keeping for each output line its template line number.

    Raises ``BadInput`` (with ``file=source`` and the line) for an unknown placeholder.
    """
    globals_ = global_values(listen, upstreams)
    replicas = replica_values(upstreams)
    out: list[RenderedLine] = []
    # Lines end at \n only (as editors and the SUTs count them), each keeping its ending.
    for number, line in enumerate(re.findall(r"[^\n]*\n|[^\n]+$", text), start=1):
        names = {m.group(1) for m in _DOUBLE.finditer(line)}
        unknown = sorted(names.difference(ALLOWED_NAMES))
        if unknown:
            raise BadInput(
                f"unknown placeholder {{{{{unknown[0]}}}}}; allowed: {_allowed_text()}",
                file=source,
                line=number,
            )
        if names.intersection(PER_REPLICA_NAMES):
            for row in replicas:
                out.append(RenderedLine(_fill(line, {**globals_, **row}), number))
        else:
            out.append(RenderedLine(_fill(line, globals_), number))
    return out


def join_lines(lines: Sequence[RenderedLine]) -> str:
    """The text of rendered lines (they keep their own line endings)."""
    return "".join(line.text for line in lines)


def render_template(
    text: str,
    *,
    listen: tuple[str, int],
    upstreams: list[str],
    source: str | Path | None = None,
) -> str:
    """Fill the placeholders of a SUT config file (see the module docstring for the rules)."""
    return join_lines(render_lines(text, listen=listen, upstreams=upstreams, source=source))


def command_argv(
    template: str,
    *,
    source: str | Path | None = None,
    line: int | None = None,
    field: str = "sut.command",
) -> list[str]:
    """A command template split into argv, its placeholders not yet filled.

    Raises ``BadInput`` (naming ``source``, ``line`` and ``field``) when it cannot be split like
    a shell would, is empty, or has a name in single or double braces that a command does not
    take (a per-replica name, or an unknown one: ``{bogus}``, ``{{bogus}}``). The scenario
    loader calls it, so these are refused before anything starts.
    """

    def bad(reason: str) -> BadInput:
        return BadInput(reason, file=source, line=line, field=field)

    try:
        argv = shlex.split(template)
    except ValueError as exc:
        raise bad(f"cannot split the command like a shell: {exc}") from None
    if not argv:
        raise bad("the command is empty")
    for arg in argv:
        found = [(m.group(1), "{{" + m.group(1) + "}}") for m in _DOUBLE.finditer(arg)]
        found += [(m.group(1), "{" + m.group(1) + "}") for m in _SINGLE_ANY.finditer(arg)]
        for name, written in found:
            if name in PER_REPLICA_NAMES:
                raise bad(
                    f"{written} only works in config files (the line is repeated per "
                    "replica); in a command use {upstreams} or {upstream}"
                )
            if name not in COMMAND_NAMES:
                allowed = ", ".join("{" + n + "}" for n in COMMAND_NAMES)
                raise bad(
                    f"unknown placeholder {written}; allowed: {allowed} (single or double "
                    "braces); a literal brace word is written with spaces inside, '{ "
                    + name
                    + " }'"
                )
    return argv


def render_command(
    template: str,
    *,
    listen: tuple[str, int],
    upstreams: list[str],
    source: str | Path | None = None,
    field: str = "sut.command",
) -> list[str]:
    """Split a command template into argv (:func:`command_argv`) and fill single- and
    double-brace placeholders."""
    values = command_values(listen, upstreams)
    return [
        _fill_command_word(arg, values)
        for arg in command_argv(template, source=source, field=field)
    ]

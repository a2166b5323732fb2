"""The Caddyfile line a value of ``caddy adapt``'s JSON was written on, when that is certain.

``caddy adapt`` drops line numbers, so a refusal of a value in the adapted JSON (``lb_retries
-1``) would name only the directive. :func:`line_of` searches the Caddyfile and every file it
imports (``import`` of files and globs, relative to the importing file; snippets are in the
files read) for the lines whose first word is the subdirective, and answers only when exactly
one of them is written with the refused value and every other one is written with a literal
value that differs: a value from a placeholder (``{$ENV}``, ``{args[0]}``, ``{{...}}``) could be
the refused one, and an import it cannot follow could hold another copy, so then it answers
None (never a wrong line).

Sources: https://caddyserver.com/docs/caddyfile/concepts (tokens, quotes, comments, snippets),
https://caddyserver.com/docs/caddyfile/directives/import.
"""

from __future__ import annotations

import glob
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.durations import DurationError, caddy_seconds

MAX_FILES = 200
"""Files read at most (a glob import of a large folder gives up rather than read it all)."""


@dataclass(frozen=True)
class Written:
    """Where a value was written: file, 1-based line and the value's token as written."""

    file: Path
    line: int
    token: str


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote: caddy adapt accepted the file, so a backtick
        return line.split("#", 1)[0].split()


def _read_all(path: Path) -> list[tuple[Path, int, list[str]]] | None:
    """Every line of ``path`` and of the files it imports, as words; None when an import names
    neither a file, a glob nor a snippet defined in the files read."""
    lines: list[tuple[Path, int, list[str]]] = []
    names: set[str] = set()  # imports that are not files: must be snippets
    snippets: set[str] = set()
    todo, seen = [path.resolve()], set()
    while todo:
        file = todo.pop(0)
        if file in seen:
            continue
        seen.add(file)
        if len(seen) > MAX_FILES:
            return None
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        for number, raw in enumerate(text.splitlines(), start=1):
            words = _words(raw)
            lines.append((file, number, words))
            if words and words[0].startswith("(") and words[0].endswith(")"):
                snippets.add(words[0][1:-1])
            if len(words) >= 2 and words[0] == "import":
                pattern = words[1]
                full = pattern if Path(pattern).is_absolute() else str(file.parent / pattern)
                matches = sorted(glob.glob(full))
                if matches:
                    todo.extend(Path(m).resolve() for m in matches if Path(m).is_file())
                elif not glob.has_magic(pattern):
                    names.add(pattern)
    return lines if names <= snippets else None


def _as_int(token: str) -> int | None:
    try:
        return int(token)
    except ValueError:
        return None


def _as_nanoseconds(token: str) -> int | None:
    """A Caddyfile duration token in nanoseconds, as caddy adapt writes it (``-1s`` too)."""
    sign = -1 if token.startswith("-") else 1
    try:
        return sign * round(caddy_seconds(token.lstrip("+-")) * 1e9)
    except DurationError:
        return None


PARSERS: dict[str, Callable[[str], int | None]] = {
    "lb_retries": _as_int,
    "lb_try_duration": _as_nanoseconds,
    "lb_try_interval": _as_nanoseconds,
    "response_header_timeout": _as_nanoseconds,
    "fail_duration": _as_nanoseconds,
    "unhealthy_request_count": _as_int,
    "health_interval": _as_nanoseconds,
}
"""The subdirectives a refusal or a not-judged construct can point at, with how their token
reads in the JSON."""


def line_of(caddyfile: Path, directive: str, value: object) -> Written | None:
    """The one line where ``directive`` is written with ``value`` (its adapted JSON value), or
    None when it is not certain (see the module doc)."""
    parse = PARSERS.get(directive)
    if parse is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    lines = _read_all(caddyfile)
    if lines is None:
        return None
    found: list[Written] = []
    for file, number, words in lines:
        if words[:1] != [directive]:
            continue
        if len(words) != 2:
            return None
        written = parse(words[1])
        if written is None:  # a placeholder: it may be the refused value
            return None
        if written == value:
            found.append(Written(file, number, words[1]))
    if len(found) != 1:
        return None
    here = caddyfile.parent.resolve()  # named as the user named the Caddyfile
    file = found[0].file
    shown = caddyfile.parent / file.relative_to(here) if file.is_relative_to(here) else file
    return Written(shown, found[0].line, found[0].token)

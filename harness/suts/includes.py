"""Running a config that includes other files: rendering the included files too and pointing the
rendered copy's ``include`` (nginx) / ``import`` (Caddy) directives at them.

The harness renders the user's main config into the run's workdir, so a relative path in it
would resolve against the workdir, not the user's folder. Every file reachable through an
include is therefore rendered (placeholders filled, as in the main file) into a mirror tree
``<out_dir>/<absolute path of the user's file>``, and each include argument in a rendered file is
rewritten to the absolute path of its mirror (globs keep their wildcards: the matching files
are all rendered into the mirrored folder, so the SUT expands the glob as it would have).

Where a relative path resolves, as the systems themselves do it:

- nginx: against the folder of the main config (the "conf prefix"), in every file, nested
  includes too (``ngx_conf_full_name`` with ``conf_prefix``, nginx ``src/core/ngx_cycle.c``,
  ``src/core/ngx_conf_file.c``; https://nginx.org/en/docs/ngx_core_module.html#include);
- Caddy: against the folder of the file the ``import`` appears in
  (https://caddyserver.com/docs/caddyfile/directives/import). An ``import`` naming a snippet
  (``(name) { ... }``) is left alone; an argument after the file pattern is kept.

Other relative paths in a config (certificates, roots) are not rewritten; nginx resolves those
against the ``-p`` prefix and Caddy against its working folder (the user's folder).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.suts.templating import RenderedLine

Dialect = Literal["nginx", "caddy"]

# nginx: `include <pattern>;` anywhere in a line (a line may hold several directives).
_NGINX_INCLUDE = re.compile(r"(?<![\w$])(include\s+)(['\"]?)([^;'\"\s]+)\2(\s*;)")
# Caddy: `import <pattern> [args]` as the first word of a line.
_CADDY_IMPORT = re.compile(r"^(\s*import\s+)(['\"]?)([^\s'\"]+)\2")
_CADDY_SNIPPET = re.compile(r"^\s*\(([^)\s]+)\)\s*\{", re.MULTILINE)


@dataclass(frozen=True)
class RenderedFile:
    """One rendered file: the user's file it came from, where it was written, and its lines."""

    source: Path
    rendered: Path
    lines: list[RenderedLine]


def mirror_of(source: Path, out_dir: Path) -> Path:
    """Where the rendered copy of the user's file ``source`` (absolute) is written."""
    return out_dir / source.resolve().relative_to(source.resolve().anchor)


def _code_part(line: str) -> tuple[str, str]:
    """``line`` split before an nginx/Caddy ``#`` comment outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, ""


def _resolve(pattern: str, base: Path) -> Path:
    path = Path(pattern)
    return path if path.is_absolute() else base / path


def render_with_includes(
    source: Path,
    *,
    dialect: Dialect,
    out_dir: Path,
    render: Callable[[Path], list[RenderedLine]],
) -> tuple[list[RenderedLine], list[RenderedFile]]:
    """Render every file the config at ``source`` includes into the mirror tree under
    ``out_dir`` and rewrite the include directives to point there (see the module docstring).

    ``render`` renders one user file (placeholders filled; ``BadInput`` naming it otherwise).
    Returns the main file's lines (rewritten, not yet written) and the included files (written).
    An include naming a missing file is rewritten all the same, so that the SUT's own check
    reports it (its message is mapped back to the user's path by ``validate_with_tool``).
    """
    main_dir = source.resolve().parent
    done: dict[Path, RenderedFile] = {}
    snippets: set[str] = set()

    def rewrite(lines: list[RenderedLine], file: Path) -> list[RenderedLine]:
        snippets.update(_CADDY_SNIPPET.findall("".join(ln.text for ln in lines)))
        base = main_dir if dialect == "nginx" else file.parent
        out = []
        for line in lines:
            code, comment = _code_part(line.text)
            if dialect == "nginx":
                code = _NGINX_INCLUDE.sub(lambda m: visit(m, base), code)
            else:
                code = _CADDY_IMPORT.sub(lambda m: visit(m, base, caddy=True), code)
            out.append(RenderedLine(code + comment, line.source_line))
        return out

    def visit(match: re.Match[str], base: Path, *, caddy: bool = False) -> str:
        pattern = match.group(3)
        target = _resolve(pattern, base)
        matches = sorted(glob.glob(str(target)))
        if caddy and (pattern in snippets or (not matches and "/" not in pattern)):
            return match.group(0)  # a snippet name (or Caddy's own "not found" error)
        for found in matches:
            path = Path(found)
            if path.is_file() and path.resolve() not in done:
                include(path)
        mirrored = mirror_of(target.parent, out_dir) / target.name
        tail = match.group(4) if not caddy else ""
        return f"{match.group(1)}{match.group(2)}{mirrored}{match.group(2)}{tail}"

    def include(path: Path) -> None:
        key = path.resolve()
        target = mirror_of(key, out_dir)
        placeholder = RenderedFile(key, target, [])
        done[key] = placeholder  # guards against include loops (the SUT reports them)
        lines = rewrite(render(path), key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(ln.text for ln in lines), encoding="utf-8")
        done[key] = RenderedFile(key, target, lines)

    main_lines = rewrite(render(source), source.resolve())
    return main_lines, list(done.values())

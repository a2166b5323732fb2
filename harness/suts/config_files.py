"""Config files of SUTs the harness starts: finding them, rendering them into the workdir, and
turning the SUT's own validation output into a ``BadInput`` that points at the user's file.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import BadInput, RunFailed
from harness.processes.tools import run_tool
from harness.suts.includes import Dialect, RenderedFile, render_with_includes
from harness.suts.templating import RenderedLine, join_lines, render_lines

VALIDATE_TIMEOUT_S = 30.0

INSTALL_HINTS: dict[str, str] = {
    "haproxy": "apt-get install -y haproxy",
    "nginx": "apt-get install -y nginx-light",
    "caddy": "apt-get install -y caddy",
}


def install_hint(kind: str, binary: str) -> str:
    """What to tell a user whose SUT binary is missing."""
    command = INSTALL_HINTS.get(kind)
    if command is None:
        return f"{binary!r} is not on PATH; install it or give its full path"
    return f"{binary!r} is not on PATH; install it with `{command}` or set sut.binary"


def find_binary(kind: str, binary: str) -> str:
    """The full path of ``binary`` or ``BadInput`` naming it and the install command."""
    found = shutil.which(binary)
    if found is None:
        raise BadInput(install_hint(kind, binary), field="sut.binary")
    return found


def resolve_config(path: Path, base_dir: Path | None) -> Path:
    """``path`` relative to ``base_dir`` (the scenario file's folder); must be a readable file."""
    full = path if path.is_absolute() or base_dir is None else base_dir / path
    if not full.is_file():
        raise BadInput(f"config file not found: {full}", file=full, field="sut.config")
    return full


def read_config(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"cannot read the config file: {exc}", file=path, field="sut.config"
        ) from None


def render_config(
    source: Path, *, listen: tuple[str, int], upstreams: Sequence[str]
) -> list[RenderedLine]:
    """The rendered lines of the user's config file (``BadInput`` for unknown placeholders)."""
    return render_lines(read_config(source), listen=listen, upstreams=upstreams, source=source)


def render_config_tree(
    source: Path,
    *,
    dialect: Dialect,
    out_dir: Path,
    listen: tuple[str, int],
    upstreams: Sequence[str],
) -> tuple[list[RenderedLine], list[RenderedFile]]:
    """The main config's rendered lines; its includes rendered too (``harness.suts.includes``)."""
    return render_with_includes(
        source,
        dialect=dialect,
        out_dir=out_dir,
        render=lambda path: render_config(path, listen=listen, upstreams=upstreams),
    )


def write_rendered(lines: Sequence[RenderedLine], target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(join_lines(lines), encoding="utf-8")
    return target


def source_line_of(output: str, rendered: Path, lines: Sequence[RenderedLine]) -> int | None:
    """The user's line for the first ``<rendered path>:<line>`` the tool's output mentions."""
    match = re.search(re.escape(str(rendered)) + r":(\d+)", output)
    if match is None:
        return None
    index = int(match.group(1)) - 1
    if 0 <= index < len(lines):
        return lines[index].source_line
    return None


def _tidy(line: str) -> str:
    """A tool's log line without timestamps and pids (nginx, haproxy prefixes)."""
    line = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+", "", line.strip())
    line = re.sub(r"\s*\(\d+\)\s*:", ":", line)
    line = re.sub(r"\b\d+#\d+: ", "", line)
    return re.sub(r"\s+", " ", line)


def _point_at_source(
    message: str, source: Path, rendered: Path, lines: Sequence[RenderedLine]
) -> str:
    """Rewrite ``<rendered>:<n>`` into ``<user's file>:<user's line>`` in a tool message."""

    def repl(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        if 0 <= index < len(lines) and lines[index].source_line is not None:
            return f"{source.name}:{lines[index].source_line}"
        return f"{source.name} (rendered {rendered}):{match.group(1)}"

    message = re.sub(re.escape(str(rendered)) + r":(\d+)", repl, message)
    return message.replace(str(rendered), f"{source.name} (rendered)")


def _point_at_included(message: str, included: Sequence[RenderedFile], mirror_root: Path) -> str:
    """Rewrite ``<rendered copy of an included file>:<n>`` into ``<user's file>:<user's line>``,
    and any other path in the mirror tree into the user's path."""
    for file in included:

        def repl(match: re.Match[str], file: RenderedFile = file) -> str:
            index = int(match.group(1)) - 1
            if 0 <= index < len(file.lines) and file.lines[index].source_line is not None:
                return f"{file.source}:{file.lines[index].source_line}"
            return str(file.source)

        message = re.sub(re.escape(str(file.rendered)) + r":(\d+)", repl, message)
    return message.replace(f"{mirror_root}/", "/")


def validate_with_tool(
    argv: Sequence[str],
    *,
    tool: str,
    source: Path,
    rendered: Path,
    lines: Sequence[RenderedLine],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    keep: str = "",
    included: Sequence[RenderedFile] = (),
    mirror_root: Path | None = None,
) -> None:
    """Run the SUT's own config check; on failure raise ``BadInput`` with its message.

    ``keep`` is a regular expression selecting the output lines worth quoting (all if empty);
    ``included`` are the rendered included files, written in the mirror tree ``mirror_root``
    (their paths in the message are turned back into the user's).
    """
    try:
        done = run_tool(
            argv, timeout_s=VALIDATE_TIMEOUT_S, env=env, cwd=cwd, what=f"{tool} config check"
        )
    except RunFailed as exc:  # a config that makes the check hang is the config's fault
        raise BadInput(str(exc), file=source) from None
    if done.returncode == 0:
        return
    output = (done.stdout + "\n" + done.stderr).strip()
    line = source_line_of(output, rendered, lines)
    quoted = [_tidy(ln) for ln in output.splitlines() if ln.strip()]
    if keep:
        quoted = [ln for ln in quoted if re.search(keep, ln)] or quoted
    message = " | ".join(quoted[:3])
    if mirror_root is not None:
        message = _point_at_included(message, included, mirror_root)
    message = _point_at_source(message, source, rendered, lines)
    raise BadInput(
        f"{tool} rejects the config (exit {done.returncode}): {message}",
        file=source,
        line=line,
        field="sut.config",
    )

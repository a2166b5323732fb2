"""Driver for nginx: render the user's nginx.conf (and the files it includes, see
``harness.suts.includes``) into a prefix inside the workdir, point the paths
nginx writes (pid, temp files, access log) into that prefix unless the config sets them, check
with ``nginx -t``, then run ``nginx -p <prefix> -c <rendered> -g 'daemon off; ...'``.

Injected http-level directives are appended to the ``http {`` line itself, so line numbers in
nginx's messages still map to the user's file.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path

from harness.errors import BadInput, RunFailed
from harness.processes.tools import run_tool
from harness.suts.config_files import (
    find_binary,
    render_config_tree,
    resolve_config,
    validate_with_tool,
    write_rendered,
)
from harness.suts.process import LaunchPlan
from harness.suts.spec import NginxSut
from harness.suts.templating import RenderedLine, join_lines

# temp-path directive -> the module that must be compiled in for it to exist
TEMP_PATH_MODULES: dict[str, str | None] = {
    "client_body_temp_path": None,
    "proxy_temp_path": "http_proxy_module",
    "fastcgi_temp_path": "http_fastcgi_module",
    "uwsgi_temp_path": "http_uwsgi_module",
    "scgi_temp_path": "http_scgi_module",
}
_HTTP_OPEN = re.compile(r"^(\s*http\s*\{)(.*)$", re.DOTALL)


@functools.lru_cache(maxsize=8)
def compiled_without(binary: str) -> frozenset[str]:
    """Modules ``nginx -V`` says were configured out (``--without-<module>``)."""
    try:
        done = run_tool([binary, "-V"], timeout_s=10)
    except RunFailed:  # nothing known configured out; the config check will say what is wrong
        return frozenset()
    return frozenset(re.findall(r"--without-(\S+)", done.stdout + done.stderr))


def _has_directive(text: str, name: str) -> bool:
    return re.search(r"^\s*" + re.escape(name) + r"\s", text, re.MULTILINE) is not None


def http_directives(text: str, prefix: Path, without: frozenset[str]) -> list[str]:
    """The http-level directives to inject: those of the writable paths the config leaves unset."""
    added = []
    for directive, module in TEMP_PATH_MODULES.items():
        if module is not None and module in without:
            continue
        if not _has_directive(text, directive):
            added.append(f"{directive} {prefix / 'temp' / directive.removesuffix('_temp_path')};")
    if not _has_directive(text, "access_log"):
        added.append(f"access_log {prefix / 'logs' / 'access.log'};")
    return added


def with_http_directives(
    lines: Sequence[RenderedLine], directives: list[str]
) -> list[RenderedLine]:
    """Append ``directives`` to the first ``http {`` line (unchanged if there is none)."""
    out = list(lines)
    for i, line in enumerate(out):
        match = _HTTP_OPEN.match(line.text)
        if match:
            text = match.group(1) + " " + " ".join(directives) + match.group(2)
            out[i] = RenderedLine(text, line.source_line)
            break
    return out


def main_directives(text: str, prefix: Path, *, source: Path) -> str:
    """The ``-g`` argument: foreground, pid file in the prefix, and (as root) workers as root so
    they can use the temp dirs inside a private workdir."""
    daemon = re.search(r"^\s*daemon\s+(\w+)", text, re.MULTILINE)
    if daemon is not None and daemon.group(1) != "off":
        raise BadInput(
            "the harness runs nginx in the foreground; remove 'daemon on;'",
            file=source,
            field="sut.config",
        )
    parts = [] if daemon is not None else ["daemon off;"]
    if not _has_directive(text, "pid"):
        parts.append(f"pid {prefix / 'nginx.pid'};")
    if os.geteuid() == 0 and not _has_directive(text, "user"):
        parts.append("user root;")
    return " ".join(parts)


def prepare(
    spec: NginxSut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Render, adjust and validate nginx.conf; the plan runs nginx in the foreground."""
    binary = find_binary("nginx", spec.binary)
    source = resolve_config(spec.config, base_dir)
    prefix = workdir / "nginx"
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    mirror = prefix / "included"
    lines, included = render_config_tree(
        source, dialect="nginx", out_dir=mirror, listen=listen, upstreams=upstreams
    )
    text = join_lines([*lines, *(ln for file in included for ln in file.lines)])
    lines = with_http_directives(lines, http_directives(text, prefix, compiled_without(binary)))
    rendered = write_rendered(lines, prefix / "nginx.conf")
    common = [binary, "-p", f"{prefix}/", "-c", str(rendered), "-e", "stderr"]
    globals_ = main_directives(text, prefix, source=source)
    extra = ["-g", globals_] if globals_ else []
    validate_with_tool(
        [*common, "-t", "-q", *extra],
        tool="nginx",
        source=source,
        rendered=rendered,
        lines=lines,
        cwd=prefix,
        keep=r"\[(emerg|alert|crit|error)\]",
        included=included,
        mirror_root=mirror,
    )
    return LaunchPlan(argv=[*common, *extra], cwd=prefix, config_path=rendered)

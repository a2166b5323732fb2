"""Driver for Caddy: render the user's Caddyfile (and the files it imports, see
``harness.suts.includes``), switch off the admin endpoint (it would bind the
fixed port 2019) unless the file sets ``admin`` itself, keep every file Caddy writes inside the
workdir (HOME and XDG dirs), check with ``caddy validate``, then ``caddy run``."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from harness.suts.config_files import (
    find_binary,
    render_config_tree,
    resolve_config,
    validate_with_tool,
    write_rendered,
)
from harness.suts.process import LaunchPlan
from harness.suts.spec import CaddySut
from harness.suts.templating import RenderedLine

# Added to the global options block unless the Caddyfile sets them: no admin listener on
# localhost:2019, and never try to install Caddy's local CA into the system trust store.
INJECTED_OPTIONS: tuple[str, ...] = ("admin off", "skip_install_trust")


def _significant(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def with_global_options(lines: Sequence[RenderedLine]) -> list[RenderedLine]:
    """The Caddyfile lines with INJECTED_OPTIONS added to (or as) the global options block."""
    out = list(lines)
    first = next((i for i, ln in enumerate(out) if _significant(ln.text)), None)
    if first is None or out[first].text.strip() != "{":
        block = ["{\n", *(f"\t{opt}\n" for opt in INJECTED_OPTIONS), "}\n"]
        return [RenderedLine(text, None) for text in block] + out
    depth, end = 0, len(out)
    for i in range(first, len(out)):
        depth += out[i].text.count("{") - out[i].text.count("}")
        if depth <= 0:
            end = i
            break
    body = "".join(ln.text for ln in out[first + 1 : end])
    missing = [
        opt
        for opt in INJECTED_OPTIONS
        if not re.search(r"^\s*" + re.escape(opt.split()[0]) + r"\b", body, re.MULTILINE)
    ]
    return (
        out[: first + 1] + [RenderedLine(f"\t{opt}\n", None) for opt in missing] + out[first + 1 :]
    )


def caddy_env(home: Path) -> dict[str, str]:
    """The environment for Caddy with HOME and the XDG dirs inside ``home``."""
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


def prepare(
    spec: CaddySut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Render, adjust and validate the Caddyfile; the plan runs ``caddy run``."""
    binary = find_binary("caddy", spec.binary)
    source = resolve_config(spec.config, base_dir)
    home = workdir / "caddy"
    mirror = home / "included"
    lines, included = render_config_tree(
        source, dialect="caddy", out_dir=mirror, listen=listen, upstreams=upstreams
    )
    lines = with_global_options(lines)
    rendered = write_rendered(lines, home / "Caddyfile")
    env = caddy_env(home)
    validate_with_tool(
        [binary, "validate", "--config", str(rendered), "--adapter", "caddyfile"],
        tool="caddy",
        source=source,
        rendered=rendered,
        lines=lines,
        env=env,
        cwd=source.parent,
        keep=r"(?i)error",
        included=included,
        mirror_root=mirror,
    )
    return LaunchPlan(
        argv=[binary, "run", "--config", str(rendered), "--adapter", "caddyfile"],
        env=env,
        cwd=source.parent,
        config_path=rendered,
    )

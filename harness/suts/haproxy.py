"""Driver for HAProxy: render the user's haproxy.cfg, check it with ``haproxy -c``, run it in the
foreground (``-db``) as one process with the config's own settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.suts.config_files import (
    find_binary,
    render_config,
    resolve_config,
    validate_with_tool,
    write_rendered,
)
from harness.suts.process import LaunchPlan
from harness.suts.spec import HaproxySut


def prepare(
    spec: HaproxySut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Render and validate the config; the plan runs ``haproxy -db -f <rendered>``.

    The working directory is the user's config folder, so relative paths in the config (error
    files, maps) resolve as they would for the user.
    """
    binary = find_binary("haproxy", spec.binary)
    source = resolve_config(spec.config, base_dir)
    lines = render_config(source, listen=listen, upstreams=upstreams)
    rendered = write_rendered(lines, workdir / "haproxy" / "haproxy.cfg")
    validate_with_tool(
        [binary, "-c", "-f", str(rendered)],
        tool="haproxy",
        source=source,
        rendered=rendered,
        lines=lines,
        cwd=source.parent,
        keep=r"\[ALERT\]",
    )
    return LaunchPlan(
        argv=[binary, "-db", "-f", str(rendered)], cwd=source.parent, config_path=rendered
    )

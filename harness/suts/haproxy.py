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
from harness.suts.network import free_port
from harness.suts.process import LaunchPlan
from harness.suts.spec import HaproxySut
from harness.suts.templating import RenderedLine, hostport, join_lines
from harness.telemetry.readers.haproxy import server_replicas


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
    metrics = (listen[0], free_port())  # beside the data port (0.0.0.0 in a container)
    lines = render_config(source, listen=listen, upstreams=upstreams)
    lines = [*lines, *(RenderedLine(text + "\n", None) for text in exporter_frontend(metrics))]
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
        argv=[binary, "-db", "-f", str(rendered)],
        cwd=source.parent,
        config_path=rendered,
        metrics_hostport=hostport(*metrics),
        metrics_upstreams=server_replicas(join_lines(lines), upstreams),
    )


def exporter_frontend(listen: tuple[str, int]) -> list[str]:
    """A frontend of its own serving HAProxy's built-in Prometheus exporter on ``listen``.

    Appended to the rendered config (the user's frontends and backends are untouched) so the
    run's Prometheus can read HAProxy's own counters; Debian's HAProxy 2.6 is built with it
    (``USE_PROMEX``, https://github.com/haproxy/haproxy/blob/v2.6.0/addons/promex/README).
    """
    return [
        "",
        "# added by retry-harness: HAProxy's own counters for the telemetry check",
        "frontend retry_harness_telemetry",
        "    mode http",
        f"    bind {hostport(*listen)}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
    ]

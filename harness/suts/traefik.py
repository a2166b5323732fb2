"""Driver for Traefik v3 (built from its Go module by ``.ci/build-go-suts``) with the file provider.

The user's file is Traefik's *dynamic* configuration (routers, services, middlewares such as
``retry``) with the harness's placeholders; the traefik adapter reads the same file. The harness
writes the *static* configuration as command-line flags: the entry point ``sut.entrypoint`` on
``{{listen}}``, the file provider on the rendered file (no watch), Traefik's API on a free
loopback port (entry point ``traefik``), no version check and no usage report.

Readiness: Traefik answers 404 on its entry point before the file provider's configuration is
applied, so an HTTP answer is not enough. The driver then polls the API until the routers of
the file are listed; a router or middleware Traefik rejected (``status: disabled`` with
``error``) is reported as ``BadInput`` with Traefik's message. Traefik has no config-check mode;
these API errors are its verdict on the file. Traefik runs in ``<workdir>/traefik`` with HOME
there, so no static ``traefik.yml`` of the user's is picked up (see ``traefik_env``).

Sources: traefik/traefik v3.7.13 ``pkg/config/static/static_config.go`` (entry points, API,
providers), ``pkg/api/handler_http.go`` (``/api/http/routers``, ``status``, ``error``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.input_errors import parse_toml, parse_yaml_documents
from harness.suts.config_files import render_config, resolve_config, write_rendered
from harness.suts.go_built import require_go_program
from harness.suts.network import free_port
from harness.suts.process import LaunchPlan
from harness.suts.spec import TraefikSut
from harness.suts.templating import hostport, join_lines

API_ENTRYPOINT = "traefik"
API_TIMEOUT_S = 5.0  # Traefik's API can be slow on a loaded machine
_API_SECTIONS = ("routers", "middlewares")


def parse_dynamic(text: str, *, toml: bool, source: Path) -> dict[str, Any]:
    """The rendered dynamic configuration as a mapping; ``BadInput`` naming ``source`` if not."""
    try:
        if toml:
            data: Any = parse_toml(text, file=source)
        else:
            docs = parse_yaml_documents(text, file=source)
            data = docs[0][0] if len(docs) == 1 else None
    except BadInput as exc:  # the line is the rendered text's: placeholders may span lines
        raise BadInput(
            f"{exc.reason} (after filling placeholders)",
            file=source,
            line=exc.line,
            field="sut.config",
        ) from None
    if not isinstance(data, dict):
        raise BadInput(
            "must be a Traefik dynamic configuration (a mapping with an http section)",
            file=source,
            field="sut.config",
        )
    return data


def router_names(config: dict[str, Any], source: Path) -> list[str]:
    """The names under ``http.routers``; ``BadInput`` if there is none (nothing would listen)."""
    http = config.get("http")
    routers = http.get("routers") if isinstance(http, dict) else None
    if not isinstance(routers, dict) or not routers:
        raise BadInput(
            "no http.routers in the Traefik dynamic configuration: without a router the entry "
            "point answers 404 to everything",
            file=source,
            field="sut.config",
        )
    return [str(name) for name in routers]


def traefik_env(home: Path) -> dict[str, str]:
    """The environment with HOME and XDG_CONFIG_HOME inside ``home``.

    Traefik reads a *static* configuration file named traefik.{yml,yaml,toml} from the working
    directory, $XDG_CONFIG_HOME, $HOME/.config and /etc/traefik when it finds one, even with
    flags given; running in ``home`` keeps a user's (or the dynamic file's own) traefik.yml out.
    """
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"))
    return env


def static_flags(
    *, entrypoint: str, listen: tuple[str, int], api_port: int, dynamic: Path
) -> list[str]:
    """Traefik's static configuration as command-line flags (see the module docstring)."""
    return [
        f"--entryPoints.{entrypoint}.address={hostport(*listen)}",
        f"--entryPoints.{API_ENTRYPOINT}.address={hostport(listen[0], api_port)}",
        "--api.insecure=true",
        "--api.dashboard=false",
        f"--providers.file.filename={dynamic}",
        "--providers.file.watch=false",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
    ]


def _api_get(base: str, section: str) -> list[dict[str, Any]] | str:
    """The items Traefik's API lists under ``/api/http/<section>``, or why there are none."""
    try:
        with urllib.request.urlopen(f"{base}/api/http/{section}", timeout=API_TIMEOUT_S) as resp:
            data = json.loads(resp.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return f"GET {base}/api/http/{section}: {exc}"
    if not isinstance(data, list):
        return f"GET {base}/api/http/{section}: not a JSON list"
    return [item for item in data if isinstance(item, dict)]


class RoutersLoaded:
    """Readiness check: True once every router of the file is listed by Traefik's API.

    Raises ``BadInput`` when Traefik lists one of the file's routers or middlewares with an
    error (an unknown middleware or service, a bad rule, a retry middleware it refuses).
    """

    def __init__(self, api_base: str, routers: Sequence[str], source: Path) -> None:
        self.api_base = api_base
        self.expected = {f"{name}@file" for name in routers}
        self.source = source
        self.last_seen = "Traefik's API not asked yet"

    def __str__(self) -> str:
        return f"waiting for routers {sorted(self.expected)}; last seen: {self.last_seen}"

    def __call__(self) -> bool:
        listed: dict[str, list[dict[str, Any]]] = {}
        for section in _API_SECTIONS:
            items = _api_get(self.api_base, section)
            if isinstance(items, str):
                self.last_seen = items
                return False
            listed[section] = [i for i in items if i.get("provider") == "file"]
        self.last_seen = f"file routers {sorted(str(i.get('name')) for i in listed['routers'])}"
        for section, items in listed.items():
            for item in items:
                errors = item.get("error")
                if errors:
                    text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else errors
                    raise BadInput(
                        f"Traefik rejects {section[:-1]} {item.get('name')!r}: {text}",
                        file=self.source,
                        field="sut.config",
                    )
        return self.expected <= {str(i.get("name")) for i in listed["routers"]}


def prepare(
    spec: TraefikSut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Render the dynamic configuration; the plan runs ``traefik`` with static flags."""
    binary = require_go_program("traefik", spec.binary)
    source = resolve_config(spec.config, base_dir)
    lines = render_config(source, listen=listen, upstreams=upstreams)
    toml = source.suffix.lower() == ".toml"
    routers = router_names(parse_dynamic(join_lines(lines), toml=toml, source=source), source)
    home = workdir / "traefik"
    rendered = write_rendered(lines, home / ("dynamic.toml" if toml else "dynamic.yml"))
    api_port = free_port(listen[0])
    argv = [
        binary,
        *static_flags(
            entrypoint=spec.entrypoint, listen=listen, api_port=api_port, dynamic=rendered
        ),
    ]
    return LaunchPlan(
        argv=argv,
        env=traefik_env(home),
        cwd=home,
        config_path=rendered,
        ready_check=RoutersLoaded(f"http://{hostport(listen[0], api_port)}", routers, source),
    )

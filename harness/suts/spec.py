"""What a scenario says about its system under test (the ``sut:`` section), one model per kind.

Config files of SUTs the harness starts (haproxy, nginx, caddy, traefik) are the user's own
files with placeholders the driver fills in before starting the SUT; the adapter reads the same
file to learn the declared policy:

- ``{{listen}}`` (``127.0.0.1:PORT``), ``{{listen_host}}``, ``{{listen_port}}``;
- ``{{upstreams}}`` (comma-separated base URLs of all backend replicas), ``{{upstream}}`` (the
  first one's base URL);
- a line containing ``{{upstream_hostport}}``, ``{{upstream_host}}``, ``{{upstream_port}}`` or
  ``{{upstream_index}}`` is repeated once per backend replica with those filled in.

Command templates take the same names in single braces too: ``{listen}``, ``{upstreams}``,
``{upstream}`` (and the double-brace forms), plus ``{python}``: the harness's own interpreter
(``sys.executable``), for a Python SUT that needs the harness's packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Sut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ready_timeout_s: float = Field(default=20.0, gt=0, description="Bounded wait for readiness")


class HaproxySut(_Sut):
    kind: Literal["haproxy"] = "haproxy"
    config: Path = Field(description="haproxy.cfg with placeholders")
    binary: str = "haproxy"


class NginxSut(_Sut):
    kind: Literal["nginx"] = "nginx"
    config: Path = Field(description="nginx.conf with placeholders")
    binary: str = "nginx"


class CaddySut(_Sut):
    kind: Literal["caddy"] = "caddy"
    config: Path = Field(description="Caddyfile with placeholders")
    binary: str = "caddy"


class TraefikSut(_Sut):
    """Traefik v3 (built by ``.ci/build-go-suts``) with the file provider.

    ``config`` is the user's dynamic configuration (YAML or TOML: routers, services, the
    ``retry`` middleware) with placeholders; the harness writes the static configuration: the
    entry point ``entrypoint`` on ``{{listen}}`` and Traefik's API on a free loopback port for
    the readiness check.
    """

    kind: Literal["traefik"] = "traefik"
    # Traefik (a 170 MB binary) loads its providers asynchronously; on a loaded 2-core machine
    # the first router can take well over 20 s to appear.
    ready_timeout_s: float = Field(default=60.0, gt=0, description="Bounded wait for readiness")
    config: Path = Field(description="Traefik dynamic configuration (file provider), placeholders")
    binary: str = "traefik"
    entrypoint: str = Field(
        default="web",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Name of the entry point on {{listen}} (routers list it in entryPoints)",
    )


class Urllib3ClientSut(_Sut):
    """A small forwarding service whose requests/urllib3 client retries (the KubeRay pattern)."""

    kind: Literal["urllib3_client"] = "urllib3_client"
    config: Path = Field(description="YAML of urllib3.Retry keyword arguments (+ timeout)")


class CommandSut(_Sut):
    kind: Literal["command"] = "command"
    command: str = Field(
        description="Shell-free argv template with {listen}, {listen_host}, {listen_port}, "
        "{upstreams}, {upstream}, and {python} (the harness's own interpreter)"
    )
    ready_path: str = Field(default="/", description="Any HTTP answer on this path means ready")
    env: dict[str, str] = Field(default_factory=dict)


class UrlSut(_Sut):
    """A SUT that is already running; the harness starts nothing for it."""

    kind: Literal["url"] = "url"
    url: str = Field(description="Base URL of the running SUT (loopback only)")


SutSpec = Annotated[
    HaproxySut | NginxSut | CaddySut | TraefikSut | Urllib3ClientSut | CommandSut | UrlSut,
    Field(discriminator="kind"),
]

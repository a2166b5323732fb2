"""Real nginx and caddy run a config whose upstream/proxy block sits in an included file.

The driver renders the main file into the workdir, so the included files (placeholders and
all) must be rendered too and the include paths pointed at them (``harness.suts.includes``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness.errors import BadInput
from harness.suts.base import missing_binary, start_sut
from harness.suts.spec import CaddySut, NginxSut
from tests.integration.suts.upstream import Upstream

pytestmark = pytest.mark.integration

NGINX_MAIN = """\
worker_processes 1;
events {
    worker_connections 128;
}
http {
    include conf.d/*.conf;  # the upstream, by a glob
    server {
        listen {{listen}};
        include locations/proxy.inc;
    }
}
"""
NGINX_UPSTREAM = """\
upstream backends {
    server {{upstream_hostport}};
}
"""
NGINX_LOCATION = """\
location / {
    include proxy_headers.inc;  # nested, relative to the main config's folder (as nginx does)
    proxy_pass http://backends;
}
"""
NGINX_HEADERS = """\
proxy_http_version 1.1;
proxy_set_header Connection "";
"""

CADDY_MAIN = """\
{
\tauto_https off
}

(balanced) {
\tlb_policy round_robin
}

http://{{listen}} {
\timport sites/proxy.caddy
}
"""
CADDY_PROXY = """\
reverse_proxy {
\tto {{upstream_hostport}}
\timport balanced
}
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def _spread(sut_url: str, upstreams: list[Upstream]) -> set[str]:
    with requests.Session() as session:
        for i in range(6):
            r = session.get(f"{sut_url}/item/{i}", headers={"X-Request-ID": f"inc{i}"})
            assert r.status_code == 200
    return {u.name for u in upstreams for i in range(6) if u.of(f"inc{i}")}


def _skip_if_missing(spec: NginxSut | CaddySut) -> None:
    hint = missing_binary(spec)
    if hint is not None:
        pytest.skip(hint)


def test_nginx_runs_with_upstream_in_an_included_file(
    tmp_path: Path, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = NginxSut(config=Path("nginx.conf"), ready_timeout_s=10)
    _skip_if_missing(spec)
    user = tmp_path / "user"
    _write(
        user,
        {
            "nginx.conf": NGINX_MAIN,
            "conf.d/upstream.conf": NGINX_UPSTREAM,
            "locations/proxy.inc": NGINX_LOCATION,
            "proxy_headers.inc": NGINX_HEADERS,
        },
    )
    with start_sut(
        spec, listen=listen, upstreams=[u.url for u in upstreams], workdir=workdir, base_dir=user
    ) as sut:
        assert _spread(sut.url, upstreams) == {"up0", "up1"}
    # the user's files are untouched
    assert (user / "conf.d/upstream.conf").read_text() == NGINX_UPSTREAM


def test_caddy_runs_with_the_proxy_in_an_imported_file(
    tmp_path: Path, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = CaddySut(config=Path("Caddyfile"), ready_timeout_s=10)
    _skip_if_missing(spec)
    user = tmp_path / "user"
    _write(user, {"Caddyfile": CADDY_MAIN, "sites/proxy.caddy": CADDY_PROXY})
    with start_sut(
        spec, listen=listen, upstreams=[u.url for u in upstreams], workdir=workdir, base_dir=user
    ) as sut:
        assert _spread(sut.url, upstreams) == {"up0", "up1"}


def test_nginx_error_in_an_included_file_points_at_the_users_file_and_line(
    tmp_path: Path, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = NginxSut(config=Path("nginx.conf"), ready_timeout_s=10)
    _skip_if_missing(spec)
    user = tmp_path / "user"
    _write(
        user,
        {
            "nginx.conf": NGINX_MAIN,
            "conf.d/upstream.conf": NGINX_UPSTREAM,
            "locations/proxy.inc": NGINX_LOCATION.replace("proxy_pass", "proxy_pas"),
            "proxy_headers.inc": NGINX_HEADERS,
        },
    )
    with (
        pytest.raises(BadInput) as caught,
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=user
        ),
    ):
        pass
    message = str(caught.value)
    assert f"{user / 'locations/proxy.inc'}:3" in message, message
    assert str(workdir) not in message, message


def test_unknown_placeholder_in_an_included_file_names_that_file(
    tmp_path: Path, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = CaddySut(config=Path("Caddyfile"), ready_timeout_s=10)
    _skip_if_missing(spec)
    user = tmp_path / "user"
    _write(
        user,
        {"Caddyfile": CADDY_MAIN, "sites/proxy.caddy": CADDY_PROXY.replace("hostport", "hp")},
    )
    with (
        pytest.raises(BadInput, match="unknown placeholder") as caught,
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=user
        ),
    ):
        pass
    assert caught.value.file is not None and Path(caught.value.file).name == "proxy.caddy"
    assert caught.value.line == 2

"""Real haproxy, nginx and caddy started by their drivers in front of two upstreams."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import requests

from harness.errors import BadInput
from harness.suts.base import missing_binary, start_sut
from harness.suts.spec import CaddySut, HaproxySut, NginxSut
from tests.integration.suts.conftest import DATA
from tests.integration.suts.upstream import Upstream

pytestmark = pytest.mark.integration

SPECS: dict[str, HaproxySut | NginxSut | CaddySut] = {
    "haproxy": HaproxySut(config=Path("haproxy.cfg"), ready_timeout_s=10),
    "nginx": NginxSut(config=Path("nginx.conf"), ready_timeout_s=10),
    "caddy": CaddySut(config=Path("Caddyfile"), ready_timeout_s=10),
}


def _skip_if_missing(spec: HaproxySut | NginxSut | CaddySut) -> None:
    hint = missing_binary(spec)
    if hint is not None:
        pytest.skip(hint)


def _gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_proxy_forwards_to_every_replica_and_is_gone_afterwards(
    kind: str, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = SPECS[kind]
    _skip_if_missing(spec)
    with start_sut(
        spec, listen=listen, upstreams=[u.url for u in upstreams], workdir=workdir, base_dir=DATA
    ) as sut:
        assert sut.url == f"http://127.0.0.1:{listen[1]}"
        assert sut.pid is not None and not _gone(sut.pid)
        assert sut.log_path is not None and sut.log_path.parent == workdir
        statuses = []
        with requests.Session() as session:
            for i in range(6):
                r = session.get(f"{sut.url}/item/{i}?q={i}", headers={"X-Request-ID": f"r{i}"})
                statuses.append(r.status_code)
        pid = sut.pid
    assert statuses == [200] * 6
    seen = {rid: [u.name for u in upstreams if u.of(rid)] for rid in (f"r{i}" for i in range(6))}
    assert all(len(names) == 1 for names in seen.values()), seen
    # Round robin over both replicas (each got some traffic).
    assert {names[0] for names in seen.values()} == {"up0", "up1"}
    for i in range(6):
        (arrival,) = [a for u in upstreams for a in u.of(f"r{i}")]
        assert arrival.path == f"/item/{i}?q={i}"
    assert _gone(pid)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_teardown_when_the_body_raises(
    kind: str, upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = SPECS[kind]
    _skip_if_missing(spec)
    pid = None
    with (
        pytest.raises(RuntimeError, match="boom"),
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
        ) as sut,
    ):
        pid = sut.pid
        raise RuntimeError("boom")
    assert pid is not None and _gone(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{listen[1]}/", timeout=2)


def test_nginx_writes_only_inside_the_workdir(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = SPECS["nginx"]
    _skip_if_missing(spec)
    with start_sut(
        spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
    ) as sut:
        assert (workdir / "nginx" / "nginx.pid").read_text().strip() == str(sut.pid)
        requests.get(sut.url + "/logged", headers={"X-Request-ID": "n1"}, timeout=5)
    assert sut.config_path == workdir / "nginx" / "nginx.conf"
    assert "/logged" in (workdir / "nginx" / "logs" / "access.log").read_text()
    assert (workdir / "nginx" / "temp" / "proxy").is_dir()


def test_caddy_has_no_admin_endpoint_and_keeps_state_in_the_workdir(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = SPECS["caddy"]
    _skip_if_missing(spec)
    with start_sut(
        spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
    ) as sut:
        assert requests.get(sut.url + "/", timeout=5).status_code == 200
    assert sut.log_path is not None
    assert "admin endpoint disabled" in sut.log_path.read_text()
    assert (workdir / "caddy" / "config" / "caddy" / "autosave.json").is_file()


def test_haproxy_config_rejected_by_haproxy_is_bad_input_pointing_at_the_users_line(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = HaproxySut(config=Path("haproxy-broken.cfg"))
    _skip_if_missing(spec)
    with (
        pytest.raises(BadInput) as err,
        start_sut(
            spec,
            listen=listen,
            upstreams=[u.url for u in upstreams],
            workdir=workdir,
            base_dir=DATA,
        ),
    ):
        pytest.fail("must not start")
    assert err.value.file == str(DATA / "haproxy-broken.cfg")
    assert err.value.line == 9
    assert "no_such_keyword" in err.value.reason


def test_missing_binary_is_bad_input_with_the_install_command(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = HaproxySut(config=Path("haproxy.cfg"), binary="definitely-not-installed")
    assert shutil.which("definitely-not-installed") is None
    hint = missing_binary(spec)
    assert hint is not None and "apt-get install -y haproxy" in hint
    with (
        pytest.raises(BadInput, match=r"definitely-not-installed.*apt-get install -y haproxy"),
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
        ),
    ):
        pytest.fail("must not start")

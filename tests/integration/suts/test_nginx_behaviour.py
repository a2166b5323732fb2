"""Real nginx 1.22 shows what the nginx adapter claims about single-server upstreams.

* With ``keepalive`` in the upstream, an error on a reused (cached) connection does not use up a
  try: a single-server upstream with ``proxy_next_upstream_tries 1`` (no retry declared) still
  retries, on the same server. The adapter marks max_retries and upstream as not judged.
* Without ``keepalive``, a single-server upstream never retries: the same failure reaches the
  client as 502 after one attempt, whatever the tries. The adapter's note says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness.adapters import nginx
from harness.adapters.base import AdapterContext
from harness.policy.model import Aspect
from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import NginxSut
from tests.integration.suts.raw_upstream import running_raw_upstream

pytestmark = pytest.mark.integration

CONFIG = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
        server {{{{upstream_hostport}}}};
{keepalive}    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries {tries};
        }}
    }}
}}
"""


def _skip_without_nginx() -> None:
    hint = missing_binary(NginxSut(config=Path("x.conf")))
    if hint is not None:
        pytest.skip(hint)


@pytest.mark.parametrize("tries", [1, 2])
def test_keepalive_single_server_retries_an_error_on_a_reused_connection(
    tmp_path: Path, tries: int
) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(keepalive="        keepalive 8;\n", tries=tries))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == tries - 1
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})

    # close every request that arrives on a reused connection, without an answer
    with running_raw_upstream(lambda rid, index, earlier: index >= 1) as upstream:
        spec = NginxSut(config=cfg, ready_timeout_s=15)
        listen = ("127.0.0.1", free_port())
        with (
            start_sut(
                spec,
                listen=listen,
                upstreams=[upstream.url],
                workdir=tmp_path / "w",
                base_dir=tmp_path,
            ) as sut,
            requests.Session() as s,
        ):
            warm = s.get(sut.url + "/", headers={"X-Request-ID": "warm"}, timeout=10)
            answer = s.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert warm.status_code == 200
    assert answer.status_code == 200
    seen = upstream.of("r1")
    # first on the cached connection (closed), then again on a new one: a retry on ONE server,
    # more than proxy_next_upstream_tries allows when tries is 1
    assert [a.closed for a in seen] == [True, False]
    assert seen[0].index_on_connection >= 1 and seen[1].index_on_connection == 0
    if tries == 1:
        assert len(seen) - 1 > adapted.policy.max_retries  # 1 retry where 0 are declared


def test_without_keepalive_a_single_server_is_never_retried(tmp_path: Path) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(keepalive="", tries=3))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.not_judged == ()
    assert any("never retries a single-server upstream" in n.text for n in adapted.quirks)

    # close the first arrival of r1 without an answer (on a fresh connection)
    with running_raw_upstream(lambda rid, index, earlier: rid == "r1" and earlier == 0) as up:
        spec = NginxSut(config=cfg, ready_timeout_s=15)
        listen = ("127.0.0.1", free_port())
        with start_sut(
            spec, listen=listen, upstreams=[up.url], workdir=tmp_path / "w", base_dir=tmp_path
        ) as sut:
            answer = requests.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert answer.status_code == 502
    assert [a.closed for a in up.of("r1")] == [True]  # tries 3 declared, no retry made

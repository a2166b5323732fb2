"""Where the scenario's load meets the adapter (``harness.run.declared_policy``): the body size
per method reaches the adapter, and a body above the SUT's own limit is refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.run import declared_policy
from harness.scenario import load_scenario

NGINX = """\
events {}
http {
    upstream pool { server {{upstream_hostport}} max_fails=0; }
    server {
        listen {{listen}};
        location / {
            proxy_pass http://pool;
%s
        }
    }
}
"""
HAPROXY = """\
defaults
    mode http
    timeout server 4s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    retry-on conn-failure 503
    option http-buffer-request
    server s{{upstream_index}} {{upstream_hostport}}
"""


def _scenario(tmp: Path, system: str, config: str, methods: str, body: int) -> Path:
    name = "nginx.conf" if system == "nginx" else "haproxy.cfg"
    (tmp / name).write_text(config, encoding="utf-8")
    path = tmp / "s.yaml"
    path.write_text(
        f"name: bodies\n"
        f"sut: {{kind: {system}, config: {name}}}\n"
        f"policy: {{source: {{system: {system}}}}}\n"
        f"load:\n"
        f"  methods: {methods}\n"
        f"  body_bytes: {body}\n",
        encoding="utf-8",
    )
    return path


def test_a_body_above_nginx_default_limit_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "nginx", NGINX % "", "{GET: 0.5, PUT: 0.5}", 1048577)
    with pytest.raises(BadInput) as err:
        declared_policy(load_scenario(path))
    assert (err.value.file, err.value.line, err.value.field) == (str(path), 6, "load.body_bytes")
    assert "1048576" in err.value.reason and "default 1m" in err.value.reason
    assert "413" in err.value.reason and "PUT" in err.value.reason


def test_a_body_above_the_config_limit_names_the_directive_line(tmp_path: Path) -> None:
    config = NGINX % "            client_max_body_size 4k;"
    path = _scenario(tmp_path, "nginx", config, "{POST: 1.0}", 4097)
    with pytest.raises(BadInput) as err:
        declared_policy(load_scenario(path))
    assert f"{tmp_path / 'nginx.conf'}:8: client_max_body_size 4k" in err.value.reason


@pytest.mark.parametrize(
    ("directive", "methods", "body"),
    [
        ("", "{POST: 1.0}", 1048576),  # exactly the limit: passed on
        ("", "{GET: 1.0}", 5_000_000),  # GET is sent without a body
        ("            client_max_body_size 0;", "{PUT: 1.0}", 5_000_000),  # no limit
    ],
)
def test_bodies_nginx_passes_on_are_accepted(
    tmp_path: Path, directive: str, methods: str, body: int
) -> None:
    path = _scenario(tmp_path, "nginx", NGINX % directive, methods, body)
    assert declared_policy(load_scenario(path)).policy.system == "nginx"


def test_the_load_body_reaches_the_haproxy_adapter(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "haproxy", HAPROXY, "{GET: 0.5, POST: 0.5}", 40000)
    adapted = declared_policy(load_scenario(path))
    retryable = adapted.policy.methods.retryable
    assert retryable is not None and "GET" in retryable and "POST" not in retryable
    assert adapted.body_limit is None  # HAProxy has no body limit of its own
    small = _scenario(tmp_path, "haproxy", HAPROXY, "{GET: 0.5, POST: 0.5}", 8000)
    assert declared_policy(load_scenario(small)).policy.methods.retryable is None

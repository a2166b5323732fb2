"""What the nginx and caddy drivers add to a rendered config, and tool-message mapping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.suts.caddy import INJECTED_OPTIONS, caddy_env, with_global_options
from harness.suts.config_files import source_line_of
from harness.suts.nginx import http_directives, main_directives, with_http_directives
from harness.suts.templating import RenderedLine, join_lines, render_lines

LISTEN = ("127.0.0.1", 8080)
UPS = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
PREFIX = Path("/w/nginx")


def _lines(text: str) -> list[RenderedLine]:
    return render_lines(text, listen=LISTEN, upstreams=UPS)


def test_caddy_global_block_is_added_when_absent() -> None:
    out = with_global_options(_lines("# hi\nhttp://{{listen}} {\n\trespond ok\n}\n"))
    assert join_lines(out).startswith("{\n\tadmin off\n\tskip_install_trust\n}\n# hi\n")
    assert [ln.source_line for ln in out[:4]] == [None] * 4
    assert out[4].source_line == 1


def test_caddy_existing_global_block_gets_only_what_it_lacks() -> None:
    text = "# c\n{\n\tadmin localhost:0\n\tauto_https off\n}\nhttp://{{listen}} {\n}\n"
    out = join_lines(with_global_options(_lines(text)))
    assert out == (
        "# c\n{\n\tskip_install_trust\n\tadmin localhost:0\n\tauto_https off\n}\n"
        "http://127.0.0.1:8080 {\n}\n"
    )


def test_caddy_does_not_look_past_the_global_block() -> None:
    text = "{\n\tdebug\n}\nhttp://{{listen}} {\n\tadmin_like_directive\n}\n"
    out = join_lines(with_global_options(_lines(text)))
    assert out.startswith("{\n" + "".join(f"\t{o}\n" for o in INJECTED_OPTIONS) + "\tdebug\n")


def test_caddy_env_keeps_state_inside_home(tmp_path: Path) -> None:
    env = caddy_env(tmp_path)
    for key in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        assert Path(env[key]).is_relative_to(tmp_path)
    assert env["PATH"] == os.environ["PATH"]


NGINX = "events {}\nhttp {\n  server { listen {{listen}}; }\n}\n"


def test_nginx_http_line_gets_writable_paths_on_the_same_line() -> None:
    lines = _lines(NGINX)
    added = http_directives(join_lines(lines), PREFIX, frozenset({"http_uwsgi_module"}))
    assert "uwsgi_temp_path" not in " ".join(added)
    assert f"proxy_temp_path {PREFIX}/temp/proxy;" in added
    assert f"access_log {PREFIX}/logs/access.log;" in added
    out = with_http_directives(lines, added)
    assert len(out) == len(lines)
    assert out[1].text.startswith("http { client_body_temp_path ")
    assert out[1].text.endswith(";\n") and out[1].source_line == 2


def test_nginx_keeps_the_users_own_paths() -> None:
    text = "http {\n  proxy_temp_path /x;\n  access_log off;\n}\n"
    added = http_directives(text, PREFIX, frozenset())
    assert not any(d.startswith(("proxy_temp_path", "access_log")) for d in added)
    assert any(d.startswith("client_body_temp_path") for d in added)


def test_nginx_main_directives() -> None:
    src = Path("nginx.conf")
    plain = main_directives(NGINX, PREFIX, source=src)
    assert plain.startswith(f"daemon off; pid {PREFIX}/nginx.pid;")
    assert ("user root;" in plain) == (os.geteuid() == 0)
    own = main_directives("daemon off;\npid /p;\nuser nobody;\n", PREFIX, source=src)
    assert own == ""
    with pytest.raises(BadInput, match="daemon on"):
        main_directives("daemon on;\n", PREFIX, source=src)


def test_tool_messages_map_to_the_users_line() -> None:
    lines = _lines("a\nserver {{upstream_hostport}}\nbad\n")
    rendered = Path("/w/x.cfg")
    assert source_line_of("parsing [/w/x.cfg:4] : unknown", rendered, lines) == 3
    assert source_line_of("in /w/x.cfg:2", rendered, lines) == 2
    assert source_line_of("no location", rendered, lines) is None

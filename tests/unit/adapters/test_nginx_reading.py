"""The nginx adapter reads configs as nginx does (crossplane, includes relative to the config,
globs) and marks what it cannot evaluate (keepalive, variables, ``if`` blocks) as not judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.adapters import nginx
from harness.adapters.base import AdapterContext
from harness.errors import BadInput
from harness.policy.model import Aspect

CTX3 = AdapterContext(upstream_servers=3)

MAIN = """\
events {}
http {
    include conf.d/*.conf;
    server {
        listen {{listen}};
        location / {
            proxy_pass http://backends;
            include retry/policy.conf;
        }
    }
}
"""


def _tree(tmp_path: Path, upstream: str, policy: str, main: str = MAIN) -> Path:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "retry").mkdir()
    (tmp_path / "conf.d" / "10-upstream.conf").write_text(upstream)
    (tmp_path / "conf.d" / "20-other.conf").write_text("map $host $x { default 1; }\n")
    (tmp_path / "retry" / "policy.conf").write_text(policy)
    path = tmp_path / "nginx.conf"
    path.write_text(main)
    return path


def test_include_with_a_glob_and_a_relative_file_are_read(tmp_path: Path) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server {{upstream_hostport}} max_fails=0;\n}\n",
        "proxy_next_upstream error http_503;\nproxy_next_upstream_tries 2;\n",
    )
    adapted = nginx.load(path, CTX3)
    p = adapted.policy
    assert p.max_retries == 1  # tries 2, from retry/policy.conf
    assert p.retry_on.statuses == frozenset({503})
    assert p.not_judged == ()
    assert not any("include" in n.field for n in adapted.notes)


def test_read_from_another_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server {{upstream_hostport}};\n}\n",
        "proxy_next_upstream_tries 3;\n",
    )
    monkeypatch.chdir("/")
    assert nginx.load(path, CTX3).policy.max_retries == 2


def test_missing_included_file_is_bad_input_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nginx.conf"
    path.write_text(MAIN.replace("include conf.d/*.conf;", "include nope.conf;"))
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert err.value.line == 3 and "nope.conf" in err.value.reason


def test_a_missing_include_is_one_line_without_the_os_error(tmp_path: Path) -> None:
    path = _tree(tmp_path, "include ../gone/upstream.conf;\n", "proxy_next_upstream_tries 3;\n")
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    included = str(tmp_path / "conf.d" / "10-upstream.conf")
    assert (err.value.file, err.value.line, err.value.field) == (included, 1, "include")
    assert err.value.reason == (
        f"'../gone/upstream.conf' does not exist (a relative include is looked for in "
        f"{tmp_path}, the main config's folder)"
    )
    assert str(err.value) == f"{included}:1: include: {err.value.reason}"


def test_a_missing_absolute_include_is_named_as_written(tmp_path: Path) -> None:
    gone = tmp_path / "gone" / "retry.conf"
    path = tmp_path / "nginx.conf"
    path.write_text(MAIN.replace("include conf.d/*.conf;", f"include {gone};"))
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert str(err.value) == f"{path}:3: include: '{gone}' does not exist"


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server {{upstream_hostport}}\n}\n",
        "proxy_next_upstream_tries 3;\n",
    )
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert err.value.file is not None and err.value.file.endswith("10-upstream.conf")
    assert err.value.line == 2


def test_keepalive_makes_the_retry_count_and_upstream_not_judged(tmp_path: Path) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server {{upstream_hostport}};\n    keepalive 16;\n}\n",
        "proxy_next_upstream error timeout http_503;\nproxy_next_upstream_tries 3;\n",
    )
    adapted = nginx.load(path, AdapterContext(upstream_servers=1))
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert u.native.startswith("keepalive 16")
    assert u.location is not None and u.location.endswith("10-upstream.conf:3")
    # the old, false claim is gone
    assert not any("never retries" in n.text for n in adapted.notes)


def test_keepalive_without_error_in_next_upstream_changes_nothing(tmp_path: Path) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server {{upstream_hostport}} max_fails=0;\n"
        "    keepalive 16;\n}\n",
        "proxy_next_upstream http_503;\nproxy_next_upstream_tries 3;\n",
    )
    assert nginx.load(path, CTX3).policy.not_judged == ()


def test_single_server_without_keepalive_keeps_the_true_note(tmp_path: Path) -> None:
    path = _tree(
        tmp_path,
        "upstream backends {\n    server 127.0.0.1:9;\n}\n",
        "proxy_next_upstream_tries 3;\n",
    )
    adapted = nginx.load(path, CTX3)
    # the literal server is not a harness backend: that is its only not-judged entry
    assert [u.reason for u in adapted.policy.not_judged] == [nginx._FOREIGN_REASON]
    assert any(
        "never retries a single-server upstream without keepalive" in n.text for n in adapted.quirks
    )


def test_variable_in_proxy_pass_is_not_judged(tmp_path: Path) -> None:
    text = (
        "events {}\nhttp {\n  server {\n    listen 1;\n    location / {\n"
        "      proxy_pass http://$backend;\n    }\n  }\n}\n"
    )
    path = tmp_path / "n.conf"
    path.write_text(text)
    (u,) = nginx.load(path, CTX3).policy.not_judged
    assert Aspect.MAX_RETRIES in u.aspects and "$backend" in u.native


def test_if_block_setting_retry_directives_is_not_judged(tmp_path: Path) -> None:
    text = (
        "events {}\nhttp {\n  server {\n    listen 1;\n    location / {\n"
        "      proxy_pass http://127.0.0.1:9;\n"
        "      if ($http_x_retry) {\n        proxy_pass http://127.0.0.1:9;\n      }\n"
        "    }\n  }\n}\n"
    )
    path = tmp_path / "n.conf"
    path.write_text(text)
    nj = nginx.load(path, CTX3).policy.not_judged
    assert any(u.native.startswith("if ($http_x_retry)") for u in nj)


@pytest.mark.parametrize(
    ("directive", "meant"),
    [
        ("proxy_next_upstream_trys 3;", "proxy_next_upstream_tries"),
        ("proxy_next_upstream_timout 3s;", "proxy_next_upstream_timeout"),
        ("proxy_next_upstreams error;", "proxy_next_upstream"),
    ],
)
def test_misspelt_directive_is_refused_with_the_likely_one(
    tmp_path: Path, directive: str, meant: str
) -> None:
    path = _tree(
        tmp_path, "upstream backends {\n    server {{upstream_hostport}};\n}\n", directive + "\n"
    )
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert f"did you mean {meant!r}" in err.value.reason
    assert err.value.file is not None and err.value.file.endswith("policy.conf")


@pytest.mark.parametrize(
    ("policy", "max_retries", "statuses"),
    [
        ("", 2, frozenset()),  # absent: 'error timeout', tries unlimited -> servers - 1
        ("proxy_next_upstream_tries 0;\n", 2, frozenset()),  # explicit 0: unlimited too
        ("proxy_next_upstream off;\nproxy_next_upstream_tries 3;\n", 0, frozenset()),  # off
        ("proxy_next_upstream http_502;\nproxy_next_upstream_tries 2;\n", 1, frozenset({502})),
    ],
)
def test_absent_explicit_zero_off_and_set(
    tmp_path: Path, policy: str, max_retries: int, statuses: frozenset[int]
) -> None:
    path = _tree(
        tmp_path, "upstream backends {\n    server {{upstream_hostport}} max_fails=0;\n}\n", policy
    )
    p = nginx.load(path, CTX3).policy
    assert p.max_retries == max_retries
    assert p.retry_on.statuses == statuses


def test_the_missing_one_of_two_includes_on_a_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "here.conf").write_text("\n")
    main = MAIN.replace("include conf.d/*.conf;", 'include here.conf; include "r{{listen}}.conf";')
    path = tmp_path / "nginx.conf"
    path.write_text(main)
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert err.value.line == 3
    assert err.value.reason.startswith("'r{{listen}}.conf' does not exist (a relative include")


@pytest.mark.parametrize(
    "text",
    [
        # a last directive without its ';' at the end of the file (a new user's typo)
        "events {}\nhttp { upstream b { server 127.0.0.1:1; } server { listen 80; "
        "location / { proxy_pass http://b; } } }\nworker_processes 1",
        # an HAProxy config read as nginx
        "global\n    maxconn 100\ndefaults\n    mode http\n    retries 3\n",
    ],
)
def test_a_config_crossplane_gives_up_on_silently_says_why(tmp_path: Path, text: str) -> None:
    """crossplane 0.5.8 reports these with an empty error text: the user saw 'error: file:'."""
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    with pytest.raises(BadInput) as err:
        nginx.load(path, CTX3)
    assert err.value.file == str(path)
    assert "ran out of text mid-statement" in err.value.reason
    assert "without its ';'" in err.value.reason and "not an nginx config" in err.value.reason

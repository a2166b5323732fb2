"""Placeholder rules of spec.py: config files (double braces, per-replica lines) and commands."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import BadInput
from harness.suts.command import program
from harness.suts.spec import CommandSut
from harness.suts.templating import (
    ALLOWED_NAMES,
    command_argv,
    fill_command_only,
    render_command,
    render_lines,
    render_template,
)

LISTEN = ("127.0.0.1", 8080)
UPS = ["http://127.0.0.1:40123", "http://127.0.0.1:40124", "http://localhost:40125"]


def test_global_placeholders() -> None:
    text = (
        "bind {{listen}}\nhost {{listen_host}} port {{listen_port}}\n{{upstream}} {{upstreams}}\n"
    )
    assert render_template(text, listen=LISTEN, upstreams=UPS) == (
        "bind 127.0.0.1:8080\nhost 127.0.0.1 port 8080\n"
        "http://127.0.0.1:40123 " + ",".join(UPS) + "\n"
    )


def test_per_replica_line_is_repeated_in_order_with_zero_based_index() -> None:
    text = "backend be\n    server s{{upstream_index}} {{upstream_hostport}} # {{listen}}\nend\n"
    assert render_template(text, listen=LISTEN, upstreams=UPS) == (
        "backend be\n"
        "    server s0 127.0.0.1:40123 # 127.0.0.1:8080\n"
        "    server s1 127.0.0.1:40124 # 127.0.0.1:8080\n"
        "    server s2 localhost:40125 # 127.0.0.1:8080\n"
        "end\n"
    )


def test_host_and_port_placeholders_and_default_ports() -> None:
    text = "to {{upstream_host}} {{upstream_port}}\n"
    out = render_template(text, listen=LISTEN, upstreams=["http://10.0.0.1", "https://[::1]"])
    assert out == "to 10.0.0.1 80\nto ::1 443\n"
    assert render_template(
        "x {{upstream_hostport}}", listen=LISTEN, upstreams=["http://[::1]:9"]
    ) == ("x [::1]:9")


def test_ipv6_listen_is_bracketed() -> None:
    assert render_template("{{listen}}", listen=("::1", 81), upstreams=UPS) == "[::1]:81"


def test_whitespace_inside_braces_and_foreign_braces_are_tolerated() -> None:
    text = "a {{ listen }} b {{ .Host }} c {single} d {$ENV}\n"
    assert render_template(text, listen=LISTEN, upstreams=UPS) == (
        "a 127.0.0.1:8080 b {{ .Host }} c {single} d {$ENV}\n"
    )


def test_unknown_placeholder_names_file_line_and_allowed_names() -> None:
    text = "ok {{listen}}\n\nbad {{upstream_url}}\n"
    with pytest.raises(BadInput) as err:
        render_template(text, listen=LISTEN, upstreams=UPS, source="conf/haproxy.cfg")
    assert err.value.file == "conf/haproxy.cfg"
    assert err.value.line == 3
    assert "{{upstream_url}}" in err.value.reason
    for name in ALLOWED_NAMES:
        assert "{{" + name + "}}" in err.value.reason
    assert str(err.value).startswith("conf/haproxy.cfg:3: ")


def test_lines_are_counted_at_newlines_only_and_keep_their_endings() -> None:
    text = "a\x0cb\r\nserver {{upstream_hostport}}\r\n{{bad}}"
    with pytest.raises(BadInput) as err:
        render_template(text, listen=LISTEN, upstreams=UPS, source="f")
    assert err.value.line == 3
    out = render_template(text.replace("{{bad}}", "end"), listen=LISTEN, upstreams=UPS[:2])
    assert out == "a\x0cb\r\nserver 127.0.0.1:40123\r\nserver 127.0.0.1:40124\r\nend"


def test_source_lines_are_kept_for_repeated_lines() -> None:
    lines = render_lines("a\nb {{upstream_port}}\nc\n", listen=LISTEN, upstreams=UPS[:2])
    assert [ln.source_line for ln in lines] == [1, 2, 2, 3]


def test_no_upstream_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one upstream"):
        render_template("x", listen=LISTEN, upstreams=[])


def test_upstream_must_be_a_base_url() -> None:
    with pytest.raises(ValueError, match="base URL"):
        render_template("{{upstream_host}}", listen=LISTEN, upstreams=["127.0.0.1:9"])


# --- property tests ------------------------------------------------------------------------

_plain = st.text(alphabet=st.characters(blacklist_characters="{}"))
_one_line = _plain.map(lambda s: s.replace("\n", " "))
_urls = st.lists(
    st.integers(min_value=1, max_value=65535).map(lambda p: f"http://127.0.0.1:{p}"),
    min_size=1,
    max_size=5,
)


@given(text=_plain, ups=_urls)
def test_text_without_braces_is_unchanged(text: str, ups: list[str]) -> None:
    assert render_template(text, listen=LISTEN, upstreams=ups) == text


@given(
    lines=st.lists(
        st.tuples(_plain.map(lambda s: s.replace("\n", " ")), st.booleans()), max_size=8
    ),
    ups=_urls,
)
def test_each_line_appears_once_or_once_per_replica(
    lines: list[tuple[str, bool]], ups: list[str]
) -> None:
    text = "".join(
        (f"{s} {{{{upstream_index}}}}\n" if per_replica else f"{s} {{{{listen}}}}\n")
        for s, per_replica in lines
    )
    out = render_template(text, listen=LISTEN, upstreams=ups).split("\n")[:-1]
    expected_count = sum(len(ups) if per_replica else 1 for _, per_replica in lines)
    assert len(out) == expected_count
    assert not re.search(r"\{\{\s*(" + "|".join(ALLOWED_NAMES) + r")\s*\}\}", "\n".join(out))
    i = 0
    for s, per_replica in lines:
        if per_replica:
            assert out[i : i + len(ups)] == [f"{s} {k}" for k in range(len(ups))]
            i += len(ups)
        else:
            assert out[i] == f"{s} 127.0.0.1:8080"
            i += 1


@given(name=st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True), line=st.integers(0, 5))
def test_any_unknown_identifier_is_rejected_on_its_line(name: str, line: int) -> None:
    text = "x\n" * line + "y {{" + name + "}}\n"
    if name in ALLOWED_NAMES:
        render_template(text, listen=LISTEN, upstreams=UPS)
        return
    with pytest.raises(BadInput) as err:
        render_template(text, listen=LISTEN, upstreams=UPS, source="f")
    assert err.value.line == line + 1


# --- commands -------------------------------------------------------------------------------


def test_command_single_and_double_braces_per_argv_element() -> None:
    argv = render_command(
        "my-proxy --listen {listen} --up={{upstreams}} 'a b {upstream}' --port={listen_port}",
        listen=LISTEN,
        upstreams=UPS[:2],
    )
    assert argv == [
        "my-proxy",
        "--listen",
        "127.0.0.1:8080",
        "--up=" + ",".join(UPS[:2]),
        "a b http://127.0.0.1:40123",
        "--port=8080",
    ]


def test_command_leaves_foreign_single_braces_alone() -> None:
    argv = render_command(
        """sh -c 'echo {} { name } ${HOME} {print $1} {"a": 1}' {listen}""",
        listen=LISTEN,
        upstreams=UPS,
    )
    assert argv == [
        "sh",
        "-c",
        """echo {} { name } ${HOME} {print $1} {"a": 1}""",
        "127.0.0.1:8080",
    ]


@pytest.mark.parametrize(
    ("template", "written"),
    [("{pyhton} p.py {listen}", "{pyhton}"), ("p.py {listen} --x={bogus}", "{bogus}")],
)
def test_unknown_single_brace_name_is_refused(template: str, written: str) -> None:
    """A typo of a single-brace placeholder used to be passed on literally: the backends and
    the SUT started, then the SUT failed on the word."""
    with pytest.raises(BadInput, match="unknown placeholder " + re.escape(written)) as err:
        command_argv(template, source="scenario.yaml", line=8)
    assert (err.value.file, err.value.line, err.value.field) == ("scenario.yaml", 8, "sut.command")
    assert "allowed: {listen}" in err.value.reason


@pytest.mark.parametrize("word", ["{python}", "{{python}}"])
def test_command_python_is_the_harness_interpreter(word: str) -> None:
    argv = render_command(f"{word} proxy.py --listen {{listen}}", listen=LISTEN, upstreams=UPS)
    assert argv == [sys.executable, "proxy.py", "--listen", "127.0.0.1:8080"]


@pytest.mark.parametrize("word", ["{python}", "{{python}}", "{{ python }}"])
def test_the_program_is_filled_by_the_same_rule_as_the_command(word: str) -> None:
    """``command.program`` (the "is it installed?" hint) and ``render_command`` agree on every
    spelling of ``{python}``: one rule, in templating."""
    spec = CommandSut(command=f"'{word}' proxy.py {{listen}}")
    argv = render_command(spec.command, listen=LISTEN, upstreams=UPS)
    assert program(spec) == argv[0] == sys.executable
    assert fill_command_only("{listen}:{{upstream}}") == "{listen}:{{upstream}}"


def test_python_is_a_command_name_only() -> None:
    with pytest.raises(BadInput, match=r"unknown placeholder \{\{python\}\}") as err:
        render_template("run {{python}}\n", listen=LISTEN, upstreams=UPS, source="f")
    assert err.value.line == 1


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("proxy {{nope}}", r"unknown placeholder \{\{nope\}\}.*\{listen\}"),
        ("proxy {{upstream_hostport}}", "only works in config files"),
        ("proxy 'unclosed", "cannot split"),
        ("   ", "empty"),
    ],
)
def test_bad_commands_are_bad_input(template: str, match: str) -> None:
    with pytest.raises(BadInput, match=match) as err:
        render_command(template, listen=LISTEN, upstreams=UPS, source="scenario.yaml")
    assert err.value.file == "scenario.yaml"
    assert err.value.field == "sut.command"


@given(words=st.lists(st.from_regex(r"[A-Za-z0-9_./=-]{1,10}", fullmatch=True), max_size=6))
def test_command_without_placeholders_is_just_split(words: list[str]) -> None:
    argv = render_command(" ".join(["prog", *words]), listen=LISTEN, upstreams=UPS)
    assert argv == ["prog", *words]


def test_per_replica_and_upstream_names_follow_the_one_grammar() -> None:
    from harness.suts.templating import is_per_replica, names_upstreams

    assert is_per_replica("server a {{ upstream_hostport }};")
    assert not is_per_replica("proxy_pass {{upstream}};")
    assert names_upstreams("to {{upstream}}") and names_upstreams("to {{ upstream_host }}:80")
    assert not names_upstreams("listen {{listen}}") and not names_upstreams("{{ .Host }}")

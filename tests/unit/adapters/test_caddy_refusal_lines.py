"""A refusal of a Caddyfile value names the Caddyfile line it was written on when that line is
certain (caddy adapt's JSON has no lines), and only the directive when it is not; Caddy's own
refusals keep their line when the Caddyfile is named by a relative path (a new user's
findings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.adapters import caddy
from harness.adapters.base import AdapterContext
from harness.errors import BadInput

CTX = AdapterContext(upstream_servers=1)

pytestmark = pytest.mark.skipif(
    shutil.which("caddy") is None, reason="caddy not installed (apt-get install -y caddy)"
)


def _site(port: int, *subdirectives: str) -> str:
    body = "".join(f"\t\t{s}\n" for s in subdirectives)
    return f":{port} {{\n\treverse_proxy 127.0.0.1:1 {{\n{body}\t}}\n}}\n"


def _refusal(path: Path, text: str) -> BadInput:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as err:
        caddy.load(path, CTX)
    return err.value


@pytest.mark.parametrize(
    ("subdirective", "field", "reason"),
    [
        ("lb_retries -1", "lb_retries", "-1: Caddy accepts it and then retries without limit"),
        ("lb_try_duration -1s", "lb_try_duration", "must be >= 0 (got -1s)"),
        ("lb_try_interval -250ms", "lb_try_interval", "must be >= 0 (got -250ms)"),
    ],
)
def test_a_refused_value_names_its_caddyfile_line(
    tmp_path: Path, subdirective: str, field: str, reason: str
) -> None:
    path = tmp_path / "Caddyfile"
    err = _refusal(path, "{\n\tadmin off\n}\n" + _site(8080, "lb_retries 2", subdirective))
    assert (err.file, err.line, err.field) == (str(path), 7, field)
    assert err.reason.startswith(reason), err.reason


def test_the_transport_timeout_names_its_line_and_value_as_written(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    text = ":80 {\n\treverse_proxy 127.0.0.1:1 {\n\t\ttransport http {\n"
    text += "\t\t\tresponse_header_timeout -2s\n\t\t}\n\t}\n}\n"
    err = _refusal(path, text)
    assert str(err) == f"{path}:4: transport http.response_header_timeout: must be >= 0 (got -2s)"


def test_another_site_with_another_value_leaves_the_line_certain(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    err = _refusal(path, _site(8080, "lb_retries -1") + _site(8081, "lb_retries 3"))
    assert (err.line, err.field) == (3, "lb_retries")


@pytest.mark.parametrize(
    "other",
    [
        "lb_retries -1",  # the same value twice: which site was read is not certain
        "lb_retries {$RH_TEST_RETRIES:-1}",  # a placeholder may be the refused value
    ],
)
def test_an_uncertain_line_is_left_out(tmp_path: Path, other: str) -> None:
    path = tmp_path / "Caddyfile"
    err = _refusal(path, _site(8080, "lb_retries -1") + _site(8081, other))
    assert (err.file, err.line, err.field) == (str(path), None, "lb_retries")


def test_an_imported_file_and_a_snippet_are_searched(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "a.caddy").write_text(_site(8080, "import retry"))
    path = tmp_path / "Caddyfile"
    text = "(retry) {\n\tlb_try_duration 2s\n\tlb_try_interval -1s\n}\nimport sites/*.caddy\n"
    err = _refusal(path, text)
    assert (err.file, err.line, err.reason) == (str(path), 3, "must be >= 0 (got -1s)")
    (tmp_path / "sites" / "a.caddy").write_text(_site(8080, "lb_retries -1"))
    err = _refusal(path, "import sites/*.caddy\n")
    assert (err.file, err.line) == (str(tmp_path / "sites" / "a.caddy"), 3)


def test_a_relative_caddyfile_keeps_lines_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "Caddyfile").write_text(_site(8080, "lb_retriez 2"))
    (folder / "neg").write_text(_site(8080, "lb_retries -1"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput) as err:
        caddy.load(Path("conf/Caddyfile"), CTX)
    assert str(err.value).startswith("conf/Caddyfile:3: lb_retriez: Caddy refuses the config")
    with pytest.raises(BadInput) as err:
        caddy.load(Path("conf/neg"), CTX)
    assert (err.value.file, err.value.line) == ("conf/neg", 3)

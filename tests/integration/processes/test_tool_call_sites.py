"""Every bounded external command of the harness goes through ``run_tool``: a hang stops the
command's whole tree (not only the command), and each call site keeps its own error class
(the user's file named as BadInput where the file is to blame, RunFailed for the environment)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.adapters import caddy
from harness.adapters.base import AdapterContext
from harness.errors import BadInput, RunFailed
from harness.substrates import kind
from harness.substrates.lifecycle import SubstrateLifecycle
from harness.suts import config_files, nginx
from harness.suts.templating import render_lines
from harness.telemetry import rules
from tests.integration.cli.helpers import assert_nothing_left, kill_leftovers

pytestmark = pytest.mark.integration


def _hanging_tool(folder: Path, name: str) -> Path:
    """An executable ``name`` that hangs, with a helper of its own (a grandchild) hanging too."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    helper = f"{sys.executable} -c 'import time; time.sleep(120)' {folder}"
    tool.write_text(f"#!/bin/sh\n{helper} &\nwait\n")
    tool.chmod(0o755)
    return tool


@pytest.fixture
def hang_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "bin"
    yield folder
    kill_leftovers(str(folder))


def test_caddy_adapt_that_hangs_names_the_caddyfile_and_leaves_nothing(
    tmp_path: Path, hang_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hanging_tool(hang_dir, "caddy")
    monkeypatch.setenv("PATH", f"{hang_dir}:/usr/bin:/bin")
    monkeypatch.setattr(caddy, "ADAPT_TIMEOUT_S", 1.0)
    path = tmp_path / "Caddyfile"
    path.write_text("http://:8080 {\n\treverse_proxy 127.0.0.1:9001\n}\n")
    with pytest.raises(BadInput) as caught:
        caddy.load(path, AdapterContext(upstream_servers=1))
    assert str(caught.value).startswith(f"{path}: 'caddy adapt' did not finish within 1 s")
    assert_nothing_left(str(hang_dir))


def test_caddy_that_cannot_be_executed_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "caddy").write_text("#!/nonexistent/interpreter\n")
    (folder / "caddy").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    path = tmp_path / "Caddyfile"
    path.write_text("http://:8080 {\n\treverse_proxy 127.0.0.1:9001\n}\n")
    with pytest.raises(BadInput, match="'caddy adapt' could not be started"):
        caddy.load(path, AdapterContext(upstream_servers=1))


def test_a_config_check_that_hangs_names_the_config_and_leaves_nothing(
    tmp_path: Path, hang_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _hanging_tool(hang_dir, "haproxy")
    monkeypatch.setattr(config_files, "VALIDATE_TIMEOUT_S", 1.0)
    source = tmp_path / "haproxy.cfg"
    source.write_text("global\n")
    with pytest.raises(BadInput) as caught:
        config_files.validate_with_tool(
            [str(tool), "-c", "-f", str(source)],
            tool="haproxy",
            source=source,
            rendered=source,
            lines=render_lines(
                "global\n", listen=("127.0.0.1", 1), upstreams=["http://127.0.0.1:2"], source=source
            ),
        )
    assert str(caught.value).startswith(f"{source}: haproxy config check did not finish")
    assert_nothing_left(str(hang_dir))


def test_promtool_that_hangs_names_the_rules_file_and_leaves_nothing(
    tmp_path: Path, hang_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    promtool = _hanging_tool(hang_dir, "promtool")
    monkeypatch.setattr(rules, "PROMTOOL_TIMEOUT_S", 1.0)
    source = tmp_path / "rules.yaml"
    source.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n")
    with pytest.raises(BadInput) as caught:
        rules.load_rules(source, str(promtool))
    assert str(caught.value).startswith(f"{source}: promtool check rules did not finish")
    assert_nothing_left(str(hang_dir))


def test_nginx_v_that_hangs_reads_as_nothing_configured_out(hang_dir: Path) -> None:
    tool = _hanging_tool(hang_dir, "nginx")
    nginx.compiled_without.cache_clear()
    assert nginx.compiled_without(str(tool)) == frozenset()  # bounded: 10 s
    assert_nothing_left(str(hang_dir))


def test_a_kind_step_that_hangs_is_a_run_failure_and_leaves_nothing(
    hang_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = _hanging_tool(hang_dir, "kustomize")
    monkeypatch.setattr(kind, "_STEP_TIMEOUT_S", 1.0)
    stub = SimpleNamespace(cluster=None, scenario=SimpleNamespace(source_file=Path("s.yaml")))
    stub._failed = functools.partial(SubstrateLifecycle._failed, stub)
    with pytest.raises(RunFailed, match=r"^s.yaml: kind: .*kustomize build did not finish"):
        kind.KindSubstrate._run(stub, [str(tool), "build"])  # type: ignore[arg-type]
    assert_nothing_left(str(hang_dir))

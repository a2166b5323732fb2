"""The Traefik driver's pure parts: static flags, the dynamic file's routers, bad files, and the
hint for a Traefik that is not built (no Traefik process is started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.suts import go_built
from harness.suts.base import missing_binary
from harness.suts.spec import TraefikSut
from harness.suts.traefik import parse_dynamic, router_names, static_flags

SOURCE = Path("dyn.yml")


def test_static_flags_put_the_entry_point_on_listen_and_the_api_on_its_own_port() -> None:
    flags = static_flags(
        entrypoint="web", listen=("127.0.0.1", 8080), api_port=9000, dynamic=Path("/w/d.yml")
    )
    assert "--entryPoints.web.address=127.0.0.1:8080" in flags
    assert "--entryPoints.traefik.address=127.0.0.1:9000" in flags
    assert "--providers.file.filename=/w/d.yml" in flags
    assert "--global.checkNewVersion=false" in flags


def test_router_names_of_yaml_and_toml() -> None:
    yml = parse_dynamic(
        "http:\n  routers:\n    a: {service: s}\n    b: {}\n", toml=False, source=SOURCE
    )
    assert router_names(yml, SOURCE) == ["a", "b"]
    toml = parse_dynamic('[http.routers.app]\nservice = "s"\n', toml=True, source=SOURCE)
    assert router_names(toml, SOURCE) == ["app"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http: [unclosed", r"malformed YAML: .* \(after filling placeholders\)"),
        ("- a list\n", "must be a Traefik dynamic configuration"),
        ("http:\n  services: {}\n", "no http.routers"),
    ],
)
def test_bad_dynamic_files_name_the_file(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as err:
        router_names(parse_dynamic(text, toml=False, source=SOURCE), SOURCE)
    assert err.value.file == "dyn.yml" and err.value.field == "sut.config"


def test_missing_traefik_names_the_build_command(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = TraefikSut(config=Path("x"), binary="definitely-not-built-traefik")
    hint = missing_binary(spec)
    assert hint is not None and ".ci/build-go-suts traefik" in hint
    monkeypatch.setattr(go_built, "go_toolchain", lambda: None)
    hint = missing_binary(spec)
    assert hint is not None and "install Go" in hint and ".ci/build-go-suts traefik" in hint


def test_a_go_built_program_is_found_in_gobin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / "some-go-sut"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("GOBIN", str(tmp_path))
    assert go_built.find_go_program("some-go-sut") == str(program)
    assert go_built.find_go_program(str(program)) == str(program)
    assert go_built.find_go_program(str(tmp_path / "absent")) is None

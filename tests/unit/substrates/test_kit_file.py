"""``kit.yaml`` mistakes are one BadInput naming the file, line, field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.substrates.kind_kit import load_kit_file

GOOD = """\
system: envoy-gateway
versions:
  envoy-gateway: v1.9.1
entry:
  node_port: 30080
crds:
  - module: github.com/envoyproxy/gateway
    version: v1.9.1
    files: [a.yaml]
"""


def _load(tmp_path: Path, text: str) -> BadInput:
    path = tmp_path / "kit.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as err:
        load_kit_file(path)
    assert err.value.file == str(path)
    assert "\n" not in str(err.value)
    return err.value


def test_good_kit_loads(tmp_path: Path) -> None:
    path = tmp_path / "kit.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_kit_file(path).entry.node_port == 30080


@pytest.mark.parametrize(
    ("text", "line", "field", "needle"),
    [
        (  # out of range: NodePorts are 30000-32767
            GOOD.replace("node_port: 30080", "node_port: 80"),
            5,
            "entry.node_port",
            "must be a whole number in 30000..32767 (got 80)",
        ),
        (  # unknown field: names the allowed ones of that mapping
            GOOD.replace("  node_port: 30080", "  node_port: 30080\n  nodeport: 1"),
            6,
            "entry.nodeport",
            "unknown field 'nodeport'; allowed: node_port",
        ),
        (  # inside a list item
            GOOD.replace("version: v1.9.1\n    files", "version: latest\n    files"),
            8,
            "crds[0].version",
            "should match pattern",
        ),
        (  # missing field, at its parent's line
            GOOD.replace("system: envoy-gateway\n", ""),
            1,
            "system",
            "required field is missing",
        ),
    ],
)
def test_bad_kit_names_line_field_and_rule(
    tmp_path: Path, text: str, line: int, field: str, needle: str
) -> None:
    err = _load(tmp_path, text)
    assert (err.line, err.field) == (line, field), str(err)
    assert needle in str(err), str(err)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    err = _load(tmp_path, GOOD.replace("node_port: 30080", "node_port: [30080"))
    assert err.line is not None and err.line >= 5
    assert "malformed YAML" in str(err)

"""The adapter registry: lazy lookup, unknown systems, the inline adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.adapters import ADAPTER_MODULES, ADAPTERS, known_systems, load_adapted
from harness.errors import BadInput

EXPECTED_SYSTEMS = {
    "inline",
    "kuberay",
    "urllib3",
    "envoy-gateway",
    "httproute",
    "istio",
    "kong",
    "traefik",
    "haproxy",
    "nginx",
    "caddy",
}


def test_all_systems_registered() -> None:
    assert set(known_systems()) == EXPECTED_SYSTEMS
    assert set(ADAPTERS) == EXPECTED_SYSTEMS


def test_unknown_system_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as err:
        load_adapted("squid", tmp_path / "x.yaml")
    assert err.value.field == "system"
    for system in EXPECTED_SYSTEMS:
        assert system in str(err.value)


def test_missing_adapter_module_is_bad_input_not_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ADAPTER_MODULES, "kong", "harness.adapters._no_such_module")
    with pytest.raises(BadInput, match="not available"):
        load_adapted("kong", tmp_path / "x.yaml")


def test_inline_adapter_reads_canonical_policy(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("max_retries: 2\nretry_on: {statuses: [503]}\n")
    adapted = load_adapted("inline", f)
    assert adapted.system == "inline"
    assert adapted.source_file == str(f)
    assert adapted.policy.max_retries == 2
    assert adapted.notes == []

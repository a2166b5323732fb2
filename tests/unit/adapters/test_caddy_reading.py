"""The Caddy adapter reads configs through Caddy's own parser (``caddy adapt``): snippets,
imports of files and globs relative to the Caddyfile, Caddy JSON written by hand, and a clear
refusal when a Caddyfile cannot be read without the binary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.adapters import caddy
from harness.adapters.base import AdapterContext
from harness.errors import BadInput
from harness.policy.model import Aspect

CTX2 = AdapterContext(upstream_servers=2)

needs_caddy = pytest.mark.skipif(
    shutil.which("caddy") is None, reason="caddy not installed (apt-get install -y caddy)"
)


@needs_caddy
def test_reverse_proxy_defined_in_a_snippet(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(
        "{\n\tadmin off\n}\n"
        "(proxy) {\n\treverse_proxy {\n\t\tto {{upstream_hostport}}\n\t\tlb_retries 3\n\t}\n}\n"
        "http://:{{listen_port}} {\n\tbind {{listen_host}}\n\timport proxy\n}\n"
    )
    adapted = caddy.load(path, CTX2)
    assert adapted.policy.max_retries == 3
    assert "caddy adapt" in adapted.notes[0].text


@needs_caddy
def test_imported_files_and_globs_relative_to_the_caddyfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "retry.caddy").write_text(
        "lb_retries 2\nlb_try_interval 50ms\nlb_retry_match {\n\tmethod GET PUT\n}\n"
    )
    (tmp_path / "sites" / "api.caddy").write_text(
        "http://:8080 {\n\treverse_proxy 127.0.0.1:9001 127.0.0.1:9002 {\n"
        "\t\timport ../snippets/retry.caddy\n\t}\n}\n"
    )
    path = tmp_path / "Caddyfile"
    path.write_text("{\n\tadmin off\n}\nimport sites/*.caddy\n")
    monkeypatch.chdir("/")  # relative to the Caddyfile, not to the working directory
    p = caddy.load(path, CTX2).policy
    assert p.max_retries == 2
    assert p.backoff.base_s == pytest.approx(0.05)
    assert p.methods.retryable == frozenset({"GET", "PUT"})


@needs_caddy
def test_templated_caddyfile_with_an_import_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "retry.caddy").write_text("lb_retries 4\n")
    path = tmp_path / "Caddyfile"
    path.write_text(
        "{\n\tadmin off\n}\nhttp://:{{listen_port}} {\n\treverse_proxy {\n"
        "\t\tto {{upstream_hostport}}\n\t\timport retry.caddy\n\t}\n}\n"
    )
    adapted = caddy.load(path, AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == 4
    assert any(n.field == "to" for n in adapted.quirks)  # one upstream: same server


def _json_config(lb: dict[str, object], **handler: object) -> dict[str, object]:
    rp = {"handler": "reverse_proxy", "upstreams": [{"dial": "{{upstream_hostport}}"}], **handler}
    if lb:
        rp["load_balancing"] = lb
    return {"apps": {"http": {"servers": {"s": {"listen": [":80"], "routes": [{"handle": [rp]}]}}}}}


def test_caddy_json_is_read_without_the_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no caddy on PATH
    path = tmp_path / "caddy.json"
    path.write_text(
        json.dumps(
            _json_config(
                {"retries": 2, "try_duration": "3s", "try_interval": 200_000_000},
                transport={"protocol": "http", "keep_alive": {"enabled": False}},
            )
        )
    )
    adapted = caddy.load(path, CTX2)
    p = adapted.policy
    assert p.max_retries == 2 and p.deadline_s == 3.0 and p.backoff.base_s == pytest.approx(0.2)
    assert not any(n.field == "transport http.keepalive" for n in adapted.notes)


def test_caddyfile_without_the_binary_is_refused_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    path = tmp_path / "Caddyfile"
    path.write_text(":80 {\n\treverse_proxy 127.0.0.1:1\n}\n")
    with pytest.raises(BadInput) as err:
        caddy.load(path, CTX2)
    assert "apt-get install -y caddy" in err.value.reason
    assert "Caddy JSON" in err.value.reason


@pytest.mark.parametrize(
    ("lb", "field", "meant"),
    [
        ({"retry": 2}, "load_balancing.retry", "retries"),
        ({"try_intervals": "1s"}, "load_balancing.try_intervals", "try_interval"),
    ],
)
def test_unknown_json_fields_are_refused_with_the_likely_one(
    tmp_path: Path, lb: dict[str, object], field: str, meant: str
) -> None:
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(_json_config(lb)))
    with pytest.raises(BadInput) as err:
        caddy.load(path, CTX2)
    assert err.value.field is not None and err.value.field.endswith(field)
    assert f"did you mean {meant!r}" in err.value.reason


@needs_caddy
def test_unknown_subdirective_is_caddys_refusal_with_the_likely_one(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(":80 {\n\treverse_proxy 127.0.0.1:1 {\n\t\tlb_retry 2\n\t}\n}\n")
    with pytest.raises(BadInput) as err:
        caddy.load(path, CTX2)
    assert err.value.line == 3 and err.value.field == "lb_retry"
    assert "did you mean 'lb_retries'" in err.value.reason


def test_retry_match_on_more_than_the_method_is_not_judged(tmp_path: Path) -> None:
    path = tmp_path / "caddy.json"
    lb = {"retries": 1, "retry_match": [{"method": ["GET"]}, {"path": ["/idem/*"]}]}
    path.write_text(json.dumps(_json_config(lb)))
    p = caddy.load(path, CTX2).policy
    (u,) = p.not_judged
    assert u.aspects == frozenset({Aspect.METHODS}) and "/idem/*" in u.native


def test_retry_match_admitting_post_is_not_judged(tmp_path: Path) -> None:
    """Caddy 2.6.2 retries a POST only without a body (tests/integration/suts/...notes_live)."""
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(_json_config({"retries": 1, "retry_match": [{"method": ["POST"]}]})))
    adapted = caddy.load(path, CTX2)
    (u,) = adapted.policy.not_judged
    assert u.native == "lb_retry_match admitting POST" and "no body" in u.reason


def test_empty_retry_match_set_matches_every_method(tmp_path: Path) -> None:
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(_json_config({"retries": 1, "retry_match": [{}]})))
    p = caddy.load(path, CTX2).policy
    assert p.methods.retryable is None
    (u,) = p.not_judged  # POST, PUT, PATCH admitted: retried only without a body
    assert "PATCH, POST, PUT" in u.native


def test_interval_without_retries_has_no_effect_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(_json_config({"try_interval": "1s"})))
    adapted = caddy.load(path, CTX2)
    assert adapted.policy.max_retries == 0
    assert any("no effect" in n.text for n in adapted.quirks)


def test_empty_retry_match_list_is_not_judged(tmp_path: Path) -> None:
    path = tmp_path / "caddy.json"
    path.write_text(json.dumps(_json_config({"retries": 1, "retry_match": []})))
    p = caddy.load(path, CTX2).policy
    assert any("empty list" in u.native for u in p.not_judged)

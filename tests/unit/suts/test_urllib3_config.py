"""The urllib3 client SUT's YAML: Retry kwargs + timeout, urllib3's defaults, clear errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import urllib3

from harness.errors import BadInput
from harness.suts.urllib3_config import TimeoutParts, Urllib3ClientConfig, load_client_config

CONFIGS = Path(__file__).resolve().parents[3] / "scenarios" / "configs"


def _load(tmp_path: Path, text: str) -> Urllib3ClientConfig:
    path = tmp_path / "client.yaml"
    path.write_text(text)
    return load_client_config(path)


def test_every_field_but_timeout_is_a_retry_parameter_with_urllib3s_default() -> None:
    params = inspect.signature(urllib3.Retry.__init__).parameters
    defaults = Urllib3ClientConfig()
    for name in Urllib3ClientConfig.model_fields:
        if name == "timeout":
            continue
        assert name in params, name
        default = params[name].default
        ours = getattr(defaults, name)
        if isinstance(default, frozenset):
            assert set(ours or ()) == set(default), name
        else:
            assert ours == default, name


def test_only_the_keys_given_reach_retry(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "total: 3\nbackoff_factor: 0.2\nallowed_methods: [get, post]\n")
    assert cfg.retry_kwargs() == {
        "total": 3,
        "backoff_factor": 0.2,
        "allowed_methods": frozenset({"GET", "POST"}),
    }
    retry = cfg.retry()
    assert retry.total == 3 and retry.raise_on_status is True and retry.backoff_max == 120


def test_null_allowed_methods_means_every_method(tmp_path: Path) -> None:
    assert _load(tmp_path, "allowed_methods: null\n").retry().allowed_methods is None


def test_empty_file_is_urllib3_defaults(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "# nothing\n")
    assert cfg.retry_kwargs() == {} and cfg.urllib3_timeout() is None


@pytest.mark.parametrize(
    ("value", "connect", "read"),
    [
        ("2", 2.0, 2.0),
        ("1.5s", 1.5, 1.5),
        ("250ms", 0.25, 0.25),
        ("{connect: 1s, read: 3}", 1, 3),
        ("500μs", 0.0005, 0.0005),  # Go's other micro sign (U+03BC): the copy refused it
    ],
)
def test_timeout_forms(tmp_path: Path, value: str, connect: float, read: float) -> None:
    timeout = _load(tmp_path, f"timeout: {value}\n").urllib3_timeout()
    assert timeout is not None
    assert (timeout.connect_timeout, timeout.read_timeout) == (connect, read)


def test_timeout_mapping_keeps_total(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "timeout: {total: 5}\n")
    assert cfg.timeout == TimeoutParts(total=5)


@pytest.mark.parametrize(
    ("text", "line", "field", "match"),
    [
        ("total: 3\nbackof_factor: 1\n", 2, "backof_factor", "'backof_factor'; allowed: total"),
        ("total: 3\ntimeout: 0\n", 2, "timeout", "> 0"),
        ("timeout: true\n", 1, "timeout", "not a boolean"),
        ("status_forcelist: [500, x]\n", 1, "status_forcelist[1]", "whole number .got 'x'"),
        # the field's own line, not its parent's; not the union member it did not fit
        ("timeout:\n  connect: 1\n  read: 0\n", 3, "timeout.read", "must be a number > 0 .got 0"),
        # the allowed keys of the mapping the unknown key is in, not the file's top level
        ("timeout:\n  reed: 1\n", 2, "timeout.reed", "allowed: connect, read, total$"),
        # a top-level key's line, not that of a nested key of the same name above it
        ("timeout:\n  total: 5\ntotal: x\n", 3, "total", "must be a whole number"),
        ("backoff_factor: -1\n", 1, "backoff_factor", "must be a number >= 0 .got -1"),
    ],
)
def test_bad_values_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, match: str
) -> None:
    with pytest.raises(BadInput, match=match) as err:
        _load(tmp_path, text)
    assert err.value.file == str(tmp_path / "client.yaml")
    assert (err.value.line, err.value.field) == (line, field)


@pytest.mark.parametrize("text", ["[1, 2]\n", "total: [\n"])
def test_not_a_mapping_or_not_yaml(tmp_path: Path, text: str) -> None:
    with pytest.raises(BadInput):
        _load(tmp_path, text)


def test_shipped_configs_and_their_schedules() -> None:
    plain = load_client_config(CONFIGS / "urllib3-client.yaml")
    assert plain.retry_kwargs()["status_forcelist"] == frozenset({500, 502, 503, 504})
    assert plain.timeout == 2
    showcase = load_client_config(CONFIGS / "urllib3-client-first-retry.yaml").retry()
    # urllib3's backoff before retry k (k errors so far): 0 for the first, then 0.5 * 2**(k-1).
    history = urllib3.util.retry.RequestHistory("GET", "/", None, 503, None)
    waits = [showcase.new(history=(history,) * k).get_backoff_time() for k in (1, 2, 3)]
    assert waits == [0, 1.0, 2.0]

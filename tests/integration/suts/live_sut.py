"""Start a real SUT (HAProxy, nginx or Caddy) from a config text for one behaviour test.

``running_config`` writes the text to ``tmp`` under the system's usual file name, skips the test
with the install command when the binary is missing, and yields (base URL, log path) of the
started SUT; everything is stopped when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import CaddySut, HaproxySut, NginxSut

Spec = type[HaproxySut] | type[NginxSut] | type[CaddySut]
_FILE_NAMES = {HaproxySut: "haproxy.cfg", NginxSut: "nginx.conf", CaddySut: "Caddyfile"}


@contextmanager
def running_config(
    spec: Spec, tmp: Path, text: str, upstreams: list[str]
) -> Iterator[tuple[str, Path | None]]:
    """The SUT of kind ``spec`` running ``text`` in front of ``upstreams``: (url, log path)."""
    name = _FILE_NAMES[spec]
    hint = missing_binary(spec(config=Path(name)))
    if hint is not None:
        pytest.skip(hint)
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / name
    cfg.write_text(text, encoding="utf-8")
    with start_sut(
        spec(config=cfg, ready_timeout_s=15),
        listen=("127.0.0.1", free_port()),
        upstreams=upstreams,
        workdir=tmp / "w",
        base_dir=tmp,
    ) as sut:
        yield sut.url, sut.log_path

"""Driver for the urllib3 client SUT: validate its YAML config, then run
``python -m harness.suts.urllib3_service`` (see that module) as a separate process."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.suts.config_files import resolve_config
from harness.suts.process import LaunchPlan
from harness.suts.spec import Urllib3ClientSut
from harness.suts.templating import hostport
from harness.suts.urllib3_config import load_client_config
from harness.suts.urllib3_service import READY_PATH


def prepare(
    spec: Urllib3ClientSut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Check the config (``BadInput`` with file and line) and plan the service process."""
    if not upstreams:
        raise ValueError("the urllib3 client service needs at least one upstream")
    config = resolve_config(spec.config, base_dir)
    load_client_config(config)
    argv = [
        sys.executable,
        "-m",
        "harness.suts.urllib3_service",
        "--listen",
        hostport(*listen),
        "--config",
        str(config.resolve()),
    ]
    for upstream in upstreams:
        argv += ["--upstream", upstream]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return LaunchPlan(argv=argv, env=env, cwd=workdir, probe_path=READY_PATH, config_path=config)

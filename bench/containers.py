"""The container path in figures: image sizes, the offline build time, and the time to a verdict
on the docker substrate against the local one for the same scenarios, in the same run.

Needs a running dockerd and the images (``nox -s image -- --offline-base``). ``--build`` times
an offline build first (bases kept: the Debian rootfs are made once); ``--cold`` also makes the
bases again (``mmdebstrap`` + ``docker import``). Never asserted in tests.

    python bench/containers.py [--build] [--cold] [--rounds 1] [SCENARIO...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.errors import BadInput, RunFailed
from harness.substrates.images import (
    BACKEND_IMAGE,
    OFFLINE_BASES,
    SUT_IMAGE,
    build_images,
    docker_client,
    image_ref,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIOS = ("scenarios/haproxy.yaml", "scenarios/replica-loss.yaml")


def _run(scenario: str, substrate: str, out: Path) -> tuple[float, str]:
    t0 = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            scenario,
            "--quiet",
            "--substrate",
            substrate,
            "--report-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    elapsed = time.monotonic() - t0
    try:
        outcome = json.loads((out / "verdict.json").read_text())["outcome"]
    except OSError:
        outcome = f"error (exit {done.returncode}): {done.stderr.strip()[-120:]}"
    return elapsed, str(outcome)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenarios", nargs="*", default=list(DEFAULT_SCENARIOS))
    p.add_argument("--build", action="store_true", help="time an offline build first")
    p.add_argument("--cold", action="store_true", help="with --build: make the bases again")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    try:
        client = docker_client()
        if args.build:
            t0 = time.monotonic()
            build_images(
                offline=True,
                rebuild_base=args.cold,
                log=lambda text: print(f"  build: {text}", flush=True),
            )
            kind = "cold (bases made again)" if args.cold else "bases present"
            print(f"offline build, {kind}: {time.monotonic() - t0:.1f} s")
        for name in (BACKEND_IMAGE, SUT_IMAGE):
            image = client.images.get(image_ref(name))
            print(f"{image_ref(name)}: {image.attrs['Size'] / 1e6:.0f} MB")
        for ref in sorted(set(OFFLINE_BASES.values())):
            with contextlib.suppress(Exception):  # no offline base: built from a registry
                print(f"{ref} (offline base): {client.images.get(ref).attrs['Size'] / 1e6:.0f} MB")
    except (BadInput, RunFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\n{'scenario':32s} {'substrate':9s} {'time to verdict':>16s}  outcome")
    with tempfile.TemporaryDirectory(prefix="rh-bench-containers-") as tmp:
        for scenario in args.scenarios:
            for r in range(args.rounds):
                for substrate in ("local", "docker"):
                    elapsed, outcome = _run(scenario, substrate, Path(tmp) / f"{substrate}{r}")
                    print(
                        f"{Path(scenario).stem:32s} {substrate:9s} {elapsed:14.1f} s  {outcome}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

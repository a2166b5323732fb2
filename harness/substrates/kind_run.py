"""``retry-harness run/conformance --substrate kind``: checks, render-only mode, the substrate.

Everything here runs before anything is started: a kit scenario on another substrate, a
scenario without a kit, unsupported chaos or a missing program (kind, kubectl, helm, docker,
pytest-kind-ng) is one ``BadInput`` line (exit status 2).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.scenario import Scenario, load_scenario
from harness.substrates.kind_kit import KIT_FILE, kit_of
from harness.substrates.kind_render import KITS_ROOT, Rendered, render


def kit_scenarios() -> list[Path]:
    """The shipped kit scenarios (``scenarios/kits/*/scenario.yaml``), sorted."""
    return sorted(KITS_ROOT.glob("*/scenario.yaml"))


def is_kit_scenario(path: Path) -> bool:
    return (path.resolve().parent / KIT_FILE).is_file()


def check_substrate(path: Path, substrate: str, render_dir: Path | None) -> None:
    """A kit scenario needs ``--substrate kind``; ``--render`` needs it too."""
    if render_dir is not None and substrate != "kind":
        raise BadInput(
            "--render writes the manifests of --substrate kind; add it", field="--render"
        )
    if substrate != "kind" and is_kit_scenario(path):
        raise BadInput(
            f"this scenario is an in-cluster kit ({KIT_FILE} beside it): run it with "
            "--substrate kind (or only render it: --substrate kind --render DIR)",
            file=path,
        )


DEFAULT_RENDERED_WORKERS = 2
"""In-cluster Locust workers rendered when neither --workers nor load.workers says."""


def render_only(path: Path, out: Path, workers: int | None = None) -> Rendered:
    """``--render DIR``: every manifest and the kind cluster config, no cluster, no tools (but
    promtool, when installed, for the scenario's alert rules: a rules file a run would refuse is
    refused here too, before anything is written).

    The in-cluster Locust is a master and ``workers`` workers (``--workers``, else
    ``load.workers``, else :data:`DEFAULT_RENDERED_WORKERS`); 0 is refused, since the rendered
    master always waits for its workers."""
    from harness.substrates.kind import unsupported_chaos

    if workers == 0:
        raise BadInput(
            "the rendered in-cluster Locust is a master with workers: give --workers 1..32 "
            "(or leave it out)",
            field="--workers",
        )
    scenario = load_scenario(path)
    kit = kit_of(scenario)
    unsupported_chaos(scenario)
    if scenario.telemetry is not None:  # the rules the pod loads, checked as a run checks them
        from harness.telemetry.spec import prepare_rules

        prepare_rules(
            scenario.telemetry, scenario_file=scenario.source_file, base_dir=scenario.base_dir
        )
    n = workers or scenario.load.workers or DEFAULT_RENDERED_WORKERS
    return render(scenario, kit, out, token=secrets.token_hex(16), workers=n)


def kind_substrate_factory(
    path: Path, *, keep_cluster: bool, cluster_name: str, workers: int | None = None
) -> Callable[..., Any]:
    """Check the scenario, its kit and the programs now; return ``make_substrate`` for run."""
    from harness.run import with_workers
    from harness.substrates.kind import KindSubstrate, unsupported_chaos
    from harness.substrates.kind_tools import require_tools

    scenario = load_scenario(path)
    if workers is not None:
        scenario = with_workers(scenario, workers)
    kit = kit_of(scenario)
    unsupported_chaos(scenario)
    tools = require_tools([*kit.tools(), "docker"])

    def make(scenario: Scenario, run_dir: Path, **kw: Any) -> KindSubstrate:
        return KindSubstrate(
            scenario,
            run_dir,
            kit=kit,
            tools=tools,
            keep_cluster=keep_cluster,
            cluster_name=cluster_name,
            **kw,
        )

    return make

"""The kind substrate's load path without a cluster: real backends on 127.0.0.1 stand in for the
pods behind their NodePorts (entry, admin, probe), and ``run_load`` runs for real: Locust on the
host, chaos through the admin API, journals pulled through the admin "Services" during and after
the run, calibration probes split out, ε measured."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import start_backend
from harness.scenario import ChaosOp
from harness.substrates.kind import KindSubstrate
from harness.substrates.kind_render import Rendered
from harness.substrates.kind_tools import Tools
from harness.traffic import CALIBRATION_PREFIX
from tests.kind.conftest import kit_scenario

pytestmark = pytest.mark.integration

TOKEN = "s3cret"


def _lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def test_run_load_accounts_for_every_attempt(tmp_path: Path) -> None:
    scenario, kit = kit_scenario("kong")
    new_faults = FaultProfile(failure_rate=0.5, seed=3)
    scenario = scenario.model_copy(
        update={
            "load": scenario.load.model_copy(update={"requests": 150, "users": 3}),
            # chaos counts from the load's first request: 150 requests take a few tenths of a
            # second, so the op must come early in them to come at all
            "chaos": [ChaosOp(at_s=0.02, action="set_faults", replica=1, profile=new_faults)],
        }
    )
    p0, a0, p1, a1 = free_ports(4)
    profile = FaultProfile(failure_rate=0.2, seed=1)
    with (
        start_backend(p0, a0, replica="r0", profile=profile, admin_token=TOKEN, workers=1) as b0,
        start_backend(p1, a1, replica="r1", profile=profile, admin_token=TOKEN, workers=1) as b1,
    ):
        sub = KindSubstrate(
            scenario,
            tmp_path / "run",
            kit=kit,
            tools=Tools(
                kind=Path("/nonexistent/kind"), kubectl=Path("/nonexistent/kubectl"), others={}
            ),
            token=TOKEN,
        )
        (tmp_path / "run").mkdir()
        sub.rendered = Rendered(  # what render() would give, pointing at the stand-ins
            root=tmp_path,
            cluster_config=tmp_path / "kind-cluster.yaml",
            locust=tmp_path,
            install_script=tmp_path / "install.sh",
            entry_url=b0.url,
            admin_urls=[b0.admin_url, b1.admin_url],
            probe_url=b0.url,
        )
        artifacts = sub.run_load()
        recorded = [b0.admin.stats().recorded, b1.admin.stats().recorded]
        assert b1.admin.get_faults() == new_faults  # the chaos op went through the admin API
    run = tmp_path / "run"
    clients = _lines(artifacts.client_records_path)
    assert len(clients) == 150
    journals = [_lines(p) for p in artifacts.journal_paths]
    calibration = [_lines(run / f"calibration-r{i}.ndjson") for i in range(2)]
    own = [_lines(run / f"harness-traffic-r{i}.ndjson") for i in range(2)]
    # every attempt each replica recorded is in the run folder, exactly once
    for i in range(2):
        assert len(journals[i]) + len(calibration[i]) + len(own[i]) == recorded[i]
    assert all(str(r["request_id"]).startswith(CALIBRATION_PREFIX) for r in calibration[0])
    assert calibration[0], "the timing probe reached replica r0"
    ids = {c["request_id"] for c in clients}
    assert {r["request_id"] for r in journals[0]} == ids  # no SUT here: one attempt each
    assert artifacts.epsilon_s > 0 and "zero-delay gaps" in artifacts.epsilon_evidence
    assert artifacts.chaos_log and "set_faults replica r1" in artifacts.chaos_log[0]
    assert artifacts.dropped_attempts == 0

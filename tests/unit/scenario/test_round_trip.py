"""Property: any valid scenario dumps to YAML and loads back equal (paths already absolute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_backends.profile import FaultProfile, Latency
from harness.policy.model import Backoff, RetryOn, RetryPolicy
from harness.scenario import (
    SHIPPED_ROOT,
    BackendsSpec,
    ChaosOp,
    ChecksSpec,
    DetectSpec,
    LoadSpec,
    PolicySource,
    PolicySpec,
    Scenario,
    SpikeShape,
    dump_scenario,
    load_scenario,
)
from harness.suts.spec import CommandSut, HaproxySut, UrlSut

LOCUSTFILES = sorted(
    str(p) for p in (SHIPPED_ROOT / "scenarios").glob("*.py") if p.name != "__init__.py"
)

pos = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
run_time = st.floats(min_value=0.001, max_value=86_400, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@st.composite
def profiles(draw: st.DrawFn) -> FaultProfile:
    failure = draw(st.floats(min_value=0.0, max_value=0.5))
    return FaultProfile(
        failure_rate=failure,
        failure_status={draw(st.integers(400, 599)): 1.0},
        fail_first_n=draw(st.integers(0, 5)),
        retry_after=draw(st.none() | st.sampled_from(["1", "0", "Wed, 21 Oct 2015 07:28:00 GMT"])),
        latency=Latency(kind="fixed", ms=draw(st.floats(0, 500))),
        hang_rate=draw(st.floats(min_value=0.0, max_value=0.5)),
        seed=draw(st.integers(0, 2**31)),
    )


@st.composite
def policies(draw: st.DrawFn, config: Path) -> PolicySpec:
    if draw(st.booleans()):
        file = draw(st.sampled_from([None, config]))
        system = draw(st.sampled_from(["haproxy", "x"]))
        return PolicySpec(source=PolicySource(system=system, file=file))
    base = draw(st.floats(0, 10))
    cap = draw(st.none() | st.floats(min_value=base, max_value=100))
    return PolicySpec(
        inline=RetryPolicy(
            max_retries=draw(st.integers(0, 10)),
            retry_on=RetryOn(
                statuses=frozenset(draw(st.sets(st.integers(400, 599), max_size=4))),
                reset=draw(st.booleans()),
            ),
            backoff=Backoff(base_s=base, multiplier=draw(st.floats(1, 4)), cap_s=cap),
            deadline_s=draw(st.none() | pos),
        )
    )


@st.composite
def loads(draw: st.DrawFn) -> LoadSpec:
    requests = draw(st.none() | st.integers(1, 10**6))
    duration = draw(run_time) if requests is None else draw(st.none() | run_time)
    weights = draw(
        st.dictionaries(
            st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
            st.floats(min_value=0.01, max_value=10),
            min_size=1,
        )
    )
    methods = {m: w / sum(weights.values()) for m, w in weights.items()}  # shares: sum to 1
    shape = draw(
        st.none()
        | st.builds(
            SpikeShape,
            at_s=st.floats(0, 100),
            users=st.integers(1, 500),
            duration_s=run_time,
            spawn_rate=st.none() | pos,
        )
    )
    return LoadSpec(
        users=draw(st.integers(1, 1000)),
        spawn_rate=draw(st.floats(min_value=0.001, max_value=10_000)),
        requests=requests,
        duration_s=duration,
        methods=methods,
        paths=draw(st.lists(st.from_regex(r"\A/[a-z0-9/_-]{0,12}\Z"), min_size=1, max_size=4)),
        idempotency_keys=draw(unit),
        body_bytes=draw(st.integers(0, 10_000)),
        request_timeout_s=draw(st.floats(min_value=0.001, max_value=3600)),
        locustfile=draw(st.sampled_from(LOCUSTFILES)),
        shape=shape,
    )


@st.composite
def chaos_ops(draw: st.DrawFn, replicas: int, load_end_s: float | None) -> ChaosOp:
    """``load_end_s``: a time-bound load's end, before which an operation must come (the
    scenario refuses one that could never run)."""
    action = draw(st.sampled_from(["kill", "pause", "resume", "set_faults"]))
    at_s = st.floats(0, 600) if load_end_s is None else st.floats(0, load_end_s, exclude_max=True)
    return ChaosOp(
        at_s=draw(at_s),
        action=action,
        replica=draw(st.integers(0, replicas - 1)),
        duration_s=None if action == "resume" else draw(st.none() | pos),
        profile=draw(profiles()) if action == "set_faults" else None,
    )


@st.composite
def checks(draw: st.DrawFn) -> ChecksSpec:
    names = ["count", "timing", "budget", "deadline", "methods"]
    only = draw(st.none() | st.lists(st.sampled_from(names), unique=True, max_size=3))
    skip = [n for n in draw(st.lists(st.sampled_from(names), unique=True)) if n not in (only or [])]
    return ChecksSpec(
        alpha=draw(st.floats(min_value=1e-6, max_value=0.5)),
        power=draw(st.floats(min_value=0.5, max_value=0.99)),
        detect=DetectSpec(
            extra_retries=draw(st.none() | st.integers(1, 5)),
            success_rate_drop=draw(st.none() | st.floats(min_value=0.001, max_value=1)),
            delay_shortfall=draw(st.none() | st.floats(min_value=0.01, max_value=0.99)),
        ),
        only=only,
        skip=skip,
    )


@st.composite
def scenarios(draw: st.DrawFn, config: Path) -> Scenario:
    replicas = draw(st.integers(1, 5))
    sut: Any = draw(
        st.sampled_from(
            [
                HaproxySut(config=config),
                UrlSut(url="http://127.0.0.1:8080"),
                CommandSut(command="./server --listen {listen}", env={"A": "1"}),
            ]
        )
    )
    policy = draw(policies(config))
    if policy.source is not None and policy.source.file is None and sut.kind != "haproxy":
        policy = PolicySpec(source=PolicySource(system="x", file=config))
    if policy.source is not None and sut.kind == "haproxy":  # only its own system describes it
        policy = PolicySpec(source=PolicySource(system="haproxy", file=policy.source.file))
    load = draw(loads())
    end = load.duration_s if load.requests is None else None
    return Scenario(
        name=draw(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")),
        description=draw(text),
        seed=draw(st.integers(0, 2**63 - 1)),
        backends=BackendsSpec(
            replicas=replicas,
            workers=draw(st.integers(1, 8)),
            threads=draw(st.integers(1, 64)),
            profile=draw(profiles()),
            counter=draw(st.sampled_from(["file", "sqlite", "redis"])),
        ),
        sut=sut,
        policy=policy,
        load=load,
        chaos=draw(st.lists(chaos_ops(replicas, end), max_size=3)),
        checks=draw(checks()),
    )


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "haproxy.cfg"
    path.write_text("# placeholder\n", encoding="utf-8")
    return path.resolve()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dump_then_load_gives_an_equal_model(
    data: st.DataObject, config_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model = data.draw(scenarios(config_file))
    path = tmp_path_factory.mktemp("rt") / "scenario.yaml"
    path.write_text(dump_scenario(model), encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded.model_dump() == model.model_dump()
    assert loaded.base_dir == path.parent.resolve()
    assert loaded.source_file == path

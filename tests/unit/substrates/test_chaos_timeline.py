"""Each chaos operation runs at its own time, counted from the load's first request, also after
a kill whose restart waits for health.

A docker replica's restart blocks until its health check passes (a second or more on a loaded
machine); the restart used to run in the chaos loop itself, so every later operation ran that
much late. Here a fake substrate's restart takes 1.5 s, and a pause scheduled 0.3 s after the
kill's undo must still run on time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from fake_backends.profile import FaultProfile
from harness.oracle.records import DownWindow
from harness.scenario import ChaosOp
from harness.substrates.calibration import wall_us
from harness.substrates.lifecycle import SubstrateLifecycle, first_request_us

RESTART_S = 1.5


def _started_now() -> Callable[[], int | None]:
    """A load whose first request started as the timeline began."""
    first = wall_us()
    return lambda: first


class _Fake(SubstrateLifecycle):
    def __init__(self, chaos: list[ChaosOp]) -> None:
        self.scenario = SimpleNamespace(  # type: ignore[assignment]
            chaos=chaos, backends=SimpleNamespace(replicas=2, profile=FaultProfile())
        )
        self._log = lambda text: None
        self._chaos_log = []
        self._profiles = {}
        self._killed = set()
        self._down = []
        self.t0 = time.monotonic()
        self.done: dict[str, float] = {}

    def _at(self, what: str) -> None:
        self.done[what] = time.monotonic() - self.t0

    def kill_replica(self, index: int) -> None:
        self._at(f"kill r{index}")

    def restart_replica(self, index: int) -> None:
        self._at(f"restart r{index} began")
        time.sleep(RESTART_S)  # waits for the replica's health
        self._at(f"restart r{index} ready")

    def pause_replica(self, index: int) -> None:
        self._at(f"pause r{index}")
        self._down.append(DownWindow(replica=f"r{index}", kind="pause", start_us=wall_us()))

    def resume_replica(self, index: int) -> None:
        self._at(f"resume r{index}")
        self._down = [
            w.model_copy(update={"end_us": wall_us()}) if w.replica == f"r{index}" else w
            for w in self._down
        ]

    def up(self) -> None:
        pass

    def down(self) -> None:
        self._end_chaos()

    def _put_faults(self, index: int, profile: FaultProfile) -> None:
        self._at(f"faults r{index}")

    def _journal_dropped(self, index: int) -> int:
        return 0


def test_an_operation_after_a_restart_is_not_delayed_by_it() -> None:
    sub = _Fake(
        [
            ChaosOp(at_s=0.1, action="kill", replica=0, duration_s=0.2),  # restart at 0.3
            ChaosOp(at_s=0.6, action="pause", replica=1, duration_s=0.2),  # resume at 0.8
        ]
    )
    stop = threading.Event()
    loop = threading.Thread(target=sub._chaos_loop, args=(stop, _started_now(), 10.0))
    loop.start()
    time.sleep(0.3 + RESTART_S + 0.5)
    stop.set()
    loop.join(10)
    assert not loop.is_alive()
    done = sub.done
    assert done["pause r1"] < 0.6 + 0.5, done  # on time, not after the 1.5 s restart
    assert done["resume r1"] < 0.8 + 0.5, done
    assert done["restart r0 ready"] >= done["restart r0 began"] + RESTART_S
    assert sum("undo kill replica r0" in line for line in sub._chaos_log) == 1, sub._chaos_log


def test_stop_waits_for_a_restart_in_flight() -> None:
    sub = _Fake([ChaosOp(at_s=0.05, action="kill", replica=0, duration_s=0.05)])
    stop = threading.Event()
    loop = threading.Thread(target=sub._chaos_loop, args=(stop, _started_now(), 10.0))
    loop.start()
    time.sleep(0.3)  # the restart is under way
    stop.set()
    loop.join(10)
    assert "restart r0 ready" in sub.done  # the loop did not leave a restart running behind it


def test_an_operation_due_after_the_load_ended_is_logged_as_never_run() -> None:
    sub = _Fake(
        [
            ChaosOp(at_s=0.05, action="pause", replica=0),
            ChaosOp(at_s=5, action="kill", replica=1),
        ]
    )
    stop = threading.Event()
    loop = threading.Thread(target=sub._chaos_loop, args=(stop, _started_now(), 10.0))
    loop.start()
    time.sleep(0.3)  # the load ends long before t=5 s
    stop.set()
    loop.join(10)
    assert "kill r1" not in sub.done
    assert len(sub._chaos_not_applied) == 1, sub._chaos_not_applied
    line = sub._chaos_not_applied[0]
    assert line.startswith("kill replica r1 at t=5 s never ran: the load ended at t=0."), line
    assert line in sub._chaos_log
    assert not any("pause" in missed for missed in sub._chaos_not_applied)


def test_a_substrate_missing_an_operation_cannot_be_made() -> None:
    class Incomplete(SubstrateLifecycle):  # no pause/resume, no journal reading
        def up(self) -> None:
            pass

        def down(self) -> None:
            pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_a_failed_start_keeps_its_own_error_when_teardown_fails_too() -> None:
    said: list[str] = []

    class BrokenStart(_Fake):
        def up(self) -> None:
            raise RuntimeError("port 8080 in use")

        def down(self) -> None:
            raise OSError("cannot remove the network")

    sub = BrokenStart([])
    sub._log = said.append
    with pytest.raises(RuntimeError, match="port 8080 in use"), sub:
        pass
    assert said == ["teardown after a failed start also failed: cannot remove the network"]


def test_an_operation_the_interruption_came_before_says_so() -> None:
    sub = _Fake([ChaosOp(at_s=5, action="pause", replica=1)])
    sub._note_interruption()  # as _run_locust does on Ctrl-C, before it stops the timeline
    stop = threading.Event()
    stop.set()
    sub._chaos_loop(stop, _started_now(), 10.0)
    [line] = sub._chaos_not_applied
    assert "pause replica r1 at t=5 s never ran: the run was interrupted at t=" in line


def _record(start_us: int) -> str:
    return (
        f'{{"request_id": "x", "method": "GET", "path": "/", "status": 200, '
        f'"start_us": {start_us}, "end_us": {start_us + 1000}}}\n'
    )


def test_the_timeline_counts_from_the_first_request_not_from_its_own_start(
    tmp_path: Path,
) -> None:
    """Locust takes a while to start (seconds on a loaded machine): here its first request
    starts 0.35 s after the timeline and is recorded at 0.45 s. A pause due "0.2 s into the
    load" must come 0.2 s after that request began (0.55 s), not at 0.2 s, before the load."""
    records = tmp_path / "client-records.ndjson"
    sub = _Fake([ChaosOp(at_s=0.2, action="pause", replica=1)])
    stop = threading.Event()
    loop = threading.Thread(
        target=sub._chaos_loop, args=(stop, lambda: first_request_us(records), 10.0)
    )
    loop.start()
    time.sleep(0.35)
    first = wall_us()
    time.sleep(0.1)
    records.write_text(_record(first))
    deadline = time.monotonic() + 10  # on a loaded machine the op may come late, never early
    while "pause r1" not in sub.done and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    loop.join(10)
    assert not loop.is_alive()
    assert sub.done["pause r1"] >= 0.35 + 0.2 - 0.02, sub.done
    entry = sub._chaos_log[0]  # then the resume at the end of the load (no resume op)
    match = re.fullmatch(r"t=(\d+\.\d\d)s pause replica r1", entry)
    assert match is not None and float(match[1]) >= 0.2, entry  # time since the first request


def test_no_request_within_the_bound_runs_no_operation_and_says_why() -> None:
    sub = _Fake([ChaosOp(at_s=0, action="kill", replica=0)])
    stop = threading.Event()
    sub._chaos_loop(stop, lambda: None, 0.3)
    assert "kill r0" not in sub.done
    assert sub._chaos_not_applied == (
        "kill replica r0 at t=0 s never ran: no request of the load started within 0.3 s",
    )


def test_a_load_that_ended_before_its_first_request_runs_no_operation() -> None:
    sub = _Fake([ChaosOp(at_s=1, action="pause", replica=1, duration_s=1)])
    stop = threading.Event()
    stop.set()
    sub._chaos_loop(stop, lambda: None, 10.0)
    assert sub.done == {}
    assert sub._chaos_not_applied == (
        "pause replica r1 for 1 s at t=1 s never ran: the load ended before its first request",
    )


def test_the_first_request_is_the_earliest_start_among_complete_records(tmp_path: Path) -> None:
    records = tmp_path / "client-records.ndjson"
    assert first_request_us(records) is None  # Locust has not opened it yet
    records.write_text("")
    assert first_request_us(records) is None
    records.write_text(_record(2_000_000) + _record(1_500_000) + _record(1_000_000)[:30])
    assert first_request_us(records) == 1_500_000  # the cut line is still being written


def test_an_interruption_before_the_first_request_says_so() -> None:
    sub = _Fake([ChaosOp(at_s=2, action="kill", replica=1)])
    sub._note_interruption()
    stop = threading.Event()
    stop.set()
    sub._chaos_loop(stop, lambda: None, 10.0)
    assert sub.done == {}
    assert sub._chaos_not_applied == (
        "kill replica r1 at t=2 s never ran: the run was interrupted before the load's first "
        "request",
    )


@pytest.mark.parametrize(
    "op",
    [
        ChaosOp(at_s=0.05, action="pause", replica=1),  # no resume at all
        ChaosOp(at_s=0.05, action="pause", replica=1, duration_s=30),  # outlasts the load
    ],
)
def test_a_replica_left_paused_is_resumed_when_the_load_ends(op: ChaosOp) -> None:
    """tester6 (high): a pause with no resume, or one outlasting the load, left the replica
    stopped; its journal could not be read and the run ended in exit 2 after 31 s with no
    verdict. The timeline resumes it when the load ends and says so."""
    sub = _Fake([op])
    stop = threading.Event()
    loop = threading.Thread(target=sub._chaos_loop, args=(stop, _started_now(), 10.0))
    loop.start()
    time.sleep(0.3)
    stop.set()  # the load ended
    loop.join(10)
    assert "pause r1" in sub.done and "resume r1" in sub.done
    assert sub.done["resume r1"] >= 0.3
    [window] = sub._down
    assert window.end_us is not None
    assert sub._chaos_log[-1] == "end of load: resume replica r1 (still paused at the end)"


def test_an_interrupted_run_leaves_the_pause_to_the_teardown() -> None:
    sub = _Fake([ChaosOp(at_s=0.05, action="pause", replica=1)])
    stop = threading.Event()
    loop = threading.Thread(target=sub._chaos_loop, args=(stop, _started_now(), 10.0))
    loop.start()
    time.sleep(0.3)
    sub._note_interruption()
    stop.set()
    loop.join(10)
    assert "resume r1" not in sub.done

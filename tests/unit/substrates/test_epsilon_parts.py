"""ε is reported with its named parts, and says which clock stamped the attempts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from harness.substrates.calibration import STAMP_PRECISION_S, combine, stamp_summary


def _journal(path: Path, recs: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return path


def test_stamp_summary_counts_each_clock_and_the_app_lag(tmp_path: Path) -> None:
    recs: list[dict[str, object]] = [
        {
            "arrival_us": 1000,
            "app_arrival_us": 1000 + 300 * i,
            "arrival_clock": "kernel",
            "end_clock": "kernel",
        }
        for i in range(9)
    ]
    recs.append(
        {"arrival_us": 5, "arrival_clock": "kernel", "end_clock": "app", "app_arrival_us": 5}
    )
    s = stamp_summary([_journal(tmp_path / "journal-r0.ndjson", recs)])
    assert (s.records, s.kernel_arrivals, s.kernel_ends) == (10, 10, 9)
    assert 2.3e-3 < s.app_lag_p99_s <= 2.4e-3
    assert "90.0% of ends" in s.clock()


def test_old_journals_are_the_app_clock(tmp_path: Path) -> None:
    s = stamp_summary([_journal(tmp_path / "j.ndjson", [{"arrival_us": 1, "end_us": 2}])])
    assert s.clock().startswith("app clock")
    assert "would have stamped" not in s.sentence()


def test_combine_names_every_part(tmp_path: Path) -> None:
    s = stamp_summary(
        [
            _journal(
                tmp_path / "j.ndjson",
                [
                    {
                        "arrival_us": 10,
                        "app_arrival_us": 20,
                        "arrival_clock": "kernel",
                        "end_clock": "kernel",
                    }
                ],
            )
        ]
    )
    gaps = np.array([0.001] * 19 + [0.004])
    tol = combine(gaps, np.array([0.0005, 0.003]), s)
    # the lateness slack: maxima (one late sample is judged against it)
    assert tol.lateness_slack_s == 0.004 + 0.003
    # ε: stamp precision + the 95th percentile of the gaps, far below the maxima-based value
    assert tol.epsilon_s == pytest.approx(STAMP_PRECISION_S + float(np.percentile(gaps, 95)))
    assert tol.epsilon_s < tol.lateness_slack_s
    for part in (
        "zero-delay gaps",
        "SUT's forwarding",
        "stamp precision",
        "kernel socket stamps",
        "lateness slack",
        "95th percentile",
    ):
        assert part in tol.evidence
    assert STAMP_PRECISION_S == 1e-6
    # the same parts as numbers, for run.json and the benches
    assert tol.parts["epsilon"] == tol.epsilon_s
    assert tol.parts["lateness_slack"] == tol.lateness_slack_s
    assert tol.parts["zero_delay_gap_max"] == 0.004
    assert tol.parts["forwarding_max"] == 0.003


def test_epsilon_without_gaps_is_the_slack() -> None:
    """No calibration pair came back: ε is not known and falls back to the large value."""
    tol = combine(np.array([]), np.array([0.01, 0.02]))
    assert tol.epsilon_s == tol.lateness_slack_s == pytest.approx(0.002 + 0.02)


def test_epsilon_ignores_the_tail_the_slack_keeps() -> None:
    """One stalled pair (a 200 ms gap in 1000) moves the slack, not ε."""
    gaps = np.full(1000, 0.0003)
    gaps[0] = 0.2
    tol = combine(gaps, np.array([0.001]))
    assert tol.epsilon_s < 0.001
    assert tol.lateness_slack_s > 0.2


def test_a_run_folders_tolerances_read_the_clean_journals_only(tmp_path: Path) -> None:
    """The raw journal a clean one was split from stays in the run folder (every attempt again,
    plus the calibration pairs): ε, the slack and the stamp summary come from the clean
    journals given, never from a ``journal-r*.ndjson`` glob that also matches
    ``journal-r0.raw.ndjson`` (review3: every attempt was counted twice)."""
    from harness.substrates.calibration import TimingProbe, run_tolerances

    def att(rid: str, n: int, arrival: int, clock: str) -> dict[str, object]:
        return {
            "request_id": rid,
            "attempt": n,
            "arrival_us": arrival,
            "end_us": arrival + 100,
            "app_arrival_us": arrival + 50,
            "arrival_clock": clock,
            "end_clock": clock,
        }

    load = [att(f"r{i}", 0, 1_000_000 + 10_000 * i, "kernel") for i in range(4)]
    calib = [att("harness-calib-1-0", k, 2_000_000 + 300 * k, "app") for k in (0, 1)]
    clean = _journal(tmp_path / "journal-r0.ndjson", load)
    _journal(tmp_path / "journal-r0.raw.ndjson", load + calib)
    _journal(tmp_path / "calibration-r0.ndjson", calib)
    records = tmp_path / "client-records.ndjson"
    records.write_bytes(
        b"".join(
            orjson.dumps({"request_id": f"r{i}", "start_us": 1_000_000 + 10_000 * i - 500}) + b"\n"
            for i in range(4)
        )
    )
    tol = run_tolerances(tmp_path, [clean], records)
    assert "kernel socket stamps for 100.0% of arrivals" in tol.evidence, tol.evidence
    assert tol.parts["app_clock_lag_p99"] == pytest.approx(50e-6)
    assert tol.parts["forwarding_max"] == pytest.approx(500e-6)
    assert TimingProbe("http://127.0.0.1:9", seed=1).epsilon(tmp_path, [clean]) == tol


def _chaos_run(folder: Path) -> tuple[Path, Path]:
    """A run folder whose whole load met a down window: 40 calibration pairs (gaps 1-5 ms) and
    40 requests (forwarding 20-60 ms) between 1.0 s and 2.0 s, r1 killed at 0.9 s for good."""
    load, calib, clients = [], [], []
    for i in range(40):
        t = 1_000_000 + 25_000 * i
        gap = 1000 + 100 * i
        calib.append({"request_id": f"harness-calib-1-{i}", "attempt": 0, "arrival_us": t - 300})
        calib[-1]["end_us"] = t
        calib.append({"request_id": f"harness-calib-1-{i}", "attempt": 1, "arrival_us": t + gap})
        calib[-1]["end_us"] = t + gap + 300
        fwd = 20_000 + 1000 * i
        load.append({"request_id": f"r{i}", "attempt": 0, "arrival_us": t + fwd, "end_us": t + fwd})
        clients.append({"request_id": f"r{i}", "start_us": t, "end_us": t + fwd + 500})
    _journal(folder / "calibration-r0.ndjson", calib)
    records = _journal(folder / "client-records.ndjson", clients)
    return _journal(folder / "journal-r0.ndjson", load), records


def test_samples_that_all_met_a_down_window_are_taken_unfiltered(tmp_path: Path) -> None:
    """tester5: a kill before the first request put every gap and every forwarding sample in its
    window; leaving them all out dropped ε and the lateness slack to the 2 ms floor, against
    83-109 ms measured in finished runs: a false-failure risk. A stall only makes a sample
    larger, so taking them all errs wide, and the evidence says so."""
    from harness.substrates.calibration import run_tolerances

    journal, records = _chaos_run(tmp_path)
    clear = run_tolerances(tmp_path, [journal], records)
    down = run_tolerances(tmp_path, [journal], records, [(900_000, None)])
    assert down.lateness_slack_s == clear.lateness_slack_s == pytest.approx(0.0049 + 0.059)
    assert down.epsilon_s == clear.epsilon_s < down.lateness_slack_s
    assert "count unfiltered" not in clear.evidence
    assert (
        "every one of the zero-delay gaps (40) and client→SUT→backend latencies (40) met a "
        "replica's down window: they count unfiltered"
    ) in down.evidence, down.evidence
    # a window that leaves some samples of a kind clear: those alone count, as before
    part = run_tolerances(tmp_path, [journal], records, [(1_500_000, None)])
    assert part.lateness_slack_s < clear.lateness_slack_s
    assert "unfiltered" not in part.evidence


def test_a_kind_without_any_sample_is_not_measured(tmp_path: Path) -> None:
    tol = combine(np.array([]), np.array([]))
    assert tol.lateness_slack_s == pytest.approx(0.002)
    assert "zero-delay gaps: not measured" in tol.evidence, tol.evidence
    assert "the SUT's forwarding: not measured" in tol.evidence
    assert "largest of 0" not in tol.evidence


def test_too_few_gaps_make_no_percentile() -> None:
    """review4: 3 quiet gaps inside a short load gave ε = 0.319 ms while no gap at all gave the
    slack: fewer data must not give the tighter tolerance. Below MIN_GAPS ε is the slack, and
    the evidence says why."""
    from harness.oracle.tolerances import MIN_GAPS

    forward = np.full(50, 0.004)
    few = combine(np.array([3e-4, 3.2e-4, 2.9e-4]), forward)
    assert few.epsilon_s == few.lateness_slack_s == combine(np.array([]), forward).epsilon_s
    assert "only 3 zero-delay gaps inside the load" in few.evidence, few.evidence
    enough = combine(np.full(MIN_GAPS, 3e-4), forward)
    assert enough.epsilon_s == pytest.approx(STAMP_PRECISION_S + 3e-4)

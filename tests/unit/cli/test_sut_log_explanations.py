"""The verdict's "SUT log" notes quote the SUT's own log only, never another program's."""

from __future__ import annotations

from pathlib import Path

from harness.run import _sut_log_explanations


def test_only_the_sut_folder_logs_are_quoted(tmp_path: Path) -> None:
    (tmp_path / "sut").mkdir()
    (tmp_path / "sut" / "nginx.log").write_text(
        "2026/11/30 [error] 12#12: *7 no live upstreams while connecting to upstream\n"
    )
    (tmp_path / "prometheus.log").write_text('level=error msg="scrape failed: upstream"\n')
    (tmp_path / "backend-r0.log").write_text("[ERROR] upstream worker timeout\n")
    (tmp_path / "locust.log").write_text("error: connection refused by upstream\n")
    notes = _sut_log_explanations(tmp_path)
    assert len(notes) == 1, notes
    assert notes[0].startswith("SUT log sut/nginx.log: ") and "no live upstreams" in notes[0]


def test_no_sut_folder_no_note(tmp_path: Path) -> None:
    (tmp_path / "prometheus.log").write_text("level=error msg=upstream down\n")
    assert _sut_log_explanations(tmp_path) == []

"""write_reports: the chosen files in one folder, the console table printed, bad formats refused."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from harness.errors import BadInput
from harness.report import FILE_NAMES, read_json, write_reports
from tests.unit.report.sample_verdicts import bare_verdict, policy


def test_all_formats(tmp_path: Path) -> None:
    v = bare_verdict()  # no plot data: keeps this test quick
    console = Console(record=True, width=120, file=io.StringIO())
    written = write_reports(v, tmp_path / "new" / "folder", policy=policy(), console=console)
    assert set(written) == {"json", "junit", "html"}
    for fmt, path in written.items():
        assert path.name == FILE_NAMES[fmt]
        assert path.parent == tmp_path / "new" / "folder"
    assert read_json(written["json"]) == v
    assert ET.parse(written["junit"]).getroot().tag == "testsuites"
    assert "<!DOCTYPE html>" in written["html"].read_text(encoding="utf-8")
    assert "backoff_window" in console.export_text()


def test_subset_writes_only_that(tmp_path: Path) -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    written = write_reports(bare_verdict(), tmp_path, formats=("junit",), console=console)
    assert list(written) == ["junit"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml"]
    assert console.export_text() == ""


def test_console_only_creates_no_folder(tmp_path: Path) -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    assert write_reports(bare_verdict(), tmp_path / "x", formats=["console"], console=console) == {}
    assert not (tmp_path / "x").exists()
    assert "Verdict: FAIL" in console.export_text()


def test_unknown_format_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown report format 'pdf'") as err:
        write_reports(bare_verdict(), tmp_path, formats=("json", "pdf"))
    assert err.value.field == "formats"
    assert not any(tmp_path.iterdir())

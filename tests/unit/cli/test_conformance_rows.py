"""Conformance rows and report folders of scenarios that share a ``name:`` or a file name."""

from __future__ import annotations

from pathlib import Path

from harness.cli import file_labels, report_folders


def test_rows_name_the_file_and_its_path_only_when_file_names_clash() -> None:
    files = [Path("scenarios/haproxy.yaml"), Path("a/scenario.yaml"), Path("b/scenario.yaml")]
    assert file_labels(files) == {
        files[0]: "haproxy.yaml",
        files[1]: "a/scenario.yaml",
        files[2]: "b/scenario.yaml",
    }


def test_a_shared_name_gets_a_folder_of_its_own() -> None:
    assert report_folders(["a", "b"]) == ["a", "b"]
    assert report_folders(["a", "a", "a"]) == ["a", "a-2", "a-3"]
    # never the folder of a scenario that is itself named so
    assert report_folders(["a", "a", "a-2"]) == ["a", "a-3", "a-2"]

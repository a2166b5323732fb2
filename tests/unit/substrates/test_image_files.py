"""The backend image's staleness hash covers exactly what goes into the image.

A user's own scenario, config or notes under scenarios/ never go into the image, so they must
not make the image look stale ("built from other sources"); a change to the code it carries
(a backend module, a locustfile) must.
"""

from __future__ import annotations

from pathlib import Path

from harness.substrates.images import image_files, sources_digest


def _tree(tmp_path: Path) -> dict[str, Path]:
    roots = {name: tmp_path / name for name in ("fake_backends", "harness", "scenarios")}
    for name, root in roots.items():
        (root / "__pycache__").mkdir(parents=True)
        (root / "__init__.py").write_text(f"# {name}\n")
        (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (roots["harness"] / "scenario.schema.json").write_text("{}")
    (roots["scenarios"] / "steady.py").write_text("# a locustfile\n")
    (roots["scenarios"] / "haproxy.yaml").write_text("name: shipped\n")
    return roots


def test_only_code_of_scenarios_goes_in_and_counts(tmp_path: Path) -> None:
    roots = _tree(tmp_path)
    files = [rel for rel, _ in image_files(roots)]
    assert "scenarios/steady.py" in files and "harness/scenario.schema.json" in files
    assert "scenarios/haproxy.yaml" not in files
    assert not [f for f in files if "__pycache__" in f]
    before = sources_digest(roots)
    (roots["scenarios"] / "mine.yaml").write_text("name: a user's own scenario\n")
    (roots["scenarios"] / "configs").mkdir()
    (roots["scenarios"] / "configs" / "mine.cfg").write_text("global\n")
    assert sources_digest(roots) == before  # nothing of this goes into the image
    (roots["scenarios"] / "steady.py").write_text("# a changed locustfile\n")
    assert sources_digest(roots) != before
    changed = sources_digest(roots)
    (roots["fake_backends"] / "app.py").write_text("# new backend code\n")
    assert sources_digest(roots) != changed

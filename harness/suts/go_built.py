"""SUT programs built from their Go modules at install time (``.ci/build-go-suts``): where the
build puts them, how a driver finds them, and what to tell a user who has not built them yet.

The build script pins the module versions (one place: ``GO_SUTS`` in ``.ci/build-go-suts``) and
installs each program into ``$GOBIN``, else ``$GOPATH/bin``, else ``~/go/bin`` (Go's own
``go install`` rule), so a machine that keeps its Go directories keeps the builds too. The
harness looks for the program on ``PATH`` first, then in those folders; it does not need Go
itself to run a built program.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.errors import BadInput

BUILD_SCRIPT = ".ci/build-go-suts"
GO_INSTALL_URL = "https://go.dev/doc/install"
GO_FALLBACK = Path("/usr/local/go/bin/go")


def go_bin_dirs() -> list[Path]:
    """Folders ``go install`` (and the build script) put programs in, most specific first."""
    dirs: list[Path] = []
    if os.environ.get("GOBIN"):
        dirs.append(Path(os.environ["GOBIN"]))
    for gopath in filter(None, os.environ.get("GOPATH", "").split(os.pathsep)):
        dirs.append(Path(gopath) / "bin")
    dirs.append(Path.home() / "go" / "bin")
    return dirs


def find_go_program(binary: str) -> str | None:
    """Full path of ``binary``: as given if it is a path, else on PATH, else in a Go bin folder."""
    if os.sep in binary:
        path = Path(binary)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(binary)
    if found is not None:
        return found
    for folder in go_bin_dirs():
        candidate = folder / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def go_toolchain() -> str | None:
    """The ``go`` command if one is installed (PATH or /usr/local/go/bin/go), else None."""
    found = shutil.which("go")
    if found is not None:
        return found
    return str(GO_FALLBACK) if GO_FALLBACK.is_file() else None


def build_hint(program: str, binary: str) -> str:
    """What to tell a user whose Go-built SUT is missing: the build command, and Go if needed."""
    build = f"`{BUILD_SCRIPT} {program}` (from the repository root)"
    if go_toolchain() is None:
        return (
            f"{binary!r} is not built and no Go toolchain is installed: install Go >= 1.21 "
            f"({GO_INSTALL_URL}; e.g. `curl -sSL https://go.dev/dl/go1.26.8.linux-amd64.tar.gz"
            f" | tar -C /usr/local -xz`), then run {build}, or set sut.binary"
        )
    return f"{binary!r} is not built; build it with {build}, or set sut.binary"


def require_go_program(program: str, binary: str) -> str:
    """The full path of ``binary`` or ``BadInput`` with the command that builds it."""
    found = find_go_program(binary)
    if found is None:
        raise BadInput(build_hint(program, binary), field="sut.binary")
    return found

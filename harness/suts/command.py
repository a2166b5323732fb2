"""Driver for a SUT started from a command template (``sut.command``), e.g. a user's own proxy.

The command is split like a shell would (no shell runs it), placeholders are filled
(``{listen}``, ``{upstreams}``, ..., and ``{python}``: the harness's own interpreter),
``sut.env`` is merged over the harness's environment, and it runs in the scenario's folder
(``base_dir``; the current one if None) so relative paths in it work. Ready when ``ready_path``
answers.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.errors import BadInput
from harness.suts.process import LaunchPlan
from harness.suts.spec import CommandSut
from harness.suts.templating import fill_command_only, render_command


def program(spec: CommandSut) -> str | None:
    """The program the command runs (its first word; ``{python}`` is the harness's own
    interpreter, ``sys.executable``), or None if it cannot be split."""
    try:
        argv = shlex.split(spec.command)
    except ValueError:
        return None
    if not argv:
        return None
    return fill_command_only(argv[0])


def program_missing(spec: CommandSut, base_dir: Path | None) -> str | None:
    """A hint when the command's program cannot be found, else None."""
    name = program(spec)
    if name is None or "{" in name:
        return None
    if "/" in name:
        path = Path(name)
        full = path if path.is_absolute() or base_dir is None else base_dir / path
        if full.is_file() and os.access(full, os.X_OK):
            return None
        return f"command program {name!r} is not an executable file ({full})"
    if shutil.which(name) is None:
        return f"command program {name!r} is not on PATH; install it or give its full path"
    return None


def prepare(
    spec: CommandSut,
    *,
    listen: tuple[str, int],
    upstreams: Sequence[str],
    workdir: Path,
    base_dir: Path | None,
) -> LaunchPlan:
    """Fill the command template; the plan runs it with ``env`` merged, in ``base_dir``."""
    if not spec.ready_path.startswith("/"):
        raise BadInput(
            f"must be a path starting with '/' (got {spec.ready_path!r})", field="sut.ready_path"
        )
    hint = program_missing(spec, base_dir)
    if hint is not None:
        raise BadInput(hint, field="sut.command")
    argv = render_command(spec.command, listen=listen, upstreams=list(upstreams))
    env = {**os.environ, **spec.env}
    return LaunchPlan(argv=argv, env=env, cwd=base_dir, probe_path=spec.ready_path)

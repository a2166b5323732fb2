"""Errors the harness reports to users as one clear line (exit code 2), never a traceback."""

from __future__ import annotations

from pathlib import Path


class BadInput(Exception):
    """Input the user can fix: names the file, the line where known, the field and the rule.

    ``str(err)`` is the one line shown to the user, for example
    ``scenario.yaml: load.users: must be >= 1 (got 0)``.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.reason}"


class RunFailed(Exception):
    """The run could not be carried out (a SUT never became ready, a backend died, ...).

    Reported as one line with exit code 2; everything started is torn down first.
    """

"""The substrate protocol: where backends, the SUT and the load generator run.

A substrate brings a scenario's pieces up, offers chaos operations while the load runs, collects
the artifacts (journals, client records) and tears everything down, on success, failure and
Ctrl-C alike. ``local`` (processes on 127.0.0.1) is the default; ``docker`` and ``kind`` follow
the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fake_backends.admin_client import AdminClient
from fake_backends.profile import FaultProfile
from harness.oracle.records import DownWindow
from harness.oracle.tolerances import Tolerances


@dataclass
class Artifacts:
    """Everything a verdict is computed from, saved in the run folder."""

    journal_paths: list[Path]
    client_records_path: Path
    dropped_attempts: int
    epsilon_s: float
    epsilon_evidence: str
    lateness_slack_s: float | None = None  # None: as ε (harness.oracle.tolerances)
    epsilon_parts: dict[str, float] = field(default_factory=dict)  # seconds, by name
    locust_exit_code: int | None = None
    chaos_log: list[str] = field(default_factory=list)
    chaos_not_applied: list[str] = field(default_factory=list)
    """Chaos operations whose time came after the load ended (never applied), one line each."""
    down_windows: list[DownWindow] = field(default_factory=list)
    journal_notes: list[str] = field(default_factory=list)
    """One line per replica that could not journal some attempts (a write error such as ENOSPC:
    ``JournalStats.loss_note``); those attempts are part of ``dropped_attempts``."""

    @property
    def tolerances(self) -> Tolerances:
        """The run's timing tolerances: ε, the lateness slack (ε when none was measured),
        the sentence naming their parts, and each part."""
        slack = self.epsilon_s if self.lateness_slack_s is None else self.lateness_slack_s
        return Tolerances(self.epsilon_s, slack, self.epsilon_evidence, self.epsilon_parts)


@dataclass(frozen=True)
class PartialArtifacts:
    """What :class:`Artifacts` would have carried, kept by the substrate when the run was
    interrupted (Ctrl-C, SIGTERM), before teardown (``SubstrateLifecycle.partial``).

    ``interrupted_at_us``: wall clock (µs since the epoch) when the interruption reached the
    run; a down window still open then is closed at that instant (what ended after it is not
    judged). ``dropped_attempts`` sums the dropped counts the replicas reported;
    ``dropped_unread`` names the replicas whose count could not be read (down at the
    interruption, or not answering), one line each.
    """

    interrupted_at_us: int
    dropped_attempts: int = 0
    dropped_unread: tuple[str, ...] = ()
    chaos_log: tuple[str, ...] = ()
    chaos_not_applied: tuple[str, ...] = ()
    down_windows: tuple[DownWindow, ...] = ()
    journal_notes: tuple[str, ...] = ()

    @classmethod
    def after_load(cls, artifacts: Artifacts, at_us: int) -> PartialArtifacts:
        """An interruption that came once the load had ended and its artifacts were complete
        (during teardown, or while they are judged): the artifacts say it all."""
        return cls(
            interrupted_at_us=at_us,
            dropped_attempts=artifacts.dropped_attempts,
            chaos_log=tuple(artifacts.chaos_log),
            chaos_not_applied=tuple(artifacts.chaos_not_applied),
            down_windows=tuple(artifacts.down_windows),
            journal_notes=tuple(artifacts.journal_notes),
        )


class _ExitStatus(Protocol):
    @property
    def returncode(self) -> Any: ...


class Replica(Protocol):
    """One running backend replica as a substrate drives it: a process group on the local
    substrate (``harness.processes.backends.BackendHandle``), a container on the docker one."""

    @property
    def url(self) -> str: ...

    @property
    def admin(self) -> AdminClient: ...

    @property
    def process(self) -> _ExitStatus: ...

    def alive(self) -> bool: ...

    def stop(self, timeout: float = ...) -> int | None: ...

    def kill(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def log_text(self) -> str: ...


class Substrate(Protocol):
    def up(self) -> None: ...

    def kill_replica(self, index: int) -> None: ...

    def pause_replica(self, index: int) -> None: ...

    def resume_replica(self, index: int) -> None: ...

    def set_faults(self, profile: FaultProfile, replica: int | None = None) -> None: ...

    def run_load(self) -> Artifacts: ...

    def down(self) -> None: ...

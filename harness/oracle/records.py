"""Inputs of the oracle: backend attempt records and client records.

``AttemptRecord`` is the backends' journal line (defined once, in ``fake_backends.records``).
``ClientRecord`` is what the load generator saw for one logical request; the Locust scenarios
write one NDJSON line per logical request with exactly these keys.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fake_backends.records import AttemptRecord, FaultKind, JournalStats

__all__ = ["AttemptRecord", "ClientRecord", "DownWindow", "FaultKind", "JournalStats"]


class ClientRecord(BaseModel):
    """One logical request as the client saw it (one NDJSON line)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    request_id: str
    method: str
    path: str
    status: int | None = Field(description="Final status; null on a connection error/timeout")
    error: str | None = Field(default=None, description="Exception class name, if any")
    start_us: int = Field(description="Wall clock just before the request was sent")
    end_us: int = Field(description="Wall clock when the response (or error) was complete")
    idempotency_key: str | None = None


class DownWindow(BaseModel):
    """A span of wall-clock time in which one backend replica was down on purpose (chaos).

    Attempts a SUT sends to a killed replica fail to connect and reach no journal; a paused
    replica accepts connections but answers nothing until resumed, and stamps the arrival of
    what it then serves late. Traces that overlap such a window can have attempts the journals
    cannot show, so the oracle judges them with that in mind.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    replica: str = Field(description="Replica name, e.g. 'r1'")
    kind: Literal["kill", "pause"]
    start_us: int = Field(description="Wall clock just before the replica was stopped")
    end_us: int | None = Field(
        default=None, description="Wall clock when it was back (restarted, resumed); null: never"
    )

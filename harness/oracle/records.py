"""Inputs of the oracle: backend attempt records and client records.

``AttemptRecord`` is the backends' journal line (defined once, in ``fake_backends.records``).
``ClientRecord`` is what the load generator saw for one logical request; the Locust scenarios
write one NDJSON line per logical request with exactly these keys.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fake_backends.records import AttemptRecord, FaultKind, JournalStats

__all__ = ["AttemptRecord", "ClientRecord", "FaultKind", "JournalStats"]


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

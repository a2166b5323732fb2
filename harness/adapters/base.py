"""What every adapter returns, and the registry of adapters by system name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.policy.model import RetryPolicy


class AdapterContext(BaseModel):
    """Facts about the deployment an adapter may need (e.g. how many upstream servers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    upstream_servers: int | None = Field(
        default=None, description="Number of backend replicas behind the SUT, if known"
    )


class AdapterNote(BaseModel):
    """One thing the user should know about how the declared policy was read."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="'default' (a documented default was filled in) or 'quirk'")
    field: str = Field(description="The native field, e.g. 'retry.perRetry.backOff.maxInterval'")
    text: str
    source: str | None = Field(default=None, description="Where the fact comes from")


class AdaptedPolicy(BaseModel):
    """An adapter's answer: the canonical policy plus the notes on how it was derived."""

    model_config = ConfigDict(frozen=True)

    system: str
    source_file: str
    policy: RetryPolicy
    notes: list[AdapterNote] = Field(default_factory=list)

    @property
    def defaults(self) -> list[AdapterNote]:
        return [n for n in self.notes if n.kind == "default"]

    @property
    def quirks(self) -> list[AdapterNote]:
        return [n for n in self.notes if n.kind == "quirk"]


Adapter = Callable[[Path, AdapterContext], AdaptedPolicy]
"""Signature of every adapter's ``load(path, context)``; raises ``harness.errors.BadInput``."""

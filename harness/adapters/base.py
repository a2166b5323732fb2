"""What every adapter returns, and the registry of adapters by system name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.policy.model import Aspect, RetryPolicy

FOREIGN_SERVER_ASPECTS = frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
"""What a server in a SUT's config that is not one of the harness's backends (a literal
address, not written with an upstream placeholder) leaves not judged, in every adapter: the
SUT's attempts to it reach no journal, use up its retries, and sit unseen between the
journaled attempts (client agreement follows from the retry count)."""


class AdapterContext(BaseModel):
    """Facts about the deployment an adapter may need (e.g. how many upstream servers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    upstream_servers: int | None = Field(
        default=None, description="Number of backend replicas behind the SUT, if known"
    )
    body_bytes: dict[str, int] | None = Field(
        default=None,
        description="Body size in bytes of the requests the load sends, per method (methods "
        "sent without a body absent: LoadSpec.body_bytes_by_method); None when no load is known "
        "(policy show)",
    )
    body_source: str | None = Field(
        default=None,
        description="Where body_bytes comes from, for not-judged entries: 'FILE:LINE' of the "
        "scenario's load.body_bytes",
    )


class AdapterNote(BaseModel):
    """One thing the user should know about how the declared policy was read."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="'default' (a documented default was filled in) or 'quirk'")
    field: str = Field(description="The native field, e.g. 'retry.perRetry.backOff.maxInterval'")
    text: str
    source: str | None = Field(default=None, description="Where the fact comes from")


class BodyLimit(BaseModel):
    """The largest request body the SUT passes on: a larger one it answers itself, with no
    attempt (nginx's 413 for ``client_max_body_size``)."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(ge=0, description="Bodies of more bytes are refused by the SUT")
    status: int = Field(description="What the SUT answers such a request with")
    effect: str = Field(description="What the SUT does with a larger body, in a few words")
    source: str = Field(
        description="Where the limit comes from: 'FILE:LINE: DIRECTIVE VALUE' or the system's "
        "documented default"
    )
    doc: str = Field(description="Public documentation of the limit")


class AdaptedPolicy(BaseModel):
    """An adapter's answer: the canonical policy plus the notes on how it was derived."""

    model_config = ConfigDict(frozen=True)

    system: str
    source_file: str
    policy: RetryPolicy
    notes: list[AdapterNote] = Field(default_factory=list)
    body_limit: BodyLimit | None = Field(
        default=None,
        description="The SUT's own request body limit, if it has one the adapter read (a load "
        "sending larger bodies is refused before anything starts)",
    )

    @property
    def defaults(self) -> list[AdapterNote]:
        return [n for n in self.notes if n.kind == "default"]

    @property
    def quirks(self) -> list[AdapterNote]:
        return [n for n in self.notes if n.kind == "quirk"]


Adapter = Callable[[Path, AdapterContext], AdaptedPolicy]
"""Signature of every adapter's ``load(path, context)``; raises ``harness.errors.BadInput``."""

"""The urllib3 client SUT's config file: ``urllib3.Retry`` keyword arguments plus ``timeout``.

Only the keys the file sets are passed to ``Retry``, so every key left out takes urllib3's own
default (``total=10``, ``backoff_factor=0``, ``raise_on_status=True``, ...). ``timeout`` is the
per-try timeout: seconds (``2``), a duration string (``"1.5s"``, ``"250ms"``) applied to connect
and read each, or a mapping ``{connect, read, total}`` like ``urllib3.Timeout``; absent for none.
The same keys are read by ``harness.adapters.urllib3_retry`` to learn the declared policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import urllib3
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.durations import DurationError, go_seconds
from harness.errors import BadInput
from harness.input_errors import LineMap, bad_input_from_validation, parse_yaml_documents, read_text


def parse_seconds(value: object) -> object:
    """Seconds from a Go duration string ("1m30s", "250ms") or a numeric string
    (:func:`harness.durations.go_seconds`); anything else unchanged, for pydantic to judge."""
    if isinstance(value, str):
        try:
            return go_seconds(value)
        except DurationError:
            return value
    return value


class TimeoutParts(BaseModel):
    """``timeout`` as a mapping, like ``urllib3.Timeout(connect=, read=, total=)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect: float | None = Field(default=None, gt=0)
    read: float | None = Field(default=None, gt=0)
    total: float | None = Field(default=None, gt=0)

    _seconds = field_validator("connect", "read", "total", mode="before")(parse_seconds)


_DEFAULT_ALLOWED = sorted(urllib3.Retry.DEFAULT_ALLOWED_METHODS)
_DEFAULT_REMOVE = sorted(urllib3.Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT)


class Urllib3ClientConfig(BaseModel):
    """The YAML file, validated. Field names are exactly ``urllib3.Retry``'s parameters and the
    defaults are urllib3's, so attributes read as the effective settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int | bool | None = 10
    connect: int | None = None
    read: int | None = None
    redirect: int | bool | None = None
    status: int | None = None
    other: int | None = None
    allowed_methods: list[str] | None = Field(
        default_factory=lambda: list(_DEFAULT_ALLOWED),
        description="Methods retried on read errors and statuses; null means every method",
    )
    status_forcelist: list[int] | None = None
    backoff_factor: float = Field(default=0, ge=0)
    backoff_max: float = Field(default=120, ge=0)
    backoff_jitter: float = Field(default=0.0, ge=0)
    raise_on_redirect: bool = True
    raise_on_status: bool = True
    respect_retry_after_header: bool = True
    retry_after_max: int = Field(default=21600, ge=0)
    remove_headers_on_redirect: list[str] = Field(default_factory=lambda: list(_DEFAULT_REMOVE))
    timeout: float | TimeoutParts | None = Field(
        default=None, description="Per-try timeout: seconds, a duration string, or a mapping"
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout_seconds(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be seconds, a duration string or a mapping, not a boolean")
        return parse_seconds(value)

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float | TimeoutParts | None) -> float | TimeoutParts | None:
        if isinstance(value, float) and not value > 0:
            raise ValueError("must be > 0 seconds")
        return value

    def retry_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``urllib3.Retry`` that the file sets (others: defaults)."""
        kwargs = self.model_dump(exclude_unset=True, exclude={"timeout"})
        if kwargs.get("allowed_methods") is not None:
            kwargs["allowed_methods"] = frozenset(m.upper() for m in kwargs["allowed_methods"])
        for key in ("status_forcelist", "remove_headers_on_redirect"):
            if kwargs.get(key) is not None:
                kwargs[key] = frozenset(kwargs[key])
        return kwargs

    def urllib3_timeout(self) -> urllib3.Timeout | None:
        """The per-try timeout for the client (None: wait forever)."""
        if self.timeout is None:
            return None
        if isinstance(self.timeout, TimeoutParts):
            return urllib3.Timeout(
                connect=self.timeout.connect, read=self.timeout.read, total=self.timeout.total
            )
        return urllib3.Timeout(connect=self.timeout, read=self.timeout)

    def retry(self) -> urllib3.Retry:
        """The ``urllib3.Retry`` the service uses."""
        return urllib3.Retry(**self.retry_kwargs())


def load_client_config(path: Path) -> Urllib3ClientConfig:
    """Read and validate the config file; ``BadInput`` names the file, line and field."""
    docs = parse_yaml_documents(read_text(path), file=path)
    data, lines = docs[0] if docs else ({}, LineMap())
    if len(docs) > 1 or not isinstance(data, dict):
        raise BadInput("must be a mapping of urllib3.Retry arguments", file=path, line=lines.line())
    try:
        return Urllib3ClientConfig.model_validate(data)
    except ValidationError as exc:
        raise bad_input_from_validation(
            exc, file=path, lines=lines, model=Urllib3ClientConfig
        ) from None

"""The attempt journal's record: the one wire format shared by the backends and the oracle.

Every attempt that reaches a flaky backend is written as exactly one NDJSON line whose keys are
the fields of :class:`AttemptRecord`. The backend writes plain dicts (fast path); readers that
want validation use this model, and the oracle loads the same keys into numpy columns.

Times are integer microseconds of the backend host's wall clock (``CLOCK_REALTIME``), stamped by
the kernel when the attempt's bytes crossed the socket where it can, else by the app
(:mod:`fake_backends.kernel_stamps`); ``arrival_clock`` and ``end_clock`` say which.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

JOURNAL_FORMAT_VERSION = 1

HARNESS_PROBE_HEADER = "X-Retry-Harness-Probe"

MAX_SETTLE_MS = 10_000
"""The longest ``GET /journal?settle_ms=`` wait: an attempt still being served (a hang) must not
hold a reader longer than this. Here, not in ``fake_backends.admin``, so the admin client (and
the harness) can use it without importing the server (Flask)."""
"""Marks the harness's own traffic (readiness and calibration probes): a backend answers such an
attempt at once, with 200 and no injected fault or latency, and journals it like any other (its
request id says which probe it was), so harness traffic can never fail, slow down or exhaust
anything in the system under test, and every one of its attempts is on record."""


class FaultKind(StrEnum):
    """What the backend did to one attempt."""

    NONE = "none"  # answered normally (or forwarded upstream in pass-through mode)
    STATUS = "status"  # answered with a failure status drawn from FAILURE_STATUS
    FIRST_N = "first_n"  # failed because the attempt index is below FAIL_FIRST_N
    OUTAGE = "outage"  # failed because an outage window was open
    RESET = "reset"  # closed the connection with no response (TCP RST)
    HANG = "hang"  # never answered; held the connection until the client left or the bound
    UPSTREAM_ERROR = "upstream_error"  # pass-through mode: the real upstream could not be reached


class AttemptRecord(BaseModel):
    """One attempt as journaled by a backend replica (one NDJSON line)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: int = JOURNAL_FORMAT_VERSION
    request_id: str | None = Field(
        description="Value of the request-id header (default X-Request-ID); null when absent"
    )
    method: str
    path: str
    replica: str = Field(description="Replica name given at start (--replica / REPLICA)")
    worker: int = Field(description="PID of the gunicorn worker that served the attempt")
    attempt: int = Field(
        ge=0,
        description="0-based index of this attempt among all attempts with the same request id, "
        "counted by the shared counter across workers and replicas",
    )
    arrival_us: int = Field(description="Wall clock when the request arrived, stamped first")
    end_us: int = Field(
        description="Wall clock just before the response was handed over for sending or the "
        "connection was reset (never after: a late stamp would shorten the next delay), or when "
        "a hang ended (client gone or bound reached)"
    )
    arrival_clock: str = Field(
        default="app",
        description='"kernel": arrival_us is when the first byte reached the socket (receive '
        'timestamp); "app": when the worker thread got to the request',
    )
    end_clock: str = Field(
        default="app",
        description='"kernel": end_us is when the answer\'s last byte left the socket (transmit '
        'timestamp); "app": stamped by the app just before handing the answer over (or at the '
        "reset / end of a hang)",
    )
    app_arrival_us: int | None = Field(
        default=None, description="The app's own arrival stamp (same as arrival_us under app)"
    )
    app_end_us: int | None = Field(
        default=None, description="The app's own end stamp (same as end_us under app)"
    )
    status: int | None = Field(description="HTTP status sent; null for reset and hang")
    fault: FaultKind
    retry_after: str | None = Field(default=None, description="Retry-After header value sent")
    latency_ms: float = Field(default=0.0, description="Injected latency before answering")
    client_gone: bool = Field(
        default=False, description="For hangs: the client closed the connection before the bound"
    )
    draw: float | None = Field(
        default=None, description="The uniform draw in [0, 1) the fault decision used"
    )
    route: str | None = Field(default=None, description="Name of the per-route profile applied")
    envoy_attempt_count: int | None = Field(
        default=None, description="x-envoy-attempt-count header from the SUT, if present"
    )
    idempotency_key: str | None = Field(default=None, description="Idempotency-Key header")
    upstream_status: int | None = Field(
        default=None, description="Pass-through mode: the real upstream's status"
    )


class JournalStats(BaseModel):
    """Totals a replica reports alongside its journal."""

    model_config = ConfigDict(frozen=True)

    replica: str
    recorded: int
    dropped: int = Field(
        description="Attempts not journaled: over the cap, or lost to a write error (the "
        "unjournaled ones, counted here too)"
    )
    cap: int
    pending: int = Field(
        default=0,
        description="Attempts that arrived but have no record yet (being served, or answered a "
        "moment ago: a record is written just after its answer left)",
    )
    unjournaled: int = Field(
        default=0,
        description="Attempts served as decided whose record could not be written (OSError, "
        "e.g. ENOSPC): part of dropped",
    )
    unjournaled_error: str | None = Field(
        default=None, description="The last write error, e.g. 'OSError [Errno 28] No space ...'"
    )

    def loss_note(self) -> str | None:
        """One line saying which records this replica lost to a write error (None: none)."""
        if not self.unjournaled:
            return None
        return (
            f"backend {self.replica} could not journal {self.unjournaled} attempts "
            f"({self.unjournaled_error or 'OSError'}): it served them as decided, but their "
            "records are missing, so the journal cannot show what the SUT did with them (the "
            "SUT is not to blame)"
        )

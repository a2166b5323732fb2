"""The harness's own traffic: how it is marked, kept out of the verdict, and accounted for.

Two kinds of request come from the harness itself rather than from the load:

- **readiness probes** (:func:`harness.suts.network.probe_once`): the harness asks the SUT
  for any answer before the load starts. For a proxy this goes *through* the SUT to a backend,
  so a probe that failed would be retried by the SUT and use up its retry budget, count against
  a passive health check or trip a circuit breaker, unseen by the oracle. Each probe therefore
  carries its own request id (``harness-ready-…``) and the probe header, which the backends
  answer at once with 200 and no fault (:data:`fake_backends.records.HARNESS_PROBE_HEADER`):
  a readiness probe can only ever be one successful attempt, and it is finished before Locust
  starts (the harness waits for its answer);
- **calibration probes** (:class:`harness.substrates.calibration.TimingProbe`): back-to-back
  pairs sent straight to one backend, never through the SUT, with ids ``harness-calib-…`` and
  the same header (no fault, no injected latency).

Every attempt of either kind is journaled by the backends like any other; the local substrate
splits them out of the journals the oracle judges (``harness-traffic-r*.ndjson`` and
``calibration-r*.ndjson`` in the run folder), and :func:`summarize` counts them for the run's
manifest, so the verdict's notes say how many there were, whether the SUT retried any (it never
should: they cannot fail) and that they ended before the load began.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field

from fake_backends.records import HARNESS_PROBE_HEADER

HARNESS_ID_PREFIX = "harness-"
CALIBRATION_PREFIX = HARNESS_ID_PREFIX + "calib-"
READINESS_PREFIX = HARNESS_ID_PREFIX + "ready-"
PROBE_HEADERS = {HARNESS_PROBE_HEADER: "1", "User-Agent": "retry-harness-probe"}

_readiness_ids = itertools.count()


def readiness_id() -> str:
    """A fresh request id for one readiness probe (unique in this process and across processes)."""
    return f"{READINESS_PREFIX}{os.getpid():x}-{next(_readiness_ids)}"


def kind_of(request_id: object) -> str | None:
    """``"calibration"``, ``"harness"`` (any other harness probe) or None (not harness traffic)."""
    if not isinstance(request_id, str) or not request_id.startswith(HARNESS_ID_PREFIX):
        return None
    return "calibration" if request_id.startswith(CALIBRATION_PREFIX) else "harness"


def _torn(line: bytes, exc: orjson.JSONDecodeError) -> bool:
    """``line`` is a JSON object cut short: it starts one and the data ends inside it."""
    body = line.rstrip()
    return body.startswith(b"{") and exc.pos >= len(body)


def split_journal(raw: Path, clean: Path, calibration: Path, harness: Path) -> None:
    """Copy the whole lines of a raw journal: load attempts to ``clean``, calibration probes to
    ``calibration``, other harness probes (readiness) to ``harness``.

    A line without a final newline (a record being written when a replica was killed) is not a
    whole attempt and is dropped, as is a torn record: a line that is a JSON object cut short
    (the fragment of a record whose write failed part way, e.g. on a full disk; the backend
    counted that attempt as unjournaled, part of its dropped count: ``fake_backends.journal``).
    Any other line that is not JSON goes to ``clean``, where the oracle's loader names it. The
    request id is parsed, never matched as bytes, so any JSON spacing works.
    """
    with (
        raw.open("rb") as src,
        clean.open("wb") as dst,
        calibration.open("wb") as cal,
        harness.open("wb") as own,
    ):
        for line in src:
            if not line.endswith(b"\n"):
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if _torn(line, exc):
                    continue
                obj = None
            rid = obj.get("request_id") if isinstance(obj, dict) else None
            kind = kind_of(rid)
            (cal if kind == "calibration" else own if kind == "harness" else dst).write(line)


class HarnessTraffic(BaseModel):
    """What the harness itself sent, from the backends' journals (``run.json``)."""

    model_config = ConfigDict(frozen=True)

    readiness_requests: int = Field(description="Readiness probes that reached a backend")
    readiness_attempts: int = Field(description="Their attempts (one each unless the SUT retried)")
    readiness_failed: int = Field(description="Readiness attempts that met a fault (should be 0)")
    readiness_last_end_us: int | None = Field(
        default=None, description="When the last readiness attempt ended (backend wall clock)"
    )
    calibration_attempts: int = Field(description="Calibration attempts (straight to a backend)")
    calibration_failed: int = Field(description="Calibration attempts that met a fault")
    load_first_start_us: int | None = Field(
        default=None, description="When the first logical request of the load was sent"
    )

    @property
    def readiness_overlaps_load(self) -> bool:
        """Whether a readiness attempt ended after the load had begun."""
        return (
            self.readiness_last_end_us is not None
            and self.load_first_start_us is not None
            and self.readiness_last_end_us > self.load_first_start_us
        )

    def notes(self) -> list[str]:
        """Sentences for the verdict's notes: counts, and anything that went wrong."""
        out: list[str] = []
        if self.readiness_requests:
            retried = self.readiness_attempts - self.readiness_requests
            line = (
                f"harness traffic: {self.readiness_requests} readiness probe(s) reached a backend "
                f"through the SUT ({self.readiness_attempts} attempt(s), answered without fault "
                "by the backends, kept out of the judged journals)"
            )
            if self.readiness_last_end_us is not None and self.load_first_start_us is not None:
                gap = (self.load_first_start_us - self.readiness_last_end_us) / 1e6
                line += (
                    f"; the last ended {gap:.3f} s before the load began"
                    if gap >= 0
                    else f"; WARNING: the last ended {-gap:.3f} s after the load began"
                )
            out.append(line)
            if retried > 0 or self.readiness_failed:
                out.append(
                    f"WARNING: the SUT retried readiness probes ({retried} retries, "
                    f"{self.readiness_failed} failed attempts): its budget or health state may "
                    "have changed before the load"
                )
        else:
            out.append(
                "harness traffic: no readiness probe reached a backend (the SUT answered it itself)"
            )
        if self.calibration_attempts:
            out.append(
                f"harness traffic: {self.calibration_attempts} calibration attempts went straight "
                "to a backend, never through the SUT"
                + (f" ({self.calibration_failed} met a fault)" if self.calibration_failed else "")
            )
        return out


def _records(paths: list[Path]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in paths:
        if not path.exists():
            continue
        with path.open("rb") as f:
            out.extend(orjson.loads(line) for line in f if line.strip())
    return out


def summarize(run_dir: Path, client_records: Path) -> HarnessTraffic:
    """Count the harness's own attempts in a run folder (after :func:`split_journal`)."""
    ready = _records(sorted(run_dir.glob("harness-traffic-r*.ndjson")))
    calib = _records(sorted(run_dir.glob("calibration-r*.ndjson")))
    ends = [int(str(r["end_us"])) for r in ready if r.get("end_us")]
    first_start: int | None = None
    if client_records.exists():
        with client_records.open("rb") as f:
            for line in f:
                if line.strip():
                    start = int(orjson.loads(line)["start_us"])
                    first_start = start if first_start is None else min(first_start, start)
    return HarnessTraffic(
        readiness_requests=len({r.get("request_id") for r in ready}),
        readiness_attempts=len(ready),
        readiness_failed=sum(1 for r in ready if r.get("fault") != "none"),
        readiness_last_end_us=max(ends) if ends else None,
        calibration_attempts=len(calib),
        calibration_failed=sum(1 for r in calib if r.get("fault") != "none"),
        load_first_start_us=first_start,
    )

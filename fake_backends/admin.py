"""The admin API (Flask), served only on the admin port.

======================  ==================================================================
``GET /healthz``        ``{"status": "ok", "replica", "pid", "profile_generation",
                        "journal": {"recorded", "dropped", "cap", "generation"}}``
``GET /faults``         the current :class:`FaultProfile` as JSON
``PUT /faults``         replace the profile (the whole profile, JSON); 400 with
                        ``{"error": ...}`` on invalid input, the profile is then unchanged
``GET /journal``        NDJSON page; ``?since=CURSOR`` (from ``X-Journal-Cursor``),
                        ``?limit=BYTES``, ``?settle_ms=MS`` (first wait up to MS, at most
                        10000, until every attempt that arrived has its record written:
                        records are written just after the answer left); headers
                        ``X-Journal-Cursor`` (next cursor),
                        ``X-Journal-Dropped``, ``X-Journal-Restarted`` (1 when the cursor was
                        from before a clear), ``X-Journal-Pending`` (attempts that arrived
                        but have no record yet, after the settle wait: > 0 when it gave up)
``DELETE /journal``     clear the journal (204)
``DELETE /counter``     forget every request id's attempt count (204)
``GET /stats``          :class:`JournalStats` as JSON
``GET /metrics``        Prometheus text format, all workers
======================  ==================================================================

When ``CHAOS_ADMIN_TOKEN`` is set, every call needs ``Authorization: Bearer <token>`` (or
``X-Chaos-Admin-Token: <token>``); otherwise 401.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from fake_backends import metrics
from fake_backends.counter import AttemptCounter
from fake_backends.journal import DEFAULT_PAGE_BYTES, Journal, parse_cursor
from fake_backends.profile import FaultProfile
from fake_backends.records import MAX_SETTLE_MS
from fake_backends.shared_state import SharedState


def _settle(journal: Journal, timeout_s: float) -> int:
    """Wait (at most ``timeout_s``) until ``journal.pending()`` is 0; the attempts still pending
    when it returns (0, or those it gave up on: answers still being served, a hang)."""
    waiting = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(0.005),
        retry=retry_if_result(lambda pending: pending > 0),
    )
    with contextlib.suppress(RetryError):
        waiting(journal.pending)
    return journal.pending()


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def register_admin(
    app: Flask,
    *,
    state: SharedState,
    journal: Journal,
    counter: AttemptCounter,
    replica: str,
    token: str | None,
) -> None:
    """Add the admin routes (and the token check) to ``app``."""

    @app.before_request
    def _check_token() -> Response | None:
        if token is None:
            return None
        given = request.headers.get("Authorization", "")
        given = given.removeprefix("Bearer ").strip() or request.headers.get(
            "X-Chaos-Admin-Token", ""
        )
        if hmac.compare_digest(given.encode(), token.encode()):
            return None
        return _error(401, "admin token missing or wrong")

    @app.get("/healthz")
    def healthz() -> Response:
        stats = journal.stats()
        return jsonify(
            status="ok",
            replica=replica,
            pid=os.getpid(),
            profile_generation=state.profile_generation,
            counter=counter.url.split("@")[-1],
            journal={
                "recorded": stats.recorded,
                "dropped": stats.dropped,
                "cap": stats.cap,
                "generation": journal.generation,
                "path": str(journal.path),
            },
        )

    @app.get("/faults")
    def get_faults() -> Response:
        return Response(state.profile().model_dump_json(), mimetype="application/json")

    @app.put("/faults")
    def put_faults() -> Response:
        body = request.get_data()
        try:
            profile = FaultProfile.model_validate_json(body)
        except ValidationError as err:
            details = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in err.errors()
            ]
            first = details[0] if details else {"field": "", "message": "invalid"}
            message = (
                f"{first['field']}: {first['message']}" if first["field"] else first["message"]
            )
            return _error(400, f"invalid fault profile: {message}", details=details)
        generation = state.put_profile(profile)
        return jsonify(status="ok", profile_generation=generation)

    @app.get("/journal")
    def get_journal() -> Response:
        since = request.args.get("since") or None
        try:
            if since is not None:
                parse_cursor(since)
            limit = int(request.args.get("limit", DEFAULT_PAGE_BYTES))
            if limit < 1:
                raise ValueError("limit must be >= 1")
            settle_ms = int(request.args.get("settle_ms", 0))
            if not 0 <= settle_ms <= MAX_SETTLE_MS:
                raise ValueError(f"settle_ms must be in [0, {MAX_SETTLE_MS}]")
        except ValueError as err:
            return _error(400, f"bad query: {err}")
        pending = _settle(journal, settle_ms / 1000) if settle_ms else journal.pending()
        page = journal.read_page(since, limit)
        response = Response(page.data, mimetype="application/x-ndjson")
        response.headers["X-Journal-Cursor"] = page.cursor
        response.headers["X-Journal-Dropped"] = str(journal.dropped())
        response.headers["X-Journal-Restarted"] = "1" if page.restarted else "0"
        response.headers["X-Journal-Pending"] = str(pending)
        return response

    @app.delete("/journal")
    def delete_journal() -> Response:
        journal.clear()
        return Response(status=204)

    @app.delete("/counter")
    def delete_counter() -> Response:
        counter.clear()
        return Response(status=204)

    @app.get("/stats")
    def stats() -> Response:
        return Response(journal.stats().model_dump_json(), mimetype="application/json")

    @app.get("/metrics")
    def get_metrics() -> Response:
        return Response(metrics.render(journal), content_type=CONTENT_TYPE_LATEST)

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _error(404, f"no admin endpoint {request.method} {request.path}")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return _error(405, f"method {request.method} not allowed on {request.path}")

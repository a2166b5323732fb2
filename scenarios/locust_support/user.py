"""The non-retrying Locust user: one exact client record per logical request.

Client: ``HttpUser`` (requests/urllib3), not ``FastHttpUser``. geventhttpclient's ``HTTPClient``
re-sends an idempotent request by itself when a pooled connection is closed or reset
(``attempts_left = pool size + 1``), whatever ``max_retries`` says: a hidden client retry with
the same ``X-Request-ID`` would merge into the SUT's trace. requests' adapter is pinned to
``Retry(0, read=False)`` (its default) and every logical request has an overall deadline of
``request_timeout_s`` (a ``gevent.Timeout`` around it, plus requests' per-socket timeouts).
"""

from __future__ import annotations

import random
import time
from typing import ClassVar

import gevent
from locust import HttpUser, constant, task
from urllib3.util.retry import Retry

from harness.oracle.records import ClientRecord
from harness.scenario import BODY_METHODS, IDEMPOTENT_METHODS
from scenarios.locust_support.events import maybe_budget_done
from scenarios.locust_support.settings import IDEMPOTENCY_HEADER, REQUEST_ID_HEADER
from scenarios.locust_support.state import STATE


class _Deadline(Exception):
    """The overall client deadline of one logical request passed."""


class RetryHarnessUser(HttpUser):
    """Sends logical requests with unique ids and writes one exact client record for each.

    Never retries by itself; waits for nothing between requests (closed loop, ``users`` deep).
    """

    abstract = True
    wait_time = constant(0)
    idle_s: ClassVar[float] = 0.05

    def on_start(self) -> None:
        for adapter in self.client.adapters.values():
            adapter.max_retries = Retry(0, read=False)  # type: ignore[attr-defined]

    @task
    def logical_request(self) -> None:
        st = STATE
        if st.draining or (st.budget is not None and st.issued_this_test >= st.budget):
            gevent.sleep(self.idle_s)  # budget spent or time up: idle until the test ends
            return
        st.issued_this_test += 1
        st.requests_sent += 1
        st.inflight += 1
        try:
            self._send(next(st.ids))
        finally:
            st.inflight -= 1
            maybe_budget_done(self.environment)

    def _send(self, n: int) -> None:
        st = STATE
        load = st.config.load
        seed, worker = st.config.seed, st.worker
        rng = random.Random(f"{seed}:{worker}:{n}")
        method = rng.choices(list(load.methods), weights=list(load.methods.values()))[0]
        path = rng.choice(load.paths)
        with_key = rng.random() < load.idempotency_keys
        request_id = f"{seed:x}-{worker}-{n}"
        headers = {REQUEST_ID_HEADER: request_id}
        key = None
        if with_key and method not in IDEMPOTENT_METHODS:
            key = f"ik-{request_id}"
            headers[IDEMPOTENCY_HEADER] = key
        body = b"x" * load.body_bytes if load.body_bytes and method in BODY_METHODS else None
        timeout = load.request_timeout_s
        status: int | None = None
        error: str | None = None
        start_us = time.time_ns() // 1000
        try:
            with gevent.Timeout(timeout, _Deadline):
                response = self.client.request(
                    method,
                    path,
                    headers=headers,
                    data=body,
                    name=path,
                    allow_redirects=False,
                    timeout=(timeout, timeout),
                )
            status = response.status_code or None
            if status is None:
                error = type(response.error).__name__ if response.error else "UnknownError"
        except _Deadline as exc:
            error = "Timeout"
            self._fire_failure(method, path, start_us, exc)
        except BaseException as exc:  # GreenletExit when the test stops mid-request
            error = type(exc).__name__
            raise
        finally:
            end_us = time.time_ns() // 1000
            if status is not None:
                st.statuses[str(status)] += 1
            else:
                st.errors[error or "UnknownError"] += 1
            st.write_record(
                ClientRecord(
                    request_id=request_id,
                    method=method,
                    path=path,
                    status=status,
                    error=error,
                    start_us=start_us,
                    end_us=end_us,
                    idempotency_key=key,
                )
            )

    def _fire_failure(self, method: str, path: str, start_us: int, exc: BaseException) -> None:
        self.environment.events.request.fire(
            request_type=method,
            name=path,
            response_time=(time.time_ns() // 1000 - start_us) / 1000.0,
            response_length=0,
            response=None,
            context={},
            exception=exc,
            start_time=start_us / 1e6,
            url=path,
        )

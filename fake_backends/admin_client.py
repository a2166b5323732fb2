"""A small client of a replica's admin API (used by the harness substrates and the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from fake_backends.profile import FaultProfile
from fake_backends.records import MAX_SETTLE_MS, JournalStats


class AdminError(RuntimeError):
    """The admin API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"admin API answered {status}: {message}")


#: Every admin call is idempotent (GET, PUT, DELETE), and the client keeps its connection alive
#: between calls. The replica closes an idle kept-alive connection after its keep-alive timeout
#: (gunicorn ``keepalive``, 5 s here); a call sent at that moment finds the connection closed
#: under it (``RemoteDisconnected`` or a reset) although the replica is fine. urllib3's ``Retry``
#: then sends the call once more on a new connection: one retry for a failed connect or a lost
#: answer, never for an answered status.
ADMIN_RETRY = Retry(
    total=1,
    connect=1,
    read=1,
    status=0,
    other=0,
    redirect=0,
    allowed_methods=frozenset({"GET", "PUT", "DELETE"}),
    raise_on_status=False,
)


class JournalPage(NamedTuple):
    """One ``GET /journal`` page: its records, the cursor to pass next time, and the attempts
    that had arrived without a record yet when it was read (after the settle wait, if any)."""

    records: list[dict[str, Any]]
    cursor: str
    pending: int


class AdminClient:
    """Talks to ``base_url`` (e.g. ``http://127.0.0.1:9001``), with the admin token if set.

    Raises :class:`AdminError` on an error status and ``requests.RequestException`` when the
    replica cannot be reached (after the one retry of :data:`ADMIN_RETRY`)."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(max_retries=ADMIN_RETRY))
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._session.request(
            method, self.base_url + path, timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text
            raise AdminError(response.status_code, message)
        return response

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", "/healthz").json()
        return data

    def get_faults(self) -> FaultProfile:
        return FaultProfile.model_validate_json(self._call("GET", "/faults").content)

    def put_faults(self, profile: FaultProfile) -> None:
        self._call(
            "PUT",
            "/faults",
            data=profile.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )

    def journal(
        self, since: str | None = None, limit_bytes: int | None = None, settle_s: float = 0.0
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of records after ``since`` and the cursor to pass next time.

        ``settle_s``: first wait (server side, at most that many seconds, at most
        ``MAX_SETTLE_MS``) until every attempt that reached the replica has its record written.
        A record is written just after its answer's last byte left the backend, so a client that
        just got its answer may read the journal before its own attempt is in it; 0 (live
        readers during a load) does not wait. :meth:`journal_page` also says how many attempts
        were still without a record."""
        records, cursor, _ = self.journal_page(since, limit_bytes, settle_s)
        return records, cursor

    def journal_page(
        self, since: str | None = None, limit_bytes: int | None = None, settle_s: float = 0.0
    ) -> JournalPage:
        """:meth:`journal` with the replica's pending count (``X-Journal-Pending``): after a
        settle wait, > 0 means the wait gave up on attempts still being served, whose records
        this read cannot contain."""
        params: dict[str, Any] = {}
        if since is not None:
            params["since"] = since
        if limit_bytes is not None:
            params["limit"] = limit_bytes
        if settle_s > 0:
            params["settle_ms"] = min(int(settle_s * 1000), MAX_SETTLE_MS)
        response = self._call("GET", "/journal", params=params)
        records = [orjson.loads(line) for line in response.content.splitlines() if line]
        pending = int(response.headers.get("X-Journal-Pending", "0"))
        return JournalPage(records, response.headers["X-Journal-Cursor"], pending)

    def iter_journal(
        self, since: str | None = None, settle_s: float = 2.0
    ) -> Iterator[dict[str, Any]]:
        """Every record after ``since`` (default: all), page by page, once the attempts that
        already arrived have their records (``settle_s``: at most that long; see
        :meth:`journal`)."""
        cursor = since
        settle = settle_s
        while True:
            records, cursor = self.journal(cursor, settle_s=settle)
            settle = 0.0
            if not records:
                return
            yield from records

    def clear_journal(self) -> None:
        self._call("DELETE", "/journal")

    def clear_counter(self) -> None:
        self._call("DELETE", "/counter")

    def stats(self) -> JournalStats:
        return JournalStats.model_validate_json(self._call("GET", "/stats").content)

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text

"""A small threaded HTTP client for the backend tests (keep-alive sessions, bounded)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

Outcome = int | str  # a status, or the name of the client-side exception


def fire(
    url: str,
    request_ids: Sequence[str | None],
    *,
    threads: int = 4,
    timeout: float = 10.0,
    method: str = "GET",
    path: str = "/work",
    urls: Callable[[int], str] | None = None,
    keep_alive: bool = True,
) -> list[Outcome]:
    """Send one request per entry (header X-Request-ID when not None); outcomes in order.

    ``keep_alive=False`` opens a new connection per request, which spreads requests over all
    gunicorn workers (a keep-alive connection stays with one worker).
    """
    local = threading.local()

    def one(index: int) -> Outcome:
        session = getattr(local, "session", None)
        if session is None or not keep_alive:
            session = local.session = requests.Session()
        rid = request_ids[index]
        headers = {"X-Request-ID": rid} if rid is not None else {}
        base = urls(index) if urls is not None else url
        try:
            response = session.request(method, base + path, headers=headers, timeout=timeout)
            return response.status_code
        except requests.RequestException as err:
            local.session = None  # the connection is gone; open a new one next time
            return type(err).__name__

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(len(request_ids))))

"""The admin client survives the replica closing its kept-alive connection under a call."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from fake_backends.admin_client import AdminClient

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n" + (
    b'{"ok": true}'
)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(4096)
        except TimeoutError:  # the client kept the connection and sent nothing more
            return data
        if not chunk:
            return data
        data += chunk
    return data


@pytest.fixture
def closes_second_call() -> Iterator[tuple[str, list[int]]]:
    """A server that answers the first call on a connection, keeps it alive, then reads the
    second call and closes without an answer: what the client sees when the replica's keep-alive
    timeout closes the connection just as the call is sent. ``calls`` counts calls per
    connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    calls: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                calls.append(0)
                for n in (1, 2):
                    if not _read_request(conn):
                        break
                    calls[-1] = n
                    if n == 1:
                        conn.sendall(_ANSWER)
                # the second call is read, then the connection closes unanswered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", calls
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_call_on_a_connection_closed_under_it_is_sent_again(
    closes_second_call: tuple[str, list[int]],
) -> None:
    url, calls = closes_second_call
    client = AdminClient(url, timeout=5)
    assert client.health() == {"ok": True}
    assert client.health() == {"ok": True}  # lost on the kept connection, answered on a new one
    client.close()
    assert calls == [2, 1]


def test_an_unreachable_replica_still_raises() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AdminClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(requests.ConnectionError):
        client.health()

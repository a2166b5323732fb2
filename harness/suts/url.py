"""Driver for a SUT that is already running (``sut.url``): the harness starts nothing, checks the
URL is on loopback (traffic never leaves 127.0.0.1/localhost/::1) and waits until it answers."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.errors import BadInput, RunFailed
from harness.suts.network import is_loopback, wait_until_ready
from harness.suts.spec import UrlSut


def target(spec: UrlSut) -> tuple[str, int, str]:
    """``(host, port, base_url)`` of a loopback URL; ``BadInput`` for anything else."""
    parts = urlsplit(spec.url)
    if parts.scheme != "http" or not parts.hostname:
        raise BadInput(
            f"must be an http:// base URL like http://127.0.0.1:8080 (got {spec.url!r})",
            field="sut.url",
        )
    if not is_loopback(parts.hostname):
        raise BadInput(
            f"host {parts.hostname!r} is not loopback; the harness only sends traffic to "
            "127.0.0.1, localhost or ::1",
            field="sut.url",
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise BadInput(f"bad port in {spec.url!r}", field="sut.url") from None
    return parts.hostname, port, spec.url.rstrip("/")


def wait_for(spec: UrlSut) -> str:
    """Wait up to ``ready_timeout_s`` for any HTTP answer; the base URL, or ``RunFailed``."""
    host, port, url = target(spec)
    path = urlsplit(spec.url).path or "/"
    if not wait_until_ready(host, port, path, spec.ready_timeout_s):
        raise RunFailed(
            f"url SUT {url} did not answer within {spec.ready_timeout_s:g} s; is it running?"
        )
    return url

"""POST requests, half of them with an ``Idempotency-Key`` (a unique key per logical request).

A policy that retries only idempotent methods must retry the keyed POSTs only if it honours the
key (``methods.idempotency_key_header``) and never the others.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser, set_defaults

set_defaults(methods={"POST": 1.0}, idempotency_keys=0.5, body_bytes=64)


class PostIdempotencyUser(RetryHarnessUser):
    """POSTs with a small body; a seeded half carry an Idempotency-Key."""

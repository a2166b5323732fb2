"""Retry-After: backends answer 429/503 with a ``Retry-After`` header (set in the profile).

The load is steady; what matters is the profile's ``retry_after`` and the policy's
``retry_after`` rule, which the checks compare against the observed delays.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser


class RetryAfterUser(RetryHarnessUser):
    """Closed-loop GETs; the backends decide when to answer with Retry-After."""

"""Deadline checks: backends that always fail or hang, so only the SUT's deadline ends a request.

A normal user with a client timeout well above the SUT's declared deadline, so the client never
gives up first (the scenario YAML sets ``load.request_timeout_s``; 120 s without one).
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser, set_defaults

set_defaults(request_timeout_s=120.0)


class DeadlineUser(RetryHarnessUser):
    """Closed-loop GETs that may take as long as the SUT's deadline."""

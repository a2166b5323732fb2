"""Requests to paths whose fault profile answers non-retryable statuses (400, 404, 501).

The scenario YAML's backend profile maps these paths to statuses with per-route overrides, e.g.
``routes: [{path: /non-retryable/400, faults: {failure_rate: 1, failure_status: {400: 1}}}]``;
the checks then expect no retries of these answers. This file only spreads requests over paths.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser, set_defaults

set_defaults(
    paths=["/non-retryable/400", "/non-retryable/404", "/non-retryable/501", "/"],
    methods={"GET": 1.0},
)


class NonRetryableUser(RetryHarnessUser):
    """GETs spread over the non-retryable paths and ``/``."""

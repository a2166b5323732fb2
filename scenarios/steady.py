"""Steady flaky load: users send logical requests back to back through the SUT.

The backends' fault profile (in the scenario YAML) decides what fails; this file only sends load.
Plain use: ``locust -f scenarios/steady.py --host http://127.0.0.1:PORT``.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser


class SteadyUser(RetryHarnessUser):
    """Closed-loop GETs on ``/`` unless the load section says otherwise."""

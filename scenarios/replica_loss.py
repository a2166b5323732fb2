"""Replica loss: steady load while a backend replica is killed or paused.

The chaos operations (``chaos: [{at_s, action: kill|pause, replica, duration_s}]`` in the scenario
YAML) are carried out by the harness's substrate, not by Locust; this file only sends the steady
load that makes the SUT's failover and retries visible.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser


class ReplicaLossUser(RetryHarnessUser):
    """Closed-loop GETs while replicas come and go."""

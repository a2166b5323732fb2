"""Retry storm: a steady base load with a spike of users, to test retry budgets.

The spike comes from the load section's ``shape: {at_s, users, duration_s, spawn_rate?}``
(without one: 16 users from 5 s for 10 s). Locust's ``-t`` and the
run's hard time cap still end the run; the request budget too.
"""

from __future__ import annotations

from scenarios.locust_support import RetryHarnessUser, SpikeShape, SpikeShapeBase, set_defaults

set_defaults(shape=SpikeShape(at_s=5.0, users=16, duration_s=10.0))


class RetryStormUser(RetryHarnessUser):
    """Closed-loop GETs; how many users run is the shape's business."""


class RetryStormShape(SpikeShapeBase):
    """Base users, a spike, then the base again."""

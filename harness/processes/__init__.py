"""Child processes of the harness and every wait on them: one place.

- :mod:`.timeouts`: :class:`~.timeouts.Timeouts`, every bound and poll interval, named.
- :mod:`.child`: :class:`~.child.Child` (start in its own process group, readiness, stop with
  SIGTERM then SIGKILL over the whole tree via psutil, kill, pause, resume, log tail),
  :func:`~.child.running` (a context manager that always tears down) and
  :func:`~.child.wait_until` (bounded polling, tenacity).
- :mod:`.backends`: the flaky replicas (``python -m fake_backends``) and the Redis counter.

SUT drivers describe what to start (``harness.suts.process.LaunchPlan``); the local substrate
starts Locust with :func:`~.child.spawn` and watches it with :func:`~.child.wait_until`.
"""

"""The retry-storm load shape: a base load with a spike of users."""

from __future__ import annotations

from locust import LoadTestShape

from scenarios.locust_support.state import STATE


class SpikeShapeBase(LoadTestShape):
    """Base users at the base spawn rate, a spike to ``shape.users`` from ``shape.at_s`` for
    ``shape.duration_s``, then back to the base; ends at the run's hard time cap.

    Base users: ``load.users`` from ``RETRY_HARNESS_LOAD``, else Locust's ``-u``. The spike
    comes from ``load.shape`` (or the locustfile's ``set_defaults(shape=...)``). At the cap the
    users are kept while the locustfile drains their in-flight requests; the drain ends the test.
    """

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        config = STATE.config
        load = config.load
        run_time = float(self.get_run_time())  # type: ignore[no-untyped-call]
        users, rate = load.users, load.spawn_rate
        if run_time >= config.time_cap_s:
            # past the cap the locustfile drains (no new request, in-flight ones finish) and
            # then ends the test itself; stopping here would kill the users mid-request
            return (
                None if STATE.ending else (self.runner.user_count if self.runner else users, rate)
            )
        opts = self.runner.environment.parsed_options if self.runner is not None else None
        if not config.from_file and opts is not None:
            users = int(getattr(opts, "num_users", None) or users)
            rate = float(getattr(opts, "spawn_rate", None) or rate)
        spike = load.shape
        if spike is not None and spike.at_s <= run_time < spike.at_s + spike.duration_s:
            return spike.users, spike.spawn_rate or float(spike.users)
        return users, rate

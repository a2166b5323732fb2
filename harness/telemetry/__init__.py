"""The SUT's own telemetry, checked against the journal with a real Prometheus.

* ``readers``: per system, which counters report attempts and retries, and what they mean;
* ``prometheus``: the Prometheus process of one run and the HTTP API calls made to it;
* ``session``: Prometheus up around the load, the counters and alerts taken at its end;
* ``record``: ``telemetry.json`` in the run folder, what the checks are computed from;
* ``check``: the telemetry check (counters vs journal) and the alert check;
* ``rules`` / ``spec``: the user's alert rules and the scenario's ``telemetry:`` section.
"""

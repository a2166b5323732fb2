"""The oracle: journals and client records in, a :class:`~harness.oracle.verdict.Verdict` out.

Entry points: ``harness.oracle.verify.verify`` (pure; ``harness.run.verify_run_dir`` loads a
saved run folder for it), ``harness.oracle.journal.load_attempts`` / ``load_client_records``
(columnar loading), ``harness.oracle.planner.plan`` (sample sizes),
``harness.oracle.synth.simulate`` (a simulated SUT).
"""
